//! `sv data build sigma`: evaluate every SigmaHQ windows rule on the corpus and write the
//! data set (`tasks.jsonl`, `manifest.json`, `build-report.json`, `suites/*.jsonl`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sv_env::{DataSource, DatasetManifest};
use sv_sigma::{Engine, EngineConfig, Semantics};

use crate::adversarial;
use crate::attack::AttackNames;
use crate::corpus::Corpus;
use crate::dataset::{build, BuildOptions, BuildReport, Provenance, RuleRecord, DATASET_VERSION};
use crate::leakage::check;
use crate::meta::RuleMeta;

/// The rule folders read, relative to `<data>/sigma`.
pub const RULE_DIRS: [&str; 4] = [
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-placeholder",
];

/// Paraphrases a question (the optional `--rewrite-with MODEL` step).
pub trait Rewriter {
    /// `model@endpoint`, recorded in the manifest.
    fn name(&self) -> String;
    fn rewrite(&self, question: &str) -> Result<String, String>;
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Data(#[from] sv_data::DataError),
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    #[error("Sigma engine: {0}")]
    Engine(String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// What a build did (also written as `build-report.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildSummary {
    /// Not serialised: the report must not depend on where it was written.
    #[serde(skip)]
    pub out_dir: PathBuf,
    pub manifest: DatasetManifest,
    pub report: BuildReport,
    /// Rule files read, compiled, rejected (by reason kind).
    pub rules_read: usize,
    pub rejected: BTreeMap<String, usize>,
    pub rewritten: usize,
    pub rewrite_rejected: usize,
}

/// Builds the data set from `data` into `out`.
pub fn build_dataset(
    data: &sv_data::DataDir,
    out: &Path,
    opts: &BuildOptions,
    rewriter: Option<&dyn Rewriter>,
) -> Result<BuildSummary, BuildError> {
    let corpus = Corpus::load(&data.evtx()?, Some(&sv_data::cache_dir()))?;
    let engine = Engine::new(EngineConfig {
        semantics: Semantics::Sigma,
        data_dir: Some(data.root.clone()),
        ..Default::default()
    })
    .map_err(|e| BuildError::Engine(e.to_string()))?;
    let sigma = data.root.join("sigma");
    let attack =
        AttackNames::load(&data.root.join("kb")).map_err(|e| BuildError::Other(e.to_string()))?;

    let mut files = Vec::new();
    for d in RULE_DIRS {
        collect_yml(&sigma.join(d), &mut files);
    }
    files.sort();
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    let mut records = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&sigma)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(f).map_err(|e| BuildError::Io(f.clone(), e))?;
        let rules = match engine.compile_str(&text, &rel) {
            Ok(r) => r,
            Err(e) => {
                *rejected
                    .entry(format!("{:?}", e.kind).to_lowercase())
                    .or_insert(0) += 1;
                continue;
            }
        };
        if rules.len() != 1 {
            *rejected
                .entry("not exactly one detection document".into())
                .or_insert(0) += 1;
            continue;
        }
        let Ok(meta) = RuleMeta::parse(&text) else {
            *rejected.entry("metadata unreadable".into()).or_insert(0) += 1;
            continue;
        };
        let matched = match rules[0].evaluate(&corpus.store) {
            Ok(m) => m,
            Err(e) => {
                *rejected.entry(format!("evaluation: {e}")).or_insert(0) += 1;
                continue;
            }
        };
        let logsource_partitions: Vec<_> = rules[0]
            .partitions(&corpus.store)
            .into_iter()
            .map(|p| sv_sigma::score::PartitionKey::of(&corpus.store, p))
            .collect();
        records.push(RuleRecord {
            path: rel,
            yaml: text,
            meta,
            events: corpus.keys_of(&matched),
            partitions: corpus.partition_counts_of(&matched),
            logsource_partitions,
        });
    }
    let mut rewritten = 0;
    let mut rewrite_rejected = 0;
    let mut built = build(&records, &attack, opts);
    if let Some(rw) = rewriter {
        let (text, ok, bad) = rewrite_questions(&built.tasks_jsonl, &records, rw, opts);
        built.tasks_jsonl = text;
        rewritten = ok;
        rewrite_rejected = bad;
    }

    std::fs::create_dir_all(out).map_err(|e| BuildError::Io(out.to_path_buf(), e))?;
    let tasks_path = out.join("tasks.jsonl");
    write(&tasks_path, built.tasks_jsonl.as_bytes())?;
    let provenance = Provenance {
        sigmahq_commit: sigmahq_commit(&sigma).unwrap_or_else(|| "unknown".into()),
        corpus_hash: corpus.hash.clone(),
        engine_version: format!(
            "sv-sigma {} ({})",
            env!("CARGO_PKG_VERSION"),
            sv_events::PARSER_VERSION
        ),
        semantics: "sigma".into(),
        rewrite_with: rewriter.map(|r| r.name()),
    };
    let manifest = manifest(
        &built.tasks_jsonl,
        &built.split_counts,
        &provenance,
        opts,
        &sigma,
    );
    let manifest_text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| BuildError::Other(e.to_string()))?
        + "\n";
    write(&out.join("manifest.json"), manifest_text.as_bytes())?;
    let summary = BuildSummary {
        out_dir: out.to_path_buf(),
        manifest,
        report: built.report,
        rules_read: files.len(),
        rejected,
        rewritten,
        rewrite_rejected,
    };
    let report_text = serde_json::to_string_pretty(&summary)
        .map_err(|e| BuildError::Other(e.to_string()))?
        + "\n";
    write(&out.join("build-report.json"), report_text.as_bytes())?;
    write_suites(out, &built.tasks_jsonl)?;
    Ok(summary)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    std::fs::write(path, bytes).map_err(|e| BuildError::Io(path.to_path_buf(), e))
}

fn collect_yml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_yml(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

/// The SigmaHQ commit named in `sigma/PROVENANCE.md` (`SigmaHQ/sigma@<40 hex>`).
pub fn sigmahq_commit(sigma: &Path) -> Option<String> {
    let text = std::fs::read_to_string(sigma.join("PROVENANCE.md")).ok()?;
    let i = text.find("SigmaHQ/sigma@")? + "SigmaHQ/sigma@".len();
    let c: String = text[i..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    (c.len() == 40).then_some(c)
}

fn manifest(
    tasks: &str,
    splits: &BTreeMap<String, usize>,
    p: &Provenance,
    opts: &BuildOptions,
    sigma: &Path,
) -> DatasetManifest {
    let mut generator = BTreeMap::new();
    generator.insert(
        "builder".into(),
        format!("sv-env-sigma {}", env!("CARGO_PKG_VERSION")),
    );
    generator.insert("engine".into(), p.engine_version.clone());
    generator.insert("semantics".into(), p.semantics.clone());
    generator.insert("corpus_sha256".into(), p.corpus_hash.clone());
    generator.insert("sigmahq_commit".into(), p.sigmahq_commit.clone());
    generator.insert(
        "rewrite_with".into(),
        p.rewrite_with.clone().unwrap_or_else(|| "none".into()),
    );
    generator.insert(
        "options".into(),
        serde_json::to_string(opts).unwrap_or_default(),
    );
    let _ = sigma;
    DatasetManifest {
        name: "sigma".into(),
        version: DATASET_VERSION.into(),
        task_file: "tasks.jsonl".into(),
        sha256: sv_env::sha256_hex(tasks.as_bytes()),
        tasks: tasks.lines().count(),
        splits: splits.clone(),
        sources: vec![
            DataSource {
                name: "SigmaHQ rules (windows)".into(),
                location: format!("SigmaHQ/sigma@{}:rules*/windows", p.sigmahq_commit),
                sha256: None,
                license: Some("DRL-1.1".into()),
            },
            DataSource {
                name: "EVTX corpus (deduplicated events)".into(),
                location: "../shared/data/evtx (see its PROVENANCE.md)".into(),
                sha256: Some(p.corpus_hash.clone()),
                license: None,
            },
        ],
        generator,
    }
}

/// Paraphrases each task's primary question; a paraphrase that leaks, refuses or loses the
/// request's content ([`paraphrase_ok`]) is not used.
fn rewrite_questions(
    tasks: &str,
    records: &[RuleRecord],
    rw: &dyn Rewriter,
    opts: &BuildOptions,
) -> (String, usize, usize) {
    let metas: BTreeMap<&str, &RuleMeta> = records
        .iter()
        .map(|r| (r.meta.id.as_str(), &r.meta))
        .collect();
    let (mut ok, mut bad) = (0, 0);
    let mut out = String::new();
    for line in tasks.lines() {
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let id = v["id"].as_str().unwrap_or_default().to_string();
        let q = v["prompt"]["question"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let (Some(meta), Ok(new)) = (metas.get(id.as_str()), rw.rewrite(&q)) {
            let new = new.trim().to_string();
            if paraphrase_ok(&q, &new) && check(&new, meta, &opts.leak).is_empty() {
                v["prompt"]["question"] = serde_json::Value::String(new);
                v["prompt"]["template_question"] = serde_json::Value::String(q);
                ok += 1;
            } else {
                bad += 1;
            }
        } else {
            bad += 1;
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    (out, ok, bad)
}

/// Words that mark a model's refusal or assistant preamble instead of a paraphrase (seen
/// from SmolLM2-135M: "I'm sorry for the confusion, but as a security analyst, …").
const REFUSAL_MARKERS: [&str; 8] = [
    "i'm sorry",
    "i am sorry",
    "i cannot",
    "i can't",
    "i'm unable",
    "i am unable",
    "as an ai",
    "language model",
];

/// A paraphrase worth keeping: non-empty, not a refusal, and it keeps the request's content
/// — at least 40 % of the template's distinct words of five or more letters.
pub fn paraphrase_ok(template: &str, paraphrase: &str) -> bool {
    let lower = paraphrase.to_lowercase();
    if lower.trim().is_empty() || REFUSAL_MARKERS.iter().any(|m| lower.contains(m)) {
        return false;
    }
    let words = |t: &str| -> std::collections::BTreeSet<String> {
        t.to_lowercase()
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| w.chars().count() >= 5)
            .map(str::to_string)
            .collect()
    };
    let (want, got) = (words(template), words(paraphrase));
    if want.len() < 2 {
        return true;
    }
    let kept = want.intersection(&got).count();
    kept * 5 >= want.len() * 2
}

/// How many test tasks the hostile-input entries (megabyte completions) are written for.
pub const HOSTILE_TASKS: usize = 8;

/// Writes `suites/<name>.jsonl` replay files for the test split.
fn write_suites(out: &Path, tasks: &str) -> Result<(), BuildError> {
    let dir = out.join("suites");
    std::fs::create_dir_all(&dir).map_err(|e| BuildError::Io(dir.clone(), e))?;
    let suite = adversarial::suite().map_err(BuildError::Other)?;
    let test: Vec<serde_json::Value> = tasks
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["split"] == "test")
        .collect();
    for e in &suite {
        let mut text = String::new();
        let n = if e.generator.is_some() {
            HOSTILE_TASKS
        } else {
            test.len()
        };
        for t in test.iter().take(n) {
            let ls: crate::meta::LogSource =
                serde_json::from_value(t["answer"]["logsource"].clone()).unwrap_or_default();
            let q = t["prompt"]["question"].as_str().unwrap_or_default();
            let row = serde_json::json!({
                "task_id": t["id"],
                "rollout": 0,
                "completion": adversarial::completion(e, q, &ls),
            });
            text.push_str(&row.to_string());
            text.push('\n');
        }
        write(&dir.join(format!("{}.jsonl", e.name)), text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::paraphrase_ok;

    #[test]
    fn paraphrases_that_refuse_or_drift_are_rejected() {
        let t = "The board asked whether we would catch print spooler exploitation. Can the team make sure we have a detection for it?";
        // Real SmolLM2-135M outputs from `--rewrite-with` against `sv model serve`.
        assert!(!paraphrase_ok(
            t,
            "I'm sorry for the confusion, but as a security analyst, I'm designed to help you stay safe."
        ));
        assert!(paraphrase_ok(
            t,
            "The board asked whether we would catch a print spooler exploit. The team should make sure a detection exists."
        ));
        assert!(!paraphrase_ok(
            t,
            "Here is a poem about autumn leaves falling gently."
        ));
        assert!(!paraphrase_ok(t, "   "));
        assert!(
            paraphrase_ok("Find it.", "Please locate it."),
            "too few words to compare"
        );
    }
}
