//! # litecoop-llm
//!
//! The in-process LLM engine of LiteCoOp, on Candle. It knows nothing of kernels. It reads the model
//! manifest ([`manifest`]), opens GGUF files defensively ([`gguf`]), rebuilds their tokenizers from the
//! metadata ([`tokenizer`]) and runs them ([`model`]): our own llama ([`llama`]) and Gemma 3 ([`gemma3`]) forward passes over an
//! explicit, immutable KV state ([`kv`]) that forks for free.

pub mod error;
pub mod gemma3;
pub mod gguf;
pub mod kv;
pub mod layers;
pub mod llama;
pub mod manifest;
pub mod model;
pub mod tokenizer;

pub use error::LlmError;
