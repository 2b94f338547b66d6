//! Hugging Face checkpoint directories: `config.json` and `*.safetensors`, read once, tensors taken by name.

use candle_core::{DType, Device, Result, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// A checkpoint's configuration and the tensors not taken yet.
pub struct Checkpoint {
    /// `config.json`.
    pub config: serde_json::Value,
    tensors: HashMap<String, Tensor>,
    /// Parameters in all tensors.
    pub parameters: u64,
}

impl Checkpoint {
    /// Reads `config.json` and every `*.safetensors` of a directory.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)
            .map_err(|e| candle_core::Error::Msg(format!("config.json: {e}")))?;
        let mut files: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            candle_core::bail!("no .safetensors files in {}", dir.display());
        }
        let mut tensors = HashMap::new();
        for f in files {
            tensors.extend(candle_core::safetensors::load(&f, &Device::Cpu)?);
        }
        let parameters = tensors.values().map(|t| t.elem_count() as u64).sum();
        Ok(Checkpoint { config, tensors, parameters })
    }

    /// A number from `config.json`.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.config.get(key).and_then(serde_json::Value::as_f64)
    }

    /// A required whole number from `config.json`.
    pub fn need(&self, key: &str) -> Result<usize> {
        self.num(key).map(|v| v as usize).ok_or_else(|| candle_core::Error::Msg(format!("config.json has no `{key}`")))
    }

    /// Removes and returns a tensor as f32.
    pub fn take(&mut self, name: &str) -> Result<Tensor> {
        self.tensors
            .remove(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("tensor `{name}` is missing")))?
            .to_dtype(DType::F32)
    }
}
