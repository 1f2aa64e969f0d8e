//! Hunting: every loaded rule over a whole event store, as `sv sigma hunt` does.
//!
//! Rules are evaluated in parallel (one worker per core, each taking the next rule), each
//! rule's matches are a set of deduplicated events, and the output expands every matched
//! event into one row per (file, EventRecordID) that holds it, like Chainsaw, sorted so
//! the same inputs always print the same rows. Correlation rules run over the detection
//! rules' matches and report the events of every window that fires.
//! [`diff`] compares the two semantics rule by rule.

pub mod diff;
pub mod rows;
pub mod stream;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;
use sv_events::EventStore;

use crate::correlation::evaluate_correlation;
use crate::engine::{CompiledRule, RuleSet};
use crate::error::EvalError;
use crate::rule::Correlation;

pub use rows::{HuntRow, RuleInfo};
pub use stream::{run_paths, RuleStats};

/// What a hunt runs with.
#[derive(Debug, Clone, Default)]
pub struct HuntOptions {
    /// Worker threads (0 = one per available core).
    pub threads: usize,
    /// Only rules whose `level` is one of these (case-insensitive); empty = all rules.
    pub levels: Vec<String>,
}

/// One rule's result.
#[derive(Debug, Clone)]
pub struct RuleOutcome {
    pub info: RuleInfo,
    /// The matching deduplicated events (empty when evaluation failed).
    pub matches: RoaringBitmap,
    /// Why evaluation stopped (a budget or regex error); the hunt goes on without it.
    pub error: Option<EvalError>,
    pub elapsed: Duration,
}

/// The result of a hunt.
#[derive(Debug, Clone, Default)]
pub struct Hunt {
    /// One per evaluated detection rule, then one per correlation rule, in rule order.
    pub outcomes: Vec<RuleOutcome>,
    /// Rules left out by the level filter.
    pub filtered_out: usize,
    pub elapsed: Duration,
}

impl Hunt {
    /// Rules with at least one match.
    pub fn rules_firing(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| !o.matches.is_empty())
            .count()
    }

    /// Matched deduplicated events over all rules (each counted once).
    pub fn distinct_events(&self) -> u64 {
        let mut all = RoaringBitmap::new();
        for o in &self.outcomes {
            all |= &o.matches;
        }
        all.len()
    }

    /// (rule, event) detections over deduplicated events.
    pub fn event_detections(&self) -> u64 {
        self.outcomes.iter().map(|o| o.matches.len()).sum()
    }

    /// Rules whose evaluation failed, with the reason.
    pub fn errors(&self) -> impl Iterator<Item = (&RuleInfo, &EvalError)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.error.as_ref().map(|e| (&o.info, e)))
    }

    /// The output rows: one per (rule, file, record), sorted by rule id, rule path, file
    /// and record.
    pub fn rows(&self, store: &EventStore) -> Vec<HuntRow> {
        let mut out = Vec::new();
        for o in &self.outcomes {
            rows::expand(store, &o.info, &o.matches, &mut out);
        }
        out.sort_by(HuntRow::order);
        out
    }
}

impl RuleInfo {
    pub fn of_rule(r: &CompiledRule) -> RuleInfo {
        RuleInfo {
            id: r.id().unwrap_or_default().to_string(),
            title: r.title().to_string(),
            path: r.path().to_string(),
            level: r.level().unwrap_or_default().to_string(),
        }
    }

    pub fn of_correlation(c: &Correlation) -> RuleInfo {
        RuleInfo {
            id: c.id.clone().unwrap_or_default(),
            title: c.title.clone(),
            path: c.path.clone(),
            level: c.level.clone().unwrap_or_default(),
        }
    }
}

fn level_selected(level: Option<&str>, levels: &[String]) -> bool {
    levels.is_empty() || level.is_some_and(|l| levels.iter().any(|x| x.eq_ignore_ascii_case(l)))
}

/// Runs every rule of `set` over `store`. `progress(done, total)` is called after each
/// rule (from worker threads).
pub fn run(
    store: &EventStore,
    set: &RuleSet,
    opts: &HuntOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Hunt {
    let t0 = Instant::now();
    let rules: Vec<&CompiledRule> = set
        .compiled
        .iter()
        .filter(|r| level_selected(r.level(), &opts.levels))
        .collect();
    let correlations: Vec<&Correlation> = set
        .correlations
        .iter()
        .filter(|c| level_selected(c.level.as_deref(), &opts.levels))
        .collect();
    let filtered_out =
        set.compiled.len() - rules.len() + set.correlations.len() - correlations.len();
    let total = rules.len() + correlations.len();
    let mut outcomes = evaluate_all(store, &rules, opts.threads, |done| {
        if let Some(p) = progress {
            p(done, total)
        }
    });
    // Correlations need every detection rule (also those filtered out by level: a
    // correlation's level is its own).
    for (i, c) in correlations.iter().enumerate() {
        let t = Instant::now();
        let (matches, error) = match evaluate_correlation(c, &set.compiled, store) {
            Ok(windows) => (
                windows
                    .iter()
                    .flat_map(|w| w.events.iter().copied())
                    .collect(),
                None,
            ),
            Err(e) => (RoaringBitmap::new(), Some(e)),
        };
        outcomes.push(RuleOutcome {
            info: RuleInfo::of_correlation(c),
            matches,
            error,
            elapsed: t.elapsed(),
        });
        if let Some(p) = progress {
            p(rules.len() + i + 1, total);
        }
    }
    Hunt {
        outcomes,
        filtered_out,
        elapsed: t0.elapsed(),
    }
}

/// Worker threads to use: `threads`, or one per core when 0, never more than `jobs`.
pub(crate) fn worker_count(threads: usize, jobs: usize) -> usize {
    let n = if threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        threads
    };
    n.clamp(1, jobs.max(1))
}

/// Evaluates one rule, timing it.
pub(crate) fn evaluate_one(store: &EventStore, rule: &CompiledRule) -> RuleOutcome {
    let t = Instant::now();
    let (matches, error) = match rule.evaluate(store) {
        Ok(m) => (m, None),
        Err(e) => (RoaringBitmap::new(), Some(e)),
    };
    RuleOutcome {
        info: RuleInfo::of_rule(rule),
        matches,
        error,
        elapsed: t.elapsed(),
    }
}

/// Evaluates `rules` on `threads` workers (0 = all cores); results in rule order.
pub fn evaluate_all(
    store: &EventStore,
    rules: &[&CompiledRule],
    threads: usize,
    on_done: impl Fn(usize) + Sync,
) -> Vec<RuleOutcome> {
    let workers = worker_count(threads, rules.len());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<RuleOutcome>>> = rules.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(rule) = rules.get(i) else { break };
        let outcome = evaluate_one(store, rule);
        if let Ok(mut slot) = slots[i].lock() {
            *slot = Some(outcome);
        }
        on_done(done.fetch_add(1, Ordering::Relaxed) + 1);
    };
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(work);
            }
        });
    }
    // A worker panic propagates out of `scope`, so every slot is filled here.
    slots
        .into_iter()
        .filter_map(|slot| slot.into_inner().ok().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_filter_is_case_insensitive_and_empty_means_all() {
        assert!(level_selected(Some("high"), &[]));
        assert!(level_selected(None, &[]));
        assert!(level_selected(Some("High"), &["high".into()]));
        assert!(!level_selected(Some("low"), &["high".into()]));
        assert!(!level_selected(None, &["high".into()]));
    }
}
