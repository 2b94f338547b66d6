//! [`LanguageModel`] on the in-process engine: the prompt is wrapped in the model's chat format, each segment
//! is tokenized on its own (so shared segments always give the same tokens), the run-wide instructions are
//! pinned in the model's prefix cache, and the answer is decoded under the options' token trie until only
//! one option can follow (a name's remaining tokens are not run).

use super::{LanguageModel, Pick, Prompt};
use litecoop_llm::choice::Sampling;
use litecoop_llm::engine::Engine;
use litecoop_llm::manifest::ChatFormat;

/// Softmax temperature over the allowed tokens (0 would always give the same answer for the same prompt,
/// so seeds would not differ; 1 keeps the model's own preferences).
pub const DEFAULT_TEMPERATURE: f32 = 1.0;

/// A loaded model with its prefix cache, as the search sees it.
pub struct EngineModel {
    engine: Engine,
    format: ChatFormat,
    parameters: u64,
    temperature: f32,
    pinned: bool,
}

impl EngineModel {
    /// Wraps an engine; `parameters` is the manifest's count (smallness), `format` its prompt format.
    pub fn new(engine: Engine, format: ChatFormat, parameters: u64, temperature: f32) -> EngineModel {
        EngineModel { engine, format, parameters, temperature, pinned: false }
    }

    /// The engine (for its cache counters).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The prompt's segments as the model expects them, in order.
    fn segments(&self, prompt: &Prompt) -> Vec<String> {
        let mut out = Vec::with_capacity(prompt.context.len() + prompt.answer.len() + 2);
        match self.format {
            ChatFormat::Chatml => {
                out.push(format!("<|im_start|>system\n{}<|im_end|>\n<|im_start|>user\n", prompt.instructions));
                out.extend(prompt.context.iter().cloned());
                out.push("<|im_end|>\n<|im_start|>assistant\n".into());
            }
            ChatFormat::None => {
                out.push(prompt.instructions.clone());
                out.extend(prompt.context.iter().cloned());
            }
        }
        out.extend(prompt.answer.iter().cloned());
        out
    }

    fn tokens(&self, segment: &str, first: bool) -> Result<Vec<u32>, String> {
        let tokenizer = &self.engine.model.tokenizer;
        if first {
            return tokenizer.encode(segment);
        }
        let encoding = tokenizer.tokenizer.encode(segment, false).map_err(|e| e.to_string())?;
        Ok(encoding.get_ids().to_vec())
    }
}

impl LanguageModel for EngineModel {
    fn name(&self) -> &str {
        &self.engine.model.name
    }

    fn parameters(&self) -> u64 {
        self.parameters
    }

    fn choose(&mut self, prompt: &Prompt, options: &[String], seed: u64) -> Result<Pick, String> {
        let segments = self.segments(prompt);
        let mut ids = Vec::new();
        let mut instructions = 0;
        for (i, s) in segments.iter().enumerate() {
            ids.extend(self.tokens(s, i == 0)?);
            if i == 0 {
                instructions = ids.len();
            }
        }
        tracing::debug!(model = %self.engine.model.name, "prompt:\n{}", segments.concat());
        let sampling = Sampling { temperature: self.temperature, seed };
        let choice = self.engine.decide(&ids, options, sampling).map_err(|e| e.to_string())?;
        if !self.pinned && instructions < ids.len() {
            // The run-wide part, now cached by the call, is never evicted.
            let cache = &mut self.engine.cache;
            let state = cache.lookup(&ids[..=instructions]).map_err(|e| e.to_string())?;
            cache.pin(&ids[..instructions], &state).map_err(|e| e.to_string())?;
            self.pinned = true;
        }
        Ok(Pick { index: choice.index, cost: choice.stats, prior: choice.prior })
    }
}
