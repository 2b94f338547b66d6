//! Random and mutated inputs for the parsers' fuzz tests: a seeded generator (the same cases on every
//! machine, so a failure names a case that reproduces) and mutations of valid files of the kinds that
//! corrupt real ones: flipped bits, overwritten bytes, numbers at the edges of their types, cut, deleted
//! and repeated spans, and (for text) tokens of the format's own syntax in the wrong places.

/// How many cases each parser is fed.
pub const CASES: usize = 10_000;

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Little-endian integers at the edges that break size arithmetic.
const EDGES: [u64; 9] = [0, 1, 0x7F, 0xFFFF_FFFF, 0x1_0000_0000, 1 << 40, 1 << 62, i64::MAX as u64, u64::MAX];

/// Applies 1 to 4 random mutations to `data`, most of them in its first `focus` bytes (a binary format's
/// header; pass `data.len()` for text). `tokens` are spliced in as whole words (for text formats).
pub fn mutate(rng: &mut Rng, data: &[u8], focus: usize, tokens: &[&str]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let span = if rng.below(8) == 0 { out.len() } else { focus.min(out.len()) };
        let at = if span == 0 { 0 } else { rng.below(span) };
        match rng.below(if tokens.is_empty() { 6 } else { 7 }) {
            0 if !out.is_empty() && at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = rng.next() as u8,
            2 => {
                let edge = EDGES[rng.below(EDGES.len())].to_le_bytes();
                let n = [1, 2, 4, 8][rng.below(4)];
                for (i, b) in edge[..n].iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            3 => out.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                out.drain(at.min(end)..end);
            }
            5 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                let copy = out[at.min(end)..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            6 => {
                let token = tokens[rng.below(tokens.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            _ => {}
        }
    }
    out
}

/// One fuzz case: one of `valid` mutated (7 cases in 8) or random bytes.
pub fn case(rng: &mut Rng, valid: &[Vec<u8>], focus: usize, tokens: &[&str]) -> Vec<u8> {
    if rng.below(8) == 0 {
        let len = rng.below(512);
        rng.bytes(len)
    } else {
        let base = &valid[rng.below(valid.len())];
        mutate(rng, base, focus, tokens)
    }
}
