//! No panic and no abort on any GGUF file: 10,000 random and mutated headers of the tiny qwen2 and qwen3
//! models (most mutations land in the header, where lengths and counts live) are each refused with an error
//! or parsed, never crash the process.

#[path = "../../litecoop-search/tests/support/mutate.rs"]
mod mutate;
mod support;

use litecoop_llm::gguf::read_header;
use mutate::{case, Rng, CASES};
use std::io::Cursor;
use support::tiny_gguf::{self, ARCHS};

#[test]
fn no_gguf_input_makes_the_reader_panic_or_abort() {
    let dir = tempfile::tempdir().unwrap();
    let valid: Vec<Vec<u8>> =
        ARCHS.iter().map(|arch| std::fs::read(tiny_gguf::write(dir.path(), arch).unwrap()).unwrap()).collect();
    let header_len = valid
        .iter()
        .map(|bytes| read_header(&mut Cursor::new(bytes), bytes.len() as u64, "valid").unwrap().tensor_data_offset)
        .max()
        .unwrap() as usize;
    let mut rng = Rng(0x6755_4646);
    let (mut refused, mut parsed) = (0, 0);
    for i in 0..CASES {
        let bytes = case(&mut rng, &valid, header_len, &[]);
        let result = std::panic::catch_unwind(|| read_header(&mut Cursor::new(&bytes), bytes.len() as u64, "fuzz"));
        match result {
            Ok(Ok(_)) => parsed += 1,
            Ok(Err(e)) => {
                assert!(e.to_string().starts_with("fuzz"), "case {i}: the error does not name the file: {e}");
                refused += 1;
            }
            Err(_) => panic!("case {i} ({} bytes) panicked", bytes.len()),
        }
    }
    // Both outcomes occur: the mutations are neither all fatal nor all harmless.
    assert!(refused > CASES / 4 && parsed > 0, "refused {refused}, parsed {parsed}");
}
