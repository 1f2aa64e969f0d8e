//! Harness errors. Rollout failures are not errors of the run: they become error rows.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Env(#[from] sv_env::EnvError),
    #[error(transparent)]
    Policy(#[from] sv_env::PolicyError),
    #[error(transparent)]
    Model(#[from] sv_models::ModelError),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("task selection: {0}")]
    Selection(String),
    #[error("cannot resume {dir}: {reason}")]
    Resume { dir: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
}

impl HarnessError {
    pub fn io(path: &Path, reason: impl ToString) -> Self {
        HarnessError::Io {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}
