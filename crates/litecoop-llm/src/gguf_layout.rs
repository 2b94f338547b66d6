//! A walk over a GGUF header that allocates nothing its lengths claim. candle's reader allocates every
//! string, array and dimension list at the length the file states, so one corrupt length (a string of 2^60
//! bytes, an array of 2^40 elements, a tensor with four billion dimensions) would abort the process on a
//! failed allocation, which no `catch_unwind` can stop. [`check_layout`] refuses such a file first: every
//! length must fit in the bytes that are left.

use std::io::{Read, Seek, SeekFrom};

/// `GGUF` read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;

/// ggml's most dimensions per tensor.
const MAX_DIMS: u32 = 4;

/// Deepest nesting of arrays accepted (real files nest none).
const MAX_NESTING: u32 = 4;

/// Checks that the header of the GGUF file behind `reader` (`len` bytes) is well formed as far as sizes go,
/// then rewinds `reader`. The error says what is wrong and where.
pub fn check_layout<R: Read + Seek>(reader: &mut R, len: u64) -> Result<(), String> {
    let mut walk = Walk { reader, offset: 0, len, wide: true };
    let magic = walk.u32()?;
    if magic != MAGIC {
        return Err(format!("not a GGUF file: it starts with {:?}", magic.to_le_bytes()));
    }
    let version = walk.u32()?;
    if !(1..=3).contains(&version) {
        return Err(format!("GGUF version {version} is not supported (1 to 3 are)"));
    }
    walk.wide = version >= 2;
    let tensors = walk.count()?;
    let entries = walk.count()?;
    for _ in 0..entries {
        walk.string()?;
        let kind = walk.u32()?;
        walk.value(kind, 0)?;
    }
    for _ in 0..tensors {
        walk.string()?;
        let dims = walk.u32()?;
        if dims > MAX_DIMS {
            return Err(format!("a tensor at byte {} claims {dims} dimensions (at most {MAX_DIMS})", walk.offset));
        }
        for _ in 0..dims {
            walk.count()?;
        }
        walk.u32()?; // element type, checked by the parser
        walk.skip(8)?; // offset of the data
    }
    walk.reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(())
}

struct Walk<'a, R> {
    reader: &'a mut R,
    offset: u64,
    len: u64,
    /// Version 2 and later: counts and lengths are u64 (version 1: u32).
    wide: bool,
}

impl<R: Read + Seek> Walk<'_, R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.need(N as u64)?;
        let mut b = [0; N];
        self.reader.read_exact(&mut b).map_err(|e| format!("at byte {}: {e}", self.offset))?;
        self.offset += N as u64;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    /// A count or length: u64 from version 2 on, u32 before.
    fn count(&mut self) -> Result<u64, String> {
        if self.wide {
            self.bytes::<8>().map(u64::from_le_bytes)
        } else {
            self.u32().map(u64::from)
        }
    }

    fn need(&self, n: u64) -> Result<(), String> {
        let left = self.len.saturating_sub(self.offset);
        if n > left {
            return Err(format!("at byte {} the header needs {n} bytes but the file has {left} left", self.offset));
        }
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        self.need(n)?;
        self.reader.seek(SeekFrom::Current(n as i64)).map_err(|e| e.to_string())?;
        self.offset += n;
        Ok(())
    }

    fn string(&mut self) -> Result<(), String> {
        let n = self.count()?;
        self.skip(n)
    }

    /// Skips one metadata value of GGUF type `kind`.
    fn value(&mut self, kind: u32, nesting: u32) -> Result<(), String> {
        if let Some(size) = fixed_size(kind) {
            return self.skip(size);
        }
        match kind {
            8 => self.string(),
            9 => {
                if nesting >= MAX_NESTING {
                    return Err(format!("arrays nested deeper than {MAX_NESTING} at byte {}", self.offset));
                }
                let element = self.u32()?;
                let n = self.count()?;
                match fixed_size(element) {
                    Some(size) => self.skip(n.saturating_mul(size)),
                    None => {
                        // Every element takes at least one byte, so a false count ends at the file's end.
                        for _ in 0..n {
                            self.value(element, nesting + 1)?;
                        }
                        Ok(())
                    }
                }
            }
            other => Err(format!("unknown value type {other} at byte {}", self.offset)),
        }
    }
}

/// The size of a fixed-size GGUF value type.
fn fixed_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn header(version: u32, entries: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(b"GGUF");
        b.extend(version.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend((entries.len() as u64).to_le_bytes());
        for (key, kind, value) in entries {
            b.extend((key.len() as u64).to_le_bytes());
            b.extend(key.as_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(value);
        }
        b
    }

    fn check(bytes: &[u8]) -> Result<(), String> {
        check_layout(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn a_well_formed_header_passes_and_rewinds() {
        let mut strings = Vec::new();
        strings.extend(8u32.to_le_bytes());
        strings.extend(2u64.to_le_bytes());
        for s in ["a", "bc"] {
            strings.extend((s.len() as u64).to_le_bytes());
            strings.extend(s.as_bytes());
        }
        let bytes = header(3, &[("general.alignment", 4, 32u32.to_le_bytes().to_vec()), ("tokens", 9, strings)]);
        let mut cursor = Cursor::new(&bytes[..]);
        check_layout(&mut cursor, bytes.len() as u64).unwrap();
        assert_eq!(cursor.position(), 0);
    }

    #[test]
    fn lengths_beyond_the_file_are_refused_before_anything_is_allocated() {
        let mut huge_string = Vec::new();
        huge_string.extend((1u64 << 60).to_le_bytes());
        let e = check(&header(3, &[("name", 8, huge_string)])).unwrap_err();
        assert!(e.contains("needs 1152921504606846976 bytes"), "{e}");
        let mut huge_array = Vec::new();
        huge_array.extend(4u32.to_le_bytes());
        huge_array.extend((1u64 << 62).to_le_bytes());
        assert!(check(&header(3, &[("xs", 9, huge_array)])).is_err());
        assert!(check(&header(3, &[("x", 13, vec![0; 8])])).unwrap_err().contains("unknown value type 13"));
        assert!(check(b"GGML").unwrap_err().contains("not a GGUF file"));
        assert!(check(&header(9, &[])).unwrap_err().contains("version 9"));
    }
}
