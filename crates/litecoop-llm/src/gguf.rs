//! Opening GGUF files defensively: candle parses the header (with bounds checks); we also check that every
//! tensor's data lies inside the file, so a truncated download fails here with a clear message instead of
//! deep inside model construction.

use crate::error::LlmError;
use crate::gguf_layout::check_layout;
use candle_core::quantized::gguf_file::{Content, Value};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// A parsed GGUF header with its file, ready to load tensors from.
pub struct Gguf {
    /// The file's path.
    pub path: PathBuf,
    /// Metadata and tensor infos.
    pub content: Content,
    /// An open reader on the file.
    pub reader: BufReader<File>,
}

impl Gguf {
    /// Opens and checks a GGUF file.
    pub fn open(path: &Path) -> Result<Gguf, LlmError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|source| LlmError::Io { path: shown.clone(), source })?;
        let len = file.metadata().map_err(|source| LlmError::Io { path: shown.clone(), source })?.len();
        let mut reader = BufReader::new(file);
        let content = read_header(&mut reader, len, &shown)?;
        Ok(Gguf { path: path.to_path_buf(), content, reader })
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A required string.
    pub fn string(&self, key: &str) -> Result<&str, LlmError> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s),
            other => Err(self.missing(key, "a string", other)),
        }
    }

    /// A required array.
    pub fn array(&self, key: &str) -> Result<&[Value], LlmError> {
        match self.get(key) {
            Some(Value::Array(a)) => Ok(a),
            other => Err(self.missing(key, "an array", other)),
        }
    }

    /// An optional unsigned integer of any width.
    pub fn uint(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::U8(v) => Some(*v as u64),
            Value::U16(v) => Some(*v as u64),
            Value::U32(v) => Some(*v as u64),
            Value::U64(v) => Some(*v),
            Value::I32(v) if *v >= 0 => Some(*v as u64),
            Value::I64(v) if *v >= 0 => Some(*v as u64),
            _ => None,
        }
    }

    /// An optional float.
    pub fn float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::F32(v) => Some(*v as f64),
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// An optional boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, LlmError> {
        self.string("general.architecture")
    }

    fn missing(&self, key: &str, expected: &str, found: Option<&Value>) -> LlmError {
        LlmError::Gguf {
            path: self.path.display().to_string(),
            message: match found {
                None => format!("metadata `{key}` is missing"),
                Some(v) => format!("metadata `{key}` should be {expected}, found {}", short(v)),
            },
        }
    }
}

fn short(v: &Value) -> String {
    let s = format!("{v:?}");
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Parses the GGUF header behind `reader` (a file of `len` bytes, named `shown` in errors) and checks that
/// every tensor's data lies inside the file. Any malformed input is an error, never a panic or an abort:
/// sizes are checked before candle's reader allocates them, and a panic inside it is caught.
pub fn read_header<R: Read + Seek>(reader: &mut R, len: u64, shown: &str) -> Result<Content, LlmError> {
    let bad = |message: String| LlmError::Gguf { path: shown.to_string(), message };
    check_layout(reader, len).map_err(bad)?;
    // candle panics on some malformed headers (an alignment of 0 divides by zero): that is bad input too.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Content::read(reader)));
    let content = match read {
        Ok(parsed) => parsed.map_err(|e| bad(e.to_string()))?,
        Err(_) => return Err(bad("the header is malformed (the GGUF reader gave up on it)".into())),
    };
    for (name, info) in &content.tensor_infos {
        let elements = info.shape.dims().iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        let Some(elements) = elements else {
            return Err(bad(format!("tensor `{name}` has more elements than fit in 64 bits")));
        };
        let block = info.ggml_dtype.block_size() as u64;
        if block == 0 || elements % block != 0 {
            return Err(bad(format!("tensor `{name}` has {elements} elements, not a whole number of blocks")));
        }
        let bytes = (elements / block).saturating_mul(info.ggml_dtype.type_size() as u64);
        let end = content.tensor_data_offset.saturating_add(info.offset).saturating_add(bytes);
        if end > len {
            return Err(bad(format!(
                "tensor `{name}` ends at byte {end} but the file has {len} bytes (truncated download?)"
            )));
        }
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF header with no tensors and one u32 metadata value.
    fn header_with(key: &str, value: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(b"GGUF");
        b.extend(3u32.to_le_bytes()); // version
        b.extend(0u64.to_le_bytes()); // tensors
        b.extend(1u64.to_le_bytes()); // metadata entries
        b.extend((key.len() as u64).to_le_bytes());
        b.extend(key.as_bytes());
        b.extend(4u32.to_le_bytes()); // type: u32
        b.extend(value.to_le_bytes());
        b
    }

    #[test]
    fn a_zero_alignment_is_a_clear_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.gguf");
        std::fs::write(&good, header_with("general.alignment", 32)).unwrap();
        assert!(Gguf::open(&good).is_ok());
        let zero = dir.path().join("zero.gguf");
        std::fs::write(&zero, header_with("general.alignment", 0)).unwrap();
        let message = Gguf::open(&zero).err().expect("refused").to_string();
        assert!(message.contains("zero.gguf") && message.contains("malformed"), "{message}");
    }
}
