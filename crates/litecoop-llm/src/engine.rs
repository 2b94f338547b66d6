//! A model with its prefix cache, and the accounting of every call.

use crate::error::LlmError;
use crate::kv::KvState;
use crate::model::Model;
use crate::prefix_cache::PrefixCache;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What one call cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStats {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV came from the cache.
    pub cached_tokens: usize,
    /// Prompt tokens run through the model.
    pub prefilled_tokens: usize,
    /// Tokens run while decoding the answer.
    pub decoded_tokens: usize,
    /// Wall time of the call.
    pub seconds: f64,
    /// Of which: building token masks and choosing (constrained decoding overhead).
    #[serde(default)]
    pub mask_seconds: f64,
    /// `2 * parameters * tokens run`, the usual estimate.
    pub flops: f64,
}

impl CallStats {
    /// Adds another call's figures.
    pub fn add(&mut self, other: &CallStats) {
        self.prompt_tokens += other.prompt_tokens;
        self.cached_tokens += other.cached_tokens;
        self.prefilled_tokens += other.prefilled_tokens;
        self.decoded_tokens += other.decoded_tokens;
        self.seconds += other.seconds;
        self.mask_seconds += other.mask_seconds;
        self.flops += other.flops;
    }
}

/// A model and its prefix cache.
pub struct Engine {
    /// The model.
    pub model: Model,
    /// Its cache of prompt prefixes.
    pub cache: PrefixCache,
}

/// A prompt run through the model.
pub struct Prefilled {
    /// Logits of the last prompt position.
    pub logits: Vec<f32>,
    /// KV of the whole prompt.
    pub state: KvState,
    /// What it cost.
    pub stats: CallStats,
}

impl Engine {
    /// An engine keeping at most `cache_bytes` of unpinned prefix KV.
    pub fn new(model: Model, cache_bytes: usize) -> Engine {
        Engine { model, cache: PrefixCache::new(cache_bytes) }
    }

    fn cache_err(&self, e: candle_core::Error) -> LlmError {
        LlmError::Run { name: self.model.name.clone(), message: format!("prefix cache: {e}") }
    }

    /// Runs a prompt, reusing its longest cached prefix; the prompt's KV is cached afterwards. With `pin`,
    /// the prompt is never evicted (use it for the run-wide part of prompts).
    pub fn prefill(&mut self, tokens: &[u32], pin: bool) -> Result<Prefilled, LlmError> {
        let start = Instant::now();
        let past = self.cache.lookup(tokens).map_err(|e| self.cache_err(e))?;
        let cached = past.len();
        let (logits, state) = self.model.forward(&tokens[cached..], &past)?;
        let stored = if pin { self.cache.pin(tokens, &state) } else { self.cache.insert(tokens, &state) };
        stored.map_err(|e| self.cache_err(e))?;
        let prefilled = tokens.len() - cached;
        let stats = CallStats {
            prompt_tokens: tokens.len(),
            cached_tokens: cached,
            prefilled_tokens: prefilled,
            seconds: start.elapsed().as_secs_f64(),
            flops: 2.0 * self.model.parameters as f64 * prefilled as f64,
            ..CallStats::default()
        };
        Ok(Prefilled { logits, state, stats })
    }
}
