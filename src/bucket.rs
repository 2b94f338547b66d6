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

/// The default of `--kv-budget`: KV bytes each model's prefix cache may keep unpinned (LRU beyond that).
pub const DEFAULT_KV_BUDGET: &str = "256MiB";

/// Parses a byte count: a whole number with an optional unit, `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`, powers
/// of 1024) or `B`, e.g. `512MiB`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => return Err(format!("unknown unit `{other}` (use B, KiB, MiB or GiB)")),
    };
    let number: usize = number.parse().map_err(|_| format!("`{text}` is not a byte count such as 512MiB"))?;
    number.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// The models, in order, by manifest name (or path to a GGUF file / checkpoint, or `hf:` spec); each gets a
/// prefix cache of at most `kv_budget` bytes.
pub fn load(
    names: &[String],
    manifest: &ManifestArg,
    temperature: f32,
    kv_budget: usize,
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
        out.push(Box::new(EngineModel::new(Engine::new(model, kv_budget), format, parameters, temperature)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts_take_binary_units_and_refuse_anything_else() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes(super::DEFAULT_KV_BUDGET), Ok(256 << 20));
        assert_eq!(parse_bytes("64 kib"), Ok(64 << 10));
        for bad in ["", "-1", "1.5GiB", "12TB", "GiB", "99999999999999999999GiB"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
