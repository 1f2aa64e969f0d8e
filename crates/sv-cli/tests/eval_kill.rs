//! `sv eval` killed with SIGKILL mid-run, then `sv eval --resume` (and `--retry-errors`),
//! all through the real binary on the real SigmaForge environment.
//!
//! The policy is an OpenAI-compatible model served by this test: a small HTTP server
//! that answers every request with the same Sigma rule after a delay (so the run is slow
//! enough to be killed part-way), and that can be told to fail requests with HTTP 400
//! (non-retryable: they become error rows). Rewards are deterministic, so the resumed
//! run is compared with an uninterrupted run of the same selection.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TASKS: usize = 48;
const RULE: &str = "```yaml\ntitle: whoami\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel\n```";

/// The shared data folder as `sv` resolves it (`SV_DATA`, else `../shared/data`).
fn data() -> PathBuf {
    if let Some(d) = std::env::var_os("SV_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

#[derive(Default)]
struct Fake {
    delay_ms: AtomicU64,
    /// Fail every request whose sequence number is a multiple of this (0: never).
    fail_every: AtomicUsize,
    requests: AtomicUsize,
    failed: AtomicUsize,
    stop: AtomicBool,
}

fn completion() -> String {
    json!({"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": RULE},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}})
    .to_string()
}

/// Serves HTTP/1.1 keep-alive connections until the client closes them.
fn handle(stream: TcpStream, fake: Arc<Fake>) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if first && line.trim().is_empty() {
                continue;
            }
            first = false;
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = fake.requests.fetch_add(1, Ordering::SeqCst) + 1;
        std::thread::sleep(Duration::from_millis(fake.delay_ms.load(Ordering::SeqCst)));
        let every = fake.fail_every.load(Ordering::SeqCst);
        let (status, text) = if every > 0 && n.is_multiple_of(every) {
            fake.failed.fetch_add(1, Ordering::SeqCst);
            (
                "400 Bad Request",
                json!({"error": {"message": "scripted failure", "type": "invalid_request_error"}})
                    .to_string(),
            )
        } else {
            ("200 OK", completion())
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(text.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// Starts the fake server; returns its base URL.
fn start(fake: Arc<Fake>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if fake.stop.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(s) = stream {
                let f = Arc::clone(&fake);
                std::thread::spawn(move || handle(s, f));
            }
        }
    });
    format!("http://{addr}/v1")
}

fn sv() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sv"));
    c.env("NO_COLOR", "1").env_remove("OPENAI_API_KEY");
    c
}

fn eval_args(model: &str, out: &Path) -> Vec<String> {
    [
        "eval",
        "sigma",
        "--model",
        model,
        "--n",
        &TASKS.to_string(),
        "--concurrency",
        "4",
        "--no-cache",
        "-q",
        "--data",
        data().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_dir(out: &Path) -> Option<PathBuf> {
    let model_dir = out.join("sigma--openai-fake");
    std::fs::read_dir(model_dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

fn lines(p: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).expect("a complete line is a JSON row"))
        .collect()
}

type Key = (String, u64);

fn key(row: &Value) -> Key {
    (
        row["task_id"].as_str().unwrap_or_default().to_string(),
        row["rollout"].as_u64().unwrap_or(u64::MAX),
    )
}

#[test]
fn kill_9_then_resume_with_retry_errors_loses_and_duplicates_nothing() {
    if !data().join("evtx").is_dir() {
        eprintln!("SKIPPED: no shared data at {}", data().display());
        return;
    }
    let fake = Arc::new(Fake::default());
    let url = start(Arc::clone(&fake));
    let model = format!("openai:fake@{url}");

    // The reference: the same selection, uninterrupted, healthy server.
    let reference_out = tempfile::tempdir().unwrap();
    let st = sv()
        .args(eval_args(&model, reference_out.path()))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let reference: BTreeMap<Key, Value> =
        lines(&run_dir(reference_out.path()).unwrap().join("results.jsonl"))
            .into_iter()
            .map(|r| (key(&r), r))
            .collect();
    assert_eq!(reference.len(), TASKS);

    // The run to kill: slow, and every 5th request fails with HTTP 400.
    fake.delay_ms.store(120, Ordering::SeqCst);
    fake.fail_every.store(5, Ordering::SeqCst);
    let out = tempfile::tempdir().unwrap();
    let mut child = sv()
        .args(eval_args(&model, out.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let dir = loop {
        if let Some(d) = run_dir(out.path()) {
            if lines(&d.join("results.jsonl")).len() >= 12 {
                break d;
            }
        }
        assert!(Instant::now() < deadline, "sv eval wrote no rows in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "sv eval finished before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());
    let results = dir.join("results.jsonl");
    let before = lines(&results);
    assert!(
        before.len() >= 12 && before.len() < TASKS,
        "{}",
        before.len()
    );
    let errors_before = before.iter().filter(|r| !r["error"].is_null()).count();
    assert!(errors_before > 0, "some requests failed before the kill");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "running", "a killed run is left as running");

    // Resume with a healthy, fast server, re-running the error rows too.
    fake.delay_ms.store(0, Ordering::SeqCst);
    fake.fail_every.store(0, Ordering::SeqCst);
    let out_resume = sv()
        .args([
            "eval",
            "--resume",
            dir.to_str().unwrap(),
            "--retry-errors",
            "-q",
            "--no-cache",
        ])
        .args(["--data", data().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out_resume.status.success(),
        "{}",
        String::from_utf8_lossy(&out_resume.stderr)
    );
    let stdout = String::from_utf8_lossy(&out_resume.stdout);
    assert!(stdout.contains("complete: "), "{stdout}");

    let after = lines(&results);
    assert_eq!(after.len(), TASKS, "no lost and no duplicated rows");
    let keys: HashSet<Key> = after.iter().map(key).collect();
    assert_eq!(keys.len(), TASKS);
    assert_eq!(
        keys,
        reference.keys().cloned().collect::<HashSet<_>>(),
        "the same selection as the uninterrupted run"
    );
    // Good rows from before the kill stay first, unchanged.
    let good_before: Vec<&Value> = before.iter().filter(|r| r["error"].is_null()).collect();
    for (a, b) in after.iter().zip(&good_before) {
        assert_eq!(a, *b);
    }
    for r in &after {
        assert!(r["error"].is_null(), "{r}");
        let want = &reference[&key(r)];
        assert_eq!(r["reward"], want["reward"], "{:?}", key(r));
        assert_eq!(r["components"], want["components"], "{:?}", key(r));
    }
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "complete");
    assert_eq!(meta["counts"]["done"], TASKS);
    assert_eq!(meta["counts"]["errors"], 0);
    assert_eq!(meta["resumes"][0]["errors_retried"], errors_before);
    assert_eq!(
        meta["resumes"][0]["rows_kept"],
        before.len() - errors_before
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["rollouts"], TASKS);
    fake.stop.store(true, Ordering::SeqCst);
}

#[test]
fn retry_errors_needs_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = sv()
        .args([
            "eval",
            "sigma",
            "--model",
            "reference",
            "--n",
            "1",
            "--retry-errors",
        ])
        .args(["--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--retry-errors applies to a resumed run"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing ran"
    );
}
