//! `sv report`, `sv compare`, `sv gate` end to end over fixture run directories with known
//! values, and the report page rendered in headless Chromium (Debian package `chromium`,
//! installed by `scripts/setup`; `SV_CHROMIUM` names another binary).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn sv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sv"))
}

/// A fresh folder for one test under the target dir (kept after the run for inspection).
fn test_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report_cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_run(root: &Path, model: &str, run_id: &str, rows: &[Value]) -> PathBuf {
    let dir = root.join(format!("sigma--{model}")).join(run_id);
    std::fs::create_dir_all(&dir).unwrap();
    let meta = json!({
        "format": "sv-run/1", "run_id": run_id, "status": "complete",
        "env": {"name": "sigma", "version": 1, "id": "sigma@1"},
        "model": {"spec": model, "kind": "replay", "name": model, "slug": model,
                  "sampling": {"temperature": 0.0, "n": 1}},
        "git": {"commit": "0123abc", "dirty": false},
        "started_at": "2026-11-24T12:00:00Z", "finished_at": "2026-11-24T12:01:00Z",
        "counts": {"tasks": 10, "planned": 10, "done": 10, "errors": 0}
    });
    std::fs::write(dir.join("metadata.json"), meta.to_string()).unwrap();
    let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join("results.jsonl"), body).unwrap();
    dir
}

/// Tasks t0..t9 with reward i/10 + shift, two categories, components `iou` (= reward) and
/// `yaml_valid` (= 1), latency 100·(i+1) ms, cost 0.001, confidence i/10 with correct = i ≥ 5.
fn rows(shift: f64) -> Vec<Value> {
    (0..10)
        .map(|i| {
            let r = i as f64 / 10.0 + shift;
            json!({
                "run_id": "r", "task_id": format!("t{i}"), "rollout": 0, "split": "test",
                "category": if i % 2 == 0 { "process_creation" } else { "network" },
                "prompt": [], "completion": format!("title: rule {i}"), "reasoning": null,
                "transcript": [], "tool_calls": [], "turns": 1, "stop": "answered",
                "reward": r, "valid": true,
                "components": {"iou": r, "yaml_valid": 1.0}, "metrics": {"precision": 0.5},
                "confidence": i as f64 / 10.0, "correct": i >= 5,
                "tokens": {"prompt": 100, "completion": 20, "reasoning": 0},
                "latency_ms": 100.0 * (i + 1) as f64, "score_ms": 1.0, "cost_usd": 0.001,
                "cached": false, "error": null, "info": {}
            })
        })
        .collect()
}

fn hostile_rows() -> Vec<Value> {
    let mut r = rows(0.0);
    r[0]["completion"] = json!("</pre><script>document.title='pwned';console.error('xss')</script><img src=x onerror=alert(1)>");
    r[1]["completion"] = json!("exfil to http://evil.example.com/drop and 203.0.113.7");
    r[1]["info"] = json!({"defang": true});
    r[2]["completion"] = json!("the secret payload");
    r[2]["info"] = json!({"redact": true});
    r
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn report_writes_html_markdown_json_with_exact_numbers() {
    let root = test_dir("exact");
    let a = write_run(&root, "base", "r1", &rows(0.0));
    let b = write_run(&root, "cand", "r2", &rows(0.05));
    let out_dir = root.join("out");
    let o = run_ok(
        sv().arg("report")
            .arg(&a)
            .arg(&b)
            .arg("--out")
            .arg(&out_dir),
    );
    let s = stdout(&o);
    assert!(s.contains("sigma--base/r1: reward 0.450 ["), "{s}");
    assert!(s.contains("sigma--cand/r2: reward 0.500 ["), "{s}");
    assert!(
        s.contains("valid 100.0%, 10 tasks, 10 rollouts, 0 errors"),
        "{s}"
    );

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    let r0 = &json["runs"][0];
    assert_eq!(r0["label"], "sigma--base/r1");
    assert!((r0["reward"]["mean"].as_f64().unwrap() - 0.45).abs() < 1e-12);
    assert_eq!(r0["latency_ms"]["p50"], 550.0);
    assert!((r0["cost_usd"]["sum"].as_f64().unwrap() - 0.01).abs() < 1e-12);
    // Confidence i/10 against correct = (i >= 5): bins 0..4 have gap = confidence (acc 0),
    // bins 5..9 have gap 1 - confidence: ECE = (0+.1+.2+.3+.4 + .5+.4+.3+.2+.1)/10 = 0.25.
    assert!((r0["calibration"]["ece"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    assert_eq!(r0["categories"][0]["category"], "network");
    assert!((r0["categories"][0]["reward"]["mean"].as_f64().unwrap() - 0.5).abs() < 1e-12);

    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        md.contains("| r1 | base | sigma@1 | 10 | 10 | 0.450 ["),
        "{md}"
    );
    assert!(
        md.contains("| 100.0% | 0 | 550.0 / 955.0 | 0.0100 | 120.0 |"),
        "{md}"
    );
    assert!(md.contains("## Paired difference in reward against sigma--base/r1"));
    assert!(
        md.contains("| sigma--cand/r2 | 10 | 0.450 | 0.500 | +0.050 [+0.050, +0.050] | 0.0001 |"),
        "{md}"
    );
    assert!(md.contains("## Calibration"));
    assert!(md.contains("| sigma--base/r1 | 10 | 0.2500 |"), "{md}");

    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<td class=\"num\" data-v=\"0.45\">0.450 <span class=\"ci\">["));
    assert!(html.contains("(ECE 0.250)"));
}

#[test]
fn report_of_one_run_defaults_to_its_directory_and_searches_folders() {
    let root = test_dir("default_out");
    let a = write_run(&root, "base", "r1", &rows(0.0));
    run_ok(sv().arg("report").arg(&a));
    assert!(a.join("report.html").is_file() && a.join("report.md").is_file());
    // A folder holding several runs is searched for them.
    write_run(&root, "cand", "r2", &rows(0.1));
    let o = run_ok(
        sv().arg("report")
            .arg(&root)
            .arg("--out")
            .arg(root.join("all")),
    );
    assert_eq!(stdout(&o).matches(": reward ").count(), 2);
    // Nothing there: a clear error, exit 2.
    let empty = test_dir("default_out_empty");
    let o = sv().arg("report").arg(&empty).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no run directories"), "{}", stderr(&o));
}

#[test]
fn report_escapes_hostile_completions() {
    let root = test_dir("hostile");
    let a = write_run(&root, "evil", "r1", &hostile_rows());
    run_ok(
        sv().arg("report")
            .arg(&a)
            .arg("--out")
            .arg(root.join("out")),
    );
    let html = std::fs::read_to_string(root.join("out/report.html")).unwrap();
    assert!(!html.contains("<script>document.title"));
    assert!(!html.contains("<img src=x"));
    assert!(html.contains(
        "&lt;/pre&gt;&lt;script&gt;document.title=&#39;pwned&#39;;console.error(&#39;xss&#39;)&lt;/script&gt;"
    ));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the report's own script"
    );
    assert!(html.contains("exfil to hxxp://evil[.]example[.]com/drop and 203.0.113[.]7"));
    assert!(!html.contains("the secret payload"));
    let md = std::fs::read_to_string(root.join("out/report.md")).unwrap();
    assert!(!md.contains("the secret payload"));
    assert!(md.contains("hxxp://evil[.]example[.]com/drop"));
}

// ---------------------------------------------------------------- headless Chromium

fn chromium() -> PathBuf {
    let p = std::env::var_os("SV_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/setup` (scripts/setup.d/chromium.sh installs the Debian package `chromium`) or set SV_CHROMIUM",
        p.display()
    );
    p
}

/// Runs headless Chromium on `page` with `extra` flags; returns (stdout, stderr).
fn headless(page: &Path, profile: &Path, extra: &[&str]) -> (String, String) {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(file_url(page))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    // Drain both pipes on threads so a chatty browser cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (t_out.join().unwrap(), t_err.join().unwrap())
}

/// `file://` URL of an absolute path, percent-encoding everything outside the unreserved set.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Console output (errors, CSP violations, uncaught exceptions) from Chromium's log.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

#[test]
fn report_renders_in_headless_chromium_without_console_errors() {
    let root = test_dir("chromium");
    let a = write_run(&root, "base", "r1", &hostile_rows());
    let b = write_run(&root, "cand", "r2", &rows(0.05));
    let out = root.join("out");
    run_ok(sv().arg("report").arg(&a).arg(&b).arg("--out").arg(&out));
    let page = out.join("report.html");

    // The check can fail: a page with a script error and a blocked fetch is caught.
    let bad = root.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body><script>nope();</script><img src=\"http://192.0.2.1/x.png\"></body></html>",
    )
    .unwrap();
    let (_, err) = headless(&bad, &root.join("profile-bad"), &["--dump-dom"]);
    let lines = console_lines(&err);
    assert!(
        lines.iter().any(|l| l.contains("Uncaught ReferenceError")),
        "{err}"
    );
    assert!(
        lines.iter().any(|l| l.contains("Content Security Policy")),
        "{err}"
    );

    // The report: no console output at all, its script ran, hostile text stayed text.
    let (dom, err) = headless(&page, &root.join("profile"), &["--dump-dom"]);
    assert!(console_lines(&err).is_empty(), "console output:\n{err}");
    assert!(
        dom.contains("data-ready=\"7\""),
        "script did not run: {}",
        &dom[..dom.len().min(400)]
    );
    assert!(
        !dom.contains("data-js-error=\""),
        "a script error was recorded"
    );
    assert!(
        dom.contains("<title>sv evaluation report</title>"),
        "title changed by injection"
    );
    assert_eq!(dom.matches("<script").count(), 1);
    assert_eq!(dom.matches("<img").count(), 0);
    assert!(dom.contains("&lt;script&gt;document.title="));
    assert!(dom.contains("<details class=\"worst\" open=\"\">"));
    // Reward bars, 2 component bars, 2 histograms, 2 reliability diagrams.
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 7);

    // Screenshot for a human to look at (kept under target/).
    let png = out.join("report.png");
    let _ = std::fs::remove_file(&png);
    let (_, err) = headless(
        &page,
        &root.join("profile-shot"),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2400",
            "--hide-scrollbars",
        ],
    );
    assert!(console_lines(&err).is_empty(), "console output:\n{err}");
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 2400));
    assert!(
        bytes.len() > 50_000,
        "a blank page compresses to a few KiB: {}",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());
}

// ---------------------------------------------------------------- compare and gate

#[test]
fn compare_prints_paired_table_and_json() {
    let root = test_dir("compare");
    let a = write_run(&root, "base", "r1", &rows(0.0));
    let b = write_run(&root, "cand", "r2", &rows(0.05));
    let o = run_ok(sv().arg("compare").arg(&a).arg(&b));
    let s = stdout(&o);
    assert!(s.contains("A (baseline):  sigma--base/r1"), "{s}");
    assert!(
        s.contains("shared tasks: 10 (only in A: 0, only in B: 0)"),
        "{s}"
    );
    let line = s.lines().find(|l| l.starts_with("reward ")).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cols[..5],
        ["reward", "10", "0.4500", "0.5000", "+0.0500"],
        "{line}"
    );
    assert!(s.lines().any(|l| l.starts_with("component:iou ")), "{s}");
    assert!(
        s.lines().any(|l| l.starts_with("component:yaml_valid ")),
        "{s}"
    );

    let o = run_ok(sv().arg("compare").arg(&a).arg(&b).args([
        "--json",
        "--metric",
        "reward",
        "--metric",
        "component:yaml_valid",
    ]));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let m = v["metrics"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["metric"], "reward");
    assert!((m[0]["delta"].as_f64().unwrap() - 0.05).abs() < 1e-12);
    assert!(m[0]["p_value"].as_f64().unwrap() < 0.01);
    assert_eq!(m[1]["delta"], 0.0);
    assert_eq!(m[1]["p_value"], 1.0);

    // Level and resamples are options, bounded.
    let o = run_ok(sv().arg("compare").arg(&a).arg(&b).args([
        "--json",
        "--level",
        "0.8",
        "--bootstrap",
        "2000",
    ]));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["level"].as_f64(), v["resamples"].as_u64()),
        (Some(0.8), Some(2000))
    );
    for bad in [["--level", "1.5"], ["--bootstrap", "2000000"]] {
        let o = sv()
            .arg("compare")
            .arg(&a)
            .arg(&b)
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }

    // Identical runs: delta 0, p = 1.
    let o = run_ok(sv().arg("compare").arg(&a).arg(&a).arg("--json"));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["metrics"][0]["delta"], 0.0);
    assert_eq!(v["metrics"][0]["p_value"], 1.0);

    // A folder with two runs is not one run; an unknown metric is refused.
    let o = sv().arg("compare").arg(&root).arg(&b).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds 2 runs"), "{}", stderr(&o));
    let o = sv()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .args(["--metric", "iou"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown metric `iou`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn gate_exit_codes_and_messages() {
    let root = test_dir("gate");
    let base = write_run(&root, "base", "r1", &rows(0.0));
    let worse = write_run(&root, "worse", "r2", &rows(-0.04));
    let gate = |cand: &Path, extra: &[&str]| {
        sv().arg("gate")
            .arg("--baseline")
            .arg(&base)
            .arg("--candidate")
            .arg(cand)
            .args(extra)
            .output()
            .unwrap()
    };
    // 0.45 → 0.41: an absolute drop of 0.04 fails the default 0.03.
    let o = gate(&worse, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("FAIL: reward dropped by 0.0400 (-8.89% of baseline): 0.4500 -> 0.4100 over 10 shared tasks; max drop 0.0300"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("gate failed: reward dropped by 0.0400"));
    // Within the limit.
    let o = gate(&worse, &["--max-drop", "0.05"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("ok: reward dropped by 0.0400"));
    assert!(stdout(&o).contains("gate passed"));
    // Relative: 8.9 % of the baseline.
    assert_eq!(
        gate(&worse, &["--relative", "--max-drop", "0.08"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        gate(&worse, &["--relative", "--max-drop", "0.09"])
            .status
            .code(),
        Some(0)
    );
    // Every listed metric must pass; the unchanged component does, the reward does not.
    let o = gate(
        &worse,
        &[
            "--metric",
            "component:yaml_valid",
            "--metric",
            "component:iou",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["checks"][0]["passed"], true);
    assert_eq!(v["checks"][1]["passed"], false);
    assert_eq!(v["checks"][1]["metric"], "component:iou");
    // An improvement passes.
    assert_eq!(gate(&base, &[]).status.code(), Some(0));
    // Errors exit 2, not 1: a CI job must tell "worse" from "broken".
    let o = gate(&root.join("nope"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no such file or directory"),
        "{}",
        stderr(&o)
    );
    let o = gate(&worse, &["--metric", "component:missing"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("component:missing"), "{}", stderr(&o));
}
