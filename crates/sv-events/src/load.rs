//! Loading: find `.evtx` files, check the snapshot cache, else parse in parallel and build.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::EventsError;
use crate::parse::{parse_file, FileOutcome, ParsedRecords};
use crate::snapshot;
use crate::store::{Builder, EventStore};
use crate::value::{Origin, Sym, Value};

/// Bounds on what one load may consume. Defaults fit real Windows logs with a wide margin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Larger files are skipped (default 1 GiB; Windows caps a log file at 4 GiB, real
    /// exported files are far smaller).
    pub max_file_bytes: u64,
    /// More files found under the given paths is an error (default 100,000).
    pub max_files: usize,
    /// Records after this many in one file are ignored and the file reported partial
    /// (default 2,000,000).
    pub max_records_per_file: usize,
    /// Parsing of a file stops after this many record errors (default 10,000).
    pub max_record_errors_per_file: usize,
    /// More records in all is an error (default 50,000,000).
    pub max_total_records: usize,
    /// Longer value texts are cut at this many bytes (char boundary) and counted in
    /// `LoadReport::values_truncated` (default 1 MiB).
    pub max_value_bytes: usize,
    /// Fields after this many in one record are dropped and counted (default 4,096).
    pub max_fields_per_record: usize,
    /// Elements nested deeper are dropped and counted (default 32).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1 << 30,
            max_files: 100_000,
            max_records_per_file: 2_000_000,
            max_record_errors_per_file: 10_000,
            max_total_records: 50_000_000,
            max_value_bytes: 1 << 20,
            max_fields_per_record: 4096,
            max_depth: 32,
        }
    }
}

/// Progress callback: `(files done, files total)`.
pub type Progress = Box<dyn Fn(usize, usize) + Send + Sync>;

/// How to load.
#[derive(Default)]
pub struct LoadOptions {
    /// Where snapshots are kept (`None`: no cache). The CLI passes
    /// `sv_data::cache_dir().join("events")`.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
    pub progress: Option<Progress>,
    /// Hash every input file's bytes for the cache key even when its size, mtime, ctime and
    /// inode are unchanged since the snapshot (default `false`: such files reuse the hash
    /// recorded in the snapshot, which keeps a reload in milliseconds).
    pub rehash_inputs: bool,
}

/// What the snapshot cache did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid snapshot for exactly these inputs was loaded.
    Hit,
    /// No snapshot existed; one was built and saved.
    Built,
    /// A snapshot existed but was stale or corrupt (the reason); it was rebuilt and replaced.
    Rebuilt { reason: String },
    /// No cache directory was given.
    Disabled,
}

/// What a load found and did.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Files found (and files given explicitly).
    pub files_total: usize,
    /// Files parsed (possibly partially).
    pub files_ok: usize,
    /// Files not loaded at all, with the reason.
    pub files_skipped: Vec<(PathBuf, String)>,
    /// Files loaded with records lost (truncated, corrupt chunks, record limit), with the reason.
    pub files_partial: Vec<(PathBuf, String)>,
    /// Records parsed, duplicates included.
    pub records: usize,
    /// Records the parser could not read.
    pub records_failed: usize,
    /// Distinct events after deduplication.
    pub events: usize,
    /// `records - events`.
    pub duplicate_records: usize,
    /// Values cut to `Limits::max_value_bytes`.
    pub values_truncated: usize,
    /// Fields dropped by `Limits::max_fields_per_record` or `Limits::max_depth`.
    pub fields_dropped: usize,
    pub cache: CacheOutcome,
    /// The snapshot file used or written.
    pub cache_path: Option<PathBuf>,
    pub elapsed: Duration,
}

impl LoadReport {
    fn empty() -> Self {
        LoadReport {
            files_total: 0,
            files_ok: 0,
            files_skipped: Vec::new(),
            files_partial: Vec::new(),
            records: 0,
            records_failed: 0,
            events: 0,
            duplicate_records: 0,
            values_truncated: 0,
            fields_dropped: 0,
            cache: CacheOutcome::Disabled,
            cache_path: None,
            elapsed: Duration::ZERO,
        }
    }
}

/// A file to load: where it is and how it is displayed (relative to its root).
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub path: PathBuf,
    pub display: PathBuf,
}

impl EventStore {
    /// Loads every `.evtx` file under `paths` (files are taken as given whatever their
    /// extension; directories are walked recursively for `*.evtx`, case-insensitive, without
    /// following directory symlinks). Files are ordered by root, then relative path, and
    /// records in file order, so the result is deterministic. Unreadable or non-EVTX files
    /// are skipped and reported; a missing path is an error.
    pub fn load(
        paths: &[PathBuf],
        opts: &LoadOptions,
    ) -> Result<(EventStore, LoadReport), EventsError> {
        let t0 = Instant::now();
        let inputs = discover(paths, opts.limits.max_files)?;
        let (store, mut report) = match &opts.cache_dir {
            None => {
                let (s, mut r) = build(&inputs, opts)?;
                r.cache = CacheOutcome::Disabled;
                (s, r)
            }
            Some(dir) => snapshot::load_or_build(dir, paths, &inputs, opts, build)?,
        };
        report.elapsed = t0.elapsed();
        Ok((store, report))
    }

    /// Builds a store from records in JSON: either as the `evtx` crate renders a record
    /// (`{"Event": {"System": .., "EventData": ..}}`, the shape of SigmaHQ's regression
    /// `.json` files) or a flat `{"Field": value}` object. All events get origin file
    /// `<json>` with their `EventRecordID` (their 1-based position in the input when absent).
    pub fn from_json_events(
        events: impl IntoIterator<Item = serde_json::Value>,
    ) -> Result<EventStore, EventsError> {
        let limits = Limits::default();
        let mut b = Builder::new();
        let file = b.add_file(PathBuf::from("<json>"));
        let mut scratch = Vec::new();
        for (n, ev) in events.into_iter().enumerate() {
            if !ev.is_object() {
                return Err(EventsError::Json(format!("event {n} is not a JSON object")));
            }
            if n >= limits.max_total_records {
                return Err(EventsError::Limit(format!(
                    "more than {} events (Limits::max_total_records)",
                    limits.max_total_records
                )));
            }
            let mut parsed = ParsedRecords::default();
            // The "header id" of a JSON event is its 1-based position in the input.
            parsed.push_json(n as u64 + 1, &ev, &limits);
            merge_file(&mut b, file, parsed, &mut scratch);
        }
        Ok(b.finish())
    }
}

/// Finds the input files, ordered by root then relative path.
pub(crate) fn discover(paths: &[PathBuf], max_files: usize) -> Result<Vec<Input>, EventsError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for root in paths {
        let meta = std::fs::metadata(root).map_err(|e| EventsError::Io {
            path: root.clone(),
            source: e,
        })?;
        let mut found = Vec::new();
        if meta.is_dir() {
            walk(root, root, &mut found, max_files)?;
            found.sort_by(|a: &Input, b: &Input| a.display.cmp(&b.display));
        } else {
            found.push(Input {
                path: root.clone(),
                display: root.clone(),
            });
        }
        for f in found {
            let canon = std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone());
            if seen.insert(canon) {
                out.push(f);
            }
        }
        if out.len() > max_files {
            return Err(EventsError::Limit(format!(
                "more than {max_files} files (Limits::max_files)"
            )));
        }
    }
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<Input>,
    max_files: usize,
) -> Result<(), EventsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| EventsError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| EventsError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(root, &path, out, max_files)?;
        } else if is_evtx_name(&path) && (ft.is_file() || path.is_file()) {
            let display = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            out.push(Input { path, display });
            if out.len() > max_files {
                return Err(EventsError::Limit(format!(
                    "more than {max_files} files (Limits::max_files)"
                )));
            }
        }
    }
    Ok(())
}

fn is_evtx_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
}

/// Parses all inputs (in parallel, in bounded batches) and builds the store in input order.
pub(crate) fn build(
    inputs: &[Input],
    opts: &LoadOptions,
) -> Result<(EventStore, LoadReport), EventsError> {
    let limits = &opts.limits;
    let mut report = LoadReport::empty();
    report.files_total = inputs.len();
    let mut b = Builder::new();
    let batch = (rayon::current_num_threads() * 4).max(4);
    let mut scratch = Vec::new();
    let mut done = 0usize;
    let parse = |chunk: &[Input]| -> Vec<FileOutcome> {
        chunk
            .par_iter()
            .map(|i| parse_file(&i.path, limits))
            .collect()
    };
    // Pipeline: the next batch is parsed while the current one is merged (merging is
    // sequential, to keep the result in file order).
    let chunks: Vec<&[Input]> = inputs.chunks(batch).collect();
    let mut pending = chunks.first().map(|c| parse(c));
    for (i, chunk) in chunks.iter().enumerate() {
        let current = pending.take().unwrap_or_default();
        let next = chunks.get(i + 1);
        let (merged, next_parsed) = rayon::join(
            || {
                merge_batch(
                    &mut b,
                    &mut report,
                    chunk,
                    current,
                    &mut scratch,
                    &mut done,
                    inputs.len(),
                    opts,
                )
            },
            || next.map(|c| parse(c)),
        );
        merged?;
        pending = next_parsed;
    }
    report.records = b.records;
    report.duplicate_records = b.duplicates;
    let store = b.finish();
    report.events = store.len();
    Ok((store, report))
}

/// Merges one parsed batch, in order, into the builder and the report.
#[allow(clippy::too_many_arguments)]
fn merge_batch(
    b: &mut Builder,
    report: &mut LoadReport,
    chunk: &[Input],
    parsed: Vec<FileOutcome>,
    scratch: &mut Vec<(Sym, Value)>,
    done: &mut usize,
    total: usize,
    opts: &LoadOptions,
) -> Result<(), EventsError> {
    let limits = &opts.limits;
    for (input, outcome) in chunk.iter().zip(parsed) {
        match outcome {
            FileOutcome::Skipped(reason) => {
                report.files_skipped.push((input.display.clone(), reason))
            }
            FileOutcome::Parsed {
                records,
                failed,
                problem,
            } => {
                report.files_ok += 1;
                report.records_failed += failed;
                report.values_truncated += records.stats.values_truncated;
                report.fields_dropped += records.stats.fields_dropped;
                if let Some(p) = problem {
                    report.files_partial.push((input.display.clone(), p));
                }
                if b.records + records.records.len() > limits.max_total_records {
                    return Err(EventsError::Limit(format!(
                        "more than {} records (Limits::max_total_records)",
                        limits.max_total_records
                    )));
                }
                let file = b.add_file(input.display.clone());
                merge_file(b, file, records, scratch);
            }
        }
        *done += 1;
        if let Some(p) = &opts.progress {
            p(*done, total);
        }
    }
    Ok(())
}

/// Interns one file's local strings into the store and adds its records in order.
fn merge_file(
    b: &mut Builder,
    file: crate::value::FileId,
    parsed: ParsedRecords,
    scratch: &mut Vec<(Sym, Value)>,
) {
    let remap: Vec<Sym> = parsed
        .strings
        .list
        .iter()
        .map(|s| b.store.strings.intern(s))
        .collect();
    let record_id_key = b.record_id_key();
    let mut start = 0usize;
    for &(header_id, end, derived) in &parsed.records {
        scratch.clear();
        scratch.extend(
            parsed.fields[start..end as usize]
                .iter()
                .map(|&(k, kind, v)| {
                    (
                        remap[k as usize],
                        Value {
                            sym: remap[v as usize],
                            kind,
                        },
                    )
                }),
        );
        start = end as usize;
        let record_id = scratch
            .iter()
            .find(|(k, _)| *k == record_id_key)
            .and_then(|(_, v)| b.store.strings.integer(v.sym))
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(header_id);
        b.add_record(
            scratch,
            Some(Origin {
                file,
                record_id,
                header_id,
            }),
            derived,
        );
    }
}
