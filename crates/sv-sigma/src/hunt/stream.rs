//! Hunting straight from rule files: each worker reads, compiles and evaluates one file
//! at a time and keeps only the matches, so peak memory is the event store plus the rules
//! in flight (holding all ~2,900 compiled SigmaHQ rules at once costs ~80 MB of automata),
//! and compilation runs on every core too.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use roaring::RoaringBitmap;
use sv_events::EventStore;

use super::{level_selected, Hunt, HuntOptions, RuleInfo, RuleOutcome};
use crate::correlation::evaluate_correlation;
use crate::engine::{Compiled, CompiledRule, Engine};
use crate::error::{ErrorKind, RuleError};
use crate::rule::Correlation;

/// What loading the rule files found.
#[derive(Debug, Clone, Default)]
pub struct RuleStats {
    /// Rule files found.
    pub files: usize,
    /// Detection rules compiled.
    pub compiled: usize,
    pub correlations: usize,
    /// (path, reason) for every file that could not be used.
    pub rejected: Vec<(String, RuleError)>,
}

impl RuleStats {
    /// Counts of rejections per [`ErrorKind`].
    pub fn reasons_histogram(&self) -> Vec<(ErrorKind, usize)> {
        let mut m = std::collections::BTreeMap::new();
        for (_, e) in &self.rejected {
            *m.entry(e.kind).or_insert(0usize) += 1;
        }
        m.into_iter().collect()
    }
}

/// Reads a rule file with the engine's size limit; failures are rejections.
pub fn read_rule(path: &Path, max: usize) -> Result<String, RuleError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| RuleError::new(ErrorKind::Structure, format!("cannot read: {e}")))?;
    if meta.len() > max as u64 {
        return Err(RuleError::new(
            ErrorKind::Limit,
            format!("rule file is {} bytes, the limit is {max}", meta.len()),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| RuleError::new(ErrorKind::Structure, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        RuleError::new(
            ErrorKind::Yaml,
            format!(
                "rule file is not UTF-8 (byte offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Compiles one rule file.
pub fn compile_path(engine: &Engine, path: &Path) -> Result<Compiled, RuleError> {
    let text = read_rule(path, engine.config.limits.max_rule_bytes)?;
    engine.compile_file(&text, &path.display().to_string())
}

struct FileResult {
    outcomes: Vec<RuleOutcome>,
    compiled: usize,
    filtered_out: usize,
    correlations: Vec<Correlation>,
    /// ids and names of the file's detection rules (for correlation references).
    names: Vec<String>,
    rejected: Option<RuleError>,
}

/// Hunts with every rule file under `paths` (see [`crate::bench::rule_paths`]).
/// Correlation rules are evaluated at the end, recompiling only the files that hold the
/// rules they reference.
pub fn run_paths(
    store: &EventStore,
    engine: &Engine,
    paths: &[PathBuf],
    opts: &HuntOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> (Hunt, RuleStats) {
    let t0 = Instant::now();
    let files = crate::bench::rule_paths(paths);
    let total = files.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<FileResult>>> = files.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(path) = files.get(i) else { break };
        let result = run_file(store, engine, path, &opts.levels);
        if let Ok(mut slot) = slots[i].lock() {
            *slot = Some(result);
        }
        if let Some(p) = progress {
            p(done.fetch_add(1, Ordering::Relaxed) + 1, total);
        }
    };
    let workers = super::worker_count(opts.threads, files.len());
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(work);
            }
        });
    }

    let mut hunt = Hunt::default();
    let mut stats = RuleStats {
        files: files.len(),
        ..RuleStats::default()
    };
    let mut correlations = Vec::new();
    let mut names_by_file = Vec::new();
    for (slot, path) in slots.into_iter().zip(&files) {
        let Some(r) = slot.into_inner().ok().flatten() else {
            continue;
        };
        hunt.outcomes.extend(r.outcomes);
        hunt.filtered_out += r.filtered_out;
        stats.compiled += r.compiled;
        stats.correlations += r.correlations.len();
        if let Some(e) = r.rejected {
            stats.rejected.push((path.display().to_string(), e));
        }
        correlations.extend(r.correlations);
        names_by_file.push((path, r.names));
    }
    if !correlations.is_empty() {
        run_correlations(
            store,
            engine,
            &correlations,
            &names_by_file,
            opts,
            &mut hunt,
        );
    }
    hunt.elapsed = t0.elapsed();
    (hunt, stats)
}

fn run_file(store: &EventStore, engine: &Engine, path: &Path, levels: &[String]) -> FileResult {
    let mut r = FileResult {
        outcomes: Vec::new(),
        compiled: 0,
        filtered_out: 0,
        correlations: Vec::new(),
        names: Vec::new(),
        rejected: None,
    };
    let compiled = match compile_path(engine, path) {
        Ok(c) => c,
        Err(e) => {
            r.rejected = Some(e);
            return r;
        }
    };
    r.compiled = compiled.rules.len();
    r.correlations = compiled.correlations;
    for rule in &compiled.rules {
        r.names.extend(rule.id().map(str::to_string));
        r.names.extend(rule.rule.name.clone());
        if !level_selected(rule.level(), levels) {
            r.filtered_out += 1;
            continue;
        }
        r.outcomes.push(super::evaluate_one(store, rule));
    }
    r
}

fn run_correlations(
    store: &EventStore,
    engine: &Engine,
    correlations: &[Correlation],
    names_by_file: &[(&PathBuf, Vec<String>)],
    opts: &HuntOptions,
    hunt: &mut Hunt,
) {
    let wanted: BTreeSet<&str> = correlations
        .iter()
        .flat_map(|c| c.rules.iter().map(String::as_str))
        .collect();
    let mut rules: Vec<CompiledRule> = Vec::new();
    let mut seen: HashMap<&Path, ()> = HashMap::new();
    for (path, names) in names_by_file {
        if names.iter().any(|n| wanted.contains(n.as_str())) && seen.insert(path, ()).is_none() {
            if let Ok(c) = compile_path(engine, path) {
                rules.extend(c.rules);
            }
        }
    }
    for c in correlations {
        if !level_selected(c.level.as_deref(), &opts.levels) {
            hunt.filtered_out += 1;
            continue;
        }
        let t = Instant::now();
        let (matches, error) = match evaluate_correlation(c, &rules, store) {
            Ok(windows) => (
                windows
                    .iter()
                    .flat_map(|w| w.events.iter().copied())
                    .collect::<RoaringBitmap>(),
                None,
            ),
            Err(e) => (RoaringBitmap::new(), Some(e)),
        };
        hunt.outcomes.push(RuleOutcome {
            info: RuleInfo::of_correlation(c),
            matches,
            error,
            elapsed: t.elapsed(),
        });
    }
}
