//! Measurements behind `sv bench events`: cold build, snapshot reload, sizes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{CacheOutcome, EventStore, EventsError, LoadOptions};

/// Which parts to measure (separate phases let `/usr/bin/time -v` give each one's peak RSS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Cold builds then reloads.
    All,
    /// Only builds without any cache.
    Cold,
    /// One build to make a snapshot, then only reloads are timed.
    Reload,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub paths: Vec<PathBuf>,
    pub cold_runs: usize,
    pub reload_runs: usize,
    pub phase: Phase,
    /// The snapshot directory. Emptied before cold builds; kept by [`Phase::Reload`], whose
    /// first load builds the snapshot only if it is missing or stale.
    pub scratch: PathBuf,
}

/// Timings and sizes.
#[derive(Debug, Clone, Default)]
pub struct BenchResult {
    /// Builds with no cache (parse, normalise, dedup, partition).
    pub cold: Vec<Duration>,
    /// Builds into an empty cache dir (also hashes inputs and writes the snapshot).
    pub cold_with_save: Vec<Duration>,
    /// Loads from a valid snapshot (stat/hash inputs, read, verify, decode, derive).
    pub reload: Vec<Duration>,
    /// Process CPU time (all threads, user + system) per cold build, from /proc (Linux only;
    /// 10 ms resolution): independent of other load on the machine, unlike wall time.
    pub cold_cpu: Vec<Duration>,
    /// Process CPU time per reload.
    pub reload_cpu: Vec<Duration>,
    pub files: usize,
    pub input_bytes: u64,
    pub records: usize,
    pub events: usize,
    pub strings: usize,
    pub string_bytes: usize,
    pub fields: usize,
    pub partitions: usize,
    pub snapshot_bytes: u64,
    pub heap_bytes: usize,
    pub threads: usize,
}

/// Runs the measurements.
pub fn run(opts: &BenchOptions) -> Result<BenchResult, EventsError> {
    let mut out = BenchResult {
        threads: rayon::current_num_threads(),
        ..BenchResult::default()
    };
    let io = |e: std::io::Error| EventsError::Io {
        path: opts.scratch.clone(),
        source: e,
    };
    let mut last: Option<EventStore> = None;
    if opts.phase != Phase::Reload {
        for _ in 0..opts.cold_runs.max(1) {
            drop(last.take());
            let (t, c) = (Instant::now(), cpu_time());
            let (store, report) = EventStore::load(&opts.paths, &LoadOptions::default())?;
            out.cold.push(t.elapsed());
            if let (Some(a), Some(b)) = (c, cpu_time()) {
                out.cold_cpu.push(b.saturating_sub(a));
            }
            out.records = report.records;
            last = Some(store);
        }
    }
    if opts.phase != Phase::Cold {
        let cached = LoadOptions {
            cache_dir: Some(opts.scratch.clone()),
            ..LoadOptions::default()
        };
        drop(last.take());
        let runs = if opts.phase == Phase::All {
            opts.cold_runs.max(1)
        } else {
            1
        };
        for _ in 0..runs {
            if opts.phase == Phase::All && opts.scratch.exists() {
                std::fs::remove_dir_all(&opts.scratch).map_err(io)?;
            }
            let t = Instant::now();
            let (_store, report) = EventStore::load(&opts.paths, &cached)?;
            out.cold_with_save.push(t.elapsed());
            out.records = report.records;
            out.snapshot_bytes = report
                .cache_path
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .unwrap_or(0);
        }
        for _ in 0..opts.reload_runs.max(1) {
            drop(last.take());
            let (t, c) = (Instant::now(), cpu_time());
            let (store, report) = EventStore::load(&opts.paths, &cached)?;
            out.reload.push(t.elapsed());
            if let (Some(a), Some(b)) = (c, cpu_time()) {
                out.reload_cpu.push(b.saturating_sub(a));
            }
            if report.cache != CacheOutcome::Hit {
                return Err(EventsError::Limit(format!(
                    "expected a snapshot hit, got {:?}",
                    report.cache
                )));
            }
            last = Some(store);
        }
    }
    if let Some(s) = &last {
        out.files = s.file_count();
        out.events = s.len();
        out.strings = s.strings().len();
        out.string_bytes = s.strings().text.len();
        out.fields = s.fields.len();
        out.partitions = s.partitions.len();
        out.heap_bytes = s.heap_bytes();
    }
    let inputs = crate::load::discover(&opts.paths, usize::MAX)?;
    out.input_bytes = inputs
        .iter()
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum();
    Ok(out)
}

/// User + system CPU time of this process (all threads), from `/proc/self/stat`.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, which is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Median, 90th percentile and maximum of durations (zero when empty).
pub fn summary(d: &[Duration]) -> (Duration, Duration, Duration) {
    if d.is_empty() {
        return Default::default();
    }
    let mut v = d.to_vec();
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9), v[v.len() - 1])
}
