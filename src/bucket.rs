//! Loads the language models an LLM-guided strategy names, each with its own prefix cache, as the search's
//! `LanguageModel`s.

use crate::models::ManifestArg;
use anyhow::Context;
use litecoop_llm::engine::Engine;
use litecoop_llm::layers::WeightFormat;
use litecoop_llm::manifest::ChatFormat;
use litecoop_llm::model::Model;
use litecoop_search::llm::engine_model::EngineModel;
use litecoop_search::llm::LanguageModel;
use std::time::Instant;

/// KV bytes each model's prefix cache may keep unpinned (LRU beyond that).
const CACHE_BYTES: usize = 1 << 30;

/// The models, in order, by manifest name (or path to a GGUF file / checkpoint, or `hf:` spec).
pub fn load(
    names: &[String],
    manifest: &ManifestArg,
    temperature: f32,
    quiet: bool,
) -> anyhow::Result<Vec<Box<dyn LanguageModel>>> {
    let m = manifest.load()?;
    let mut out: Vec<Box<dyn LanguageModel>> = Vec::new();
    for name in names {
        let (name, path, spec) = m.resolve(name)?;
        let t = Instant::now();
        let model = Model::load(&path, &name, WeightFormat::Hybrid)
            .with_context(|| format!("loading model `{name}` from {}", path.display()))?;
        let format = spec.as_ref().map(|s| s.chat_format).unwrap_or_else(|| {
            model.chat_template.as_deref().map(ChatFormat::from_template).unwrap_or(ChatFormat::None)
        });
        let parameters = spec.as_ref().map_or(model.parameters, |s| s.parameters);
        if !quiet {
            eprintln!(
                "loaded {name} ({:.0}M parameters, {}) in {:.1} s",
                parameters as f64 / 1e6,
                model.architecture,
                t.elapsed().as_secs_f64()
            );
        }
        out.push(Box::new(EngineModel::new(Engine::new(model, CACHE_BYTES), format, parameters, temperature)));
    }
    Ok(out)
}
