//! The request/response types every model client shares.

use serde::{Deserialize, Serialize};
use sv_chat::{Message, ToolSpec};

/// Sampling parameters. Defaults: temperature 0 (greedy), top_p 1, 512 new tokens,
/// no seed, no stop strings, one choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sampling {
    pub temperature: f32,
    pub top_p: f32,
    pub max_tokens: u32,
    /// Makes sampling reproducible where the backend supports it (the embedded model
    /// always does; OpenAI-compatible servers pass it through). Part of the cache key:
    /// give each rollout of a task its own seed.
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// Number of choices. Servers that ignore `n` are topped up with parallel requests.
    pub n: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: 512,
            seed: None,
            stop: Vec::new(),
            n: 1,
        }
    }
}

/// One chat-completion request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub sampling: Sampling,
}

impl ChatRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            ..Default::default()
        }
    }
}

/// Token counts, summed over all choices (and over all requests when `n` was served by
/// parallel requests). `reasoning_tokens` is the part of `completion_tokens` a server
/// reported as reasoning (`completion_tokens_details.reasoning_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
    }
}

/// A finished completion: `choices` holds `sampling.n` assistant messages (content,
/// `reasoning`, `tool_calls` with raw argument strings that may be invalid JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub choices: Vec<Message>,
    pub usage: Usage,
    /// Wall time of the call, retries included; for a cache hit, the original call's.
    pub latency_ms: f64,
    /// From the price table; `None` when the model has no entry.
    pub cost_usd: Option<f64>,
    /// True when served from the response cache (so the call cost nothing now).
    #[serde(default)]
    pub cached: bool,
    /// The model name the server reported (or the configured one).
    pub model: String,
}

/// Why a call failed. Transient failures have already been retried when this comes back.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("bad model spec {spec:?}: {reason}")]
    Spec { spec: String, reason: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("HTTP {status} from {url}: {body}")]
    Http {
        status: u16,
        url: String,
        body: String,
    },
    #[error("request to {url} timed out after {secs:.1}s ({attempts} attempts)")]
    Timeout {
        url: String,
        secs: f64,
        attempts: u32,
    },
    #[error("cannot reach {url}: {reason}")]
    Connection { url: String, reason: String },
    #[error("malformed response from {url}: {reason}")]
    Malformed { url: String, reason: String },
    #[error("environment variable {0} is not set (it holds the API key)")]
    MissingApiKey(String),
    #[error("embedded model weights not found at {path}: run `scripts/setup` or `sv model setup`")]
    WeightsMissing { path: std::path::PathBuf },
    #[error("embedded model weights at {path} have sha256 {actual}, expected {expected}")]
    WeightsHash {
        path: std::path::PathBuf,
        expected: String,
        actual: String,
    },
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("embedded model: {0}")]
    Embedded(String),
    #[error("response cache at {path}: {reason}")]
    Cache {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("price table {path}: {reason}")]
    Prices {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A chat model. Implementations are cheap to share (`Arc<dyn ChatModel>`) and may be
/// called concurrently; each applies its own concurrency limit.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync {
    /// A stable name for reports and cache keys (`embedded:smollm2-135m-instruct-q4_1`,
    /// `openai:MODEL@BASE_URL`).
    fn name(&self) -> &str;
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError>;
}

/// Most choices one request may ask for.
pub const MAX_N: u32 = 128;

/// Checks a request before any work is done.
pub(crate) fn validate(req: &ChatRequest) -> Result<(), ModelError> {
    let s = &req.sampling;
    let bad = |m: String| Err(ModelError::InvalidRequest(m));
    if req.messages.is_empty() {
        return bad("no messages".into());
    }
    if s.n == 0 || s.n > MAX_N {
        return bad(format!("n must be in 1..={MAX_N}, got {}", s.n));
    }
    if s.max_tokens == 0 {
        return bad("max_tokens must be at least 1".into());
    }
    if !(s.temperature.is_finite() && s.temperature >= 0.0) {
        return bad(format!("temperature must be >= 0, got {}", s.temperature));
    }
    if !(s.top_p > 0.0 && s.top_p <= 1.0) {
        return bad(format!("top_p must be in (0, 1], got {}", s.top_p));
    }
    if s.stop.iter().any(String::is_empty) {
        return bad("stop strings must not be empty".into());
    }
    Ok(())
}
