//! Scoring a candidate rule against a reference rule over one event store: the reward
//! signal of SigmaForge and of `sv sigma score`.
//!
//! Definitions (over *deduplicated* events; `C` = candidate matches, `R` = reference
//! matches):
//! - `yaml_valid`: the candidate parses and compiles as a Sigma rule (a rule rejected only
//!   because its logsource maps to no known events is still valid);
//! - `logsource_correct`: the candidate's logsource selects the same set of
//!   (Channel, EventID) partitions of the store as the reference's;
//! - `iou = |C∩R| / |C∪R|`, `precision = |C∩R| / |C|`, `recall = |C∩R| / |R|`,
//!   `f1` their harmonic mean; each is 0 when its denominator is 0.
//!
//! A multi-document candidate is scored on the union of its detection rules (at most
//! [`ScoreConfig::max_rules_per_candidate`]); correlation documents are not scored.
//! Every score is bounded by the engine's [`crate::Limits`] (rule size, YAML nodes,
//! regex size, evaluation steps and wall time); failures become `errors`, never panics.
//! Reference answers are cached by rule text, so scoring many candidates against the
//! same reference evaluates it once.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use sv_events::{EventStore, Partition};

use crate::engine::{CompiledRule, Engine};
use crate::error::ErrorKind;

/// A (Channel, EventID) partition by name, portable across stores.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionKey {
    pub channel: Option<String>,
    pub event_id: Option<u32>,
}

impl PartitionKey {
    pub fn of(store: &EventStore, p: &Partition) -> PartitionKey {
        PartitionKey {
            channel: p.channel.map(|c| store.strings().get(c).to_string()),
            event_id: p.event_id,
        }
    }
}

/// What a reference rule selects and matches on a store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceAnswer {
    /// Matching deduplicated events (indexes into the store this was computed on).
    pub matches: RoaringBitmap,
    /// Partitions its logsource selects.
    pub partitions: BTreeSet<PartitionKey>,
}

impl ReferenceAnswer {
    /// Evaluates compiled rules (their union) on `store`.
    pub fn from_rules(store: &EventStore, rules: &[CompiledRule]) -> Result<Self, String> {
        let (matches, partitions) = evaluate_union(store, rules)?;
        Ok(ReferenceAnswer {
            matches,
            partitions,
        })
    }
}

/// The score of one candidate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    pub yaml_valid: bool,
    pub logsource_correct: bool,
    pub iou: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub candidate_matches: u64,
    pub reference_matches: u64,
    pub intersection: u64,
    /// What went wrong, prefixed by `candidate:`, `reference:` or `input:`.
    pub errors: Vec<String>,
}

impl ScoreReport {
    /// Fills the overlap metrics from the two match sets.
    pub fn set_overlap(&mut self, candidate: &RoaringBitmap, reference: &RoaringBitmap) {
        let inter = candidate.intersection_len(reference);
        let union = candidate.union_len(reference);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        self.candidate_matches = candidate.len();
        self.reference_matches = reference.len();
        self.intersection = inter;
        self.iou = ratio(inter, union);
        self.precision = ratio(inter, candidate.len());
        self.recall = ratio(inter, reference.len());
        self.f1 = if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        };
    }
}

/// Scorer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreConfig {
    /// Detection documents scored in one candidate (default 16); more is an error.
    pub max_rules_per_candidate: usize,
    /// Reference answers kept in the cache (default 4,096); the cache is emptied when full.
    pub max_cached_references: usize,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            max_rules_per_candidate: 16,
            max_cached_references: 4096,
        }
    }
}

type Cached = Result<Arc<ReferenceAnswer>, String>;

/// Scores candidates against references on one store with one engine.
pub struct Scorer<'a> {
    store: &'a EventStore,
    engine: &'a Engine,
    config: ScoreConfig,
    cache: Mutex<HashMap<String, Cached>>,
}

impl<'a> Scorer<'a> {
    pub fn new(store: &'a EventStore, engine: &'a Engine) -> Scorer<'a> {
        Scorer::with_config(store, engine, ScoreConfig::default())
    }

    pub fn with_config(
        store: &'a EventStore,
        engine: &'a Engine,
        config: ScoreConfig,
    ) -> Scorer<'a> {
        Scorer {
            store,
            engine,
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &EventStore {
        self.store
    }

    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// The reference answer of rule text, computed once per distinct text. The error
    /// says why the reference cannot be used.
    pub fn reference(&self, yaml: &str) -> Result<Arc<ReferenceAnswer>, String> {
        if let Some(hit) = self.lock().get(yaml) {
            return hit.clone();
        }
        let answer = self.compute_reference(yaml);
        let mut cache = self.lock();
        if cache.len() >= self.config.max_cached_references {
            cache.clear();
        }
        cache.insert(yaml.to_string(), answer.clone());
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A panic elsewhere cannot leave the map half-written (inserts are atomic).
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn compute_reference(&self, yaml: &str) -> Cached {
        let rules = self
            .engine
            .compile_str(yaml, "reference.yml")
            .map_err(|e| e.to_string())?;
        if rules.is_empty() {
            return Err("holds no detection rule".into());
        }
        ReferenceAnswer::from_rules(self.store, &rules).map(Arc::new)
    }

    /// Scores candidate text against reference text.
    pub fn score(&self, candidate: &str, reference: &str) -> ScoreReport {
        match self.reference(reference) {
            Ok(r) => self.score_against(candidate, &r),
            Err(e) => {
                // The candidate is still judged for validity; overlap is undefined.
                let mut report = self.score_against(candidate, &ReferenceAnswer::default());
                report.logsource_correct = false;
                report.set_overlap(&RoaringBitmap::new(), &RoaringBitmap::new());
                report.errors.insert(0, format!("reference: {e}"));
                report
            }
        }
    }

    /// Scores candidate text against a known reference answer.
    pub fn score_against(&self, candidate: &str, reference: &ReferenceAnswer) -> ScoreReport {
        let mut report = ScoreReport::default();
        let rules = match self.engine.compile_file(candidate, "candidate.yml") {
            Ok(c) => {
                if !c.correlations.is_empty() {
                    report.errors.push(format!(
                        "candidate: {} correlation document(s) not scored",
                        c.correlations.len()
                    ));
                }
                c.rules
            }
            Err(e) => {
                // A rule whose logsource maps nowhere is valid Sigma that selects nothing.
                report.yaml_valid = e.kind == ErrorKind::Logsource;
                report.errors.push(format!("candidate: {e}"));
                report.set_overlap(&RoaringBitmap::new(), &reference.matches);
                return report;
            }
        };
        report.yaml_valid = true;
        if rules.is_empty() {
            report
                .errors
                .push("candidate: holds no detection rule".into());
        }
        if rules.len() > self.config.max_rules_per_candidate {
            report.errors.push(format!(
                "candidate: {} detection documents, at most {} are scored (ScoreConfig::max_rules_per_candidate)",
                rules.len(),
                self.config.max_rules_per_candidate
            ));
            report.set_overlap(&RoaringBitmap::new(), &reference.matches);
            return report;
        }
        match evaluate_union(self.store, &rules) {
            Ok((matches, partitions)) => {
                report.logsource_correct = !rules.is_empty() && partitions == reference.partitions;
                report.set_overlap(&matches, &reference.matches);
            }
            Err(e) => {
                report.logsource_correct =
                    !rules.is_empty() && partitions_of(self.store, &rules) == reference.partitions;
                report.errors.push(format!("candidate: {e}"));
                report.set_overlap(&RoaringBitmap::new(), &reference.matches);
            }
        }
        report
    }
}

fn partitions_of(store: &EventStore, rules: &[CompiledRule]) -> BTreeSet<PartitionKey> {
    rules
        .iter()
        .flat_map(|r| r.partitions(store))
        .map(|p| PartitionKey::of(store, p))
        .collect()
}

fn evaluate_union(
    store: &EventStore,
    rules: &[CompiledRule],
) -> Result<(RoaringBitmap, BTreeSet<PartitionKey>), String> {
    let mut matches = RoaringBitmap::new();
    for r in rules {
        matches |= r.evaluate(store).map_err(|e| e.to_string())?;
    }
    Ok((matches, partitions_of(store, rules)))
}

/// One line of `sv sigma score --batch` input.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInput {
    #[serde(default)]
    pub id: serde_json::Value,
    pub candidate: String,
    pub reference: String,
}

/// One line of batch output: the input's `id` and the report.
#[derive(Debug, Clone, Serialize)]
pub struct BatchOutput {
    pub id: serde_json::Value,
    #[serde(flatten)]
    pub report: ScoreReport,
}

impl Scorer<'_> {
    /// Scores one batch input line. Garbage (not JSON, missing fields) and panics inside
    /// the engine become an error result, so a batch always yields one line per input.
    pub fn score_line(&self, line: &str) -> BatchOutput {
        let input: BatchInput = match serde_json::from_str(line) {
            Ok(i) => i,
            Err(e) => {
                // Keep the id when the line is JSON with a bad shape.
                let id = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or(serde_json::Value::Null);
                return BatchOutput {
                    id,
                    report: ScoreReport {
                        errors: vec![format!(
                            "input: expected {{\"id\", \"candidate\", \"reference\"}} JSON: {e}"
                        )],
                        ..ScoreReport::default()
                    },
                };
            }
        };
        let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.score(&input.candidate, &input.reference)
        }));
        let report = scored.unwrap_or_else(|_| ScoreReport {
            errors: vec!["candidate: internal error while scoring (panic); please report".into()],
            ..ScoreReport::default()
        });
        BatchOutput {
            id: input.id,
            report,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bm(v: &[u32]) -> RoaringBitmap {
        v.iter().copied().collect()
    }

    #[test]
    fn overlap_metrics() {
        let mut r = ScoreReport::default();
        r.set_overlap(&bm(&[1, 2, 3, 4]), &bm(&[3, 4, 5]));
        assert_eq!(
            (r.candidate_matches, r.reference_matches, r.intersection),
            (4, 3, 2)
        );
        assert_eq!(r.iou, 2.0 / 5.0);
        assert_eq!(r.precision, 0.5);
        assert_eq!(r.recall, 2.0 / 3.0);
        assert!((r.f1 - 4.0 / 7.0).abs() < 1e-12);
    }

    fn store() -> EventStore {
        let ev = |id: u64, ch: &str, eid: u32, cmd: &str| {
            serde_json::json!({"Event": {"System": {"Channel": ch, "EventID": eid, "EventRecordID": id},
                "EventData": {"CommandLine": cmd, "Image": "C:\\x.exe"}}})
        };
        EventStore::from_json_events([
            ev(1, "Microsoft-Windows-Sysmon/Operational", 1, "whoami /all"),
            ev(2, "Microsoft-Windows-Sysmon/Operational", 1, "net user"),
            ev(3, "Microsoft-Windows-Sysmon/Operational", 1, "whoami"),
            ev(4, "Microsoft-Windows-Sysmon/Operational", 3, "whoami"),
        ])
        .unwrap()
    }

    fn rule(logsource: &str, value: &str) -> String {
        format!(
            "title: t\nlogsource: {{product: windows, {logsource}}}\ndetection:\n  sel:\n    CommandLine|contains: '{value}'\n  condition: sel\n"
        )
    }

    #[test]
    fn scorer_end_to_end_on_a_small_store() {
        let store = store();
        let engine = Engine::new(crate::EngineConfig::default()).unwrap();
        let scorer = Scorer::new(&store, &engine);
        let reference = rule("category: process_creation", "whoami");
        let r = scorer.score(&reference, &reference);
        assert_eq!(
            (r.yaml_valid, r.logsource_correct, r.iou),
            (true, true, 1.0)
        );
        assert_eq!(r.reference_matches, 2);
        let r = scorer.score(&rule("category: process_creation", "/all"), &reference);
        assert_eq!(
            (r.candidate_matches, r.intersection, r.iou, r.recall),
            (1, 1, 0.5, 0.5)
        );
        let r = scorer.score(&rule("category: network_connection", "whoami"), &reference);
        assert_eq!(
            (r.yaml_valid, r.logsource_correct, r.candidate_matches),
            (true, false, 1)
        );
        let r = scorer.score("title: [", &reference);
        assert!(
            !r.yaml_valid && r.errors[0].starts_with("candidate: "),
            "{r:?}"
        );
        let r = scorer.score(&reference, "nope: [");
        assert!(r.errors[0].starts_with("reference: "), "{r:?}");
        // The cached answer equals a fresh one.
        let answer = scorer.reference(&reference).unwrap();
        assert_eq!(answer.matches.iter().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(scorer.score_against(&reference, &answer).iou, 1.0);
    }

    #[test]
    fn empty_sets_score_zero_not_nan() {
        let mut r = ScoreReport::default();
        r.set_overlap(&bm(&[]), &bm(&[]));
        assert_eq!((r.iou, r.precision, r.recall, r.f1), (0.0, 0.0, 0.0, 0.0));
        r.set_overlap(&bm(&[1]), &bm(&[]));
        assert_eq!((r.iou, r.precision, r.recall), (0.0, 0.0, 0.0));
    }
}
