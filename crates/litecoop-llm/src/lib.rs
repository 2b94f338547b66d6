//! # litecoop-llm
//!
//! The in-process LLM engine of LiteCoOp, on Candle. It knows nothing of kernels. It reads the model
//! manifest ([`manifest`]), opens GGUF files defensively ([`gguf`]), rebuilds their tokenizers from the
//! metadata ([`tokenizer`]) and runs them ([`model`]): our own llama ([`llama`]) and Gemma 3 ([`gemma3`])
//! forward passes, built from shared [`layers`] and [`attention`], over an explicit, immutable KV state
//! ([`kv`]) that forks for free. A per-model radix tree of prompt prefixes ([`prefix_cache`]) lets prompts
//! reuse the KV of what they share; [`engine`] ties a model to its cache and accounts for every call;
//! [`choice`] decodes answers constrained to a set of allowed strings.

pub mod attention;
pub mod checkpoint;
pub mod choice;
pub mod engine;
pub mod error;
pub mod gemma3;
pub mod gguf;
pub mod gguf_layout;
pub mod hub;
pub mod kv;
pub mod layers;
pub mod llama;
pub mod manifest;
pub mod model;
pub mod prefix_cache;
pub mod q4_1;
pub mod tokenizer;

pub use error::LlmError;
