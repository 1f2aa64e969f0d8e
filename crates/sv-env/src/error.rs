//! Errors of the environment frame. Each says what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("bad environment name {text:?}: {reason}")]
    BadEnvRef { text: String, reason: String },
    #[error("unknown environment `{name}`; available: {available}")]
    UnknownEnv { name: String, available: String },
    #[error("environment `{name}` is registered twice")]
    Duplicate { name: String },
    #[error("unknown split `{split}`; this environment has: {available}")]
    UnknownSplit { split: String, available: String },
    #[error("config {source_name}: {reason}")]
    Config { source_name: String, reason: String },
    /// Data the environment needs is missing or stale; `hint` is the command to run.
    #[error("{what}: {hint}")]
    Data { what: String, hint: String },
    #[error("dataset file {path} has sha256 {actual}, the manifest says {expected}: {hint}")]
    DatasetHash {
        path: PathBuf,
        expected: String,
        actual: String,
        hint: String,
    },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Other(String),
}

impl EnvError {
    pub(crate) fn file(path: &std::path::Path, reason: impl ToString) -> Self {
        EnvError::File {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}
