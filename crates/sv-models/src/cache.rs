//! The on-disk response cache: one JSON file per request key, so re-runs and resumed
//! evaluations cost nothing.
//!
//! The key is the sha256 of a canonical JSON document holding everything that can change
//! an answer: the client's name (model and base URL, or the embedded weights' hash), the
//! messages, the tools and the sampling parameters. Files live at
//! `<dir>/<key[0..2]>/<key>.json` and are written to a temporary name then renamed, so a
//! crash never leaves a torn entry; an unreadable entry counts as a miss.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::types::{ChatRequest, ChatResponse, ModelError};

/// Bumped when the key layout or the stored format changes.
const KEY_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct ResponseCache {
    dir: PathBuf,
}

#[derive(Serialize)]
struct KeyDoc<'a> {
    v: u32,
    client: &'a str,
    request: &'a ChatRequest,
}

impl ResponseCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ResponseCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache key of `req` sent through the client named `client`.
    pub fn key(client: &str, req: &ChatRequest) -> String {
        let doc = KeyDoc {
            v: KEY_VERSION,
            client,
            request: req,
        };
        // Serialising plain structs and serde_json maps (sorted keys) is deterministic.
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The stored response for `key`, marked `cached`, or `None`.
    pub fn get(&self, key: &str) -> Option<ChatResponse> {
        let text = std::fs::read(self.path(key)).ok()?;
        let mut resp: ChatResponse = serde_json::from_slice(&text).ok()?;
        resp.cached = true;
        Some(resp)
    }

    /// Stores `resp` under `key` (atomically: temp file then rename).
    pub fn put(&self, key: &str, resp: &ChatResponse) -> Result<(), ModelError> {
        let path = self.path(key);
        let err = |reason: String| ModelError::Cache {
            path: path.clone(),
            reason,
        };
        let parent = path
            .parent()
            .ok_or_else(|| err("no parent folder".into()))?;
        std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
        let mut stored = resp.clone();
        stored.cached = false;
        let bytes = serde_json::to_vec(&stored).map_err(|e| err(e.to_string()))?;
        let tmp = parent.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&tmp, &bytes).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e.to_string())
        })
    }
}

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Sampling, Usage};
    use sv_chat::Message;

    fn resp() -> ChatResponse {
        ChatResponse {
            choices: vec![Message::assistant("hi")],
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 1,
                reasoning_tokens: 0,
            },
            latency_ms: 12.5,
            cost_usd: Some(0.001),
            cached: false,
            model: "m".into(),
        }
    }

    #[test]
    fn key_depends_on_every_part_of_the_request() {
        let base = ChatRequest::new(vec![Message::user("a")]);
        let k = ResponseCache::key("c", &base);
        assert_eq!(k.len(), 64);
        assert_eq!(k, ResponseCache::key("c", &base.clone()));
        assert_ne!(k, ResponseCache::key("d", &base));
        let mut r = base.clone();
        r.messages.push(Message::user("b"));
        assert_ne!(k, ResponseCache::key("c", &r));
        let mut r = base.clone();
        r.sampling = Sampling {
            seed: Some(1),
            ..Sampling::default()
        };
        assert_ne!(k, ResponseCache::key("c", &r));
        let mut r = base.clone();
        r.tools
            .push(sv_chat::ToolSpec::function("t", "", serde_json::json!({})));
        assert_ne!(k, ResponseCache::key("c", &r));
    }

    #[test]
    fn round_trip_marks_cached_and_ignores_corrupt_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(dir.path());
        let key = ResponseCache::key("c", &ChatRequest::new(vec![Message::user("a")]));
        assert!(cache.get(&key).is_none());
        cache.put(&key, &resp()).unwrap();
        let got = cache.get(&key).unwrap();
        assert!(got.cached);
        assert_eq!(got.choices, resp().choices);
        assert_eq!(got.usage, resp().usage);
        std::fs::write(cache.path(&key), b"{torn").unwrap();
        assert!(cache.get(&key).is_none());
    }
}
