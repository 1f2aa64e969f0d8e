//! The run directory (`sv-run/1`, specified in `docs/harness.md`): paths, metadata,
//! result rows, the append-only writer, and reading back for resume.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sv_chat::{Message, ToolCall};
use sv_env::{DatasetManifest, EnvConfig};

use crate::error::HarnessError;

pub const RUN_FORMAT: &str = "sv-run/1";
pub const SUMMARY_FORMAT: &str = "sv-summary/1";
pub const METADATA: &str = "metadata.json";
pub const RESULTS: &str = "results.jsonl";
pub const SUMMARY: &str = "summary.json";

/// `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: String,
    pub run_id: String,
    /// `running`, `complete` or `interrupted`.
    pub status: String,
    pub env: EnvMeta,
    pub model: ModelMeta,
    pub selection: Selection,
    pub concurrency: usize,
    pub command: Vec<String>,
    pub git: Option<GitMeta>,
    pub tools: BTreeMap<String, String>,
    pub host: HostMeta,
    pub started_at: String,
    pub finished_at: Option<String>,
    #[serde(default)]
    pub resumes: Vec<ResumeMeta>,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvMeta {
    pub name: String,
    pub version: u32,
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub config: EnvConfig,
    pub config_sha256: String,
    pub config_source: Option<String>,
    pub dataset: DatasetManifest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Exactly what `--model` said.
    pub spec: String,
    pub kind: String,
    pub name: String,
    pub slug: String,
    /// Sampling parameters (`null` for built-in policies).
    pub sampling: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub split: String,
    pub n: Option<usize>,
    pub tasks: Option<Vec<String>>,
    pub seed: u64,
    pub rollouts: u32,
    pub task_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitMeta {
    pub commit: String,
    pub dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMeta {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

impl HostMeta {
    pub fn current() -> Self {
        HostMeta {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeMeta {
    pub at: String,
    pub rows_kept: usize,
    pub torn_bytes_dropped: u64,
    /// Rows that ended in an error, removed to run again (`--retry-errors`).
    #[serde(default)]
    pub errors_retried: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub tasks: usize,
    pub planned: usize,
    pub done: usize,
    pub errors: usize,
}

/// Token counts of one rollout, summed over its turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
    pub reasoning: u64,
}

/// One line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub run_id: String,
    pub task_id: String,
    pub rollout: u32,
    pub split: String,
    pub category: Option<String>,
    pub prompt: Vec<Message>,
    pub completion: Option<String>,
    pub reasoning: Option<String>,
    pub transcript: Vec<Message>,
    pub tool_calls: Vec<ToolCall>,
    pub turns: u32,
    pub stop: Option<sv_env::StopReason>,
    pub reward: f64,
    pub valid: bool,
    pub components: BTreeMap<String, f64>,
    pub metrics: BTreeMap<String, f64>,
    pub confidence: Option<f64>,
    pub tokens: Tokens,
    pub latency_ms: f64,
    pub score_ms: f64,
    pub cost_usd: Option<f64>,
    pub cached: bool,
    pub error: Option<String>,
    pub info: serde_json::Value,
}

/// `<out>/<env>--<slug>/<run_id>`.
pub fn run_dir_path(out: &Path, env_name: &str, slug: &str, run_id: &str) -> PathBuf {
    out.join(format!("{env_name}--{slug}")).join(run_id)
}

/// The model spec as a directory name (rules in `docs/harness.md`).
pub fn model_slug(spec: &str) -> String {
    let base = if let Some(rest) = spec.strip_prefix("openai:") {
        let model = rest.rsplit_once('@').map_or(rest, |(m, _)| m);
        format!("openai-{model}")
    } else if let Some(file) = spec.strip_prefix("replay:") {
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("file");
        // A results.jsonl is named after its run directory.
        let stem = if stem == "results" {
            Path::new(file)
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|s| s.to_str())
                .unwrap_or(stem)
        } else {
            stem
        };
        format!("replay-{stem}")
    } else if let Some(text) = spec.strip_prefix("constant:") {
        format!("constant-{}", &sv_env::sha256_hex(text.as_bytes())[..8])
    } else {
        spec.to_string()
    };
    let mut out = String::with_capacity(base.len());
    for c in base.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out = out.trim_matches('-');
    let out: String = out.chars().take(64).collect();
    if out.is_empty() {
        "model".into()
    } else {
        out
    }
}

/// A new run id: UTC start time + 6 random hex digits.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut rng =
        sv_env::rng::SplitMix64::new(now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 40));
    let (y, mo, d, h, mi, s) = civil(now.as_secs() as i64);
    format!(
        "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z-{:06x}",
        rng.next_u64() & 0xFF_FFFF
    )
}

/// RFC 3339 UTC timestamp with milliseconds.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s) = civil(now.as_secs() as i64);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        now.subsec_millis()
    )
}

/// Seconds since the epoch → (year, month, day, hour, minute, second), proleptic
/// Gregorian (Hinnant's days-to-civil).
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Writes `value` as pretty JSON to `path` via a temporary file and a rename, so a
/// reader never sees half a file.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), HarnessError> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value).map_err(|e| HarnessError::io(path, e))?;
    std::fs::write(&tmp, text + "\n").map_err(|e| HarnessError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| HarnessError::io(path, e))
}

pub fn read_metadata(run_dir: &Path) -> Result<Metadata, HarnessError> {
    let path = run_dir.join(METADATA);
    let text = std::fs::read_to_string(&path).map_err(|e| HarnessError::io(&path, e))?;
    let meta: Metadata = serde_json::from_str(&text)
        .map_err(|e| HarnessError::io(&path, format!("not run metadata: {e}")))?;
    if meta.format != RUN_FORMAT {
        return Err(HarnessError::io(
            &path,
            format!("format {:?}, this sv reads {RUN_FORMAT:?}", meta.format),
        ));
    }
    Ok(meta)
}

/// Appends rows to `results.jsonl`: one `write` per line, flushed before the next.
pub struct RowWriter {
    path: PathBuf,
    file: std::fs::File,
    line: Vec<u8>,
}

impl RowWriter {
    pub fn open_append(path: &Path) -> Result<Self, HarnessError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| HarnessError::io(path, e))?;
        Ok(RowWriter {
            path: path.to_path_buf(),
            file,
            line: Vec::with_capacity(4096),
        })
    }

    pub fn write(&mut self, row: &Row) -> Result<(), HarnessError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, row).map_err(|e| HarnessError::io(&self.path, e))?;
        self.line.push(b'\n');
        self.file
            .write_all(&self.line)
            .and_then(|_| self.file.flush())
            .map_err(|e| HarnessError::io(&self.path, e))
    }

    /// fsync, at the end of a run.
    pub fn sync(&self) -> Result<(), HarnessError> {
        self.file
            .sync_all()
            .map_err(|e| HarnessError::io(&self.path, e))
    }
}

/// What reading `results.jsonl` back found.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub rows: Vec<Row>,
    /// Bytes of a torn last line (cut off when `repair` was asked for).
    pub torn_bytes: u64,
}

/// Reads `results.jsonl`. A torn last line (no trailing newline) is ignored
/// and, with `repair`, truncated away; any other bad line is an error naming it. A
/// missing file reads as empty.
pub fn read_rows(path: &Path, repair: bool) -> Result<ReadBack, HarnessError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReadBack::default()),
        Err(e) => return Err(HarnessError::io(path, e)),
    };
    let mut out = ReadBack::default();
    let mut start = 0usize;
    let mut line_no = 0usize;
    while start < bytes.len() {
        line_no += 1;
        let (end, terminated) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(off) => (start + off, true),
            None => (bytes.len(), false),
        };
        let line = &bytes[start..end];
        if !terminated {
            // The newline is the commit mark: a last line without it is torn, whether
            // or not its bytes happen to parse. Its rollout runs again on resume.
            out.torn_bytes = (bytes.len() - start) as u64;
            break;
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            let row = serde_json::from_slice::<Row>(line).map_err(|e| {
                HarnessError::io(path, format!("line {line_no} is not a result row: {e}"))
            })?;
            out.rows.push(row);
        }
        start = end + 1;
    }
    if repair && out.torn_bytes > 0 {
        let keep = bytes.len() as u64 - out.torn_bytes;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| HarnessError::io(path, e))?;
        f.set_len(keep).map_err(|e| HarnessError::io(path, e))?;
        f.sync_all().map_err(|e| HarnessError::io(path, e))?;
    }
    Ok(out)
}

/// Rewrites `results.jsonl` without the rows that ended in an error, so their rollouts
/// run again; the other lines are kept byte for byte and in order. The new file replaces
/// the old one by rename, so a crash leaves one or the other, never a mix. Returns how
/// many rows were removed. Expects a file without a torn tail ([`read_rows`] with
/// `repair` first).
pub fn drop_error_rows(path: &Path) -> Result<usize, HarnessError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(HarnessError::io(path, e)),
    };
    let mut kept = Vec::with_capacity(bytes.len());
    let mut dropped = 0usize;
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row = serde_json::from_slice::<Row>(line).map_err(|e| {
            HarnessError::io(path, format!("line {} is not a result row: {e}", i + 1))
        })?;
        if row.error.is_some() {
            dropped += 1;
        } else {
            kept.extend_from_slice(line);
        }
    }
    if dropped == 0 {
        return Ok(0);
    }
    let tmp = path.with_extension("jsonl.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&kept)?;
        f.sync_all()
    };
    write().map_err(|e| HarnessError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| HarnessError::io(path, e))?;
    Ok(dropped)
}

/// Checks rows against a selection: each `(task_id, rollout)` planned and at most once.
pub fn check_rows(rows: &[Row], sel: &Selection) -> Result<HashSet<(String, u32)>, String> {
    let planned: HashSet<&str> = sel.task_ids.iter().map(String::as_str).collect();
    let mut done = HashSet::with_capacity(rows.len());
    for r in rows {
        if !planned.contains(r.task_id.as_str()) || r.rollout >= sel.rollouts {
            return Err(format!(
                "results.jsonl has task {} rollout {} that this run did not plan",
                r.task_id, r.rollout
            ));
        }
        if !done.insert((r.task_id.clone(), r.rollout)) {
            return Err(format!(
                "results.jsonl has task {} rollout {} twice",
                r.task_id, r.rollout
            ));
        }
    }
    Ok(done)
}

/// `git rev-parse HEAD` and whether the tree is dirty, in the current directory.
pub fn git_meta() -> Option<GitMeta> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stderr(std::process::Stdio::null())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    Some(GitMeta { commit, dirty })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(
            model_slug("openai:gpt-4o-mini@https://api.openai.com/v1"),
            "openai-gpt-4o-mini"
        );
        assert_eq!(
            model_slug("openai:Qwen/Qwen3-14B@http://h:8000/v1"),
            "openai-Qwen-Qwen3-14B"
        );
        assert_eq!(model_slug("embedded"), "embedded");
        assert_eq!(model_slug("replay:out/x/r1/results.jsonl"), "replay-r1");
        assert_eq!(
            model_slug("replay:suite/adversarial.jsonl"),
            "replay-adversarial"
        );
        assert_eq!(model_slug("constant:abc"), "constant-ba7816bf");
        assert_eq!(model_slug("::"), "model");
        assert_eq!(model_slug(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_795_000_000), (2026, 11, 18, 11, 6, 40));
        let id = new_run_id();
        assert_eq!(id.len(), 23, "{id}");
        assert_eq!(&id[8..9], "T");
    }
}
