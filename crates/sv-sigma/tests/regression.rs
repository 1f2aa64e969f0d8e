//! SigmaHQ regression cases (`../shared/data/sigma/regression`): in Sigma semantics every
//! case's rule must match its `.evtx` with exactly `EXPECTED.tsv`'s `expected_exact`
//! distinct records.

use std::path::PathBuf;
use sv_events::{EventStore, LoadOptions};
use sv_sigma::{Engine, EngineConfig};

fn data() -> PathBuf {
    sv_data::DataDir::resolve(None).expect("data folder").root
}

#[test]
fn regression_cases_match_exactly() {
    let root = data().join("sigma");
    let reg = root.join("regression");
    let rules_tsv = std::fs::read_to_string(reg.join("RULES.tsv")).unwrap();
    let expected_tsv = std::fs::read_to_string(reg.join("EXPECTED.tsv")).unwrap();
    let mut expected = std::collections::HashMap::new();
    for l in expected_tsv.lines().skip(1) {
        let c: Vec<&str> = l.split('\t').collect();
        expected.insert(c[0].to_string(), c[4].parse::<u64>().unwrap());
    }
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for l in rules_tsv.lines().skip(1) {
        let c: Vec<&str> = l.split('\t').collect();
        let (case, rule_path) = (c[0], c[2]);
        n += 1;
        let text = std::fs::read_to_string(root.join(rule_path)).unwrap();
        let rules = match engine.compile_str(&text, rule_path) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{case}: rule rejected: {e}"));
                continue;
            }
        };
        let dir = reg.join(case);
        let evtx: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
            .collect();
        let (store, _) = EventStore::load(&evtx, &LoadOptions::default()).unwrap();
        let mut hits = sv_sigma::RoaringBitmap::new();
        for r in &rules {
            hits |= r.evaluate(&store).unwrap();
        }
        // distinct records = origins of the matching deduplicated events
        let records: u64 = hits
            .iter()
            .map(|e| store.origins(sv_events::EventIdx(e)).len() as u64)
            .sum();
        let want = expected[case];
        if records != want {
            failures.push(format!(
                "{case}: expected {want}, got {records} (events {})",
                store.len()
            ));
        }
    }
    assert_eq!(n, 98);
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
