//! Reports, comparisons and gates over fixture run directories with known values.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sv_report::{
    compare, gate, load_runs, Bootstrap, DropKind, Metric, ReadLimits, Report, ReportError,
    ReportOptions, Run,
};

fn write_run(root: &Path, env: &str, model: &str, run_id: &str, rows: &[Value]) -> PathBuf {
    let dir = root.join(format!("{env}--{model}")).join(run_id);
    std::fs::create_dir_all(&dir).unwrap();
    let meta =
        json!({"run_id": run_id, "env": {"name": env, "version": "1"}, "model": {"name": model}});
    std::fs::write(dir.join("metadata.json"), meta.to_string()).unwrap();
    let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join("results.jsonl"), body).unwrap();
    dir
}

/// Ten tasks t0..t9: reward i/10 (t0 = 0.0 … t9 = 0.9), categories by parity, components
/// `a` = reward and `b` = 1, latency 100·(i+1) ms, cost 0.001, tokens 10 + 5.
fn base_rows(shift: f64) -> Vec<Value> {
    (0..10)
        .map(|i| {
            let r = i as f64 / 10.0 + shift;
            json!({
                "run_id": "r", "task_id": format!("t{i}"), "rollout": 0,
                "category": if i % 2 == 0 { "even" } else { "odd" },
                "completion": format!("answer {i}"), "reward": r,
                "components": {"a": r, "b": 1.0}, "metrics": {"m": i},
                "tokens": {"prompt_tokens": 10, "completion_tokens": 5},
                "latency_ms": 100.0 * (i + 1) as f64, "cost_usd": 0.001, "error": null,
                "info": {}
            })
        })
        .collect()
}

fn load(dir: &Path) -> Run {
    Run::load(dir, &ReadLimits::default()).unwrap()
}

#[test]
fn summary_numbers_are_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(tmp.path(), "sigma", "m1", "r1", &base_rows(0.0));
    let run = load(&dir);
    assert_eq!(run.label(), "sigma--m1/r1");
    assert_eq!(run.meta.env_version.as_deref(), Some("1"));
    let report = Report::new(std::slice::from_ref(&run), ReportOptions::default());
    let s = &report.summaries[0];
    assert_eq!((s.tasks, s.rollouts, s.errors), (10, 10, 0));
    let r = s.reward.unwrap();
    assert!((r.mean - 0.45).abs() < 1e-12);
    assert!(r.lo < 0.45 && r.hi > 0.45 && r.lo > 0.2 && r.hi < 0.7);
    assert_eq!(s.components["b"].mean, 1.0);
    assert_eq!((s.components["b"].lo, s.components["b"].hi), (1.0, 1.0));
    assert!((s.metrics["m"].mean - 4.5).abs() < 1e-12);
    assert_eq!(s.valid.unwrap().mean, 1.0);
    let lat = s.latency_ms.unwrap();
    // numpy.quantile([100..1000 step 100], [0.5, 0.95]) = 550, 955
    assert!((lat.p50 - 550.0).abs() < 1e-9 && (lat.p95 - 955.0).abs() < 1e-9);
    assert!((s.cost_usd.unwrap().sum - 0.01).abs() < 1e-12);
    assert_eq!(s.total_tokens.unwrap().mean, 15.0);
    assert_eq!(s.categories.len(), 2);
    assert_eq!(s.categories[0].category, "even");
    assert!((s.categories[0].reward.unwrap().mean - 0.4).abs() < 1e-12);
    assert!((s.categories[1].reward.unwrap().mean - 0.5).abs() < 1e-12);
    // Histogram over [0, 1] in 20 bins: 0.0 → bin 0, 0.1 → bin 2, …, 0.9 → bin 18.
    let h = &s.reward_histogram;
    assert_eq!(h.counts.iter().sum::<u64>(), 10);
    assert_eq!(h.counts[0], 1);
    assert_eq!(h.counts[18], 1);
    // Worst first: t0 (0.0), t1 (0.1), …
    let worst: Vec<&str> = s
        .worst
        .iter()
        .map(|&i| run.rows[i].task_id.as_str())
        .collect();
    assert_eq!(&worst[..3], &["t0", "t1", "t2"]);
    assert!(s.calibration.is_none());
}

#[test]
fn rollouts_are_averaged_per_task_before_the_mean() {
    let tmp = tempfile::tempdir().unwrap();
    // t0 has three rollouts (0, 0, 0.3 → 0.1), t1 one rollout (0.9): mean over tasks 0.5,
    // not the row mean 0.3.
    let rows = vec![
        json!({"task_id": "t0", "rollout": 0, "reward": 0.0}),
        json!({"task_id": "t0", "rollout": 1, "reward": 0.0}),
        json!({"task_id": "t0", "rollout": 2, "reward": 0.3}),
        json!({"task_id": "t1", "rollout": 0, "reward": 0.9}),
    ];
    let dir = write_run(tmp.path(), "e", "m", "r", &rows);
    let run = load(&dir);
    let report = Report::new(std::slice::from_ref(&run), ReportOptions::default());
    assert!((report.summaries[0].reward.unwrap().mean - 0.5).abs() < 1e-12);
    assert_eq!(report.summaries[0].tasks, 2);
}

#[test]
fn calibration_from_confidence_and_correct() {
    let tmp = tempfile::tempdir().unwrap();
    // Confidence 0.9 on 10 rows, 6 correct: one bin, gap 0.3. Confidence 0.15 on 4 rows,
    // 1 correct: gap 0.1. ECE = 10/14·0.3 + 4/14·0.1.
    let mut rows = Vec::new();
    for i in 0..10 {
        rows.push(
            json!({"task_id": format!("h{i}"), "reward": 1, "confidence": 0.9, "correct": i < 6}),
        );
    }
    for i in 0..4 {
        rows.push(
            json!({"task_id": format!("l{i}"), "reward": 0, "confidence": 0.15, "correct": i == 0}),
        );
    }
    let dir = write_run(tmp.path(), "phishing", "m", "r", &rows);
    let run = load(&dir);
    let report = Report::new(std::slice::from_ref(&run), ReportOptions::default());
    let c = report.summaries[0].calibration.as_ref().unwrap();
    assert_eq!(c.n, 14);
    let want = 10.0 / 14.0 * 0.3 + 4.0 / 14.0 * 0.1;
    assert!((c.ece - want).abs() < 1e-12, "{} vs {want}", c.ece);
    assert_eq!(c.bins[9].count, 10);
    assert_eq!(c.bins[1].count, 4);
    let html = report.html();
    assert!(html.contains("ECE 0.243"), "reliability diagram title");
}

#[test]
fn hostile_completions_are_escaped_redacted_and_defanged() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = vec![
        json!({"task_id": "<img src=x onerror=alert(1)>", "reward": 0.0,
               "completion": "</pre><script>alert('pwned')</script>", "category": "<b>c</b>"}),
        json!({"task_id": "secret", "reward": 0.1, "completion": "TOP SECRET PAYLOAD",
               "reasoning": "also secret", "info": {"redact": true}}),
        json!({"task_id": "ioc", "reward": 0.2,
               "completion": "beacon to http://evil.example.com/x and 10.1.2.3",
               "prompt": [{"role": "system", "content": "You triage mail."},
                          {"role": "user", "content": "From: a@phish.example.net <script>x</script>"}],
               "tool_calls": [{"id": "1"}],
               "info": {"defang": true}}),
        json!({"task_id": "plain", "reward": 0.3, "completion": "see http://ok.example.org"}),
    ];
    let dir = write_run(tmp.path(), "redteam", "m", "r", &rows);
    let run = load(&dir);
    let report = Report::new(std::slice::from_ref(&run), ReportOptions::default());
    let html = report.html();
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("<b>c</b>"));
    assert!(html.contains("&lt;/pre&gt;&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // The page has exactly one script element: its own.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains("TOP SECRET") && !html.contains("also secret"));
    assert!(html.contains("[redacted by the environment: 18 characters]"));
    assert!(html.contains("beacon to hxxp://evil[.]example[.]com/x and 10.1.2[.]3"));
    assert!(!html.contains("http://evil.example.com"));
    // The task prompt is shown (last user message), escaped and defanged like the answer.
    assert!(html.contains("From: a[@]phish[.]example[.]net &lt;script&gt;x&lt;/script&gt;"));
    assert!(!html.contains("You triage mail."));
    assert!(html.contains("reward <b>0.200</b> · 1 tool call(s)"));
    // Not asked to defang: left as text (it is escaped, never a link).
    assert!(html.contains("see http://ok.example.org"));
    assert!(!html.contains("href=\"http"));
    let md = report.markdown();
    assert!(!md.contains("<img") && !md.contains("TOP SECRET"));
    assert!(md.contains("&lt;img src=x onerror=alert(1)&gt;"));

    // --defang applies to every row.
    let opts = ReportOptions {
        defang: true,
        ..ReportOptions::default()
    };
    let html = Report::new(std::slice::from_ref(&run), opts).html();
    assert!(html.contains("see hxxp://ok[.]example[.]org"));
}

#[test]
fn csp_pins_the_only_script_by_hash() {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(tmp.path(), "e", "m", "r", &base_rows(0.0));
    let run = load(&dir);
    let html = Report::new(std::slice::from_ref(&run), ReportOptions::default()).html();
    let start = html.find("<script>").unwrap() + "<script>".len();
    let end = html[start..].find("</script>").unwrap() + start;
    let digest = Sha256::digest(&html.as_bytes()[start..end]);
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    assert!(html.contains(&format!("script-src 'sha256-{hash}'")));
    assert!(html.contains("default-src 'none'"));
    // Nothing is fetched: no external URLs in src/href attributes.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn reader_tolerates_truncation_and_duplicates_but_not_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(tmp.path(), "e", "m", "r", &base_rows(0.0));
    let path = dir.join("results.jsonl");
    let mut body = std::fs::read_to_string(&path).unwrap();
    body.push_str(&format!(
        "{}\n",
        json!({"task_id": "t3", "rollout": 0, "reward": 1.0})
    ));
    body.push_str("{\"task_id\": \"t11\", \"rew");
    std::fs::write(&path, &body).unwrap();
    let run = load(&dir);
    assert_eq!(run.rows.len(), 10);
    assert_eq!(run.rows[3].reward, Some(1.0), "the later duplicate wins");
    assert_eq!(run.warnings.len(), 2, "{:?}", run.warnings);
    assert!(run.warnings[1].contains("truncated last line"));

    let bad = "{\"task_id\": \"a\", \"reward\": 1}\nnot json\n{\"task_id\": \"b\"}\n";
    std::fs::write(&path, bad).unwrap();
    match Run::load(&dir, &ReadLimits::default()) {
        Err(ReportError::Row { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }

    // Text beyond max_text_chars is counted, not kept.
    let long = format!(
        "{}\n",
        json!({"task_id": "a", "completion": "x".repeat(100)})
    );
    std::fs::write(&path, long).unwrap();
    let limits = ReadLimits {
        max_text_chars: 10,
        ..ReadLimits::default()
    };
    let run = Run::load(&dir, &limits).unwrap();
    assert_eq!(run.rows[0].completion, "xxxxxxxxxx\n… [90 more characters]");

    let limits = ReadLimits {
        max_rows: 1,
        ..ReadLimits::default()
    };
    std::fs::write(&path, "{\"task_id\": \"a\"}\n{\"task_id\": \"b\"}\n").unwrap();
    assert!(matches!(
        Run::load(&dir, &limits),
        Err(ReportError::Row { line: 2, .. })
    ));
}

#[test]
fn discovery_finds_runs_below_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), "e", "m1", "r1", &base_rows(0.0));
    write_run(tmp.path(), "e", "m2", "r2", &base_rows(0.0));
    let runs = load_runs(&[tmp.path().to_path_buf()], &ReadLimits::default()).unwrap();
    let labels: Vec<String> = runs.iter().map(Run::label).collect();
    assert_eq!(labels, vec!["e--m1/r1", "e--m2/r2"]);
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_runs(&[empty.path().to_path_buf()], &ReadLimits::default()),
        Err(ReportError::NoRuns(_))
    ));
}

#[test]
fn compare_over_shared_tasks_per_component() {
    let tmp = tempfile::tempdir().unwrap();
    let a = load(&write_run(tmp.path(), "e", "base", "r", &base_rows(0.0)));
    // Candidate: +0.05 on every task, plus a task the baseline lacks (must be ignored).
    let mut rows_b = base_rows(0.05);
    rows_b
        .push(json!({"task_id": "extra", "reward": -100.0, "components": {"a": -100.0, "b": 1.0}}));
    let b = load(&write_run(tmp.path(), "e", "cand", "r", &rows_b));
    let c = compare(&a, &b, &[], &Bootstrap::default()).unwrap();
    assert_eq!((c.shared_tasks, c.only_a, c.only_b), (10, 0, 1));
    let names: Vec<&str> = c.metrics.iter().map(|m| m.metric.as_str()).collect();
    assert_eq!(names, vec!["reward", "valid", "component:a", "component:b"]);
    let reward = &c.metrics[0].paired;
    assert!((reward.delta - 0.05).abs() < 1e-12);
    assert!((reward.lo - 0.05).abs() < 1e-12 && (reward.hi - 0.05).abs() < 1e-12);
    assert!(reward.p_value < 0.01);
    let b_comp = &c.metrics[3].paired;
    assert_eq!((b_comp.delta, b_comp.p_value), (0.0, 1.0));

    let only = compare(
        &a,
        &b,
        &["component:a".parse().unwrap()],
        &Bootstrap::default(),
    )
    .unwrap();
    assert_eq!(only.metrics.len(), 1);
    assert!(compare(
        &a,
        &b,
        &["component:zzz".parse().unwrap()],
        &Bootstrap::default()
    )
    .is_err());

    let other = load(&write_run(
        tmp.path(),
        "e",
        "other",
        "r",
        &[json!({"task_id": "nope", "reward": 1})],
    ));
    assert!(matches!(
        compare(&a, &other, &[], &Bootstrap::default()),
        Err(ReportError::NoSharedTasks { .. })
    ));
}

#[test]
fn gate_absolute_and_relative() {
    let tmp = tempfile::tempdir().unwrap();
    let base = load(&write_run(tmp.path(), "e", "base", "r", &base_rows(0.0)));
    let worse = load(&write_run(tmp.path(), "e", "worse", "r", &base_rows(-0.04)));
    let cfg = Bootstrap::default();
    // Mean 0.45 → 0.41: drop 0.04 absolute, 8.9 % relative.
    let g = gate(&base, &worse, &[], 0.03, DropKind::Absolute, &cfg).unwrap();
    assert!(!g.passed);
    let c = &g.checks[0];
    assert_eq!(c.metric, "reward");
    assert!((c.drop - 0.04).abs() < 1e-12);
    assert!((c.relative_drop - 0.04 / 0.45).abs() < 1e-12);
    let msg = c.message();
    assert!(msg.starts_with("FAIL: reward dropped by 0.0400"), "{msg}");
    assert!(msg.contains("0.4500 -> 0.4100"), "{msg}");
    assert!(
        gate(&base, &worse, &[], 0.05, DropKind::Absolute, &cfg)
            .unwrap()
            .passed
    );
    assert!(
        !gate(&base, &worse, &[], 0.08, DropKind::Relative, &cfg)
            .unwrap()
            .passed
    );
    assert!(
        gate(&base, &worse, &[], 0.09, DropKind::Relative, &cfg)
            .unwrap()
            .passed
    );
    // Exactly at the threshold passes.
    assert!(
        gate(&base, &worse, &[], 0.04, DropKind::Absolute, &cfg)
            .unwrap()
            .passed
    );
    // Improvements pass; several metrics are all checked.
    let metrics: Vec<Metric> = vec![Metric::Reward, "component:b".parse().unwrap()];
    let g = gate(&worse, &base, &metrics, 0.0, DropKind::Absolute, &cfg).unwrap();
    assert!(g.passed && g.checks.len() == 2);
    assert!(gate(&base, &worse, &[], -1.0, DropKind::Absolute, &cfg).is_err());
}

/// The row and metadata examples of docs/harness.md (format `sv-run/1`), verbatim in shape.
#[test]
fn reads_the_sv_run_1_format() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp
        .path()
        .join("sigma--openai-gpt-4o-mini")
        .join("20261124T123405Z-3f9a1c");
    std::fs::create_dir_all(&dir).unwrap();
    let meta = json!({
        "format": "sv-run/1", "run_id": "20261124T123405Z-3f9a1c", "status": "running",
        "env": {"name": "sigma", "version": 1, "id": "sigma@1", "config": {"max_turns": 1},
                "dataset": {"name": "sigma", "sha256": "ab12", "tasks": 431}},
        "model": {"spec": "openai:gpt-4o-mini@https://api.openai.com/v1", "kind": "openai",
                  "name": "openai:gpt-4o-mini@https://api.openai.com/v1", "slug": "openai-gpt-4o-mini",
                  "sampling": {"temperature": 0.0, "n": 1}},
        "git": {"commit": "56f078a", "dirty": true},
        "started_at": "2026-11-24T12:34:05.123Z", "finished_at": null,
        "counts": {"tasks": 50, "planned": 50, "done": 2, "errors": 1}
    });
    std::fs::write(dir.join("metadata.json"), meta.to_string()).unwrap();
    let ok = json!({
        "run_id": "20261124T123405Z-3f9a1c", "task_id": "sigma-0a1b2c", "rollout": 0,
        "split": "test", "category": "process_creation",
        "prompt": [{"role": "system", "content": "…"}], "completion": "title: x",
        "reasoning": null, "transcript": [], "tool_calls": [], "turns": 1, "stop": "answered",
        "reward": 0.73, "valid": true,
        "components": {"yaml_valid": 1.0, "logsource_correct": 1.0, "iou": 0.61},
        "metrics": {"precision": 0.8, "recall": 0.5}, "confidence": null,
        "tokens": {"prompt": 812, "completion": 143, "reasoning": 0},
        "latency_ms": 1834.2, "score_ms": 3.1, "cost_usd": 0.00021, "cached": false,
        "error": null, "info": {}
    });
    let err = json!({
        "run_id": "20261124T123405Z-3f9a1c", "task_id": "sigma-ffff", "rollout": 0,
        "split": "test", "category": "process_creation", "prompt": [], "completion": null,
        "reasoning": null, "transcript": [], "tool_calls": [], "turns": 0, "stop": null,
        "reward": 0.0, "valid": false, "components": {}, "metrics": {}, "confidence": null,
        "tokens": {"prompt": 0, "completion": 0, "reasoning": 0}, "latency_ms": 30000.0,
        "score_ms": 0.0, "cost_usd": null, "cached": false,
        "error": "timeout after 3 retries", "info": {}
    });
    std::fs::write(dir.join("results.jsonl"), format!("{ok}\n{err}\n")).unwrap();
    let run = load(&dir);
    assert_eq!(run.meta.env, "sigma");
    assert_eq!(run.meta.env_version.as_deref(), Some("1"));
    assert_eq!(run.meta.model, "openai-gpt-4o-mini");
    assert_eq!(run.meta.git_commit.as_deref(), Some("56f078a"));
    assert_eq!(run.meta.dataset_sha256.as_deref(), Some("ab12"));
    assert_eq!(
        run.meta.started.as_deref(),
        Some("2026-11-24T12:34:05.123Z")
    );
    assert_eq!(run.meta.finished, None);
    assert_eq!(
        run.label(),
        "sigma--openai-gpt-4o-mini/20261124T123405Z-3f9a1c"
    );
    assert_eq!(run.warnings.len(), 1);
    assert!(run.warnings[0].contains("status is `running`: 2 rollouts of 50 planned"));
    let (r0, r1) = (&run.rows[0], &run.rows[1]);
    assert_eq!(r0.tokens.total, Some(955.0));
    assert_eq!(r0.components["iou"], 0.61);
    assert_eq!(r0.confidence, None);
    assert!(r0.valid && !r1.valid);
    assert_eq!(r1.completion, "");
    assert_eq!(r1.reward, Some(0.0));
    let report = Report::new(std::slice::from_ref(&run), ReportOptions::default());
    let s = &report.summaries[0];
    assert!(
        (s.reward.unwrap().mean - 0.365).abs() < 1e-12,
        "error rows count as 0"
    );
    assert_eq!(s.errors, 1);
    assert_eq!(s.valid.unwrap().mean, 0.5);
    // The failed rollout is listed first among the worst.
    assert_eq!(run.rows[s.worst[0]].task_id, "sigma-ffff");
    assert_eq!(s.status.as_deref(), Some("running"));
    // Key order depends on serde_json's `preserve_order` feature, which another crate of the
    // workspace may switch on: compare the values, not the text.
    let sampling: serde_json::Value = serde_json::from_str(s.sampling.as_deref().unwrap()).unwrap();
    assert_eq!(sampling, serde_json::json!({"n": 1, "temperature": 0.0}));
}

#[test]
fn degenerate_runs_render() {
    let tmp = tempfile::tempdir().unwrap();
    // No rows yet, one row, only failed rows, non-[0,1] rewards.
    let empty = write_run(tmp.path(), "e", "empty", "r", &[]);
    let one = write_run(
        tmp.path(),
        "e",
        "one",
        "r",
        &[json!({"task_id": "a", "reward": 0.5})],
    );
    let failed = write_run(
        tmp.path(),
        "e",
        "failed",
        "r",
        &[
            json!({"task_id": "a", "reward": 0.0, "valid": false, "error": "HTTP 500", "completion": null}),
            json!({"task_id": "b", "reward": 0.0, "valid": false, "error": "timeout", "completion": null}),
        ],
    );
    let wide = write_run(
        tmp.path(),
        "e",
        "wide",
        "r",
        &[
            json!({"task_id": "a", "reward": -3.0}),
            json!({"task_id": "b", "reward": 7.0}),
        ],
    );
    let runs: Vec<Run> = [empty, one, failed, wide].iter().map(|d| load(d)).collect();
    let report = Report::new(&runs, ReportOptions::default());
    let s = &report.summaries;
    assert_eq!((s[0].rollouts, s[0].reward), (0, None));
    let r1 = s[1].reward.unwrap();
    assert_eq!((r1.mean, r1.lo, r1.hi), (0.5, 0.5, 0.5));
    assert_eq!((s[2].errors, s[2].valid.unwrap().mean), (2, 0.0));
    assert_eq!(report.runs[2].rows[s[2].worst[0]].task_id, "a");
    assert_eq!(
        (s[3].reward_histogram.lo, s[3].reward_histogram.hi),
        (-3.0, 7.0)
    );
    let html = report.html();
    assert!(html.contains("No rollouts."));
    assert!(html.contains("HTTP 500"));
    let md = report.markdown();
    assert!(md.contains("| r | empty | e@1 | 0 | 0 | – |"), "{md}");
}

/// Markdown component/metric tables: one row per name, one column per run (the header
/// names the runs, not the components).
#[test]
fn markdown_component_table_has_one_column_per_run() {
    let tmp = tempfile::tempdir().unwrap();
    let a = load(&write_run(tmp.path(), "e", "base", "r1", &base_rows(0.0)));
    let b = load(&write_run(tmp.path(), "e", "cand", "r2", &base_rows(0.05)));
    let md = Report::new(&[a, b], ReportOptions::default()).markdown();
    let comp = md.split("## Components").nth(1).unwrap();
    let lines: Vec<&str> = comp.trim_start().lines().take(4).collect();
    assert!(lines[0].starts_with("| name |"), "{}", lines[0]);
    assert!(
        !lines[0].contains("| a |") && !lines[0].contains("| b |"),
        "{}",
        lines[0]
    );
    let cols = |l: &str| l.matches('|').count();
    assert_eq!(cols(lines[0]), 4, "name + 2 runs: {}", lines[0]);
    assert_eq!(cols(lines[1]), 4, "separator: {}", lines[1]);
    assert_eq!(cols(lines[2]), 4, "row a: {}", lines[2]);
    assert!(lines[2].starts_with("| a |") && lines[3].starts_with("| b |"));
}
