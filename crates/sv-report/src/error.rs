//! Errors of report building.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}: no such file or directory")]
    Missing(PathBuf),
    #[error("{0}: not a run directory (no results.jsonl)")]
    NotARun(PathBuf),
    #[error(
        "{0}: no run directories (folders with results.jsonl) found here; run `sv eval` first"
    )]
    NoRuns(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("{path}:{line}: {msg}")]
    Row {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("unknown metric `{0}`: use reward, valid, component:NAME or metric:NAME")]
    BadMetric(String),
    #[error("metric `{metric}` has no values in {run}")]
    NoValues { metric: String, run: String },
    #[error("{a} and {b} share no task ids; compare and gate need runs over the same tasks")]
    NoSharedTasks { a: String, b: String },
    #[error("invalid option: {0}")]
    Option(String),
}
