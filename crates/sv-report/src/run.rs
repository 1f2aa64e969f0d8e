//! Reading run directories (`metadata.json`, `results.jsonl`, `summary.json`) tolerantly.
//!
//! The reader accepts any extra fields, numbers written as strings are not guessed at, and a
//! truncated last line (a run killed mid-write) is skipped with a warning rather than failing
//! the whole report. Everything it could not use is listed in [`Run::warnings`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ReportError;

/// Bounds on what the reader accepts, so a corrupt or hostile file cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadLimits {
    /// Most rows read from one `results.jsonl` (default 2,000,000).
    pub max_rows: usize,
    /// Longest accepted line of `results.jsonl` in bytes (default 32 MiB).
    pub max_line_bytes: usize,
    /// Largest accepted `metadata.json` / `summary.json` in bytes (default 16 MiB).
    pub max_json_bytes: u64,
    /// Deepest directory level searched below a path given to [`discover`] (default 4).
    pub max_depth: usize,
    /// Characters of completion, reasoning and prompt kept per row (default 65,536); the rest
    /// is counted, not stored, so a run of huge completions stays within memory.
    pub max_text_chars: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_rows: 2_000_000,
            max_line_bytes: 32 << 20,
            max_json_bytes: 16 << 20,
            max_depth: 4,
            max_text_chars: 65_536,
        }
    }
}

/// Token counts of one rollout (all turns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub prompt: Option<f64>,
    pub completion: Option<f64>,
    pub reasoning: Option<f64>,
    /// `total_tokens` when given, else prompt + completion.
    pub total: Option<f64>,
}

/// One rollout, as read from a `results.jsonl` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub task_id: String,
    pub rollout: u64,
    pub category: Option<String>,
    pub completion: String,
    pub reasoning: Option<String>,
    /// `None` when the row has no numeric reward (e.g. a failed model call).
    pub reward: Option<f64>,
    /// The answer parsed; from `valid` when written, else "no error".
    pub valid: bool,
    pub components: BTreeMap<String, f64>,
    pub metrics: BTreeMap<String, f64>,
    pub confidence: Option<f64>,
    /// Whether the answer was right, for calibration: `correct` (bool or 0/1), else
    /// `metrics.correct` / `components.correct`.
    pub correct: Option<bool>,
    pub tokens: Tokens,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
    pub tool_calls: usize,
    /// The last user message of the prompt (what the task asked), when the row records it.
    pub prompt: Option<String>,
    pub info: Value,
}

impl Row {
    /// The outcome a stated confidence is checked against: `correct` when known, otherwise the
    /// reward when it lies in [0, 1].
    pub fn outcome(&self) -> Option<f64> {
        match self.correct {
            Some(c) => Some(if c { 1.0 } else { 0.0 }),
            None => self.reward.filter(|r| (0.0..=1.0).contains(r)),
        }
    }
}

/// What `metadata.json` says about a run (every field optional; `raw` keeps all of it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub run_id: String,
    pub env: String,
    pub env_version: Option<String>,
    pub model: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// `running` | `complete` | `interrupted` (sv-run/1); a crashed run stays `running`.
    pub status: Option<String>,
    /// Rollouts the run planned (`counts.planned`).
    pub planned: Option<u64>,
    pub git_commit: Option<String>,
    pub dataset_sha256: Option<String>,
    pub raw: Value,
}

/// A loaded run directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub dir: PathBuf,
    pub meta: RunMeta,
    pub rows: Vec<Row>,
    pub summary: Option<Value>,
    pub warnings: Vec<String>,
}

impl Run {
    /// `env--model/run_id`, the name used in tables.
    pub fn label(&self) -> String {
        format!(
            "{}--{}/{}",
            self.meta.env, self.meta.model, self.meta.run_id
        )
    }

    /// Component names present in any row, sorted.
    pub fn component_names(&self) -> BTreeSet<String> {
        self.rows
            .iter()
            .flat_map(|r| r.components.keys().cloned())
            .collect()
    }

    /// Metric names present in any row, sorted.
    pub fn metric_names(&self) -> BTreeSet<String> {
        self.rows
            .iter()
            .flat_map(|r| r.metrics.keys().cloned())
            .collect()
    }

    /// Whether the run asks for completions to be defanged (`metadata.json`:
    /// `report.defang: true`, at the top level or under the env config).
    pub fn wants_defang(&self) -> bool {
        let raw = &self.meta.raw;
        [
            raw.pointer("/report/defang"),
            raw.pointer("/env/report/defang"),
            raw.pointer("/config/report/defang"),
            raw.pointer("/env/config/report/defang"),
            raw.pointer("/env_config/report/defang"),
            raw.pointer("/env/config/params/defang"),
            raw.pointer("/env/config/params/report/defang"),
        ]
        .into_iter()
        .flatten()
        .any(|v| v.as_bool() == Some(true))
    }

    /// Loads `dir` (which must contain `results.jsonl`).
    pub fn load(dir: &Path, limits: &ReadLimits) -> Result<Run, ReportError> {
        let results = dir.join("results.jsonl");
        if !results.is_file() {
            return Err(ReportError::NotARun(dir.to_path_buf()));
        }
        let mut warnings = Vec::new();
        let meta_raw = read_json(&dir.join("metadata.json"), limits, &mut warnings)?;
        let summary = read_json(&dir.join("summary.json"), limits, &mut warnings)?;
        let rows = read_rows(&results, limits, &mut warnings)?;
        let meta = parse_meta(dir, meta_raw.unwrap_or(Value::Null), &rows);
        if let Some(status) = meta.status.as_deref().filter(|s| *s != "complete") {
            let planned = meta
                .planned
                .map_or(String::new(), |p| format!(" of {p} planned"));
            warnings.push(format!(
                "run status is `{status}`: {} rollouts{planned} are in results.jsonl (`sv eval --resume {}` finishes it)",
                rows.len(),
                dir.display()
            ));
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            meta,
            rows,
            summary,
            warnings,
        })
    }
}

/// Expands paths into run directories: a path holding `results.jsonl` is a run; any other
/// directory is searched (up to `limits.max_depth` levels) for runs. Sorted, deduplicated;
/// an error when a path does not exist or holds no run.
pub fn discover(paths: &[PathBuf], limits: &ReadLimits) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            return Err(ReportError::Missing(p.clone()));
        }
        let mut found = Vec::new();
        walk(p, 0, limits.max_depth, &mut found);
        if found.is_empty() {
            return Err(ReportError::NoRuns(p.clone()));
        }
        found.sort();
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn walk(dir: &Path, depth: usize, max_depth: usize, found: &mut Vec<PathBuf>) {
    if dir.join("results.jsonl").is_file() {
        found.push(dir.to_path_buf());
        return;
    }
    if depth >= max_depth {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        // Follow only real directories (no symlink loops).
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&path, depth + 1, max_depth, found);
        }
    }
}

/// Loads every run directory found under `paths`.
pub fn load_runs(paths: &[PathBuf], limits: &ReadLimits) -> Result<Vec<Run>, ReportError> {
    discover(paths, limits)?
        .iter()
        .map(|d| Run::load(d, limits))
        .collect()
}

fn read_json(
    path: &Path,
    limits: &ReadLimits,
    warnings: &mut Vec<String>,
) -> Result<Option<Value>, ReportError> {
    if !path.is_file() {
        return Ok(None);
    }
    let io = |e| ReportError::Io(path.to_path_buf(), e);
    let file = File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    file.take(limits.max_json_bytes + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > limits.max_json_bytes {
        warnings.push(format!(
            "{} is larger than {} bytes; ignored",
            path.display(),
            limits.max_json_bytes
        ));
        return Ok(None);
    }
    match serde_json::from_slice(&buf) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            warnings.push(format!("{}: invalid JSON ({e}); ignored", path.display()));
            Ok(None)
        }
    }
}

fn read_rows(
    path: &Path,
    limits: &ReadLimits,
    warnings: &mut Vec<String>,
) -> Result<Vec<Row>, ReportError> {
    let io = |e| ReportError::Io(path.to_path_buf(), e);
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut rows: Vec<Row> = Vec::new();
    let mut index: BTreeMap<(String, u64), usize> = BTreeMap::new();
    let mut line = Vec::new();
    let mut lineno = 0usize;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(limits.max_line_bytes as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > limits.max_line_bytes {
            return Err(ReportError::Row {
                path: path.to_path_buf(),
                line: lineno,
                msg: format!("line longer than {} bytes", limits.max_line_bytes),
            });
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                // A run killed mid-write leaves a partial last line: skip it, say so.
                let at_eof = !complete && reader.fill_buf().map(|b| b.is_empty()).unwrap_or(true);
                if at_eof {
                    warnings.push(format!(
                        "{}:{lineno}: truncated last line skipped",
                        path.display()
                    ));
                    break;
                }
                return Err(ReportError::Row {
                    path: path.to_path_buf(),
                    line: lineno,
                    msg: format!("invalid JSON: {e}"),
                });
            }
        };
        let row =
            parse_row_limited(&value, limits.max_text_chars).map_err(|msg| ReportError::Row {
                path: path.to_path_buf(),
                line: lineno,
                msg,
            })?;
        let key = (row.task_id.clone(), row.rollout);
        if let Some(&i) = index.get(&key) {
            warnings.push(format!(
                "{}:{lineno}: task {} rollout {} appears again; the later row is used",
                path.display(),
                key.0,
                key.1
            ));
            rows[i] = row;
            continue;
        }
        if rows.len() >= limits.max_rows {
            return Err(ReportError::Row {
                path: path.to_path_buf(),
                line: lineno,
                msg: format!("more than {} rows", limits.max_rows),
            });
        }
        index.insert(key, rows.len());
        rows.push(row);
    }
    Ok(rows)
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn num_map(v: Option<&Value>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            if let Some(x) = num(Some(v)) {
                out.insert(k.clone(), x);
            }
        }
    }
    out
}

fn parse_tokens(v: Option<&Value>, row: &serde_json::Map<String, Value>) -> Tokens {
    let mut t = Tokens::default();
    match v {
        Some(Value::Number(_)) => t.total = num(v),
        Some(Value::Object(m)) => {
            let get = |keys: &[&str]| keys.iter().find_map(|k| num(m.get(*k)));
            t.prompt = get(&["prompt_tokens", "prompt", "input_tokens", "input"]);
            t.completion = get(&["completion_tokens", "completion", "output_tokens", "output"]);
            t.reasoning = get(&["reasoning_tokens", "reasoning"]);
            t.total = get(&["total_tokens", "total"]);
        }
        _ => {
            t.prompt = num(row.get("prompt_tokens"));
            t.completion = num(row.get("completion_tokens"));
            t.reasoning = num(row.get("reasoning_tokens"));
            t.total = num(row.get("total_tokens"));
        }
    }
    if t.total.is_none() {
        if let (Some(p), Some(c)) = (t.prompt, t.completion) {
            t.total = Some(p + c);
        }
    }
    t
}

/// Parses one `results.jsonl` object. Only a task id is required.
pub fn parse_row(v: &Value) -> Result<Row, String> {
    parse_row_limited(v, ReadLimits::default().max_text_chars)
}

/// The last user message of an OpenAI-shape message list (content as a string, or as
/// `[{type: text, text}]` parts).
fn last_user_message(prompt: Option<&Value>) -> Option<String> {
    let msgs = prompt?.as_array()?;
    let m = msgs
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    match m.get("content")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

fn parse_row_limited(v: &Value, max_text: usize) -> Result<Row, String> {
    let cap = |s: String| crate::sanitize::truncate(&s, max_text);
    let Value::Object(m) = v else {
        return Err("a row must be a JSON object".into());
    };
    let task_id = text(m.get("task_id"))
        .or_else(|| text(m.get("task")))
        .ok_or("row has no task_id")?;
    let rollout = ["rollout", "rollout_index", "rollout_idx", "sample"]
        .iter()
        .find_map(|k| m.get(*k).and_then(Value::as_u64))
        .unwrap_or(0);
    let info = m.get("info").cloned().unwrap_or(Value::Null);
    let category = text(m.get("category"))
        .or_else(|| text(info.get("category")))
        .filter(|c| !c.is_empty());
    let error = match m.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Bool(false)) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let components = num_map(m.get("components"));
    let metrics = num_map(m.get("metrics"));
    let correct = num(m.get("correct"))
        .or_else(|| metrics.get("correct").copied())
        .or_else(|| components.get("correct").copied())
        .map(|c| c >= 0.5);
    let valid = match m.get("valid") {
        Some(Value::Bool(b)) => *b,
        _ => error.is_none() && info.get("error").is_none_or(Value::is_null),
    };
    let tool_calls = match m.get("tool_calls") {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        _ => 0,
    };
    let confidence = num(m.get("confidence")).or_else(|| num(info.get("confidence")));
    Ok(Row {
        task_id,
        rollout,
        category,
        completion: text(m.get("completion")).map(cap).unwrap_or_default(),
        reasoning: text(m.get("reasoning")).filter(|s| !s.is_empty()).map(cap),
        prompt: last_user_message(m.get("prompt")).map(cap),
        reward: num(m.get("reward")),
        valid,
        components,
        metrics,
        confidence,
        correct,
        tokens: parse_tokens(m.get("tokens").or_else(|| m.get("usage")), m),
        latency_ms: num(m.get("latency_ms")),
        cost_usd: num(m.get("cost_usd")),
        error,
        tool_calls,
        info,
    })
}

fn name_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => ["slug", "name", "id", "spec", "model"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_string)),
        _ => None,
    }
}

fn parse_meta(dir: &Path, raw: Value, rows: &[Row]) -> RunMeta {
    let s = |ptrs: &[&str]| {
        ptrs.iter()
            .find_map(|p| raw.pointer(p).and_then(|v| text(Some(v))))
    };
    // `outputs/evals/<env>--<model>/<run_id>`: the path names what metadata may lack.
    let run_dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let parent_name = dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned());
    let (path_env, path_model) = match parent_name.as_deref().and_then(|p| p.split_once("--")) {
        Some((e, m)) => (Some(e.to_string()), Some(m.to_string())),
        None => (None, None),
    };
    let mut env = name_of(raw.get("env"))
        .or_else(|| s(&["/env_id", "/environment"]))
        .or(path_env)
        .unwrap_or_else(|| "env".into());
    let mut env_version = s(&["/env/version", "/env_version"]);
    if let Some((name, ver)) = env.split_once('@') {
        env_version = env_version.or_else(|| Some(ver.to_string()));
        env = name.to_string();
    }
    let model = name_of(raw.get("model"))
        .or_else(|| s(&["/model_spec", "/model_name"]))
        .or(path_model)
        .unwrap_or_else(|| "model".into());
    let run_id = s(&["/run_id", "/id"])
        .or_else(|| {
            rows.first()
                .and_then(|r| r.info.get("run_id"))
                .and_then(|v| text(Some(v)))
        })
        .or(run_dir_name)
        .unwrap_or_else(|| "run".into());
    RunMeta {
        run_id,
        env,
        env_version,
        model,
        started: s(&["/started_at", "/started", "/start"]),
        finished: s(&["/finished_at", "/finished", "/end", "/ended"]),
        status: s(&["/status"]),
        planned: raw.pointer("/counts/planned").and_then(Value::as_u64),
        git_commit: s(&["/git/commit", "/git_commit", "/tools/git_commit"]),
        dataset_sha256: s(&["/dataset/sha256", "/dataset_sha256", "/env/dataset/sha256"]),
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn row_tolerates_extra_and_alternate_fields() {
        let r = parse_row(&json!({
            "task_id": 17, "rollout": 2, "reward": 0.5, "completion": "x",
            "components": {"a": 1, "b": true, "c": "no"}, "metrics": {"correct": 1},
            "tokens": {"prompt_tokens": 10, "completion_tokens": 5, "reasoning_tokens": 1},
            "latency_ms": 12.5, "extra": {"whatever": [1,2]}, "info": {"category": "dns"},
            "tool_calls": [{"id": "1"}, {"id": "2"}]
        }))
        .unwrap();
        assert_eq!(r.task_id, "17");
        assert_eq!(r.rollout, 2);
        assert_eq!(r.category.as_deref(), Some("dns"));
        assert_eq!(r.components.len(), 2);
        assert_eq!(r.components["b"], 1.0);
        assert_eq!(r.correct, Some(true));
        assert_eq!(r.tokens.total, Some(15.0));
        assert_eq!(r.tool_calls, 2);
        assert!(r.valid);
        let e = parse_row(&json!({"task_id": "t", "error": "timeout"})).unwrap();
        assert!(!e.valid);
        assert_eq!(e.reward, None);
        assert!(parse_row(&json!({"reward": 1})).is_err());
        assert!(parse_row(&json!([1])).is_err());
    }

    #[test]
    fn meta_falls_back_to_path_and_splits_version() {
        let dir = Path::new("/x/outputs/evals/sigma--embedded/20260101-abc");
        let m = parse_meta(dir, Value::Null, &[]);
        assert_eq!((m.env.as_str(), m.model.as_str()), ("sigma", "embedded"));
        assert_eq!(m.run_id, "20260101-abc");
        let m = parse_meta(
            dir,
            json!({"env": {"name": "sigma@1"}, "model": {"name": "gpt"}, "run_id": "r1"}),
            &[],
        );
        assert_eq!(m.env, "sigma");
        assert_eq!(m.env_version.as_deref(), Some("1"));
        assert_eq!(m.model, "gpt");
        assert_eq!(m.run_id, "r1");
    }
}
