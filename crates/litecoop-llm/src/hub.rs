//! `hf:REPO:FILE` model sources for users with a network: the Hugging Face cache first (`HF_HOME` is
//! honoured), then a download, unless `HF_HUB_OFFLINE=1` forbids it. Nothing here runs unless a user names
//! an `hf:` model.

use crate::error::LlmError;
use std::path::PathBuf;

/// A parsed `hf:REPO:FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// `owner/name`.
    pub repo: String,
    /// File inside the repository.
    pub file: String,
}

impl HubFile {
    /// Parses `hf:owner/name:file.gguf`; `None` when `spec` is not an `hf:` source.
    pub fn parse(spec: &str) -> Option<Result<HubFile, LlmError>> {
        let rest = spec.strip_prefix("hf:")?;
        Some(match rest.split_once(':') {
            Some((repo, file)) if repo.contains('/') && !file.is_empty() => {
                Ok(HubFile { repo: repo.to_string(), file: file.to_string() })
            }
            _ => Err(LlmError::Manifest {
                file: spec.to_string(),
                message: "expected hf:OWNER/REPO:FILE, e.g. hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:smollm2-135m-instruct-q8_0.gguf".into(),
            }),
        })
    }

    /// The local file: from `cache` (default: the Hugging Face cache of the environment), else downloaded
    /// unless `offline` (default: `HF_HUB_OFFLINE=1`).
    pub fn fetch(&self, cache: Option<PathBuf>, offline: Option<bool>) -> Result<PathBuf, LlmError> {
        let offline = offline.unwrap_or_else(|| std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1"));
        let cache = match cache {
            Some(dir) => hf_hub::Cache::new(dir),
            None => hf_hub::Cache::from_env(),
        };
        if let Some(path) = cache.model(self.repo.clone()).get(&self.file) {
            return Ok(path);
        }
        let missing = |message: String| LlmError::Hub { spec: format!("hf:{}:{}", self.repo, self.file), message };
        if offline {
            return Err(missing(format!(
                "not in the Hugging Face cache at {} and HF_HUB_OFFLINE=1 forbids downloading",
                cache.path().display()
            )));
        }
        let api = hf_hub::api::sync::ApiBuilder::from_cache(cache).build().map_err(|e| missing(e.to_string()))?;
        api.model(self.repo.clone()).get(&self.file).map_err(|e| missing(format!("download failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_sources() {
        assert_eq!(HubFile::parse("smollm2-135m").map(|r| r.is_ok()), None);
        let f = HubFile::parse("hf:org/repo:model.gguf").unwrap().unwrap();
        assert_eq!((f.repo.as_str(), f.file.as_str()), ("org/repo", "model.gguf"));
        assert!(HubFile::parse("hf:repo-without-owner:x.gguf").unwrap().is_err());
        assert!(HubFile::parse("hf:org/repo").unwrap().is_err());
    }

    #[test]
    fn finds_a_cached_file_offline_and_refuses_to_download_a_missing_one() {
        let home = std::env::temp_dir().join(format!("litecoop-hf-{}", std::process::id()));
        let repo = home.join("models--org--tiny");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123").unwrap();
        std::fs::write(repo.join("snapshots/abc123/tiny.gguf"), b"GGUF").unwrap();
        let f = HubFile { repo: "org/tiny".into(), file: "tiny.gguf".into() };
        let path = f.fetch(Some(home.clone()), Some(true)).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"GGUF");
        let g = HubFile { repo: "org/tiny".into(), file: "other.gguf".into() };
        let e = g.fetch(Some(home.clone()), Some(true)).unwrap_err().to_string();
        assert!(e.contains("HF_HUB_OFFLINE=1"), "{e}");
        let _ = std::fs::remove_dir_all(home);
    }
}
