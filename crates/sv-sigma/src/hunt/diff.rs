//! `--diff-semantics`: which detections differ between Sigma and Chainsaw semantics, rule
//! by rule, and why.
//!
//! Each differing (rule, event) gets one reason category:
//! - `rejected`: the rule compiles under one semantics only (the reason is the rejection);
//! - `logsource`: the event lies outside what the other semantics' logsource selects
//!   (Chainsaw keys on the Provider and has no Security 4688 branch for process creation;
//!   Sigma's thor.yml mapping keys on the channel);
//! - `values`: both select the event and the detection decides differently (type-strict
//!   numbers vs strings, `not` over a missing field, Chainsaw's field map, modifiers);
//! - `evaluation`: evaluating the rule failed under one semantics (a budget).

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use serde::Serialize;
use sv_events::EventStore;

use crate::engine::{CompiledRule, RuleSet};
use crate::Semantics;

/// Why a detection differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Rejected,
    Logsource,
    Values,
    Evaluation,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Logsource => "logsource",
            Reason::Values => "values",
            Reason::Evaluation => "evaluation",
        }
    }
}

/// Differing events of one rule for one reason.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonCount {
    pub reason: Reason,
    /// Events matched only under Sigma semantics.
    pub only_sigma: u64,
    /// Events matched only under Chainsaw semantics.
    pub only_chainsaw: u64,
    /// What exactly (the rejection or evaluation error), when there is one message.
    pub detail: Option<String>,
    /// The events behind `only_sigma`.
    #[serde(skip)]
    pub sigma_events: RoaringBitmap,
    /// The events behind `only_chainsaw`.
    #[serde(skip)]
    pub chainsaw_events: RoaringBitmap,
}

/// One rule whose detections differ.
#[derive(Debug, Clone, Serialize)]
pub struct RuleDiff {
    pub rule_path: String,
    pub rule_id: String,
    pub rule_title: String,
    pub rule_level: String,
    pub sigma_matches: u64,
    pub chainsaw_matches: u64,
    pub both: u64,
    pub reasons: Vec<ReasonCount>,
}

enum Side<'a> {
    Compiled(&'a CompiledRule),
    Rejected(String),
    Absent,
}

struct Evaluated {
    matches: RoaringBitmap,
    /// What the logsource selects (`None` when not compiled).
    selected: Option<RoaringBitmap>,
    problem: Option<(Reason, String)>,
}

fn evaluate(side: &Side<'_>, store: &EventStore, semantics: Semantics) -> Evaluated {
    match side {
        Side::Compiled(r) => {
            let sel = r.logsource_events(store);
            match (r.evaluate(store), sel) {
                (Ok(m), Ok(s)) => Evaluated {
                    matches: m,
                    selected: Some(s),
                    problem: None,
                },
                (Err(e), _) | (_, Err(e)) => Evaluated {
                    matches: RoaringBitmap::new(),
                    selected: None,
                    problem: Some((Reason::Evaluation, format!("{}: {e}", r.semantics))),
                },
            }
        }
        Side::Rejected(why) => Evaluated {
            matches: RoaringBitmap::new(),
            selected: None,
            problem: Some((
                Reason::Rejected,
                format!("rejected under {semantics} semantics: {why}"),
            )),
        },
        Side::Absent => Evaluated {
            matches: RoaringBitmap::new(),
            selected: None,
            problem: Some((
                Reason::Rejected,
                format!("not loaded under {semantics} semantics"),
            )),
        },
    }
}

/// Compares two rule sets loaded from the same files, one per semantics. Rules are
/// paired by (path, id, title); rules with identical detections are left out. Sorted by
/// rule path.
pub fn diff_semantics(store: &EventStore, sigma: &RuleSet, chainsaw: &RuleSet) -> Vec<RuleDiff> {
    type Key = (String, String, String);
    let key = |r: &CompiledRule| -> Key {
        (
            r.path().to_string(),
            r.id().unwrap_or_default().to_string(),
            r.title().to_string(),
        )
    };
    let mut pairs: BTreeMap<Key, (Side<'_>, Side<'_>)> = BTreeMap::new();
    for r in &sigma.compiled {
        pairs
            .entry(key(r))
            .or_insert((Side::Absent, Side::Absent))
            .0 = Side::Compiled(r);
    }
    for r in &chainsaw.compiled {
        pairs
            .entry(key(r))
            .or_insert((Side::Absent, Side::Absent))
            .1 = Side::Compiled(r);
    }
    // A rejected file pairs with every rule of that path compiled on the other side.
    let rejected = |set: &RuleSet| -> BTreeMap<String, String> {
        set.rejected
            .iter()
            .map(|(p, e)| (p.clone(), e.to_string()))
            .collect()
    };
    let (rej_sigma, rej_chainsaw) = (rejected(sigma), rejected(chainsaw));
    for (k, (s, c)) in pairs.iter_mut() {
        if matches!(s, Side::Absent) {
            if let Some(why) = rej_sigma.get(&k.0) {
                *s = Side::Rejected(why.clone());
            }
        }
        if matches!(c, Side::Absent) {
            if let Some(why) = rej_chainsaw.get(&k.0) {
                *c = Side::Rejected(why.clone());
            }
        }
    }
    let mut out = Vec::new();
    for ((path, id, title), (s, c)) in &pairs {
        let a = evaluate(s, store, Semantics::Sigma);
        let b = evaluate(c, store, Semantics::Chainsaw);
        if a.matches == b.matches {
            continue;
        }
        let only_a = &a.matches - &b.matches;
        let only_b = &b.matches - &a.matches;
        let mut reasons: BTreeMap<Reason, ReasonCount> = BTreeMap::new();
        let mut add =
            |reason: Reason, detail: Option<&String>, events: RoaringBitmap, sigma_side: bool| {
                let e = reasons.entry(reason).or_insert(ReasonCount {
                    reason,
                    only_sigma: 0,
                    only_chainsaw: 0,
                    detail: detail.cloned(),
                    sigma_events: RoaringBitmap::new(),
                    chainsaw_events: RoaringBitmap::new(),
                });
                if sigma_side {
                    e.sigma_events |= events;
                    e.only_sigma = e.sigma_events.len();
                } else {
                    e.chainsaw_events |= events;
                    e.only_chainsaw = e.chainsaw_events.len();
                }
            };
        // Events matched by one side only: the other failed entirely, its logsource
        // skipped them, or its detection decided differently.
        classify(&only_a, &b, |r, d, ev| add(r, d, ev, true));
        classify(&only_b, &a, |r, d, ev| add(r, d, ev, false));
        out.push(RuleDiff {
            rule_path: path.clone(),
            rule_id: id.clone(),
            rule_title: title.clone(),
            rule_level: [s, c]
                .iter()
                .find_map(|side| match side {
                    Side::Compiled(r) => r.level().map(str::to_string),
                    _ => None,
                })
                .unwrap_or_default(),
            sigma_matches: a.matches.len(),
            chainsaw_matches: b.matches.len(),
            both: (&a.matches & &b.matches).len(),
            reasons: reasons.into_values().collect(),
        });
    }
    out
}

/// Splits events that `other` did not match by why it did not.
fn classify(
    events: &RoaringBitmap,
    other: &Evaluated,
    mut add: impl FnMut(Reason, Option<&String>, RoaringBitmap),
) {
    if events.is_empty() {
        return;
    }
    if let Some((reason, detail)) = &other.problem {
        add(*reason, Some(detail), events.clone());
        return;
    }
    let Some(selected) = &other.selected else {
        return;
    };
    let outside = events - selected;
    let inside = events & selected;
    if !outside.is_empty() {
        add(Reason::Logsource, None, outside);
    }
    if !inside.is_empty() {
        add(Reason::Values, None, inside);
    }
}

/// One differing detection as printed: the hunt row, which semantics matched it, and why
/// the other did not.
#[derive(Debug, Clone, Serialize)]
pub struct DiffRow {
    #[serde(flatten)]
    pub row: super::HuntRow,
    /// `sigma` or `chainsaw`: the semantics that matched.
    pub only_in: &'static str,
    pub reason: Reason,
    pub detail: Option<String>,
}

/// Expands rule diffs into rows, one per (rule, file, record), sorted like hunt rows
/// (then by side).
pub fn diff_rows(store: &EventStore, diffs: &[RuleDiff]) -> Vec<DiffRow> {
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for d in diffs {
        let info = super::RuleInfo {
            id: d.rule_id.clone(),
            title: d.rule_title.clone(),
            path: d.rule_path.clone(),
            level: d.rule_level.clone(),
        };
        for rc in &d.reasons {
            for (side, events) in [
                ("sigma", &rc.sigma_events),
                ("chainsaw", &rc.chainsaw_events),
            ] {
                scratch.clear();
                super::rows::expand(store, &info, events, &mut scratch);
                out.extend(scratch.drain(..).map(|row| DiffRow {
                    row,
                    only_in: side,
                    reason: rc.reason,
                    detail: rc.detail.clone(),
                }));
            }
        }
    }
    out.sort_by(|a, b| super::HuntRow::order(&a.row, &b.row).then(a.only_in.cmp(b.only_in)));
    out
}

/// [`diff_semantics`] straight from rule files, one file at a time on every core (see
/// [`super::stream`] for why). Returns the diffs (sorted by rule path) and what each
/// engine made of the files.
pub fn diff_paths(
    store: &EventStore,
    sigma: &crate::Engine,
    chainsaw: &crate::Engine,
    paths: &[std::path::PathBuf],
    threads: usize,
) -> (Vec<RuleDiff>, super::RuleStats, super::RuleStats) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let files = crate::bench::rule_paths(paths);
    let load = |engine: &crate::Engine, path: &std::path::Path| -> RuleSet {
        let mut set = RuleSet {
            files: 1,
            ..RuleSet::default()
        };
        match super::stream::compile_path(engine, path) {
            Ok(c) => set.compiled = c.rules,
            Err(e) => set.rejected.push((path.display().to_string(), e)),
        }
        set
    };
    let next = AtomicUsize::new(0);
    // (diffs, then per engine: rules compiled and the file's rejection)
    type Counts = (usize, Vec<(String, crate::RuleError)>);
    type Slot = Mutex<Option<(Vec<RuleDiff>, Counts, Counts)>>;
    let slots: Vec<Slot> = files.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(path) = files.get(i) else { break };
        let (s, c) = (load(sigma, path), load(chainsaw, path));
        let d = diff_semantics(store, &s, &c);
        // Only counts are kept: the compiled rules are dropped here.
        let counts = |set: RuleSet| (set.compiled.len(), set.rejected);
        if let Ok(mut slot) = slots[i].lock() {
            *slot = Some((d, counts(s), counts(c)));
        }
    };
    let workers = super::worker_count(threads, files.len());
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|sc| {
            for _ in 0..workers {
                sc.spawn(work);
            }
        });
    }
    let mut diffs = Vec::new();
    let mut stats = [super::RuleStats::default(), super::RuleStats::default()];
    for slot in slots {
        let Some((d, s, c)) = slot.into_inner().ok().flatten() else {
            continue;
        };
        diffs.extend(d);
        for (st, (compiled, rejected)) in stats.iter_mut().zip([s, c]) {
            st.files += 1;
            st.compiled += compiled;
            st.rejected.extend(rejected);
        }
    }
    diffs.sort_by(|a, b| a.rule_path.cmp(&b.rule_path));
    let [s, c] = stats;
    (diffs, s, c)
}
