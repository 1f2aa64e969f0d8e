//! `sv model serve`: the embedded model behind an OpenAI-compatible HTTP API.
//!
//! Routes: `POST /v1/chat/completions` (JSON; with `"stream": true` the finished
//! completion is sent as server-sent events: one content chunk, one finish chunk,
//! `[DONE]`), `GET /v1/models`, `GET /health`. The `model` field of a request is not
//! checked: there is one model. Errors use OpenAI's `{"error": {…}}` shape. The server
//! binds loopback addresses only unless the caller allows remote access explicitly.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::embedded::{Completion, EmbeddedModel, MODEL_ID};
use crate::types::{ChatRequest, ModelError, Sampling};
use crate::wire::{WireChoice, WireMessage, WireRequest, WireResponse, WireUsage};

/// The listener type [`serve`] takes (re-exported so callers need no tokio dependency).
pub use tokio::net::TcpListener as Listener;

/// Resolves on Ctrl-C (or immediately if the signal cannot be watched).
pub async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Server limits. Defaults: 8 MiB bodies, `n` ≤ 16, `max_tokens` ≤ 4096 (the context).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_body_bytes: usize,
    pub max_n: u32,
    pub max_tokens: u32,
    /// Used when a request gives no `max_tokens`. Default 512.
    pub default_max_tokens: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_body_bytes: 8 << 20,
            max_n: 16,
            max_tokens: 4096,
            default_max_tokens: 512,
        }
    }
}

struct AppState {
    model: Arc<EmbeddedModel>,
    limits: ServerLimits,
    counter: AtomicU64,
}

/// Refuses a non-loopback bind address unless `allow_remote`.
pub fn check_bind(host: &str, allow_remote: bool) -> Result<(), String> {
    if allow_remote || host == "localhost" {
        return Ok(());
    }
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => Ok(()),
        Ok(_) => Err(format!(
            "{host} is not a loopback address: the server has no authentication; pass --allow-remote to expose it anyway"
        )),
        Err(_) => Err(format!(
            "{host} is not an IP address (use 127.0.0.1, ::1 or localhost, or --allow-remote)"
        )),
    }
}

/// The router, for embedding in tests or other servers.
pub fn router(model: Arc<EmbeddedModel>, limits: ServerLimits) -> Router {
    let body_limit = limits.max_body_bytes;
    let state = Arc::new(AppState {
        model,
        limits,
        counter: AtomicU64::new(0),
    });
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    model: Arc<EmbeddedModel>,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(model, limits))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (port 0 picks a free one) and serves in the background; returns the
/// bound address and a handle that stops the server when dropped or sent to.
pub async fn spawn(
    addr: SocketAddr,
    model: Arc<EmbeddedModel>,
    limits: ServerLimits,
) -> std::io::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve(listener, model, limits, async {
            let _ = rx.await;
        })
        .await;
    });
    Ok((bound, tx))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body =
        json!({"error": {"message": message.into(), "type": kind, "param": null, "code": null}});
    (status, Json(body)).into_response()
}

async fn models() -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "sv"}]
    }))
}

/// The [`ChatRequest`] a wire request asks for, or why it is invalid.
fn to_request(w: WireRequest, limits: &ServerLimits) -> Result<ChatRequest, String> {
    let messages = w
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| m.to_message(i).map_err(|e| format!("messages[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let n = w.n.unwrap_or(1);
    if n == 0 || n > limits.max_n {
        return Err(format!("n must be in 1..={}", limits.max_n));
    }
    let max_tokens = w
        .max_completion_tokens
        .or(w.max_tokens)
        .unwrap_or(limits.default_max_tokens);
    if max_tokens == 0 || max_tokens > limits.max_tokens {
        return Err(format!("max_tokens must be in 1..={}", limits.max_tokens));
    }
    Ok(ChatRequest {
        messages,
        tools: w.tools,
        sampling: Sampling {
            // OpenAI's default temperature is 1.
            temperature: w.temperature.unwrap_or(1.0),
            top_p: w.top_p.unwrap_or(1.0),
            max_tokens,
            seed: w.seed,
            stop: w.stop,
            n,
        },
    })
}

fn to_wire(c: &Completion, id: String) -> WireResponse {
    let r = &c.response;
    WireResponse {
        id,
        object: "chat.completion".into(),
        created: now(),
        model: MODEL_ID.into(),
        choices: r
            .choices
            .iter()
            .zip(&c.finish)
            .enumerate()
            .map(|(i, (m, f))| WireChoice {
                index: i as u32,
                message: WireMessage::from_assistant(m),
                finish_reason: Some(if m.tool_calls.is_empty() {
                    f.as_str().to_string()
                } else {
                    "tool_calls".to_string()
                }),
            })
            .collect(),
        usage: Some(WireUsage {
            prompt_tokens: r.usage.prompt_tokens,
            completion_tokens: r.usage.completion_tokens,
            total_tokens: r.usage.prompt_tokens + r.usage.completion_tokens,
            completion_tokens_details: None,
        }),
    }
}

async fn chat_completions(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let wire: WireRequest = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("invalid JSON body: {e}"),
            )
        }
    };
    let stream = wire.stream;
    let req = match to_request(wire, &st.limits) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", e),
    };
    let completion = match st.model.complete(&req).await {
        Ok(c) => c,
        Err(ModelError::InvalidRequest(e)) => {
            return error(StatusCode::BAD_REQUEST, "invalid_request_error", e)
        }
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                e.to_string(),
            )
        }
    };
    let id = format!(
        "chatcmpl-{}-{}",
        now(),
        st.counter.fetch_add(1, Ordering::Relaxed)
    );
    let resp = to_wire(&completion, id);
    if !stream {
        return Json(resp).into_response();
    }
    Sse::new(futures::stream::iter(sse_events(&resp))).into_response()
}

/// A finished response as chat.completion.chunk events.
fn sse_events(resp: &WireResponse) -> Vec<Result<Event, Infallible>> {
    let chunk = |choices: Value, usage: Option<&WireUsage>| {
        let mut v = json!({
            "id": resp.id, "object": "chat.completion.chunk", "created": resp.created,
            "model": resp.model, "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = json!(u);
        }
        Ok(Event::default().data(v.to_string()))
    };
    let mut events = Vec::new();
    for c in &resp.choices {
        let mut delta = serde_json::to_value(&c.message).unwrap_or_else(|_| json!({}));
        if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for (i, call) in calls.iter_mut().enumerate() {
                call["index"] = json!(i);
            }
        }
        events.push(chunk(
            json!([{"index": c.index, "delta": delta, "finish_reason": null}]),
            None,
        ));
        events.push(chunk(
            json!([{"index": c.index, "delta": {}, "finish_reason": c.finish_reason}]),
            None,
        ));
    }
    events.push(chunk(json!([]), resp.usage.as_ref()));
    events.push(Ok(Event::default().data("[DONE]")));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_policy() {
        assert!(check_bind("127.0.0.1", false).is_ok());
        assert!(check_bind("127.8.9.1", false).is_ok());
        assert!(check_bind("::1", false).is_ok());
        assert!(check_bind("[::1]", false).is_ok());
        assert!(check_bind("localhost", false).is_ok());
        let e = check_bind("0.0.0.0", false).unwrap_err();
        assert!(e.contains("--allow-remote"), "{e}");
        assert!(check_bind("192.168.1.5", false).is_err());
        assert!(check_bind("example.org", false).is_err());
        assert!(check_bind("0.0.0.0", true).is_ok());
    }

    #[test]
    fn wire_request_validation() {
        let limits = ServerLimits::default();
        let w: WireRequest = serde_json::from_str(
            r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":7,"stop":"\n","n":2}"#,
        )
        .unwrap();
        let r = to_request(w, &limits).unwrap();
        assert_eq!(r.sampling.max_tokens, 7);
        assert_eq!(r.sampling.n, 2);
        assert_eq!(r.sampling.temperature, 1.0);
        assert_eq!(r.sampling.stop, vec!["\n"]);
        for bad in [
            r#"{"messages":[{"role":"user","content":"hi"}],"n":17}"#,
            r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#,
            r#"{"messages":[{"role":"wizard","content":"hi"}]}"#,
        ] {
            let w: WireRequest = serde_json::from_str(bad).unwrap();
            assert!(to_request(w, &limits).is_err(), "{bad}");
        }
    }
}
