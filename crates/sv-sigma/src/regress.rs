//! SigmaHQ regression cases: every `info.yml` found under a case folder is run against
//! the rule whose `id` equals the case's `rule_metadata[].id` (found by scanning rule
//! folders), over the case's own `.evtx` sample.
//!
//! The count compared is the number of distinct matching *records* of the sample
//! (one per EventRecordID, as SigmaHQ's runner and Chainsaw count). Expectations: the
//! case set's `EXPECTED.tsv` gives exact counts; without an entry there, `match_count` is
//! a minimum (missing = at least one), as in SigmaHQ's own runner. Cases whose rule is
//! not found are reported as skipped, never as passed.

pub mod cases;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sv_events::{EventIdx, EventStore, LoadOptions};

use crate::engine::Engine;
pub use cases::{discover, index_rules, read_expected, Case, CaseTest, Expectation};

/// Why a regression run could not start (per-case problems are [`Status`]es).
#[derive(Debug, thiserror::Error)]
pub enum RegressError {
    #[error("{0} is not a directory")]
    NotADir(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {max} bytes")]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{path}: {reason}")]
    Info { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    Expected {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl RegressError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        RegressError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Ran, but the count is wrong.
    Fail,
    /// Could not run: rule rejected, sample unreadable, evaluation failed.
    Error {
        reason: String,
    },
    /// No rule with the case's id in the rule folders.
    Skipped {
        reason: String,
    },
}

/// One (case, rule, sample) run.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    pub test: String,
    pub rule_id: String,
    /// The rule file used (absent when skipped).
    pub rule_path: Option<PathBuf>,
    pub expected: String,
    /// Distinct matching records (absent when the case did not run).
    pub actual: Option<u64>,
    #[serde(flatten)]
    pub status: Status,
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Totals {
    pub fn of(results: &[CaseResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            match r.status {
                Status::Pass => t.passed += 1,
                Status::Fail | Status::Error { .. } => t.failed += 1,
                Status::Skipped { .. } => t.skipped += 1,
            }
        }
        t
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// A prepared run: the cases found, their expectations and the rule index.
pub struct Regression {
    pub cases: Vec<Case>,
    /// `EXPECTED.tsv` of the case set, when it has one.
    pub expected: Option<BTreeMap<String, u64>>,
    pub rules: BTreeMap<String, Vec<PathBuf>>,
}

impl Regression {
    /// Discovers cases under `cases_dir` and indexes rules under `rule_dirs`.
    pub fn prepare(cases_dir: &Path, rule_dirs: &[PathBuf]) -> Result<Regression, RegressError> {
        Ok(Regression {
            cases: discover(cases_dir)?,
            expected: read_expected(cases_dir)?,
            rules: index_rules(rule_dirs)?,
        })
    }

    /// What case `case` (with `tests` samples) must produce.
    pub fn expectation(&self, case: &Case, test: &CaseTest) -> Expectation {
        let exact = (case.tests.len() == 1)
            .then(|| self.expected.as_ref()?.get(&case.name).copied())
            .flatten();
        match exact {
            Some(n) => Expectation::Exact(n),
            None => Expectation::AtLeast(test.match_count.unwrap_or(1)),
        }
    }

    /// Runs every case; `progress(done, total)` after each.
    pub fn run(&self, engine: &Engine, progress: &mut dyn FnMut(usize, usize)) -> Vec<CaseResult> {
        let total: usize = self
            .cases
            .iter()
            .map(|c| c.rule_ids.len() * c.tests.len())
            .sum();
        let mut out = Vec::with_capacity(total);
        for case in &self.cases {
            for rule_id in &case.rule_ids {
                for test in &case.tests {
                    out.push(self.run_one(engine, case, rule_id, test));
                    progress(out.len(), total);
                }
            }
        }
        out
    }

    fn run_one(&self, engine: &Engine, case: &Case, rule_id: &str, test: &CaseTest) -> CaseResult {
        let expectation = self.expectation(case, test);
        let mut result = CaseResult {
            case: case.name.clone(),
            test: test.name.clone(),
            rule_id: rule_id.to_string(),
            rule_path: None,
            expected: expectation.to_string(),
            actual: None,
            status: Status::Pass,
        };
        let Some(paths) = self.rules.get(rule_id) else {
            result.status = Status::Skipped {
                reason: format!("no rule with id {rule_id} in the rule folders"),
            };
            return result;
        };
        let path = &paths[0];
        result.rule_path = Some(path.clone());
        match count_matches(engine, path, rule_id, &test.evtx) {
            Ok(n) => {
                result.actual = Some(n);
                if !expectation.accepts(n) {
                    result.status = Status::Fail;
                }
            }
            Err(reason) => result.status = Status::Error { reason },
        }
        result
    }
}

/// Compiles the rule with `rule_id` from `rule_path` and counts the distinct records of
/// `evtx` it matches.
pub fn count_matches(
    engine: &Engine,
    rule_path: &Path,
    rule_id: &str,
    evtx: &Path,
) -> Result<u64, String> {
    let text = cases::read_bounded(rule_path, engine.config.limits.max_rule_bytes as u64)
        .map_err(|e| e.to_string())?;
    let shown = rule_path.display().to_string();
    let compiled = engine
        .compile_file(&text, &shown)
        .map_err(|e| match e.line {
            Some(_) => format!("rule rejected: {shown}:{e}"),
            None => format!("rule rejected: {shown}: {e}"),
        })?;
    let rule = compiled
        .rules
        .iter()
        .find(|r| r.id() == Some(rule_id))
        .or_else(|| compiled.rules.first())
        .ok_or_else(|| format!("{shown} holds no detection rule"))?;
    let opts = LoadOptions::default();
    let (store, report) =
        EventStore::load(&[evtx.to_path_buf()], &opts).map_err(|e| format!("sample: {e}"))?;
    if let Some((f, why)) = report.files_skipped.first() {
        return Err(format!("sample {} skipped: {why}", f.display()));
    }
    let matches = rule
        .evaluate(&store)
        .map_err(|e| format!("evaluation: {e}"))?;
    let mut records = std::collections::BTreeSet::new();
    for ev in &matches {
        for o in store.origins(EventIdx(ev)) {
            records.insert((o.file, o.record_id));
        }
    }
    Ok(records.len() as u64)
}
