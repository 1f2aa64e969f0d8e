//! Every detection of every SigmaHQ rule over the whole shared corpus, pinned: the sorted
//! list of (rule file, EVTX file, record id) under each semantics is reduced to its row
//! count, the number of rules that fire and an FNV-1a fingerprint. Any change in what any
//! rule matches (an optimisation that changes a result, a parser upgrade) fails here.
//! The fingerprints were taken before the matcher optimisations of 2026-11-24 (regex
//! minimisation, glob matcher, merged OR lists, arena keyword scan) and held after them.
//! On a mismatch the test writes the full row list to the temp dir for diffing.

use std::collections::{BTreeSet, HashSet};
use sv_events::EventIdx;
use sv_sigma::{Engine, EngineConfig, Semantics};

fn fnv1a(rows: &BTreeSet<(String, String, u64)>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (a, b, c) in rows {
        for bytes in [
            a.as_bytes(),
            b"\t",
            b.as_bytes(),
            b"\t",
            c.to_string().as_bytes(),
            b"\n",
        ] {
            for &x in bytes {
                h ^= x as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}

#[test]
fn every_detection_of_every_rule_is_unchanged() {
    let data = sv_data::DataDir::resolve(None).unwrap();
    let evtx = data.evtx().unwrap();
    let store = sv_sigma::bench::corpus_store(&data).unwrap();
    let sigma = data.root.join("sigma");
    let dirs = data.sigma_rule_dirs().unwrap();
    let mut report = Vec::new();
    for (semantics, want_rows, want_rules, want_hash) in [
        (Semantics::Sigma, 7205, 504, 5_884_923_371_440_674_571u64),
        (Semantics::Chainsaw, 5691, 400, 17_255_701_837_898_511_139),
    ] {
        let engine = Engine::new(EngineConfig {
            semantics,
            ..Default::default()
        })
        .unwrap();
        let set = engine.load_dirs(&dirs);
        let mut rows = BTreeSet::new();
        let mut firing = HashSet::new();
        for r in &set.compiled {
            let rule = std::path::Path::new(r.path());
            let rule = rule
                .strip_prefix(&sigma)
                .unwrap_or(rule)
                .display()
                .to_string();
            for ev in r.evaluate(&store).unwrap().iter() {
                firing.insert(rule.clone());
                for o in store.origins(EventIdx(ev)) {
                    let p = store.file_path(o.file);
                    let rel = p.strip_prefix(&evtx).unwrap_or(p).display().to_string();
                    rows.insert((rule.clone(), rel, o.record_id));
                }
            }
        }
        let got = (rows.len(), firing.len(), fnv1a(&rows));
        if got != (want_rows, want_rules, want_hash) {
            let dump = std::env::temp_dir().join(format!("sv-hunt-{semantics:?}.tsv"));
            let text: String = rows
                .iter()
                .map(|(a, b, c)| format!("{a}\t{b}\t{c}\n"))
                .collect();
            std::fs::write(&dump, text).unwrap();
            report.push(format!(
                "{semantics:?}: got rows/rules/hash {got:?}, want {:?} (rows in {})",
                (want_rows, want_rules, want_hash),
                dump.display()
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
