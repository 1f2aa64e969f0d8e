//! `sv sigma ...` end to end: the built binary over the shared data, with exact numbers.
//!
//! Every run shares one snapshot cache directory (`SV_CACHE`), so the corpus is parsed
//! once per machine and later runs reload the snapshot.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The shared data folder as `sv` resolves it (`SV_DATA`, else `../shared/data`).
fn data() -> PathBuf {
    if let Some(d) = std::env::var_os("SV_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn cache() -> PathBuf {
    std::env::temp_dir().join("sv-sigma-cli-test-cache")
}

fn sv(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sv"));
    c.args(args).env("SV_CACHE", cache());
    c
}

fn run(args: &[&str]) -> Output {
    sv(args).output().expect("running sv")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sv-sigma-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const ANYDESK: &str = "rules/windows/file/file_event/file_event_win_anydesk_artefact";
const MIMIKATZ: &str =
    "rules/windows/process_creation/proc_creation_win_hktl_mimikatz_command_line.yml";

#[test]
fn regress_passes_every_shared_case() {
    let o = run(&["sigma", "regress"]);
    let out = stdout(&o);
    assert_eq!(
        out.lines().last(),
        Some("98 passed, 0 failed, 0 skipped"),
        "{out}\n{}",
        stderr(&o)
    );
    assert!(o.status.success());
    // The case where `match_count` (1) is only a minimum: EXPECTED.tsv says 3.
    assert!(
        out.lines()
            .any(|l| l == format!("PASS  {ANYDESK}  expected 3, got 3")),
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS  ")).count(), 98);
}

/// A case set of our own: an exact expectation that is wrong (fails), a case whose rule
/// does not exist (skipped), and the same case without EXPECTED.tsv (minimum, passes).
#[test]
fn regress_reports_failures_and_skips() {
    let dir = tmpdir("regress");
    let src = data().join("sigma/regression").join(ANYDESK);
    let case = dir.join("cases/mine/anydesk");
    std::fs::create_dir_all(&case).unwrap();
    for f in ["info.yml", "0b9ad457-2554-44c1-82c2-d56a99c42377.evtx"] {
        std::fs::copy(src.join(f), case.join(f)).unwrap();
    }
    let orphan = dir.join("cases/mine/orphan");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::copy(
        src.join("0b9ad457-2554-44c1-82c2-d56a99c42377.evtx"),
        orphan.join("x.evtx"),
    )
    .unwrap();
    std::fs::write(
        orphan.join("info.yml"),
        "rule_metadata:\n  - id: 00000000-0000-0000-0000-000000000000\nregression_tests_info:\n  - name: P\n    type: evtx\n    match_count: 1\n    path: regression_data/x/x.evtx\n",
    )
    .unwrap();
    let rules = data().join("sigma/rules/windows/file/file_event");
    let cases = dir.join("cases");

    let o = run(&[
        "sigma",
        "regress",
        "--cases",
        s(&cases),
        "--rules",
        s(&rules),
    ]);
    assert_eq!(
        stdout(&o),
        "PASS  mine/anydesk  expected >=1, got 3\n\
         SKIP  mine/orphan  expected >=1, got -  (no rule with id 00000000-0000-0000-0000-000000000000 in the rule folders)\n\
         1 passed, 0 failed, 1 skipped\n",
        "{}",
        stderr(&o)
    );
    assert!(o.status.success());

    std::fs::write(
        cases.join("EXPECTED.tsv"),
        "case\trule_id\texpected_exact\nmine/anydesk\t0b9ad457-2554-44c1-82c2-d56a99c42377\t2\n",
    )
    .unwrap();
    let o = run(&[
        "sigma",
        "regress",
        "--cases",
        s(&cases),
        "--rules",
        s(&rules),
        "--failures-only",
    ]);
    assert_eq!(
        stdout(&o),
        "FAIL  mine/anydesk  expected 2, got 3\n\
         SKIP  mine/orphan  expected >=1, got -  (no rule with id 00000000-0000-0000-0000-000000000000 in the rule folders)\n\
         0 passed, 1 failed, 1 skipped\n"
    );
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hunt_jsonl_rows_of_a_known_case() {
    let evtx = data().join("sigma/regression").join(ANYDESK);
    let rules = data().join("sigma/rules/windows/file/file_event");
    let o = run(&[
        "sigma",
        "hunt",
        "--rules",
        s(&rules),
        "--evtx",
        s(&evtx),
        "--format",
        "jsonl",
        "--no-cache",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let row = |record: u64, ts: &str| {
        format!(
            "{{\"rule_id\":\"0b9ad457-2554-44c1-82c2-d56a99c42377\",\"rule_title\":\"Anydesk Temporary Artefact\",\
             \"rule_path\":\"file_event/file_event_win_anydesk_artefact.yml\",\"rule_level\":\"medium\",\
             \"evtx_file\":\"0b9ad457-2554-44c1-82c2-d56a99c42377.evtx\",\"event_record_id\":{record},\
             \"channel\":\"Microsoft-Windows-Sysmon/Operational\",\"event_id\":11,\
             \"computer\":\"ar-win-dc.attackrange.local\",\"timestamp\":\"{ts}\"}}\n"
        )
    };
    let expected = [
        row(14985, "2025-10-24T23:34:34.649129Z"),
        row(14988, "2025-10-24T23:34:34.653476Z"),
        row(14990, "2025-10-24T23:34:34.655191Z"),
    ]
    .concat();
    assert_eq!(stdout(&o), expected);
    let err = stderr(&o);
    assert!(
        err.contains("5 events (5 records, 0 duplicates) from 1 of 1 files"),
        "{err}"
    );
    assert!(
        err.contains("166 files, 166 rules compiled, 0 correlations, 0 rejected"),
        "{err}"
    );
    assert!(
        err.contains("detections: 3 rows (rule, file, record); 3 (rule, event) pairs over 3 distinct events; 1 rules fired"),
        "{err}"
    );

    // The same rows as CSV, and the level filter leaving the medium rule out.
    let o = run(&[
        "sigma",
        "hunt",
        "--rules",
        s(&rules),
        "--evtx",
        s(&evtx),
        "-f",
        "csv",
        "--no-cache",
        "--level",
        "high,critical",
    ]);
    assert_eq!(
        stdout(&o),
        "rule_id,rule_title,rule_path,rule_level,evtx_file,event_record_id,channel,event_id,computer,timestamp\n"
    );
}

/// Detections of one rule as (rule id, file, record), the unit of Chainsaw's output.
type Key = (String, String, u64);

fn jsonl_keys(text: &str) -> BTreeSet<Key> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("jsonl row");
            (
                v["rule_id"].as_str().unwrap_or_default().to_string(),
                v["evtx_file"].as_str().unwrap_or_default().to_string(),
                v["event_record_id"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// In Chainsaw semantics the CLI's rows are exactly the library's detections expanded to
/// (rule, file, record), so the CLI inherits the Chainsaw parity that sv-sigma's
/// `chainsaw_parity` test pins against `reference/chainsaw/hunt.tsv` (5,648 rows); the
/// agreement with that file is printed here.
#[test]
fn chainsaw_semantics_hunt_matches_the_library_and_chainsaw() {
    let o = run(&[
        "sigma",
        "hunt",
        "--semantics",
        "chainsaw",
        "--format",
        "jsonl",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours = jsonl_keys(&stdout(&o));

    let evtx = data().join("evtx");
    let opts = sv_events::LoadOptions {
        cache_dir: Some(cache().join("events")),
        ..Default::default()
    };
    let (store, _) = sv_events::EventStore::load(std::slice::from_ref(&evtx), &opts).unwrap();
    let engine = sv_sigma::Engine::new(sv_sigma::EngineConfig {
        semantics: sv_sigma::Semantics::Chainsaw,
        data_dir: Some(data()),
        ..Default::default()
    })
    .unwrap();
    let dirs = sv_data::DataDir::resolve(Some(&data()))
        .unwrap()
        .sigma_rule_dirs()
        .unwrap();
    let set = engine.load_paths(&dirs);
    let mut library = BTreeSet::new();
    for rule in &set.compiled {
        for ev in rule.evaluate(&store).unwrap() {
            for o in store.origins(sv_events::EventIdx(ev)) {
                library.insert((
                    rule.id().unwrap_or_default().to_string(),
                    store.file_path(o.file).display().to_string(),
                    o.record_id,
                ));
            }
        }
    }
    assert_eq!(ours.len(), library.len());
    assert!(ours == library, "CLI and library detections differ");

    let tsv = std::fs::read_to_string(data().join("sigma/reference/chainsaw/hunt.tsv")).unwrap();
    let reference: BTreeSet<Key> = tsv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[2].to_string(), f[3].parse().unwrap())
        })
        .collect();
    assert_eq!(reference.len(), 5648);
    println!(
        "chainsaw parity: {} of {} Chainsaw rows reproduced, {} rows only ours",
        reference.intersection(&ours).count(),
        reference.len(),
        ours.difference(&reference).count()
    );
}

/// `--diff-semantics` lists exactly the symmetric difference of the two hunts.
#[test]
fn diff_semantics_is_the_difference_of_the_two_hunts() {
    let hunt = |sem: &str| {
        let o = run(&[
            "sigma",
            "hunt",
            "--semantics",
            sem,
            "--format",
            "jsonl",
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        jsonl_keys(&stdout(&o))
    };
    let (sigma, chainsaw) = (hunt("sigma"), hunt("chainsaw"));
    let o = run(&["sigma", "hunt", "--diff-semantics", "--format", "jsonl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut only_sigma = BTreeSet::new();
    let mut only_chainsaw = BTreeSet::new();
    for l in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let key = (
            v["rule_id"].as_str().unwrap().to_string(),
            v["evtx_file"].as_str().unwrap().to_string(),
            v["event_record_id"].as_u64().unwrap(),
        );
        let reason = v["reason"].as_str().unwrap();
        assert!(
            ["rejected", "logsource", "values", "evaluation"].contains(&reason),
            "{l}"
        );
        match v["only_in"].as_str().unwrap() {
            "sigma" => only_sigma.insert(key),
            "chainsaw" => only_chainsaw.insert(key),
            other => panic!("only_in {other}"),
        };
    }
    assert_eq!(only_sigma, &sigma - &chainsaw);
    assert_eq!(only_chainsaw, &chainsaw - &sigma);
    assert!(!only_sigma.is_empty());
}

fn score_json(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("score JSON")
}

#[test]
fn score_of_a_reference_against_itself_is_one() {
    let r = data().join("sigma").join(MIMIKATZ);
    let v = score_json(&["sigma", "score", "--candidate", s(&r), "--reference", s(&r)]);
    assert_eq!(
        v,
        serde_json::json!({
            "yaml_valid": true, "logsource_correct": true, "iou": 1.0, "precision": 1.0,
            "recall": 1.0, "f1": 1.0, "candidate_matches": 6, "reference_matches": 6,
            "intersection": 6, "errors": []
        })
    );
}

const DUMPCREDS_OR_LSASS: &str = "title: mixed\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    CommandLine|contains:\n      - DumpCreds\n      - lsass\n  condition: sel\n";

#[test]
fn score_partial_overlap_and_wrong_logsource() {
    let dir = tmpdir("score");
    let r = data().join("sigma").join(MIMIKATZ);
    let c = dir.join("c.yml");
    std::fs::write(&c, DUMPCREDS_OR_LSASS).unwrap();
    let v = score_json(&["sigma", "score", "--candidate", s(&c), "--reference", s(&r)]);
    // 12 candidate events, 2 of them among the reference's 6.
    assert_eq!(v["candidate_matches"], 12);
    assert_eq!(v["intersection"], 2);
    assert_eq!(v["iou"], 0.125);
    assert_eq!(v["recall"], 2.0 / 6.0);
    assert_eq!(v["precision"], 2.0 / 12.0);
    assert_eq!(v["logsource_correct"], true);

    std::fs::write(
        &c,
        "title: t\nlogsource: {category: ps_script, product: windows}\ndetection:\n  sel:\n    ScriptBlockText|contains: mimikatz\n  condition: sel\n",
    )
    .unwrap();
    let v = score_json(&["sigma", "score", "--candidate", s(&c), "--reference", s(&r)]);
    assert_eq!(
        (v["yaml_valid"].clone(), v["logsource_correct"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(v["iou"], 0.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn billion_laughs() -> String {
    let mut y = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        y.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    y
}

#[test]
fn score_batch_keeps_order_and_survives_garbage() {
    let reference = std::fs::read_to_string(data().join("sigma").join(MIMIKATZ)).unwrap();
    let line = |id: serde_json::Value, cand: &str| {
        serde_json::json!({"id": id, "candidate": cand, "reference": reference}).to_string()
    };
    let input = [
        line(1.into(), &reference),
        "this is not JSON".to_string(),
        line("bomb".into(), &billion_laughs()),
        r#"{"id": 4, "candidate": "x"}"#.to_string(),
        line(
            5.into(),
            &format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
        ),
        line(6.into(), DUMPCREDS_OR_LSASS),
        String::new(),
        line(7.into(), "title: only a title\n"),
        serde_json::json!({"id": 8, "candidate": reference, "reference": "x: ["}).to_string(),
        line(9.into(), &reference),
    ]
    .join("\n");
    let mut child = sv(&["sigma", "score", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<String> = rows.iter().map(|r| r["id"].to_string()).collect();
    // One result per non-empty input line, in input order.
    assert_eq!(ids, ["1", "null", "\"bomb\"", "4", "5", "6", "7", "8", "9"]);
    let err0 = |r: &serde_json::Value| r["errors"][0].as_str().unwrap_or_default().to_string();
    assert_eq!(
        (rows[0]["iou"].as_f64(), rows[0]["intersection"].as_u64()),
        (Some(1.0), Some(6))
    );
    assert!(err0(&rows[1]).starts_with("input: "), "{}", rows[1]);
    assert_eq!(rows[2]["yaml_valid"], false);
    assert!(
        err0(&rows[2]).starts_with("candidate: limit: "),
        "{}",
        rows[2]
    );
    assert_eq!(rows[2]["reference_matches"], 6);
    assert!(
        err0(&rows[3]).contains("missing field `reference`"),
        "{}",
        rows[3]
    );
    assert_eq!(rows[4]["yaml_valid"], false);
    assert_eq!(
        (
            rows[5]["iou"].as_f64(),
            rows[5]["candidate_matches"].as_u64()
        ),
        (Some(0.125), Some(12))
    );
    assert_eq!(rows[6]["yaml_valid"], false);
    assert!(err0(&rows[7]).starts_with("reference: "), "{}", rows[7]);
    assert_eq!(rows[7]["iou"], 0.0);
    assert_eq!(
        rows[8],
        rows[0]
            .clone()
            .as_object()
            .map(|m| {
                let mut m = m.clone();
                m.insert("id".into(), 9.into());
                serde_json::Value::Object(m)
            })
            .unwrap()
    );
}

#[test]
fn check_reports_line_and_column() {
    let dir = tmpdir("check");
    let broken = dir.join("broken.yml");
    std::fs::write(
        &broken,
        "title: Broken\nid: 1\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        Image|endswith: ['.exe'\n    condition: selection\n",
    )
    .unwrap();
    let o = run(&["sigma", "check", s(&broken)]);
    assert_eq!(
        stdout(&o),
        format!(
            "{}:9:5: error: yaml: invalid YAML: did not find expected ',' or ']' at line 9 column 5, while parsing a flow sequence at line 8 column 25\n",
            broken.display()
        )
    );
    assert_eq!(o.status.code(), Some(1));

    let warn = dir.join("warn.yml");
    std::fs::write(
        &warn,
        "title: Unused\nid: 2\nlevel: low\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        Image|endswith: .exe\n    filter:\n        User: x\n    condition: selection\n",
    )
    .unwrap();
    let o = run(&["sigma", "check", s(&warn)]);
    assert_eq!(
        stdout(&o),
        format!(
            "{}:10:5: warning: search identifier 'filter' is not used by the condition\n",
            warn.display()
        )
    );
    assert!(o.status.success());
    let o = run(&["sigma", "check", "--deny-warnings", s(&warn)]);
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}
