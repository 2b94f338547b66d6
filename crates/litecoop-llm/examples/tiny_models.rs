//! Writes the tiny random-weight qwen2 and qwen3 GGUF test models (`tests/support/tiny_gguf.rs`) into a
//! directory: `cargo run --release -p litecoop-llm --example tiny_models -- DIR`. `scripts/tiny-models` runs
//! llama.cpp on them to make the committed reference; the tests write them again and check their sha256.

#[path = "../tests/support/tiny_gguf.rs"]
mod tiny_gguf;

fn main() -> candle_core::Result<()> {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: tiny_models DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir)?;
    for arch in tiny_gguf::ARCHS {
        println!("{}", tiny_gguf::write(std::path::Path::new(&dir), arch)?.display());
    }
    Ok(())
}
