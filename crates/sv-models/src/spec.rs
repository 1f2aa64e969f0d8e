//! Naming a model (`embedded`, `openai:MODEL@BASE_URL`) and building a client for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::ResponseCache;
use crate::cached::Cached;
use crate::embedded::{weights, EmbeddedModel};
use crate::openai::OpenAiClient;
use crate::types::{ChatModel, ModelError};

/// Which model to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// SmolLM2-135M-Instruct Q4_1, in-process (weights from `sv model setup`).
    Embedded,
    /// An OpenAI-compatible chat-completions endpoint; `base_url` ends before
    /// `/chat/completions` (e.g. `http://127.0.0.1:8000/v1`).
    OpenAi { model: String, base_url: String },
}

impl ModelSpec {
    /// Parses `embedded` or `openai:MODEL@BASE_URL`. The model name may itself contain
    /// `@`; the base URL is what follows the last `@` and must start with `http://` or
    /// `https://`.
    pub fn parse(s: &str) -> Result<ModelSpec, ModelError> {
        let bad = |reason: &str| ModelError::Spec {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let s = s.trim();
        if s == "embedded" {
            return Ok(ModelSpec::Embedded);
        }
        let Some(rest) = s.strip_prefix("openai:") else {
            return Err(bad("expected `embedded` or `openai:MODEL@BASE_URL`"));
        };
        let Some((model, base_url)) = rest.rsplit_once('@') else {
            return Err(bad("missing `@BASE_URL` after the model name"));
        };
        if model.is_empty() {
            return Err(bad("empty model name"));
        }
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(bad("base URL must start with http:// or https://"));
        }
        Ok(ModelSpec::OpenAi {
            model: model.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// The canonical text form (what `parse` reads back).
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Embedded => "embedded".to_string(),
            ModelSpec::OpenAi { model, base_url } => format!("openai:{model}@{base_url}"),
        }
    }
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelSpec::parse(s)
    }
}

/// How clients behave. Defaults are documented per field.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Most requests in flight at once per client (HTTP), or generations at once
    /// (embedded). Default 8 for HTTP; the embedded model uses `embedded_parallel`.
    pub concurrency: usize,
    /// Per-attempt timeout. Default 120 s.
    pub request_timeout: Duration,
    /// Retries after the first attempt on 429/5xx/timeouts/connection errors. Default 5.
    pub max_retries: u32,
    /// First backoff delay, doubled each retry, with full jitter. Default 500 ms.
    pub backoff_base: Duration,
    /// Cap on one backoff delay (and on an honoured `Retry-After`). Default 30 s.
    pub backoff_max: Duration,
    /// Environment variable holding the API key. Default `OPENAI_API_KEY`; when it is
    /// unset, requests go without an `Authorization` header (local servers need none).
    pub api_key_env: String,
    /// Response cache folder; `None` disables the cache. Default
    /// `sv_data::cache_dir()/responses`.
    pub cache_dir: Option<PathBuf>,
    /// Price table overriding the shipped one (TOML, see `prices.toml`). Default none.
    pub price_table: Option<PathBuf>,
    /// The embedded model's GGUF. Default: the file `sv model setup` installs.
    pub embedded_weights: Option<PathBuf>,
    /// Generations the embedded model runs at once (each on a blocking thread).
    /// Default 1: one generation already uses every core.
    pub embedded_parallel: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            concurrency: 8,
            request_timeout: Duration::from_secs(120),
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            api_key_env: "OPENAI_API_KEY".to_string(),
            cache_dir: Some(sv_data::cache_dir().join("responses")),
            price_table: None,
            embedded_weights: None,
            embedded_parallel: 1,
        }
    }
}

/// Builds a client for `spec`. The embedded model loads its weights here (about a
/// second), so build once and share the `Arc`. With `cache_dir` set, the client answers
/// repeated requests from the on-disk cache.
pub fn build(spec: &ModelSpec, config: &ClientConfig) -> Result<Arc<dyn ChatModel>, ModelError> {
    let (inner, identity): (Arc<dyn ChatModel>, String) = match spec {
        ModelSpec::Embedded => {
            let m =
                EmbeddedModel::load(config.embedded_weights.as_deref(), config.embedded_parallel)?;
            // Answers also depend on the inference code: bump with candle or this crate.
            let id = format!(
                "{}#{}#candle-0.11.1#sv-models-{}",
                m.name(),
                &weights::GGUF_SHA256[..16],
                env!("CARGO_PKG_VERSION")
            );
            (Arc::new(m), id)
        }
        ModelSpec::OpenAi { model, base_url } => {
            let c = OpenAiClient::new(model, base_url, config)?;
            let id = c.name().to_string();
            (Arc::new(c), id)
        }
    };
    Ok(match &config.cache_dir {
        Some(dir) => Arc::new(Cached::new(inner, ResponseCache::new(dir), identity)),
        None => inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(ModelSpec::parse("embedded").unwrap(), ModelSpec::Embedded);
        assert_eq!(
            ModelSpec::parse("openai:gpt-4o-mini@https://api.openai.com/v1/").unwrap(),
            ModelSpec::OpenAi {
                model: "gpt-4o-mini".into(),
                base_url: "https://api.openai.com/v1".into()
            }
        );
        assert_eq!(
            ModelSpec::parse("openai:org/m@v2@http://127.0.0.1:8000/v1").unwrap(),
            ModelSpec::OpenAi {
                model: "org/m@v2".into(),
                base_url: "http://127.0.0.1:8000/v1".into()
            }
        );
        for bad in [
            "",
            "openai:",
            "openai:m",
            "openai:@http://x",
            "openai:m@ftp://x",
            "gpt",
        ] {
            assert!(ModelSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
