//! Helpers shared by integration tests (and the `tiny_models` example).

pub mod tiny_gguf;
