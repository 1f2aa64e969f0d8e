//! Chainsaw compatibility: in Chainsaw semantics our detections over the shared corpus are
//! compared with Chainsaw 2.16.4's own hunt output (`reference/chainsaw/hunt.tsv`) as sets
//! of (rule_id, evtx_file, record_id). The test pins the agreement measured so far; the
//! remaining differences are explained in docs/sigma.md.

use std::collections::BTreeSet;
use sv_events::EventIdx;
use sv_sigma::{Engine, EngineConfig, Semantics};

type Row = (String, String, u64);

#[test]
fn chainsaw_semantics_against_chainsaw_output() {
    let data = sv_data::DataDir::resolve(None).unwrap();
    let evtx = data.evtx().unwrap();
    let store = sv_sigma::bench::corpus_store(&data).unwrap();
    if let (Ok(f), Ok(r)) = (
        std::env::var("SV_DEBUG_FILE"),
        std::env::var("SV_DEBUG_REC"),
    ) {
        for e in 0..store.len() as u32 {
            for o in store.origins(EventIdx(e)) {
                if store.file_path(o.file).display().to_string().contains(&f)
                    && o.record_id.to_string() == r
                {
                    println!("REC {}", store.to_json(EventIdx(e)));
                }
            }
        }
    }
    let sigma = data.root.join("sigma");
    let dirs = data.sigma_rule_dirs().unwrap();
    let engine = Engine::new(EngineConfig {
        semantics: Semantics::Chainsaw,
        ..Default::default()
    })
    .unwrap();
    let set = engine.load_dirs(&dirs);
    let mut ours: BTreeSet<Row> = BTreeSet::new();
    for r in &set.compiled {
        let Some(id) = r.id() else { continue };
        for ev in r.evaluate(&store).unwrap().iter() {
            for o in store.origins(EventIdx(ev)) {
                let p = store.file_path(o.file);
                let rel = p.strip_prefix(&evtx).unwrap_or(p).display().to_string();
                if std::env::var("SV_DEBUG_RULE").ok().as_deref() == Some(id)
                    && std::env::var("SV_DEBUG_FILE")
                        .map(|f| rel.contains(&f))
                        .unwrap_or(false)
                {
                    println!("EV {} {} {}", rel, o.record_id, store.to_json(EventIdx(ev)));
                }
                ours.insert((id.to_string(), rel, o.record_id));
            }
        }
    }
    let tsv = std::fs::read_to_string(sigma.join("reference/chainsaw/hunt.tsv")).unwrap();
    let theirs: BTreeSet<Row> = tsv
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0].to_string(), c[2].to_string(), c[3].parse().unwrap())
        })
        .collect();
    assert_eq!(theirs.len(), 5648);
    let both = ours.intersection(&theirs).count();
    let only_ours: Vec<&Row> = ours.difference(&theirs).collect();
    let only_theirs: Vec<&Row> = theirs.difference(&ours).collect();
    let per_rule = |rows: &[&Row]| {
        let mut m = std::collections::BTreeMap::new();
        for r in rows {
            *m.entry(r.0.clone()).or_insert(0usize) += 1;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        v
    };
    println!(
        "both {both}, only ours {}, only chainsaw {}",
        only_ours.len(),
        only_theirs.len()
    );
    println!(
        "only ours by rule: {:?}",
        &per_rule(&only_ours)[..per_rule(&only_ours).len().min(40)]
    );
    println!(
        "only chainsaw by rule: {:?}",
        &per_rule(&only_theirs)[..per_rule(&only_theirs).len().min(40)]
    );
    for r in only_ours.iter().take(400) {
        if std::env::var("SV_DEBUG_RULE").ok().as_deref() == Some(r.0.as_str()) {
            println!("OURS {:?}", r);
        }
    }
    for r in only_theirs.iter().take(400) {
        if std::env::var("SV_DEBUG_RULE").ok().as_deref() == Some(r.0.as_str()) {
            println!("THEIRS {:?}", r);
        }
    }
    assert!(only_ours
        .iter()
        .all(|r| r.0 == "8eef149c-bd26-49f2-9e5a-9b00e3af499b"));
    assert_eq!((both, only_ours.len(), only_theirs.len()), PINNED);
}

// (both, only ours, only Chainsaw): every one of Chainsaw's 5,648 rows reproduced; the 43 extra rows are all
// rule 8eef149c (Pass the Hash Activity 2): the raw records hold `LogonProcessName` =
// "NtLmSsp " (trailing space), which the pinned evtx parser renders trimmed, so the
// rule's exact 'NtLmSsp' matches here but not in Chainsaw's parser (docs/sigma.md).
const PINNED: (usize, usize, usize) = (5648, 43, 0);
