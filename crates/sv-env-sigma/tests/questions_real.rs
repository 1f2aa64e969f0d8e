//! Questions for every SigmaHQ windows rule in the shared data: all metadata reads, every
//! question passes the leakage check, and generation is deterministic.

use std::path::PathBuf;
use sv_env_sigma::attack::AttackNames;
use sv_env_sigma::leakage::{check, LeakPolicy};
use sv_env_sigma::meta::RuleMeta;
use sv_env_sigma::questions::generate;

fn rule_files(root: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_windows_rule_gets_leak_free_questions() {
    let data = sv_data::DataDir::resolve(None).unwrap();
    let sigma = data.root.join("sigma");
    let attack = AttackNames::load(&data.root.join("kb")).unwrap();
    let policy = LeakPolicy::default();
    let mut files = Vec::new();
    for d in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-placeholder",
    ] {
        files.extend(rule_files(&sigma.join(d)));
    }
    assert_eq!(files.len(), 2872);
    let (mut parsed, mut questions, mut short) = (0, 0, 0);
    let mut per_count = std::collections::BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Ok(meta) = RuleMeta::parse(&text) else {
            continue;
        };
        parsed += 1;
        let qs = generate(&meta, &attack, &policy);
        *per_count.entry(qs.len()).or_insert(0usize) += 1;
        if qs.len() < 15 {
            short += 1;
            eprintln!(
                "fewer questions: {} ({}): {:?}",
                meta.title,
                qs.len(),
                check(
                    &sv_env_sigma::questions::subject_phrase(&meta.title),
                    &meta,
                    &policy
                )
            );
        }
        for q in &qs {
            assert_eq!(
                check(&q.text, &meta, &policy),
                vec![],
                "{}: {}",
                f.display(),
                q.text
            );
        }
        questions += qs.len();
    }
    eprintln!(
        "parsed {parsed}, questions {questions}, rules with < 15: {short}, by count {per_count:?}"
    );
    assert_eq!(parsed, 2872);
    // Every rule gets all 5 personas × 3 phrasings (the redaction fallback covers the
    // titles that name a long identifier).
    assert_eq!(short, 0);
    assert_eq!(questions, 2872 * 15);
}
