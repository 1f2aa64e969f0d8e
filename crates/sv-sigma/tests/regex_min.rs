//! `regex_min::for_is_match` on real patterns: every `|re` value of the SigmaHQ Windows
//! rules is compiled as written and as minimised, and both must give the same `is_match`
//! answer on every distinct string of the shared corpus (up to 512 bytes, ~100k strings).

use std::path::Path;
use sv_events::Sym;

fn re_values(v: &serde_yaml::Value, under_re: bool, out: &mut Vec<(String, String)>) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, x) in m {
                let key = k.as_str().unwrap_or("");
                let mods: Vec<&str> = key.split('|').skip(1).collect();
                if mods.contains(&"re") {
                    let flags: String = ["i", "m", "s"]
                        .iter()
                        .filter(|f| mods.contains(f))
                        .copied()
                        .collect();
                    let mut vals = Vec::new();
                    re_values(x, true, &mut vals);
                    out.extend(vals.into_iter().map(|(_, p)| (flags.clone(), p)));
                } else {
                    re_values(x, false, out);
                }
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| re_values(x, under_re, out)),
        serde_yaml::Value::String(s) if under_re => out.push((String::new(), s.clone())),
        _ => {}
    }
}

fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml") {
            let text = std::fs::read_to_string(&p).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                if let Ok(v) = serde_yaml::Value::deserialize(doc) {
                    if let Some(d) = v.get("detection") {
                        re_values(d, false, out);
                    }
                }
            }
        }
    }
}

use serde::Deserialize;

#[test]
fn minimised_regexes_agree_on_the_corpus() {
    let data = sv_data::DataDir::resolve(None).unwrap();
    let mut pats = Vec::new();
    for d in data.sigma_rule_dirs().unwrap() {
        walk(&d.join("windows"), &mut pats);
    }
    pats.sort();
    pats.dedup();
    let store = sv_sigma::bench::corpus_store(&data).unwrap();
    let st = store.strings();
    let values: Vec<&str> = (0..st.len() as u32)
        .map(|i| st.get(Sym(i)))
        .filter(|s| s.len() <= 512)
        .collect();
    let (mut checked, mut changed) = (0, 0);
    for (flags, p) in &pats {
        let full = if flags.is_empty() {
            p.clone()
        } else {
            format!("(?{flags}){p}")
        };
        let Ok(original) = regex::Regex::new(&full) else {
            continue; // look-around / back-references: fancy-regex, not minimised
        };
        let hir = regex_syntax::parse(&full).unwrap();
        let min = sv_sigma::regex_min::for_is_match(hir.clone());
        if min == hir {
            continue;
        }
        changed += 1;
        let run = sv_sigma::regex_min::AnyRun::recognise(&min);
        let minimised = regex::Regex::new(&min.to_string()).unwrap();
        for v in &values {
            let m = match run {
                Some(r) => r.is_match(v),
                None => minimised.is_match(v),
            };
            assert_eq!(original.is_match(v), m, "pattern {full:?} on {v:?}");
            checked += 1;
        }
    }
    assert_eq!(
        pats.len(),
        109,
        "distinct `re` values (with flags) in the Windows rules"
    );
    assert_eq!(changed, 19, "patterns the minimiser rewrites");
    println!(
        "{} patterns, {changed} minimised, {checked} comparisons",
        pats.len()
    );
}
