//! The environments `sigma` (single turn) and `sigma-tools` (multi turn, with
//! `test_rule`, `list_fields` and `search`) on the `sv-env` frame.
//!
//! Reward (weights from the config; defaults are the seed's):
//! `w_valid·yaml_valid + w_ls·logsource_correct + w_iou·iou`, divided by the sum of the
//! weights when `normalize` is set. The components come from `sv_sigma::score::Scorer`
//! against the task's reference (its event keys mapped onto the store, and the
//! partitions its logsource selects); see `docs/sigmaforge.md` for the definitions and
//! the format rules (one fenced YAML block, one rule document, size limits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use sv_chat::{Message, ToolSpec};
use sv_env::{
    load_tasks_jsonl, DatasetManifest, EnvBuild, EnvConfig, EnvError, EnvId, Environment,
    FenceSpec, Score, Task, ToolOutput, Trajectory,
};
use sv_sigma::score::{ReferenceAnswer, Scorer};
use sv_sigma::{Engine, EngineConfig, Limits, Semantics};

use crate::config::{validate, SigmaParams, COMPONENTS};
use crate::corpus::Corpus;
use crate::prompt::{environment_context, system_message, Detail, LogsourceFields};
use crate::tools;

/// Where `sv data build sigma` writes by default: `<cache>/datasets/sigma`.
pub fn default_dataset_dir() -> PathBuf {
    sv_data::cache_dir().join("datasets").join("sigma")
}

const HINT: &str = "run `sv data build sigma` (it writes the data set to the cache; or pass its --out folder as [params] dataset)";

/// A SigmaForge environment.
pub struct SigmaForge {
    id: EnvId,
    description: &'static str,
    config: EnvConfig,
    pub(crate) params: SigmaParams,
    with_tools: bool,
    manifest: DatasetManifest,
    tasks: Vec<Task>,
    references: HashMap<String, Arc<ReferenceAnswer>>,
    pub(crate) corpus: Arc<Corpus>,
    pub(crate) engine: Engine,
    pub(crate) fields: LogsourceFields,
    system: String,
    pub(crate) kb: Option<Arc<sv_kb::Kb>>,
    kb_error: Option<String>,
}

/// Everything loaded from disk that does not depend on the config, shared by both
/// variants and every build in a process (the store takes ~100 ms to key).
struct Shared {
    corpus: Arc<Corpus>,
    fields: LogsourceFields,
    context: String,
    context_compact: String,
}

fn shared(data: &sv_data::DataDir) -> Result<Arc<Shared>, EnvError> {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<PathBuf, Arc<Shared>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = guard.get(&data.root) {
        return Ok(s.clone());
    }
    let evtx = data.evtx().map_err(|e| EnvError::Data {
        what: e.to_string(),
        hint: "unpack the corpus (scripts/setup)".into(),
    })?;
    let corpus = Corpus::load(&evtx, Some(&sv_data::cache_dir())).map_err(|e| EnvError::Data {
        what: e.to_string(),
        hint: "check the EVTX folder".into(),
    })?;
    let ls_path = data.root.join("sigma/reference/logsource.json");
    let fields = LogsourceFields::load(&ls_path).map_err(|e| EnvError::Data {
        what: e.to_string(),
        hint: "the SigmaHQ reference files come with ../shared/data/sigma".into(),
    })?;
    let counts = corpus.partition_counts();
    let context = environment_context(&counts, &fields, Detail::Full);
    let context_compact = environment_context(&counts, &fields, Detail::Compact);
    let s = Arc::new(Shared {
        corpus: Arc::new(corpus),
        fields,
        context,
        context_compact,
    });
    guard.insert(data.root.clone(), s.clone());
    Ok(s)
}

impl SigmaForge {
    /// Builds the environment from a merged config (the registry's factory).
    pub fn build(b: &EnvBuild, with_tools: bool) -> Result<SigmaForge, EnvError> {
        let params = validate(&b.config, with_tools).map_err(|reason| EnvError::Config {
            source_name: "sigma config".into(),
            reason,
        })?;
        let data =
            sv_data::DataDir::resolve(b.data_dir.as_deref()).map_err(|e| EnvError::Data {
                what: e.to_string(),
                hint: "pass --data DIR or set SV_DATA".into(),
            })?;
        let shared = shared(&data)?;
        let dir = params
            .dataset
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(default_dataset_dir);
        let (manifest, tasks) = load_dataset(&dir, &shared.corpus.hash)?;
        let mut references = HashMap::new();
        for t in &tasks {
            let keys: Vec<String> = serde_json::from_value(
                t.answer
                    .as_ref()
                    .map(|a| a["events"].clone())
                    .unwrap_or_default(),
            )
            .map_err(|e| EnvError::Data {
                what: format!("task {}: answer.events: {e}", t.id),
                hint: HINT.into(),
            })?;
            let (matches, missing) = shared.corpus.events_of(&keys);
            if !missing.is_empty() {
                return Err(EnvError::Data {
                    what: format!(
                        "task {}: {} reference events are not in this corpus",
                        t.id,
                        missing.len()
                    ),
                    hint: HINT.into(),
                });
            }
            let partitions = serde_json::from_value(
                t.answer
                    .as_ref()
                    .map(|a| a["logsource_partitions"].clone())
                    .unwrap_or_default(),
            )
            .map_err(|e| EnvError::Data {
                what: format!("task {}: answer.logsource_partitions: {e}", t.id),
                hint: HINT.into(),
            })?;
            references.insert(
                t.id.clone(),
                Arc::new(ReferenceAnswer {
                    matches,
                    partitions,
                }),
            );
        }
        let engine = Engine::new(EngineConfig {
            semantics: Semantics::Sigma,
            limits: candidate_limits(&params),
            data_dir: Some(data.root.clone()),
            ..Default::default()
        })
        .map_err(|e| EnvError::Data {
            what: format!("Sigma engine: {e}"),
            hint: "check ../shared/data/sigma/reference".into(),
        })?;
        let (kb, kb_error) = if with_tools && b.config.tool_enabled("search") {
            match sv_kb::Kb::open_data_dir(&data, Some(&sv_data::cache_dir().join("kb"))) {
                Ok(k) => (Some(Arc::new(k)), None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        let context = if params.context == "compact" {
            &shared.context_compact
        } else {
            &shared.context
        };
        let system = system_message(context, with_tools);
        Ok(SigmaForge {
            id: EnvId::new(if with_tools { "sigma-tools" } else { "sigma" }, 1),
            description: if with_tools {
                "SigmaForge with tools: test_rule, list_fields, search (multi-turn)"
            } else {
                "SigmaForge: write a Sigma rule for an analyst's request; reward = validity, logsource, IoU on real EVTX"
            },
            config: b.config.clone(),
            params,
            with_tools,
            manifest,
            tasks,
            references,
            system,
            corpus: shared.corpus.clone(),
            engine,
            fields: shared.fields.clone(),
            kb,
            kb_error,
        })
    }

    /// The question of a task under the configured persona choice.
    fn question(&self, task: &Task) -> String {
        let p = &task.prompt;
        if self.params.question != "primary" {
            if let Some(qs) = p["questions"].as_array() {
                if let Some(q) = qs
                    .iter()
                    .find(|q| q["persona"] == self.params.question.as_str())
                {
                    return q["text"].as_str().unwrap_or_default().to_string();
                }
            }
        }
        p["question"].as_str().unwrap_or_default().to_string()
    }

    /// Scores one completion against a task's reference (the reward path, also used by
    /// the benchmark).
    pub fn score_completion(
        &self,
        task_id: &str,
        completion: &str,
        reasoning: Option<&str>,
    ) -> Score {
        let t0 = Instant::now();
        let reference = self.references.get(task_id).cloned().unwrap_or_default();
        let mut score = self.score_inner(&reference, completion, reasoning);
        score
            .metrics
            .insert("score_ms".into(), t0.elapsed().as_secs_f64() * 1e3);
        score
    }

    fn zero(&self, error: String, kind: &str) -> Score {
        let mut s = Score::new(0.0, false);
        for c in COMPONENTS {
            s.components.insert(c.into(), 0.0);
        }
        s.with_info("error", error).with_info("error_kind", kind)
    }

    fn score_inner(
        &self,
        reference: &ReferenceAnswer,
        completion: &str,
        reasoning: Option<&str>,
    ) -> Score {
        let spec = FenceSpec {
            max_chars: self.params.max_completion_bytes,
            ..FenceSpec::yaml()
        };
        let parsed = match sv_env::parse_completion(completion, reasoning, &spec) {
            Ok(p) => p,
            Err(e) => return self.zero(e.to_string(), e.kind()),
        };
        let body = parsed.body;
        if body.len() > self.params.max_rule_bytes {
            return self.zero(
                format!(
                    "the rule has {} bytes, more than the limit of {}",
                    body.len(),
                    self.params.max_rule_bytes
                ),
                "rule_too_large",
            );
        }
        if let Some(line) = second_document(&body) {
            return self.zero(
                format!("the answer holds more than one YAML document (a `---` separator on line {line}); write one rule"),
                "multi_document",
            );
        }
        let scorer = Scorer::new(&self.corpus.store, &self.engine);
        let report = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scorer.score_against(&body, reference)
        })) {
            Ok(r) => r,
            Err(_) => {
                return self.zero(
                    "internal error while scoring the rule (panic); please report".into(),
                    "internal",
                )
            }
        };
        let valid = if report.yaml_valid { 1.0 } else { 0.0 };
        let fired = report.candidate_matches > 0;
        let ls = report.logsource_correct && (fired || !self.params.logsource_requires_match);
        let ls = if ls { 1.0 } else { 0.0 };
        let iou = if report.yaml_valid { report.iou } else { 0.0 };
        let w = |k: &str| self.config.weight(k);
        let mut reward = w("yaml_valid") * valid + w("logsource_correct") * ls + w("iou") * iou;
        if self.params.normalize {
            let total: f64 = COMPONENTS.iter().map(|c| w(c)).sum();
            if total > 0.0 {
                reward /= total;
            }
        }
        let mut s = Score::new(reward, report.yaml_valid)
            .component("yaml_valid", valid)
            .component("logsource_correct", ls)
            .component("iou", iou)
            .metric("precision", report.precision)
            .metric("recall", report.recall)
            .metric("f1", report.f1)
            .metric("matched", report.candidate_matches as f64)
            .metric("reference_matched", report.reference_matches as f64)
            .metric(
                "exact",
                if report.yaml_valid && report.iou == 1.0 {
                    1.0
                } else {
                    0.0
                },
            );
        if self.params.alert_volume && fired {
            if let Ok(rules) = self.engine.compile_str(&body, "candidate.yml") {
                let mut set = sv_events::RoaringBitmap::new();
                for r in &rules {
                    if let Ok(m) = r.evaluate(&self.corpus.store) {
                        set |= m;
                    }
                }
                s = s.metric("alert_volume", self.corpus.alert_volume(&set) as f64);
            }
        } else {
            s = s.metric("alert_volume", 0.0);
        }
        if !report.errors.is_empty() {
            s = s.with_info("errors", report.errors.clone());
            if !report.yaml_valid
                || report
                    .errors
                    .iter()
                    .any(|e| e.contains("budget") || e.contains("limit"))
            {
                s = s.with_info("error", report.errors[0].clone());
            }
        }
        s
    }
}

/// Line of a `---`/`...` separator after content (a leading `---` is allowed).
fn second_document(body: &str) -> Option<usize> {
    let mut seen_content = false;
    for (i, line) in body.lines().enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") || t == "..." {
            if seen_content {
                return Some(i + 1);
            }
            continue;
        }
        if !t.trim().is_empty() && !t.trim_start().starts_with('#') {
            seen_content = true;
        }
    }
    None
}

fn candidate_limits(p: &SigmaParams) -> Limits {
    Limits {
        max_rule_bytes: p.max_rule_bytes,
        max_searches: p.max_selections,
        max_values: p.max_values,
        max_eval_ms: p.eval_timeout_ms,
        max_eval_steps: p.max_eval_steps,
        max_documents: 4,
        ..Limits::default()
    }
}

fn load_dataset(dir: &Path, corpus_hash: &str) -> Result<(DatasetManifest, Vec<Task>), EnvError> {
    let mpath = dir.join("manifest.json");
    if !mpath.is_file() {
        return Err(EnvError::Data {
            what: format!("no SigmaForge data set at {}", dir.display()),
            hint: HINT.into(),
        });
    }
    let manifest = DatasetManifest::load(&mpath)?;
    let tpath = dir.join(&manifest.task_file);
    manifest.verify(&tpath, HINT)?;
    if let Some(h) = manifest.generator.get("corpus_sha256") {
        if h != corpus_hash {
            return Err(EnvError::Data {
                what: format!("the data set was built on corpus {h}, the EVTX folder now hashes to {corpus_hash}"),
                hint: HINT.into(),
            });
        }
    }
    let tasks = load_tasks_jsonl(&tpath)?;
    Ok((manifest, tasks))
}

impl Environment for SigmaForge {
    fn id(&self) -> &EnvId {
        &self.id
    }
    fn description(&self) -> &str {
        self.description
    }
    fn config(&self) -> &EnvConfig {
        &self.config
    }
    fn dataset(&self) -> &DatasetManifest {
        &self.manifest
    }
    fn splits(&self) -> Vec<String> {
        vec!["train".into(), "dev".into(), "test".into()]
    }
    fn tasks(&self, split: &str) -> Result<Vec<Task>, EnvError> {
        if !["train", "dev", "test", "all"].contains(&split) {
            return Err(EnvError::UnknownSplit {
                split: split.into(),
                available: "train, dev, test, all".into(),
            });
        }
        Ok(self
            .tasks
            .iter()
            .filter(|t| split == "all" || t.split == split)
            .cloned()
            .collect())
    }
    fn initial_messages(&self, task: &Task) -> Vec<Message> {
        vec![
            Message::system(self.system.clone()),
            Message::user(self.question(task)),
        ]
    }
    fn tools(&self, _task: &Task) -> Vec<ToolSpec> {
        if self.with_tools {
            tools::specs()
        } else {
            Vec::new()
        }
    }
    fn call_tool(&self, _task: &Task, name: &str, arguments: &serde_json::Value) -> ToolOutput {
        if !self.with_tools {
            return ToolOutput::error(format!(
                "unknown tool `{name}`: this environment has no tools"
            ));
        }
        if name == "search" && self.kb.is_none() {
            return ToolOutput::error(format!(
                "search is unavailable: {}",
                self.kb_error
                    .as_deref()
                    .unwrap_or("switched off in the config")
            ));
        }
        tools::call(self, name, arguments)
    }
    fn score(&self, task: &Task, trajectory: &Trajectory) -> Score {
        let mut s =
            self.score_completion(&task.id, trajectory.completion(), trajectory.reasoning());
        s.metrics
            .insert("tool_calls".into(), trajectory.tool_calls as f64);
        s.metrics
            .insert("tool_errors".into(), trajectory.tool_errors as f64);
        let searches = trajectory
            .all_tool_calls()
            .filter(|c| c.function.name == "search")
            .count();
        s.metrics.insert("searches".into(), searches as f64);
        s.metrics.insert("turns".into(), trajectory.turns as f64);
        s
    }
    fn reference_completion(&self, task: &Task) -> Option<String> {
        let rule = task.answer.as_ref()?["rule"].as_str()?;
        Some(format!("```yaml\n{}\n```", rule.trim_end()))
    }
}

/// The registry entries of `sigma@1` and `sigma-tools@1`.
pub fn register(r: &mut sv_env::Registry) -> Result<(), EnvError> {
    r.register(sv_env::EnvEntry {
        name: "sigma",
        version: 1,
        description: "SigmaForge: write a Sigma rule for an analyst's request; reward = validity, logsource, IoU on real EVTX",
        default_config: crate::config::default_config,
        build: |b| Ok(Arc::new(SigmaForge::build(b, false)?)),
    })?;
    r.register(sv_env::EnvEntry {
        name: "sigma-tools",
        version: 1,
        description: "SigmaForge with tools (test_rule, list_fields, search), multi-turn",
        default_config: crate::config::default_tools_config,
        build: |b| Ok(Arc::new(SigmaForge::build(b, true)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_separators() {
        assert_eq!(second_document("---\na: 1\n"), None);
        assert_eq!(second_document("# c\n---\na: 1\n"), None);
        assert_eq!(second_document("a: 1\n---\nb: 2\n"), Some(2));
        assert_eq!(second_document("a: 1\n...\n"), Some(2));
        assert_eq!(second_document("a: '---'\n"), None);
    }
}
