//! End-to-end harness behaviour on the arith test environment.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{arith, arith_with, expected_reward, spec, Scripted};
use sv_env::testing::default_config;
use sv_harness::rundir::{read_metadata, read_rows, Row, RESULTS};
use sv_harness::{build_agent, run_eval, Silent};
use sv_models::{ClientConfig, Sampling};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn builtin(s: &str) -> Arc<dyn sv_harness::Agent> {
    build_agent(s, &Sampling::default(), &ClientConfig::default()).unwrap()
}

fn rows(dir: &std::path::Path) -> Vec<Row> {
    read_rows(&dir.join(RESULTS), false).unwrap().rows
}

#[test]
fn reference_scores_top_and_baselines_lower() {
    let out = tempfile::tempdir().unwrap();
    let env = arith(20);
    let rt = rt();
    let mut means = BTreeMap::new();
    for m in [
        "reference",
        "random",
        "constant:```json\\n{\"answer\": 0}\\n```",
    ] {
        let o = rt
            .block_on(run_eval(spec(env.clone(), builtin(m), out.path()), &Silent))
            .unwrap();
        assert_eq!(o.status, "complete");
        assert_eq!(o.summary.rollouts, 20);
        means.insert(
            m.split(':').next().unwrap().to_string(),
            o.summary.mean_reward,
        );
        let rs = rows(&o.run_dir);
        assert_eq!(rs.len(), 20);
        if m == "reference" {
            assert!(rs
                .iter()
                .all(|r| r.reward == 1.0 && r.valid && r.confidence == Some(1.0)));
            assert_eq!(o.summary.valid_rate, 1.0);
            assert_eq!(o.summary.components["correct"], 1.0);
            assert!(o.run_dir.starts_with(out.path().join("arith--reference")));
        }
    }
    assert_eq!(means["reference"], 1.0);
    assert_eq!(
        means["random"], 0.0,
        "shuffled prompt words have no fenced answer"
    );
    // A well-formed constant answer earns the format part (0.2) and is right only when
    // the gold answer happens to be 0.
    assert!(
        means["constant"] >= 0.2 && means["constant"] < 1.0,
        "{means:?}"
    );
}

#[test]
fn rows_carry_everything_and_summary_is_exact() {
    let out = tempfile::tempdir().unwrap();
    let agent = Arc::new(Scripted::new("scripted"));
    let o = rt()
        .block_on(run_eval(spec(arith(10), agent, out.path()), &Silent))
        .unwrap();
    let rs = rows(&o.run_dir);
    assert_eq!(rs.len(), 10);
    let r = rs.iter().find(|r| r.task_id == "arith-test-0000").unwrap();
    assert_eq!(r.prompt.len(), 2);
    assert_eq!(
        r.reasoning.as_deref(),
        Some("thinking about arith-test-0000")
    );
    assert!(r.completion.as_deref().unwrap().contains("```json"));
    assert_eq!(r.reward, 1.0);
    assert_eq!(r.confidence, Some(0.75));
    assert_eq!(r.tokens.prompt, 100);
    assert_eq!(r.cost_usd, Some(0.001));
    assert_eq!(r.stop, Some(sv_env::StopReason::Answered));
    assert!(r.category.is_some());
    // 5 even tasks at 1.0, 5 odd at 0.2.
    assert!((o.summary.mean_reward - 0.6).abs() < 1e-12);
    assert_eq!(o.summary.components["correct"], 0.5);
    assert_eq!(o.summary.components["format"], 1.0);
    assert_eq!(o.summary.tokens.completion, 200);
    assert!((o.summary.cost_usd.unwrap() - 0.01).abs() < 1e-12);
    assert_eq!(o.summary.confidence_rows, 10);
    // The summary on disk is the returned one.
    let disk: sv_harness::Summary =
        serde_json::from_str(&std::fs::read_to_string(o.run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(disk, o.summary);
    let meta = read_metadata(&o.run_dir).unwrap();
    assert_eq!(meta.status, "complete");
    assert_eq!(meta.counts.done, 10);
    assert_eq!(meta.selection.task_ids.len(), 10);
    assert!(meta.finished_at.is_some());
}

#[test]
fn concurrency_is_reached_and_never_exceeded() {
    let out = tempfile::tempdir().unwrap();
    let mut a = Scripted::new("slow");
    a.delay = Duration::from_millis(30);
    let agent = Arc::new(a);
    let mut s = spec(arith(24), agent.clone(), out.path());
    s.concurrency = 6;
    let o = rt().block_on(run_eval(s, &Silent)).unwrap();
    assert_eq!(o.summary.rollouts, 24);
    assert_eq!(agent.max_in_flight.load(Ordering::SeqCst), 6);
    let keys: HashSet<(String, u32)> = rows(&o.run_dir)
        .into_iter()
        .map(|r| (r.task_id, r.rollout))
        .collect();
    assert_eq!(keys.len(), 24);
}

#[test]
fn failing_model_gives_error_rows_and_the_run_continues() {
    let out = tempfile::tempdir().unwrap();
    let mut a = Scripted::new("flaky");
    a.fail_every = Some(3);
    a.panic_on = Some("arith-test-0005".into());
    let mut s = spec(arith(12), Arc::new(a), out.path());
    s.rollouts = Some(2);
    let o = rt().block_on(run_eval(s, &Silent)).unwrap();
    assert_eq!(o.status, "complete");
    assert_eq!(o.summary.rollouts, 24);
    // Tasks 0, 3, 6, 9 fail (8 rows); task 5 panics (2 rows).
    assert_eq!(o.summary.errors, 10);
    let rs = rows(&o.run_dir);
    let e = rs.iter().find(|r| r.task_id == "arith-test-0003").unwrap();
    assert_eq!(e.reward, 0.0);
    assert!(!e.valid);
    assert!(e.error.as_deref().unwrap().contains("HTTP 500"));
    assert_eq!(e.completion, None);
    let p = rs.iter().find(|r| r.task_id == "arith-test-0005").unwrap();
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .contains("rollout panicked: scripted panic"),
        "{:?}",
        p.error
    );
    // Tasks 1, 7, 11 odd → 0.2; 2, 4, 8, 10 even → 1.0; over 24 rows with errors as 0.
    let want = (2.0 * (3.0 * 0.2 + 4.0 * 1.0)) / 24.0;
    assert!(
        (o.summary.mean_reward - want).abs() < 1e-12,
        "{}",
        o.summary.mean_reward
    );
    assert_eq!(read_metadata(&o.run_dir).unwrap().counts.errors, 10);
}

#[test]
fn replay_rescores_identically() {
    let out = tempfile::tempdir().unwrap();
    let rt = rt();
    let mut s = spec(arith(15), Arc::new(Scripted::new("scripted")), out.path());
    s.rollouts = Some(2);
    let first = rt.block_on(run_eval(s, &Silent)).unwrap();
    let results = first.run_dir.join(RESULTS);
    let replay = builtin(&format!("replay:{}", results.display()));
    let second = rt
        .block_on(run_eval(spec(arith(15), replay, out.path()), &Silent))
        .unwrap();
    assert_eq!(
        second.summary.rollouts, 30,
        "replay selects the file's tasks and rollouts"
    );
    type Scored = (
        f64,
        bool,
        BTreeMap<String, f64>,
        Option<f64>,
        Option<String>,
    );
    let key = |rs: Vec<Row>| -> BTreeMap<(String, u32), Scored> {
        rs.into_iter()
            .map(|r| {
                let scored = (r.reward, r.valid, r.components, r.confidence, r.reasoning);
                ((r.task_id, r.rollout), scored)
            })
            .collect()
    };
    assert_eq!(key(rows(&first.run_dir)), key(rows(&second.run_dir)));
    assert_eq!(first.summary.mean_reward, second.summary.mean_reward);
    let meta = read_metadata(&second.run_dir).unwrap();
    assert_eq!(meta.model.kind, "replay");
    assert!(meta.model.slug.starts_with("replay-"));
}

#[test]
fn multi_turn_tools_are_recorded() {
    let out = tempfile::tempdir().unwrap();
    let mut cfg = default_config();
    cfg.max_turns = 3;
    cfg.max_tool_calls = 2;
    let mut a = Scripted::new("tooluser");
    a.use_tool = true;
    let o = rt()
        .block_on(run_eval(
            spec(arith_with(6, cfg), Arc::new(a), out.path()),
            &Silent,
        ))
        .unwrap();
    assert_eq!(
        o.summary.mean_reward, 1.0,
        "the calc tool gives the right answer"
    );
    assert_eq!(o.summary.tool_calls_mean, 1.0);
    assert_eq!(o.summary.turns_mean, 2.0);
    let r = &rows(&o.run_dir)[0];
    assert_eq!(r.tool_calls[0].function.name, "calc");
    assert_eq!(r.transcript.len(), 3, "call, tool reply, answer");
    assert_eq!(r.transcript[1].role, sv_chat::Role::Tool);
    assert_eq!(r.tokens.prompt, 200, "summed over two turns");
}

#[test]
fn config_file_is_recorded_in_metadata() {
    let out = tempfile::tempdir().unwrap();
    let cfg_path = out.path().join("arith.toml");
    std::fs::write(
        &cfg_path,
        "[reward_weights]\nformat = 0.5\ncorrect = 0.5\n[params]\ntasks_per_split = 8\n",
    )
    .unwrap();
    let mut reg = sv_env::Registry::new();
    reg.register(sv_env::testing::entry()).unwrap();
    let loaded = reg.load("arith", Some(&cfg_path), None).unwrap();
    let mut s = spec(
        loaded.env.clone(),
        Arc::new(Scripted::new("scripted")),
        out.path(),
    );
    s.config_source = loaded.config_source.clone();
    let o = rt().block_on(run_eval(s, &Silent)).unwrap();
    let meta = read_metadata(&o.run_dir).unwrap();
    assert_eq!(meta.env.id, "arith@1");
    assert_eq!(meta.env.config.weight("format"), 0.5);
    assert_eq!(meta.env.config.params["tasks_per_split"], 8);
    assert_eq!(
        meta.env.config_source.as_deref(),
        Some(cfg_path.to_str().unwrap())
    );
    assert_eq!(meta.env.config_sha256, loaded.env.config().sha256());
    assert_eq!(meta.env.dataset.sha256, loaded.env.dataset().sha256);
    assert_eq!(meta.selection.task_ids.len(), 8);
    // Odd tasks earn 0.5 now.
    assert!((o.summary.mean_reward - 0.75).abs() < 1e-12);
    // A bad file is a precise error.
    std::fs::write(&cfg_path, "[reward_weights]\nformt = 0.5\n").unwrap();
    let e = reg
        .load("arith", Some(&cfg_path), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown reward component `formt`"), "{e}");
    std::fs::write(&cfg_path, "[tools]\nweb = true\n").unwrap();
    let e = reg
        .load("arith", Some(&cfg_path), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown tool `web`"), "{e}");
    let e = reg.load("nosuch", None, None).err().unwrap().to_string();
    assert!(e.contains("available: arith@1"), "{e}");
}

#[test]
fn selection_by_n_and_ids() {
    let env = arith(30);
    let a = sv_harness::select_tasks(&*env, "test", Some(5), None, 42, None).unwrap();
    let b = sv_harness::select_tasks(&*env, "test", Some(5), None, 42, None).unwrap();
    let c = sv_harness::select_tasks(&*env, "test", Some(5), None, 43, None).unwrap();
    let ids = |v: &[sv_env::Task]| v.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(ids(&a), ids(&c));
    let wanted = vec![
        "arith-test-0007".to_string(),
        "arith-train-0001".to_string(),
    ];
    assert_eq!(
        ids(&sv_harness::select_tasks(&*env, "test", None, Some(&wanted), 42, None).unwrap()),
        wanted
    );
    let e = sv_harness::select_tasks(&*env, "test", None, Some(&["zz".to_string()]), 42, None)
        .unwrap_err();
    assert!(e.to_string().contains("no task zz"), "{e}");
    assert!(sv_harness::select_tasks(&*env, "dev", None, None, 42, None)
        .unwrap_err()
        .to_string()
        .contains("unknown split"));
}

#[test]
fn resume_drops_a_torn_line_and_fills_the_gaps() {
    let out = tempfile::tempdir().unwrap();
    let rt = rt();
    let agent = Arc::new(Scripted::new("scripted"));
    let mut s = spec(arith(10), agent.clone(), out.path());
    s.rollouts = Some(3);
    let o = rt.block_on(run_eval(s, &Silent)).unwrap();
    let path = o.run_dir.join(RESULTS);
    let full = rows(&o.run_dir);
    assert_eq!(full.len(), 30);
    // Keep 11 rows, then a torn 12th.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = lines[..11].join("\n");
    kept.push('\n');
    kept.push_str(&lines[11][..lines[11].len() / 2]);
    std::fs::write(&path, &kept).unwrap();
    std::fs::remove_file(o.run_dir.join("summary.json")).unwrap();
    let resumed = rt
        .block_on(sv_harness::resume_with(
            &o.run_dir,
            arith(10),
            agent.clone(),
            Some(3),
            &Silent,
        ))
        .unwrap();
    assert_eq!(resumed.summary.rollouts, 30);
    let after = rows(&o.run_dir);
    let keys: HashSet<(String, u32)> = after
        .iter()
        .map(|r| (r.task_id.clone(), r.rollout))
        .collect();
    assert_eq!(keys.len(), 30);
    for r in &after {
        assert_eq!(r.reward, expected_reward(&r.task_id), "{}", r.task_id);
    }
    assert_eq!(resumed.summary.mean_reward, o.summary.mean_reward);
    let meta = read_metadata(&o.run_dir).unwrap();
    assert_eq!(meta.resumes.len(), 1);
    assert_eq!(meta.resumes[0].rows_kept, 11);
    assert_eq!(
        meta.resumes[0].torn_bytes_dropped,
        (lines[11].len() / 2) as u64
    );
    assert_eq!(meta.concurrency, 3);
    // Resuming a complete run does nothing more.
    let again = rt
        .block_on(sv_harness::resume_with(
            &o.run_dir,
            arith(10),
            agent.clone(),
            None,
            &Silent,
        ))
        .unwrap();
    assert_eq!(again.summary.rollouts, 30);
    assert_eq!(rows(&o.run_dir).len(), 30);
    // A different dataset or model is refused.
    let e = rt
        .block_on(sv_harness::resume_with(
            &o.run_dir,
            arith(11),
            agent,
            None,
            &Silent,
        ))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("dataset changed"), "{e}");
    let e = rt
        .block_on(sv_harness::resume_with(
            &o.run_dir,
            arith(10),
            Arc::new(Scripted::new("other")),
            None,
            &Silent,
        ))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("used model scripted"), "{e}");
    // A corrupt line in the middle is an error, not a silent skip.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"garbage\n{\"x\":1}\n").unwrap();
    let e = rt
        .block_on(sv_harness::resume_with(
            &o.run_dir,
            arith(10),
            Arc::new(Scripted::new("scripted")),
            None,
            &Silent,
        ))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("line 31 is not a result row"), "{e}");
}
