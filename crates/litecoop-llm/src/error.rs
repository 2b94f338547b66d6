//! Errors of the engine: each says which file or model and what to do about it.

use thiserror::Error;

/// Why a model could not be found, loaded or run.
#[derive(Debug, Error)]
pub enum LlmError {
    /// The manifest could not be read or parsed.
    #[error("{file}: {message}")]
    Manifest {
        /// The manifest file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// No model of that name in the manifest.
    #[error("unknown model `{name}`; known: {known} (or give a path to a .gguf file)")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names the manifest has.
        known: String,
    },
    /// The weights are not on disk.
    #[error("model `{name}`: {path} is missing; fetch it with `scripts/fetch-models {name}` (or `litecoop models fetch {name}`)")]
    Missing {
        /// The model.
        name: String,
        /// Where it was expected.
        path: String,
    },
    /// An `hf:` source could not be resolved.
    #[error("{spec}: {message}")]
    Hub {
        /// The `hf:` source.
        spec: String,
        /// What went wrong.
        message: String,
    },
    /// The file's checksum is not the manifest's.
    #[error("model `{name}`: {path} has sha256 {got}, expected {expected}; delete it and fetch it again")]
    Checksum {
        /// The model.
        name: String,
        /// The file.
        path: String,
        /// Its checksum.
        got: String,
        /// The manifest's checksum.
        expected: String,
    },
    /// The file is not a usable GGUF (truncated, corrupt, or missing what the architecture needs).
    #[error("{path}: not a usable GGUF model: {message}")]
    Gguf {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The architecture is not supported.
    #[error("{path}: architecture `{architecture}` is not supported (supported: {supported})")]
    UnsupportedArchitecture {
        /// The file.
        path: String,
        /// `general.architecture` of the file.
        architecture: String,
        /// What the engine runs.
        supported: String,
    },
    /// The tokenizer described by the file is not one we can rebuild faithfully.
    #[error("{path}: tokenizer: {message}")]
    Tokenizer {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Candle failed while running the model.
    #[error("model `{name}` failed: {message}")]
    Run {
        /// The model.
        name: String,
        /// Candle's message.
        message: String,
    },
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}
