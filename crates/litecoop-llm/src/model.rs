//! Loaded models: weights, tokenizer, and a forward pass that returns the last position's logits.

use crate::error::LlmError;
use crate::gguf::Gguf;
use crate::tokenizer::GgufTokenizer;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

/// The architectures the engine runs.
pub const SUPPORTED: &str = "llama";

enum Weights {
    Llama(quantized_llama::ModelWeights),
}

/// A model ready to run on the CPU.
pub struct Model {
    /// Display name.
    pub name: String,
    /// Its tokenizer.
    pub tokenizer: GgufTokenizer,
    /// `general.architecture`.
    pub architecture: String,
    weights: Weights,
    device: Device,
}

/// What a generation produced and what it cost.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Generated token ids (without the prompt; the stop token excluded).
    pub tokens: Vec<u32>,
    /// Their text.
    pub text: String,
    /// Prompt tokens prefilled.
    pub prompt_tokens: usize,
    /// Seconds spent on the prompt.
    pub prefill_seconds: f64,
    /// Seconds spent decoding.
    pub decode_seconds: f64,
}

impl Model {
    /// Loads a GGUF model (checked for truncation) with its tokenizer.
    pub fn load(path: &Path, name: &str) -> Result<Model, LlmError> {
        let mut gguf = Gguf::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let architecture = gguf.architecture()?.to_string();
        let shown = path.display().to_string();
        let device = Device::Cpu;
        let weights = match architecture.as_str() {
            "llama" => {
                let Gguf { content, reader, .. } = &mut gguf;
                let content = std::mem::replace(content, empty_content());
                let loaded = catch_unwind(AssertUnwindSafe(|| {
                    quantized_llama::ModelWeights::from_gguf(content, reader, &device)
                }));
                match loaded {
                    Ok(Ok(w)) => Weights::Llama(w),
                    Ok(Err(e)) => return Err(LlmError::Gguf { path: shown, message: e.to_string() }),
                    Err(_) => {
                        return Err(LlmError::Gguf {
                            path: shown,
                            message: "the weights do not fit the architecture".into(),
                        })
                    }
                }
            }
            other => {
                return Err(LlmError::UnsupportedArchitecture {
                    path: shown,
                    architecture: other.to_string(),
                    supported: SUPPORTED.to_string(),
                })
            }
        };
        Ok(Model { name: name.to_string(), tokenizer, architecture, weights, device })
    }

    fn run_err(&self, e: impl std::fmt::Display) -> LlmError {
        LlmError::Run { name: self.name.clone(), message: e.to_string() }
    }

    /// Runs `tokens` at positions `pos..`, after the cached positions `0..pos`; returns the logits of the
    /// last position. `pos = 0` starts a new sequence.
    pub fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>, LlmError> {
        let input = Tensor::new(tokens, &self.device).and_then(|t| t.unsqueeze(0)).map_err(|e| self.run_err(e))?;
        let logits = match &mut self.weights {
            Weights::Llama(w) => w.forward(&input, pos),
        };
        let logits = logits.and_then(|l| l.squeeze(0)).and_then(|l| l.to_vec1::<f32>());
        logits.map_err(|e| self.run_err(e))
    }

    /// Greedy generation of up to `max_tokens` after `prompt`, stopping at an end-of-sequence token.
    pub fn generate(&mut self, prompt: &[u32], max_tokens: usize) -> Result<Generation, LlmError> {
        let start = Instant::now();
        let mut logits = self.forward(prompt, 0)?;
        let prefill_seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let mut tokens = Vec::new();
        while tokens.len() < max_tokens {
            let next = argmax(&logits);
            if self.tokenizer.eos.contains(&next) {
                break;
            }
            tokens.push(next);
            if tokens.len() == max_tokens {
                break;
            }
            logits = self.forward(&[next], prompt.len() + tokens.len() - 1)?;
        }
        let text = self.tokenizer.decode(&tokens).map_err(|e| self.run_err(e))?;
        Ok(Generation {
            tokens,
            text,
            prompt_tokens: prompt.len(),
            prefill_seconds,
            decode_seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// Index of the largest value (the first, on ties).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

fn empty_content() -> candle_core::quantized::gguf_file::Content {
    candle_core::quantized::gguf_file::Content {
        magic: candle_core::quantized::gguf_file::VersionedMagic::GgufV3,
        metadata: Default::default(),
        tensor_infos: Default::default(),
        tensor_data_offset: 0,
    }
}
