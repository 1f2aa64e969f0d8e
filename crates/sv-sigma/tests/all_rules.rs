//! Every rule under `../shared/data/sigma/rules*/windows` compiles or is rejected with a
//! reason; exact counts per semantics, and the reasons histogram is printed.

use std::path::PathBuf;
use sv_sigma::{Engine, EngineConfig, Semantics};

fn rule_dirs() -> Vec<PathBuf> {
    sv_data::DataDir::resolve(None)
        .expect("data folder")
        .sigma_rule_dirs()
        .expect("SigmaHQ rules")
}

fn run(sem: Semantics) -> (usize, usize, usize, Vec<(String, usize)>) {
    let engine = Engine::new(EngineConfig {
        semantics: sem,
        ..Default::default()
    })
    .unwrap();
    let set = engine.load_dirs(&rule_dirs());
    let mut hist = std::collections::BTreeMap::new();
    for (path, e) in &set.rejected {
        assert!(!e.message.is_empty(), "{path}: empty reason");
        // message without the rule-specific part, for the histogram
        let key = format!(
            "{}: {}",
            e.kind.as_str(),
            e.message.split(':').next_back().unwrap_or("").trim()
        );
        *hist.entry(key).or_insert(0usize) += 1;
    }
    println!(
        "--- {sem}: {} files, {} compiled rules, {} rejected",
        set.files,
        set.compiled.len(),
        set.rejected.len()
    );
    for (k, v) in set.reasons_histogram() {
        println!("  {:>5} {}", v, k.as_str());
    }
    for (path, e) in set.rejected.iter().take(400) {
        println!("    {path}: {e}");
    }
    (
        set.files,
        set.compiled.len(),
        set.rejected.len(),
        hist.into_iter().collect(),
    )
}

#[test]
fn every_windows_rule_compiles_or_is_rejected_with_a_reason() {
    let (files, compiled, rejected, _) = run(Semantics::Sigma);
    assert_eq!(files, 2872);
    assert_eq!(
        compiled + rejected,
        files,
        "one rule per file in this corpus"
    );
    assert_eq!(
        (compiled, rejected),
        (SIGMA_COMPILED, files - SIGMA_COMPILED)
    );
    let (files, compiled, rejected, _) = run(Semantics::Chainsaw);
    assert_eq!(compiled + rejected, files);
    assert_eq!(
        (compiled, rejected),
        (CHAINSAW_COMPILED, files - CHAINSAW_COMPILED)
    );
}

const SIGMA_COMPILED: usize = 2841;
const CHAINSAW_COMPILED: usize = 2719;
