//! The OpenAI-compatible client against our own misbehaving server on loopback:
//! retries (429 with Retry-After, 5xx), non-retryable errors, timeouts, the concurrency
//! limit, `n` fallback, tool calls with invalid JSON, reasoning and usage, cost, the
//! request body, and the response cache.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sv_models::sv_chat::{Message, ToolSpec};
use sv_models::{
    build, ChatModel, ChatRequest, ClientConfig, ModelError, ModelSpec, OpenAiClient, Sampling,
};

#[derive(Default)]
struct Fake {
    calls: Mutex<HashMap<String, usize>>,
    bodies: Mutex<HashMap<String, Vec<Value>>>,
    auth: Mutex<HashMap<String, String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

fn completion(choices: Vec<Value>, usage: Value) -> Value {
    json!({"id": "x", "object": "chat.completion", "created": 0, "model": "fake-model",
           "choices": choices, "usage": usage})
}

fn text_choice(i: usize, text: &str) -> Value {
    json!({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
}

async fn handler(
    State(st): State<Arc<Fake>>,
    Path(scenario): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let call = {
        let mut c = st.calls.lock().unwrap();
        let e = c.entry(scenario.clone()).or_default();
        *e += 1;
        *e
    };
    st.bodies
        .lock()
        .unwrap()
        .entry(scenario.clone())
        .or_default()
        .push(body.clone());
    if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        st.auth
            .lock()
            .unwrap()
            .insert(scenario.clone(), a.to_string());
    }
    let kind = scenario.split('-').next().unwrap_or("").to_string();
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 4});
    match kind.as_str() {
        "flaky" if call <= 2 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            "slow down",
        )
            .into_response(),
        "retryafter" if call == 1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after-ms", "300")],
            "slow down",
        )
            .into_response(),
        "down" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "blip" if call == 1 => (StatusCode::SERVICE_UNAVAILABLE, "blip").into_response(),
        "bad" => (StatusCode::BAD_REQUEST, r#"{"error":{"message":"no such model"}}"#).into_response(),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Json(completion(vec![text_choice(0, "late")], usage)).into_response()
        }
        "garbage" => (StatusCode::OK, "<html>not json</html>").into_response(),
        "slow" => {
            let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            st.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(80)).await;
            st.in_flight.fetch_sub(1, Ordering::SeqCst);
            Json(completion(vec![text_choice(0, "ok")], usage)).into_response()
        }
        "ignoren" => {
            let seed = body.get("seed").cloned().unwrap_or(Value::Null);
            Json(completion(vec![text_choice(0, &format!("seed={seed}"))], usage)).into_response()
        }
        "honourn" => {
            let n = body.get("n").and_then(Value::as_u64).unwrap_or(1) as usize;
            let choices = (0..n).rev().map(|i| text_choice(i, &format!("c{i}"))).collect();
            Json(completion(choices, usage)).into_response()
        }
        "tools" => Json(completion(
            vec![json!({"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "search", "arguments": "{\"q\": \"lsass"}},
                    {"id": "call_b", "type": "function", "function": {"name": "count", "arguments": "{\"field\":\"EventID\"}"}}
                ]}})],
            usage,
        ))
        .into_response(),
        "reasoning" => Json(completion(
            vec![json!({"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "42", "reasoning_content": "6 times 7"}})],
            json!({"prompt_tokens": 1000, "completion_tokens": 3000,
                   "completion_tokens_details": {"reasoning_tokens": 2500}}),
        ))
        .into_response(),
        _ => Json(completion(vec![text_choice(0, &format!("answer {call}"))], usage)).into_response(),
    }
}

async fn fake_server() -> (SocketAddr, Arc<Fake>) {
    let st = Arc::new(Fake::default());
    let app = Router::new()
        .route("/{scenario}/v1/chat/completions", post(handler))
        .with_state(Arc::clone(&st));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, st)
}

fn config() -> ClientConfig {
    ClientConfig {
        concurrency: 4,
        request_timeout: Duration::from_secs(5),
        max_retries: 3,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_secs(2),
        api_key_env: "SV_TEST_NO_SUCH_KEY".into(),
        cache_dir: None,
        ..ClientConfig::default()
    }
}

fn client(addr: SocketAddr, scenario: &str, model: &str, cfg: &ClientConfig) -> OpenAiClient {
    OpenAiClient::new(model, &format!("http://{addr}/{scenario}/v1"), cfg).unwrap()
}

fn req(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)])
}

fn calls(st: &Fake, scenario: &str) -> usize {
    st.calls.lock().unwrap().get(scenario).copied().unwrap_or(0)
}

#[tokio::test]
async fn retries_429_then_succeeds() {
    let (addr, st) = fake_server().await;
    let c = client(addr, "flaky-1", "m", &config());
    let r = c.chat(&req("hi")).await.unwrap();
    assert_eq!(r.choices[0].content, "answer 3");
    assert_eq!(calls(&st, "flaky-1"), 3);
    assert_eq!(r.usage.prompt_tokens, 10);
    assert_eq!(r.model, "fake-model");
    assert!(!r.cached);
}

#[tokio::test]
async fn honours_retry_after() {
    let (addr, st) = fake_server().await;
    let c = client(addr, "retryafter-1", "m", &config());
    let start = Instant::now();
    c.chat(&req("hi")).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(calls(&st, "retryafter-1"), 2);
    assert!(
        waited >= Duration::from_millis(300),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn gives_up_on_persistent_5xx_after_the_retry_budget() {
    let (addr, st) = fake_server().await;
    let c = client(addr, "down-1", "m", &config());
    let e = c.chat(&req("hi")).await.unwrap_err();
    assert!(matches!(e, ModelError::Http { status: 500, .. }), "{e}");
    assert_eq!(calls(&st, "down-1"), 4, "1 attempt + 3 retries");
    let c = client(addr, "blip-1", "m", &config());
    assert_eq!(
        c.chat(&req("hi")).await.unwrap().choices[0].content,
        "answer 2"
    );
}

#[tokio::test]
async fn does_not_retry_client_errors_or_garbage() {
    let (addr, st) = fake_server().await;
    let c = client(addr, "bad-1", "m", &config());
    let e = c.chat(&req("hi")).await.unwrap_err();
    assert!(matches!(e, ModelError::Http { status: 400, .. }), "{e}");
    assert!(e.to_string().contains("no such model"), "{e}");
    assert_eq!(calls(&st, "bad-1"), 1);
    let c = client(addr, "garbage-1", "m", &config());
    let e = c.chat(&req("hi")).await.unwrap_err();
    assert!(matches!(e, ModelError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("not json"), "{e}");
}

#[tokio::test]
async fn times_out_each_attempt_and_reports_attempts() {
    let (addr, st) = fake_server().await;
    let cfg = ClientConfig {
        request_timeout: Duration::from_millis(200),
        max_retries: 1,
        ..config()
    };
    let c = client(addr, "hang-1", "m", &cfg);
    let start = Instant::now();
    let e = c.chat(&req("hi")).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(e, ModelError::Timeout { attempts: 2, .. }),
        "{e:?}"
    );
    assert_eq!(calls(&st, "hang-1"), 2);
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = OpenAiClient::new("m", &format!("http://127.0.0.1:{port}/v1"), &config()).unwrap();
    let e = c.chat(&req("hi")).await.unwrap_err();
    assert!(matches!(e, ModelError::Connection { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_limit_bounds_requests_in_flight() {
    let (addr, st) = fake_server().await;
    let cfg = ClientConfig {
        concurrency: 3,
        ..config()
    };
    let c = Arc::new(client(addr, "slow-1", "m", &cfg));
    let tasks: Vec<_> = (0..15)
        .map(|i| {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.chat(&req(&format!("q{i}"))).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(calls(&st, "slow-1"), 15);
    assert_eq!(st.max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn n_falls_back_to_parallel_requests_when_ignored() {
    let (addr, st) = fake_server().await;
    let c = client(addr, "ignoren-1", "m", &config());
    let mut r = req("hi");
    r.sampling = Sampling {
        n: 3,
        seed: Some(7),
        ..Sampling::default()
    };
    let resp = c.chat(&r).await.unwrap();
    let texts: Vec<&str> = resp.choices.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["seed=7", "seed=8", "seed=9"]);
    assert_eq!(calls(&st, "ignoren-1"), 3);
    assert_eq!(resp.usage.prompt_tokens, 30);
    assert_eq!(resp.usage.completion_tokens, 12);
    let bodies = st.bodies.lock().unwrap()["ignoren-1"].clone();
    assert_eq!(bodies[0]["n"], 3);
    assert!(bodies[1].get("n").is_none(), "fallback asks for one choice");

    // A server that honours n is asked once; choices come back in index order.
    let c = client(addr, "honourn-1", "m", &config());
    let resp = c.chat(&r).await.unwrap();
    let texts: Vec<&str> = resp.choices.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["c0", "c1", "c2"]);
    assert_eq!(calls(&st, "honourn-1"), 1);
}

#[tokio::test]
async fn invalid_tool_call_json_is_passed_through() {
    let (addr, _st) = fake_server().await;
    let c = client(addr, "tools-1", "m", &config());
    let mut r = req("find lsass access");
    r.tools = vec![ToolSpec::function(
        "search",
        "search",
        json!({"type": "object"}),
    )];
    let resp = c.chat(&r).await.unwrap();
    let m = &resp.choices[0];
    assert_eq!(m.content, "");
    assert_eq!(m.tool_calls.len(), 2);
    assert_eq!(m.tool_calls[0].function.arguments, "{\"q\": \"lsass");
    assert!(m.tool_calls[0].parsed_arguments().is_err());
    assert_eq!(
        m.tool_calls[1].parsed_arguments().unwrap()["field"],
        "EventID"
    );
}

#[tokio::test]
async fn reasoning_usage_and_cost() {
    let (addr, _st) = fake_server().await;
    let c = client(addr, "reasoning-1", "gpt-4o-mini", &config());
    let resp = c.chat(&req("6*7?")).await.unwrap();
    let m = &resp.choices[0];
    assert_eq!(m.content, "42");
    assert_eq!(m.reasoning.as_deref(), Some("6 times 7"));
    assert_eq!(resp.usage.reasoning_tokens, 2500);
    assert_eq!(resp.usage.completion_tokens, 3000);
    // The server reports "fake-model" (no price); the configured gpt-4o-mini is priced:
    // 1000 × $0.15/M + 3000 × $0.60/M.
    let cost = resp.cost_usd.unwrap();
    assert!((cost - 0.00195).abs() < 1e-12, "{cost}");
    assert!(resp.latency_ms > 0.0);
}

#[tokio::test]
async fn sends_sampling_tools_and_the_api_key() {
    let (addr, st) = fake_server().await;
    std::env::set_var("SV_TEST_KEY_ECHO", "sk-test-123");
    let cfg = ClientConfig {
        api_key_env: "SV_TEST_KEY_ECHO".into(),
        ..config()
    };
    let c = client(addr, "echo-1", "qwen3-8b", &cfg);
    let r = ChatRequest {
        messages: vec![Message::system("s"), Message::user("u")],
        tools: vec![ToolSpec::function("t", "d", json!({"type": "object"}))],
        sampling: Sampling {
            temperature: 0.7,
            top_p: 0.9,
            max_tokens: 33,
            seed: Some(42),
            stop: vec!["</answer>".into()],
            n: 1,
        },
    };
    c.chat(&r).await.unwrap();
    let body = st.bodies.lock().unwrap()["echo-1"][0].clone();
    assert_eq!(body["model"], "qwen3-8b");
    assert_eq!(
        body["messages"],
        json!([{"role":"system","content":"s"},{"role":"user","content":"u"}])
    );
    assert_eq!(body["tools"][0]["function"]["name"], "t");
    assert!((body["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
    assert!((body["top_p"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(body["max_tokens"], 33);
    assert_eq!(body["seed"], 42);
    assert_eq!(body["stop"], json!(["</answer>"]));
    assert!(body.get("n").is_none());
    assert_eq!(st.auth.lock().unwrap()["echo-1"], "Bearer sk-test-123");
}

#[tokio::test]
async fn cache_answers_repeats_without_calling_the_server() {
    let (addr, st) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ClientConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..config()
    };
    let spec = ModelSpec::parse(&format!("openai:m@http://{addr}/cache-1/v1")).unwrap();
    let model = build(&spec, &cfg).unwrap();
    let first = model.chat(&req("hi")).await.unwrap();
    assert!(!first.cached);
    assert_eq!(calls(&st, "cache-1"), 1);
    // Same request from a fresh client (a re-run): served from disk.
    let model = build(&spec, &cfg).unwrap();
    let again = model.chat(&req("hi")).await.unwrap();
    assert!(again.cached);
    assert_eq!(again.choices, first.choices);
    assert_eq!(again.usage, first.usage);
    assert_eq!(calls(&st, "cache-1"), 1);
    // Any change to the request is a miss.
    let mut other = req("hi");
    other.sampling.seed = Some(1);
    assert!(!model.chat(&other).await.unwrap().cached);
    assert_eq!(calls(&st, "cache-1"), 2);
    // Errors are not cached.
    let spec = ModelSpec::parse(&format!("openai:m@http://{addr}/bad-2/v1")).unwrap();
    let model = build(&spec, &cfg).unwrap();
    assert!(model.chat(&req("hi")).await.is_err());
    assert!(model.chat(&req("hi")).await.is_err());
    assert_eq!(calls(&st, "bad-2"), 2);
}

#[tokio::test]
async fn invalid_requests_fail_before_any_call() {
    let (addr, st) = fake_server().await;
    let c = client(addr, "x-1", "m", &config());
    let mut r = req("hi");
    r.sampling.n = 0;
    assert!(matches!(
        c.chat(&r).await,
        Err(ModelError::InvalidRequest(_))
    ));
    assert!(matches!(
        c.chat(&ChatRequest::new(vec![])).await,
        Err(ModelError::InvalidRequest(_))
    ));
    assert_eq!(calls(&st, "x-1"), 0);
}
