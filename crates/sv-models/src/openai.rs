//! The OpenAI-compatible chat-completions client.
//!
//! One [`OpenAiClient`] per (model, base URL). Every HTTP attempt holds a permit of the
//! client's semaphore, so `concurrency` bounds requests in flight however many tasks
//! call it; backoff sleeps happen without a permit. A server that ignores `n` (returns
//! fewer choices) is topped up with parallel `n = 1` requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use sv_chat::Message;
use tokio::sync::Semaphore;

use crate::prices::PriceTable;
use crate::retry::{backoff, retry_after, retryable_status};
use crate::spec::ClientConfig;
use crate::types::{ChatModel, ChatRequest, ChatResponse, ModelError, Usage};
use crate::wire::{WireMessage, WireRequest, WireResponse};

/// Longest error body kept in an error message.
const MAX_ERROR_BODY: usize = 2000;

pub struct OpenAiClient {
    name: String,
    model: String,
    url: String,
    http: reqwest::Client,
    api_key: Option<String>,
    permits: Arc<Semaphore>,
    config: ClientConfig,
    prices: PriceTable,
    /// OpenAI's own API wants `max_completion_tokens`; other servers read `max_tokens`.
    completion_tokens_field: bool,
}

impl OpenAiClient {
    pub fn new(model: &str, base_url: &str, config: &ClientConfig) -> Result<Self, ModelError> {
        let api_key = match std::env::var(&config.api_key_env) {
            Ok(k) if !k.trim().is_empty() => Some(k.trim().to_string()),
            _ => None,
        };
        let base = base_url.trim_end_matches('/');
        if base.contains("api.openai.com") && api_key.is_none() {
            return Err(ModelError::MissingApiKey(config.api_key_env.clone()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("sv-models/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ModelError::Connection {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(OpenAiClient {
            name: format!("openai:{model}@{base}"),
            model: model.to_string(),
            url: format!("{base}/chat/completions"),
            http,
            api_key,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config: config.clone(),
            prices: PriceTable::load(config.price_table.as_deref())?,
            completion_tokens_field: base.contains("api.openai.com"),
        })
    }

    fn body(&self, req: &ChatRequest, n: u32, seed: Option<u64>) -> WireRequest {
        let s = &req.sampling;
        let (max_tokens, max_completion_tokens) = if self.completion_tokens_field {
            (None, Some(s.max_tokens))
        } else {
            (Some(s.max_tokens), None)
        };
        WireRequest {
            model: self.model.clone(),
            messages: req.messages.iter().map(WireMessage::from_message).collect(),
            tools: req.tools.clone(),
            temperature: Some(s.temperature),
            top_p: Some(s.top_p),
            max_tokens,
            max_completion_tokens,
            seed,
            stop: s.stop.clone(),
            n: (n != 1).then_some(n),
            stream: false,
        }
    }

    /// One logical request: attempts with retries until success, a permanent error, or
    /// the retry budget is spent.
    async fn send(&self, body: &WireRequest) -> Result<WireResponse, ModelError> {
        let mut attempt = 0u32;
        loop {
            let (err, server_wait) = match self.attempt(body).await {
                Ok(r) => return Ok(r),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Transient(e, wait)) => (e, wait),
            };
            if attempt >= self.config.max_retries {
                return Err(match err {
                    ModelError::Timeout { url, secs, .. } => ModelError::Timeout {
                        url,
                        secs,
                        attempts: attempt + 1,
                    },
                    e => e,
                });
            }
            let wait = backoff(
                attempt,
                self.config.backoff_base,
                self.config.backoff_max,
                server_wait,
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, body: &WireRequest) -> Result<WireResponse, Attempt> {
        let _permit = self.permits.acquire().await.map_err(|e| {
            Attempt::Fatal(ModelError::Connection {
                url: self.url.clone(),
                reason: e.to_string(),
            })
        })?;
        let mut rb = self
            .http
            .post(&self.url)
            .timeout(self.config.request_timeout)
            .json(body);
        if let Some(key) = &self.api_key {
            rb = rb.bearer_auth(key);
        }
        // A transport failure (sending or reading the body) is always worth a retry.
        let transient = |e: reqwest::Error| {
            let err = if e.is_timeout() {
                ModelError::Timeout {
                    url: self.url.clone(),
                    secs: self.config.request_timeout.as_secs_f64(),
                    attempts: 1,
                }
            } else {
                ModelError::Connection {
                    url: self.url.clone(),
                    reason: error_chain(&e),
                }
            };
            Attempt::Transient(err, None)
        };
        let resp = rb.send().await.map_err(transient)?;
        let status = resp.status();
        let wait = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(transient)?;
        if status != StatusCode::OK && !status.is_success() {
            let err = ModelError::Http {
                status: status.as_u16(),
                url: self.url.clone(),
                body: truncate(&String::from_utf8_lossy(&bytes), MAX_ERROR_BODY),
            };
            return Err(if retryable_status(status) {
                Attempt::Transient(err, wait)
            } else {
                Attempt::Fatal(err)
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Attempt::Fatal(ModelError::Malformed {
                url: self.url.clone(),
                reason: format!(
                    "{e}; body starts {:?}",
                    truncate(&String::from_utf8_lossy(&bytes), 300)
                ),
            })
        })
    }

    fn collect(
        &self,
        resp: WireResponse,
        choices: &mut Vec<Message>,
        usage: &mut Usage,
    ) -> Result<String, ModelError> {
        let mut wire = resp.choices;
        wire.sort_by_key(|c| c.index);
        for c in wire {
            let k = choices.len();
            let m = c
                .message
                .to_message(k)
                .map_err(|reason| ModelError::Malformed {
                    url: self.url.clone(),
                    reason,
                })?;
            choices.push(Message {
                role: sv_chat::Role::Assistant,
                ..m
            });
        }
        if let Some(u) = resp.usage {
            usage.add(&Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                reasoning_tokens: u
                    .completion_tokens_details
                    .map(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            });
        }
        Ok(resp.model)
    }
}

enum Attempt {
    Transient(ModelError, Option<Duration>),
    Fatal(ModelError),
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[async_trait::async_trait]
impl ChatModel for OpenAiClient {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        crate::types::validate(req)?;
        let n = req.sampling.n;
        let start = Instant::now();
        let first = self.send(&self.body(req, n, req.sampling.seed)).await?;
        let mut choices = Vec::with_capacity(n as usize);
        let mut usage = Usage::default();
        let mut model = self.collect(first, &mut choices, &mut usage)?;
        if choices.is_empty() {
            return Err(ModelError::Malformed {
                url: self.url.clone(),
                reason: "response has no choices".into(),
            });
        }
        // The server ignored `n`: ask for the rest one at a time, in parallel. With a
        // seed, each extra request gets its own (seed+1, seed+2, …) so they differ.
        let missing = (n as usize).saturating_sub(choices.len());
        if missing > 0 {
            let have = choices.len() as u64;
            let bodies: Vec<WireRequest> = (0..missing as u64)
                .map(|i| self.body(req, 1, req.sampling.seed.map(|s| s.wrapping_add(have + i))))
                .collect();
            let results = join_all(bodies.iter().map(|b| self.send(b))).await;
            for r in results {
                let m = self.collect(r?, &mut choices, &mut usage)?;
                if model.is_empty() {
                    model = m;
                }
            }
        }
        choices.truncate(n as usize);
        if model.is_empty() {
            model = self.model.clone();
        }
        let cost_usd = self
            .prices
            .cost(&model, &usage)
            .or_else(|| self.prices.cost(&self.model, &usage));
        Ok(ChatResponse {
            choices,
            usage,
            latency_ms: start.elapsed().as_secs_f64() * 1000.0,
            cost_usd,
            cached: false,
            model,
        })
    }
}
