//! # litecoop-llm
//!
//! The in-process LLM engine of LiteCoOp, on Candle. It knows nothing of kernels. It reads the model
//! manifest ([`manifest`]), opens GGUF files defensively ([`gguf`]), rebuilds their tokenizers from the
//! metadata ([`tokenizer`]) and runs them ([`model`]).

pub mod error;
pub mod gguf;
pub mod manifest;
pub mod model;
pub mod tokenizer;

pub use error::LlmError;
