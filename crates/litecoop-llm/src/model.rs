//! Loaded models: an architecture, its tokenizer, and a forward pass over an explicit KV state.

use crate::error::LlmError;
use crate::gemma3::Gemma3;
use crate::gguf::Gguf;
use crate::kv::KvState;
use crate::layers::{WeightFormat, DENSE_MIN_ROWS};
use crate::llama::Llama;
use crate::tokenizer::GgufTokenizer;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The architectures the engine runs.
pub const SUPPORTED: &str = "llama, qwen2, qwen3, gemma3";

enum Arch {
    Llama(Llama),
    Gemma3(Gemma3),
}

/// A model ready to run on the CPU. Running it never mutates it: sequences live in [`KvState`]s.
pub struct Model {
    /// Display name.
    pub name: String,
    /// Its tokenizer.
    pub tokenizer: GgufTokenizer,
    /// `general.architecture`.
    pub architecture: String,
    /// Parameters counted from the file's tensors.
    pub parameters: u64,
    /// The chat template the file carries, if any (see [`crate::manifest::ChatFormat::from_template`]).
    pub chat_template: Option<String>,
    arch: Arch,
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
    /// Loads a GGUF model (checked for truncation) with its tokenizer, or a Hugging Face checkpoint
    /// directory (see [`Model::load_checkpoint`]).
    pub fn load(path: &Path, name: &str, format: WeightFormat) -> Result<Model, LlmError> {
        if path.is_dir() {
            return Model::load_checkpoint(path, name, format);
        }
        let mut gguf = Gguf::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let architecture = gguf.architecture()?.to_string();
        let parameters = gguf.content.tensor_infos.values().map(|t| t.shape.elem_count() as u64).sum();
        let chat_template = gguf.string("tokenizer.chat_template").ok().map(str::to_string);
        let shown = path.display().to_string();
        let bad = |message: String| LlmError::Gguf { path: shown.clone(), message };
        let loaded = catch_unwind(AssertUnwindSafe(|| match architecture.as_str() {
            a if crate::llama::ARCHITECTURES.contains(&a) => Some(Llama::load(&mut gguf, format).map(Arch::Llama)),
            "gemma3" => Some(Gemma3::load(&mut gguf, format).map(Arch::Gemma3)),
            _ => None,
        }));
        let arch = match loaded {
            Ok(Some(Ok(arch))) => arch,
            Ok(Some(Err(e))) => return Err(bad(e.to_string())),
            Ok(None) => {
                return Err(LlmError::UnsupportedArchitecture {
                    path: shown,
                    architecture,
                    supported: SUPPORTED.to_string(),
                })
            }
            Err(_) => return Err(bad("the weights do not fit the architecture".into())),
        };
        let model = Model { name: name.to_string(), tokenizer, architecture, parameters, chat_template, arch };
        model.warm_up()?;
        Ok(model)
    }

    /// Loads a Hugging Face checkpoint directory: `config.json`, `*.safetensors`, `tokenizer.json`.
    /// Supported: `LlamaForCausalLM` (SmolLM2, Llama), `Qwen2ForCausalLM`, `Qwen3ForCausalLM` and
    /// `Gemma3ForCausalLM`.
    pub fn load_checkpoint(dir: &Path, name: &str, format: WeightFormat) -> Result<Model, LlmError> {
        let shown = dir.display().to_string();
        let io = |source| LlmError::Io { path: format!("{shown}/config.json"), source };
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).map_err(io)?)
                .map_err(|e| LlmError::Gguf { path: shown.clone(), message: format!("config.json: {e}") })?;
        let architecture = cfg["architectures"][0].as_str().unwrap_or("unknown").to_string();
        const CHECKPOINTS: [(&str, &str); 4] = [
            ("LlamaForCausalLM", "llama"),
            ("Qwen2ForCausalLM", "qwen2"),
            ("Qwen3ForCausalLM", "qwen3"),
            ("Gemma3ForCausalLM", "gemma3"),
        ];
        let Some(&(_, family)) = CHECKPOINTS.iter().find(|(c, _)| *c == architecture) else {
            return Err(LlmError::UnsupportedArchitecture {
                path: shown,
                architecture,
                supported: CHECKPOINTS.map(|(c, _)| c).join(", "),
            });
        };
        let ids = |v: &serde_json::Value| -> Vec<u32> {
            match v {
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_u64()).map(|x| x as u32).collect(),
                other => other.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
            }
        };
        let bos = ids(&cfg["bos_token_id"]).first().copied();
        let tokenizer =
            GgufTokenizer::from_tokenizer_json(&dir.join("tokenizer.json"), bos, ids(&cfg["eos_token_id"]))?;
        let loaded = catch_unwind(AssertUnwindSafe(|| match family {
            "gemma3" => Gemma3::from_safetensors(dir, format).map(|(m, p)| (Arch::Gemma3(m), family, p)),
            _ => Llama::from_safetensors(dir, format).map(|(m, p)| (Arch::Llama(m), family, p)),
        }));
        let (arch, architecture, parameters) = match loaded {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return Err(LlmError::Gguf { path: shown, message: e.to_string() }),
            Err(_) => {
                return Err(LlmError::Gguf { path: shown, message: "the weights do not fit the architecture".into() })
            }
        };
        let chat_template = std::fs::read_to_string(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|c| c["chat_template"].as_str().map(str::to_string));
        let model = Model {
            name: name.to_string(),
            tokenizer,
            architecture: architecture.into(),
            parameters,
            chat_template,
            arch,
        };
        model.warm_up()?;
        Ok(model)
    }

    /// Candle lays quantized weights out for its tiled kernels on their first use (Q8_0/K-quant prompts, K-quant
    /// decoding); one prompt of [`DENSE_MIN_ROWS`] tokens and one decode step now put that cost into loading,
    /// so the first real prompt is not charged for it.
    fn warm_up(&self) -> Result<(), LlmError> {
        let token = self.tokenizer.bos.unwrap_or(0);
        let (_, state) = self.forward(&[token; DENSE_MIN_ROWS], &KvState::new())?;
        self.forward(&[token], &state)?;
        Ok(())
    }

    fn run_err(&self, e: impl std::fmt::Display) -> LlmError {
        LlmError::Run { name: self.name.clone(), message: e.to_string() }
    }

    /// Runs `tokens` after the positions cached in `past`; returns the last position's logits and the
    /// extended state (`past` is unchanged and stays usable: a fork).
    pub fn forward(&self, tokens: &[u32], past: &KvState) -> Result<(Vec<f32>, KvState), LlmError> {
        if tokens.is_empty() {
            return Err(self.run_err("no tokens to run"));
        }
        let run = catch_unwind(AssertUnwindSafe(|| {
            let (logits, block) = match &self.arch {
                Arch::Llama(m) => m.forward(tokens, past)?,
                Arch::Gemma3(m) => m.forward(tokens, past)?,
            };
            let logits = logits.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
            Ok::<_, candle_core::Error>((logits, past.extended(Arc::new(block))?))
        }));
        match run {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(self.run_err(e)),
            Err(_) => Err(self.run_err("the forward pass panicked")),
        }
    }

    /// Greedy generation of up to `max_tokens` after `prompt`, stopping at an end-of-sequence token.
    pub fn generate(&self, prompt: &[u32], max_tokens: usize) -> Result<Generation, LlmError> {
        let start = Instant::now();
        let (mut logits, mut state) = self.forward(prompt, &KvState::new())?;
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
            (logits, state) = self.forward(&[next], &state)?;
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
