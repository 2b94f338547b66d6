//! End-to-end tests of `litecoop models` with the real models (fetched by `scripts/setup`).

mod common;

use common::{litecoop, text};

#[test]
fn list_verify_and_run_the_real_models() {
    let o = litecoop(&["models", "list"]);
    assert!(
        o.status.success() && text(&o).contains("smollm2-135m") && text(&o).contains("gemma3-270m"),
        "{}",
        text(&o)
    );
    let o = litecoop(&["models", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = litecoop(&[
        "models",
        "run",
        "-m",
        "smollm2-135m",
        "-p",
        "What is the capital of France?",
        "--max-tokens",
        "12",
    ]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Paris"), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tok/s"));
    // By path, without manifest facts: the file's own chat template says ChatML.
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let o = litecoop(&["models", "run", "-m", file, "-p", "What is the capital of France?", "--max-tokens", "12"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Paris"), "{}", text(&o));
}

#[test]
fn unknown_and_missing_models_say_what_to_do() {
    let o = litecoop(&["models", "run", "-m", "llama-70b", "-p", "hi"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown model `llama-70b`") && text(&o).contains("smollm2-135m"), "{}", text(&o));
    let dir = std::env::temp_dir().join(format!("litecoop-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("models.toml");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/models/models.toml"), &manifest).unwrap();
    let o = litecoop(&["models", "run", "-m", "gemma3-270m", "-p", "hi", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("is missing; fetch it with"), "{}", text(&o));
    let bad = dir.join("bad.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let o = litecoop(&["models", "run", "-m", bad.to_str().unwrap(), "-p", "hi"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("bad.gguf") && !text(&o).contains("panicked"), "{}", text(&o));
}
