//! Errors of the event store.

use std::path::PathBuf;

/// Why loading failed as a whole. Problems with single files are not errors: they are
/// reported in [`crate::LoadReport::files_skipped`].
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("limit exceeded: {0}")]
    Limit(String),
    #[error("invalid event JSON: {0}")]
    Json(String),
}
