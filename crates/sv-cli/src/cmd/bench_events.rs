//! `sv bench events`: event-store cold build, snapshot reload and sizes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sv_events::bench::{self, BenchOptions, Phase};

#[derive(clap::Args)]
pub struct Args {
    /// Data folder (default: SV_DATA, then ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// EVTX files or folders (default: <data>/evtx).
    #[arg(long, num_args = 1..)]
    evtx: Vec<PathBuf>,
    /// Cold builds to time.
    #[arg(long, default_value_t = 3)]
    cold_runs: usize,
    /// Snapshot reloads to time.
    #[arg(long, default_value_t = 20)]
    reload_runs: usize,
    /// all, cold (builds only) or reload (one build, then timed reloads): run one phase
    /// under `/usr/bin/time -v` to get its peak RSS.
    #[arg(long, default_value = "all", value_parser = ["all", "cold", "reload"])]
    phase: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let paths = if args.evtx.is_empty() {
        vec![sv_data::DataDir::resolve(args.data.as_deref())?.evtx()?]
    } else {
        args.evtx
    };
    // Kept between runs so that `--phase reload` under `/usr/bin/time -v` measures reloads
    // only once a first run has written the snapshot.
    let scratch = sv_data::cache_dir().join("bench-events");
    let phase = match args.phase.as_str() {
        "cold" => Phase::Cold,
        "reload" => Phase::Reload,
        _ => Phase::All,
    };
    let opts = BenchOptions {
        paths,
        cold_runs: args.cold_runs,
        reload_runs: args.reload_runs,
        phase,
        scratch: scratch.clone(),
    };
    let r = bench::run(&opts)?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let stats = |d: &[Duration]| {
        let (med, p90, max) = bench::summary(d);
        serde_json::json!({"runs": d.len(), "median_ms": ms(med), "p90_ms": ms(p90), "max_ms": ms(max)})
    };
    let peak_rss_kib = peak_rss_kib();
    let out = serde_json::json!({
        "threads": r.threads,
        "files": r.files,
        "input_bytes": r.input_bytes,
        "records": r.records,
        "events": r.events,
        "strings": r.strings,
        "string_bytes": r.string_bytes,
        "fields": r.fields,
        "partitions": r.partitions,
        "snapshot_bytes": r.snapshot_bytes,
        "store_heap_bytes": r.heap_bytes,
        "peak_rss_kib": peak_rss_kib,
        "cold_build": stats(&r.cold),
        "cold_build_and_save": stats(&r.cold_with_save),
        "reload": stats(&r.reload),
        "cold_build_cpu": stats(&r.cold_cpu),
        "reload_cpu": stats(&r.reload_cpu),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "inputs: {} files, {:.1} MiB; {} records -> {} events; {} threads",
        r.files,
        r.input_bytes as f64 / 1048576.0,
        r.records,
        r.events,
        r.threads
    );
    println!(
        "store: {} strings ({:.1} MiB text), {} fields, {} partitions, ~{:.1} MiB heap; snapshot {:.1} MiB",
        r.strings,
        r.string_bytes as f64 / 1048576.0,
        r.fields,
        r.partitions,
        r.heap_bytes as f64 / 1048576.0,
        r.snapshot_bytes as f64 / 1048576.0
    );
    println!(
        "{:<22} {:>5} {:>10} {:>10} {:>10}",
        "phase", "runs", "median ms", "p90 ms", "max ms"
    );
    for (name, d) in [
        ("cold build", &r.cold),
        ("cold build + snapshot", &r.cold_with_save),
        ("snapshot reload", &r.reload),
        ("cold build, CPU", &r.cold_cpu),
        ("snapshot reload, CPU", &r.reload_cpu),
    ] {
        if d.is_empty() {
            continue;
        }
        let (med, p90, max) = bench::summary(d);
        println!(
            "{name:<22} {:>5} {:>10.1} {:>10.1} {:>10.1}",
            d.len(),
            ms(med),
            ms(p90),
            ms(max)
        );
    }
    if let Some(kib) = peak_rss_kib {
        println!("peak RSS of this process: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(ExitCode::SUCCESS)
}

/// `VmHWM` from /proc/self/status (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
