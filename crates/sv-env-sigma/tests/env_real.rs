//! SigmaForge end to end on the shared data: the data set build (exact counts,
//! byte-identical rebuild, no leakage), the reference policy at the maximum, the
//! adversarial suite under its bounds, hostile input bounded and isolated, and the tools.
//! One data set and one environment are built per test binary (OnceLock).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sv_env::{EnvBuild, Environment, Task, Trajectory};
use sv_env_sigma::adversarial;
use sv_env_sigma::build::{build_dataset, BuildSummary};
use sv_env_sigma::config::default_config;
use sv_env_sigma::dataset::BuildOptions;
use sv_env_sigma::SigmaForge;

struct Fixture {
    dir: PathBuf,
    summary: BuildSummary,
    env: SigmaForge,
    tools_env: SigmaForge,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let data = sv_data::DataDir::resolve(None).expect("shared data");
        let dir = std::env::temp_dir().join(format!("sv-sigmaforge-test-{}", std::process::id()));
        let summary = build_dataset(&data, &dir, &BuildOptions::default(), None).expect("build");
        let mut config = default_config();
        config
            .params
            .insert("dataset".into(), dir.display().to_string().into());
        let env = SigmaForge::build(
            &EnvBuild {
                config: config.clone(),
                data_dir: None,
            },
            false,
        )
        .expect("env");
        let mut tconfig = sv_env_sigma::config::default_tools_config();
        tconfig
            .params
            .insert("dataset".into(), dir.display().to_string().into());
        let tools_env = SigmaForge::build(
            &EnvBuild {
                config: tconfig,
                data_dir: None,
            },
            true,
        )
        .expect("tools env");
        Fixture {
            dir,
            summary,
            env,
            tools_env,
        }
    })
}

fn score(env: &SigmaForge, task: &Task, completion: &str) -> sv_env::Score {
    let t = Trajectory::single_turn(
        env.initial_messages(task),
        sv_chat::Message::assistant(completion),
    );
    env.score(task, &t)
}

#[test]
fn dataset_counts_splits_and_leakage() {
    let f = fixture();
    let r = &f.summary.report;
    eprintln!("{}", serde_json::to_string_pretty(&f.summary).unwrap());
    assert_eq!(f.summary.rules_read, 2872);
    assert_eq!(r.tasks, EXPECTED_TASKS);
    assert_eq!(r.leakage.leaking_questions, 0);
    assert_eq!(r.leakage.questions, EXPECTED_TASKS * 15);
    assert_eq!(r.leakage.anchors_across_splits, 0);
    assert_eq!(r.leakage.near_duplicates_across_splits, 0);
    assert_eq!(r.leakage.identical_across_splits, 0);
    let sizes: Vec<usize> = ["train", "dev", "test"]
        .iter()
        .map(|s| r.splits[*s].tasks)
        .collect();
    assert_eq!(sizes, EXPECTED_SPLITS);
    assert_eq!(f.summary.manifest.tasks, EXPECTED_TASKS);
    assert_eq!(
        f.summary.manifest.generator["sigmahq_commit"],
        "8eaafff1f2845a696050e05e72ba1140ee190698"
    );
}

const EXPECTED_TASKS: usize = 504;
const EXPECTED_SPLITS: [usize; 3] = [393, 42, 69];

#[test]
fn rebuild_is_byte_identical() {
    let f = fixture();
    let data = sv_data::DataDir::resolve(None).unwrap();
    let dir2 = f.dir.with_extension("again");
    let again = build_dataset(&data, &dir2, &BuildOptions::default(), None).unwrap();
    for name in ["tasks.jsonl", "manifest.json", "build-report.json"] {
        let a = std::fs::read(f.dir.join(name)).unwrap();
        let b = std::fs::read(dir2.join(name)).unwrap();
        assert!(a == b, "{name} differs between two builds");
    }
    assert_eq!(again.manifest.sha256, f.summary.manifest.sha256);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn reference_policy_scores_the_maximum_on_every_task() {
    let f = fixture();
    let tasks = f.env.tasks("all").unwrap();
    assert_eq!(tasks.len(), EXPECTED_TASKS);
    for t in &tasks {
        let c = f.env.reference_completion(t).unwrap();
        let s = score(&f.env, t, &c);
        assert!(
            (s.reward - 1.1).abs() < 1e-9,
            "{}: {} {:?} {}",
            t.id,
            s.reward,
            s.components,
            s.info
        );
        assert_eq!(s.metrics["precision"], 1.0);
        assert_eq!(s.metrics["recall"], 1.0);
    }
}

#[test]
fn adversarial_suite_stays_under_its_bounds() {
    let f = fixture();
    let tasks = f.env.tasks("test").unwrap();
    for e in adversarial::suite().unwrap() {
        let n = if e.generator.is_some() {
            sv_env_sigma::build::HOSTILE_TASKS
        } else {
            tasks.len()
        };
        let mut ious = Vec::new();
        for t in tasks.iter().take(n) {
            let ls =
                serde_json::from_value(t.answer.as_ref().unwrap()["logsource"].clone()).unwrap();
            let q = t.prompt["question"].as_str().unwrap();
            let c = adversarial::completion(&e, q, &ls);
            let t0 = Instant::now();
            let s = score(&f.env, t, &c);
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{} took {:?}",
                e.name,
                t0.elapsed()
            );
            if let Some(m) = e.expect.reward_max.or(e.expect.reward_max_per_task) {
                assert!(
                    s.reward <= m + 1e-9,
                    "{} on {}: reward {} > {m}; {}",
                    e.name,
                    t.id,
                    s.reward,
                    s.info
                );
            }
            ious.push(s.components["iou"]);
        }
        let mean = ious.iter().sum::<f64>() / ious.len().max(1) as f64;
        if let Some(m) = e.expect.iou_mean_max {
            assert!(mean <= m, "{}: mean IoU {mean} > {m}", e.name);
        }
        eprintln!("{:<20} mean IoU {:.4}", e.name, mean);
    }
}

#[test]
fn hostile_input_is_bounded_explained_and_isolated() {
    let f = fixture();
    let tasks = f.env.tasks("test").unwrap();
    let t = &tasks[0];
    let reference = f.env.reference_completion(t).unwrap();
    let suite = adversarial::suite().unwrap();
    let ls = serde_json::from_value(t.answer.as_ref().unwrap()["logsource"].clone()).unwrap();
    for name in [
        "yaml_bomb",
        "deep_nesting",
        "enormous",
        "binary",
        "ten_k_selections",
        "multi_document",
        "empty",
    ] {
        let e = suite.iter().find(|e| e.name == name).unwrap();
        let c = adversarial::completion(e, "q", &ls);
        let t0 = Instant::now();
        let s = score(&f.env, t, &c);
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "{name}: {:?}",
            t0.elapsed()
        );
        assert_eq!(s.reward, 0.0, "{name}: {}", s.info);
        assert!(
            s.info["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {}",
            s.info
        );
        // The next completion in the batch is unaffected.
        let ok = score(&f.env, t, &reference);
        assert!(
            (ok.reward - 1.1).abs() < 1e-9,
            "after {name}: {}",
            ok.reward
        );
    }
    // Catastrophic regex: bounded, at most the format and logsource parts.
    let e = suite
        .iter()
        .find(|e| e.name == "catastrophic_regex")
        .unwrap();
    let t0 = Instant::now();
    let s = score(&f.env, t, &adversarial::completion(e, "q", &ls));
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(s.reward <= 0.4 + 1e-9);
}

#[test]
fn tools_answer_without_the_reference() {
    let f = fixture();
    let env = &f.tools_env;
    let tasks = env.tasks("test").unwrap();
    let t = &tasks[0];
    let rule = t.answer.as_ref().unwrap()["rule"].as_str().unwrap();
    let out = env.call_tool(t, "test_rule", &serde_json::json!({"rule": rule}));
    assert!(!out.is_error, "{}", out.content);
    let v: serde_json::Value = serde_json::from_str(&out.content).unwrap();
    assert_eq!(v["matches"], t.metadata["matched"]);
    let out = env.call_tool(
        t,
        "list_fields",
        &serde_json::json!({"category": "process_creation"}),
    );
    assert!(out.content.contains("CommandLine"), "{}", out.content);
    let out = env.call_tool(
        t,
        "search",
        &serde_json::json!({"query": "lsass memory dump"}),
    );
    assert!(
        !out.is_error && out.content.contains("T1003"),
        "{}",
        out.content
    );
    let out = env.call_tool(t, "test_rule", &serde_json::json!({"rule": "a: [b"}));
    assert!(
        out.is_error && out.content.starts_with("invalid rule"),
        "{}",
        out.content
    );
    assert_eq!(env.tools(t).len(), 3);
    assert!(f.env.tools(t).is_empty());
}

/// A deterministic stand-in for `--rewrite-with MODEL`: accepts even-length questions with
/// a prefix, fails on a third of the rest, answers empty on the others.
struct FakeRewriter;

const REWRITE_PREFIX: &str = "Could you write me a detection for this? ";

impl sv_env_sigma::build::Rewriter for FakeRewriter {
    fn name(&self) -> String {
        "fake-paraphraser@loopback".into()
    }
    fn rewrite(&self, question: &str) -> Result<String, String> {
        match (question.len() % 2, question.len() % 3) {
            (0, _) => Ok(format!("{REWRITE_PREFIX}{question}")),
            (_, 0) => Err("HTTP 500".into()),
            _ => Ok("   ".into()),
        }
    }
}

#[test]
fn rewrite_step_paraphrases_records_provenance_and_keeps_the_template() {
    let f = fixture();
    let data = sv_data::DataDir::resolve(None).unwrap();
    let dir3 = f.dir.with_extension("rewritten");
    let s = build_dataset(&data, &dir3, &BuildOptions::default(), Some(&FakeRewriter)).unwrap();
    let read = |d: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(d.join("tasks.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (plain, rewritten) = (read(&f.dir), read(&dir3));
    assert_eq!(plain.len(), EXPECTED_TASKS);
    assert_eq!(rewritten.len(), EXPECTED_TASKS);
    let expected_ok = plain
        .iter()
        .filter(|t| t["prompt"]["question"].as_str().unwrap().len() % 2 == 0)
        .count();
    assert_eq!(s.rewritten, expected_ok);
    assert_eq!(s.rewrite_rejected, EXPECTED_TASKS - expected_ok);
    assert!(expected_ok > 100 && expected_ok < 400, "{expected_ok}");
    for (a, b) in plain.iter().zip(&rewritten) {
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["answer"], b["answer"], "answers never change");
        let q = a["prompt"]["question"].as_str().unwrap();
        if q.len() % 2 == 0 {
            assert_eq!(
                b["prompt"]["question"],
                format!("{REWRITE_PREFIX}{q}").as_str()
            );
            assert_eq!(b["prompt"]["template_question"], q);
        } else {
            assert_eq!(
                b["prompt"]["question"], q,
                "a failed paraphrase keeps the template"
            );
            assert!(b["prompt"].get("template_question").is_none());
        }
    }
    assert_eq!(
        s.manifest.generator.get("rewrite_with").map(String::as_str),
        Some("fake-paraphraser@loopback")
    );
    assert_eq!(
        f.summary
            .manifest
            .generator
            .get("rewrite_with")
            .map(String::as_str),
        Some("none")
    );
    assert_ne!(s.manifest.sha256, f.summary.manifest.sha256);
    let _ = std::fs::remove_dir_all(&dir3);
}
