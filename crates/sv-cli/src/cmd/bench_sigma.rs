//! `sv bench sigma`: the figures of docs/bench-sigma.md.
//!
//! 1. per-rule reward latency (compile + evaluate + IoU against a cached reference) over
//!    every rule that fires on the corpus, on one core;
//! 2. full hunt of all rules (all cores and one core);
//! 3. event store load: parse without cache, snapshot build, snapshot reload;
//! 4. wall time and peak RSS of whole `sv sigma hunt` processes under `/usr/bin/time -v`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use sv_events::{EventStore, LoadOptions};
use sv_sigma::bench::{quantile, reward_latency, rule_files, LatencyConfig, LatencyReport};
use sv_sigma::hunt::{self, HuntOptions};
use sv_sigma::{Engine, EngineConfig};

use crate::cmd::sigma::{default_rule_dirs, describe_load, secs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rule files or folders (default: <data>/sigma/rules*).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// EVTX files or folders (default: <data>/evtx).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    evtx: Vec<PathBuf>,
    /// Data folder.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Timed repetitions per rule in the latency benchmark (median taken).
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// Repetitions of the full hunt and of the snapshot load (median taken).
    #[arg(long, default_value_t = 3)]
    hunt_reps: usize,
    /// How many of the slowest rules to list.
    #[arg(long, default_value_t = 10)]
    slowest: usize,
    /// Skip the `/usr/bin/time -v sv sigma hunt` processes.
    #[arg(long)]
    skip_process: bool,
    /// Also write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct Figures {
    machine: String,
    events: usize,
    records: usize,
    files: usize,
    rule_files: usize,
    rules_compiled: usize,
    rules_rejected: usize,
    load_parse_ms: f64,
    load_snapshot_build_ms: f64,
    load_snapshot_ms: f64,
    rules_load_ms: f64,
    hunt_all_cores_ms: f64,
    hunt_one_core_ms: f64,
    hunt_streamed_ms: f64,
    hunt_rows: usize,
    hunt_event_detections: u64,
    hunt_distinct_events: u64,
    hunt_rules_fired: usize,
    latency: LatencyReport,
    processes: Vec<ProcessFigure>,
}

#[derive(Serialize)]
struct ProcessFigure {
    command: String,
    wall_s: f64,
    /// User + system CPU seconds (less sensitive to other load on the machine than wall).
    cpu_s: f64,
    peak_rss_mib: f64,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let data = sv_data::DataDir::resolve(a.data.as_deref())?;
    let rule_dirs = if a.rules.is_empty() {
        default_rule_dirs(&data)?
    } else {
        a.rules.clone()
    };
    let evtx = if a.evtx.is_empty() {
        vec![data.evtx()?]
    } else {
        a.evtx.clone()
    };
    let machine = machine();
    println!("# sv bench sigma ({machine})\n");

    // 3. store load.
    let t = Instant::now();
    let (_, cold) = EventStore::load(&evtx, &LoadOptions::default()).context("loading EVTX")?;
    let parse = t.elapsed();
    let tmp = std::env::temp_dir().join(format!("sv-bench-sigma-{}", std::process::id()));
    let cached = || LoadOptions {
        cache_dir: Some(tmp.clone()),
        ..LoadOptions::default()
    };
    let t = Instant::now();
    EventStore::load(&evtx, &cached()).context("building the snapshot")?;
    let build = t.elapsed();
    let mut reloads = Vec::new();
    let mut store = None;
    for _ in 0..a.hunt_reps.max(1) {
        let t = Instant::now();
        let (s, r) = EventStore::load(&evtx, &cached()).context("reloading the snapshot")?;
        reloads.push(t.elapsed());
        anyhow::ensure!(
            r.cache == sv_events::CacheOutcome::Hit,
            "snapshot was not reused: {:?}",
            r.cache
        );
        store = Some(s);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let store = store.context("no store")?;
    let reload = median(&mut reloads);
    println!("## Event store\n");
    println!("- {}", describe_load(&cold));
    println!("- parse, no cache: {}", secs(parse));
    println!("- parse + snapshot save: {}", secs(build));
    println!(
        "- snapshot reload (median of {}): {}\n",
        reloads.len(),
        ms(reload)
    );

    // 2. full hunt.
    let engine = Engine::new(EngineConfig {
        data_dir: Some(data.root.clone()),
        ..EngineConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let set = engine.load_paths(&rule_dirs);
    let rules_load = t.elapsed();
    let mut all_cores = Vec::new();
    let mut one_core = Vec::new();
    let mut streamed = Vec::new();
    let mut last = None;
    for _ in 0..a.hunt_reps.max(1) {
        let (hs, _) = hunt::run_paths(&store, &engine, &rule_dirs, &HuntOptions::default(), None);
        streamed.push(hs.elapsed);
        let h = hunt::run(&store, &set, &HuntOptions::default(), None);
        all_cores.push(h.elapsed);
        let h1 = hunt::run(
            &store,
            &set,
            &HuntOptions {
                threads: 1,
                ..HuntOptions::default()
            },
            None,
        );
        one_core.push(h1.elapsed);
        last = Some(h);
    }
    let h = last.context("no hunt")?;
    let rows = h.rows(&store).len();
    let (hunt_all, hunt_one) = (median(&mut all_cores), median(&mut one_core));
    let hunt_streamed = median(&mut streamed);
    println!("## Full hunt\n");
    println!(
        "- rules: {} files, {} compiled, {} rejected, loaded in {}",
        set.files,
        set.compiled.len(),
        set.rejected.len(),
        secs(rules_load)
    );
    println!(
        "- evaluation of the loaded rules, all cores: {} (median of {}); one core: {}",
        secs(hunt_all),
        all_cores.len(),
        secs(hunt_one)
    );
    println!(
        "- compile + evaluate file by file (what `sv sigma hunt` does), all cores: {}",
        secs(hunt_streamed)
    );
    println!(
        "- {} rows (rule, file, record), {} (rule, event) detections, {} distinct events, {} rules fired\n",
        rows,
        h.event_detections(),
        h.distinct_events(),
        h.rules_firing()
    );

    // 1. per-rule reward latency on this thread.
    let files = rule_files(&rule_dirs);
    let config = LatencyConfig {
        reps: a.reps.max(1),
        ..LatencyConfig::default()
    };
    let latency = reward_latency(&store, &engine, &files, &config, &mut |_, _| {});
    println!(
        "## Per-rule reward latency (compile + evaluate + IoU vs cached reference, one core)\n"
    );
    println!(
        "- {} rule files, {} fire on the corpus and are measured ({} reps each, median)",
        latency.files, latency.firing, config.reps
    );
    println!(
        "- median {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs, mean {:.1} µs",
        latency.median_us, latency.p90_us, latency.p99_us, latency.max_us, latency.mean_us
    );
    println!("- slowest {}:", a.slowest.min(latency.rules.len()));
    for r in latency.rules.iter().take(a.slowest) {
        println!(
            "  - {:>9.1} µs  {} ({} events)",
            r.micros, r.path, r.matches
        );
    }
    println!();

    // 4. whole processes.
    let mut processes = Vec::new();
    if !a.skip_process {
        match process_figures(&rule_dirs, &evtx, &data.root) {
            Ok(p) => processes = p,
            Err(e) => println!("(process measurement skipped: {e:#})\n"),
        }
    }
    if !processes.is_empty() {
        println!("## Whole `sv sigma hunt` processes (/usr/bin/time -v)\n");
        for p in &processes {
            println!(
                "- {:.2} s wall, {:.2} s CPU, {:.1} MiB peak RSS: `{}`",
                p.wall_s, p.cpu_s, p.peak_rss_mib, p.command
            );
        }
        println!();
    }

    if let Some(path) = &a.json {
        let figures = Figures {
            machine,
            events: cold.events,
            records: cold.records,
            files: cold.files_total,
            rule_files: set.files,
            rules_compiled: set.compiled.len(),
            rules_rejected: set.rejected.len(),
            load_parse_ms: parse.as_secs_f64() * 1e3,
            load_snapshot_build_ms: build.as_secs_f64() * 1e3,
            load_snapshot_ms: reload.as_secs_f64() * 1e3,
            rules_load_ms: rules_load.as_secs_f64() * 1e3,
            hunt_all_cores_ms: hunt_all.as_secs_f64() * 1e3,
            hunt_one_core_ms: hunt_one.as_secs_f64() * 1e3,
            hunt_streamed_ms: hunt_streamed.as_secs_f64() * 1e3,
            hunt_rows: rows,
            hunt_event_detections: h.event_detections(),
            hunt_distinct_events: h.distinct_events(),
            hunt_rules_fired: h.rules_firing(),
            latency,
            processes,
        };
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    let secs: Vec<f64> = v.iter().map(|d| d.as_secs_f64()).collect();
    Duration::from_secs_f64(quantile(&secs, 0.5))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {cpu}")
}

/// Runs `sv sigma hunt` under `/usr/bin/time -v`: once through the snapshot cache (after a
/// run that makes sure it exists) and once parsing every file.
fn process_figures(rules: &[PathBuf], evtx: &[PathBuf], data: &Path) -> Result<Vec<ProcessFigure>> {
    let time = Path::new("/usr/bin/time");
    anyhow::ensure!(
        time.exists(),
        "/usr/bin/time not found (Debian: apt-get install time)"
    );
    let exe = std::env::current_exe().context("locating the sv binary")?;
    let mut base: Vec<String> = vec![
        "sigma".into(),
        "hunt".into(),
        "--data".into(),
        data.display().to_string(),
    ];
    base.push("--rules".into());
    base.extend(rules.iter().map(|p| p.display().to_string()));
    base.push("--evtx".into());
    base.extend(evtx.iter().map(|p| p.display().to_string()));
    base.extend(["--format", "jsonl", "--output", "/dev/null", "--quiet"].map(String::from));
    // Make sure the snapshot exists.
    let warm = Command::new(&exe)
        .args(&base)
        .output()
        .context("running sv sigma hunt")?;
    anyhow::ensure!(
        warm.status.success(),
        "sv sigma hunt failed: {}",
        String::from_utf8_lossy(&warm.stderr)
    );
    let mut out = Vec::new();
    for extra in [None, Some("--no-cache")] {
        let mut args = base.clone();
        args.extend(extra.map(String::from));
        let o = Command::new(time)
            .arg("-v")
            .arg(&exe)
            .args(&args)
            .output()?;
        anyhow::ensure!(
            o.status.success(),
            "sv sigma hunt failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8_lossy(&o.stderr);
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let rss_kb: f64 = field("Maximum resident set size (kbytes):")
            .and_then(|v| v.parse().ok())
            .context("no 'Maximum resident set size' in /usr/bin/time output")?;
        let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):")
            .and_then(|v| parse_clock(&v))
            .context("no wall clock time in /usr/bin/time output")?;
        let cpu: f64 = ["User time (seconds):", "System time (seconds):"]
            .iter()
            .filter_map(|k| field(k).and_then(|v| v.parse::<f64>().ok()))
            .sum();
        out.push(ProcessFigure {
            command: format!("/usr/bin/time -v sv {}", args.join(" ")),
            wall_s: wall,
            cpu_s: cpu,
            peak_rss_mib: rss_kb / 1024.0,
        });
    }
    Ok(out)
}

/// `h:mm:ss` or `m:ss.ss` to seconds.
fn parse_clock(s: &str) -> Option<f64> {
    s.split(':').try_fold(0.0, |acc, part| {
        part.trim().parse::<f64>().ok().map(|v| acc * 60.0 + v)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_clock;

    #[test]
    fn clock_formats() {
        assert_eq!(parse_clock("0:01.25"), Some(1.25));
        assert_eq!(parse_clock("1:02:03"), Some(3723.0));
        assert_eq!(parse_clock("x"), None);
    }
}
