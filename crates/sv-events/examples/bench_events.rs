//! The measurement of `sv bench events` without the CLI around it:
//! `cargo run --release -p sv-events --example bench_events [cold|reload|all]`.

use sv_events::bench::{run, summary, BenchOptions, Phase};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let phase = match std::env::args().nth(1).as_deref() {
        Some("cold") => Phase::Cold,
        Some("reload") => Phase::Reload,
        _ => Phase::All,
    };
    let root = sv_data::DataDir::resolve(None)?.evtx()?;
    let scratch = std::env::temp_dir().join("sv-bench-events");
    let r = run(&BenchOptions {
        paths: vec![root],
        cold_runs: 5,
        reload_runs: 30,
        phase,
        scratch: scratch.clone(),
    });
    if phase != Phase::Reload {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let r = r?;
    for (name, d) in [
        ("cold", &r.cold),
        ("cold+save", &r.cold_with_save),
        ("reload", &r.reload),
        ("cold cpu", &r.cold_cpu),
        ("reload cpu", &r.reload_cpu),
    ] {
        let (med, p90, max) = summary(d);
        println!(
            "{name:<10} runs={:<3} median={med:?} p90={p90:?} max={max:?}",
            d.len()
        );
    }
    println!(
        "files={} input_bytes={} records={} events={} strings={} string_bytes={} fields={} partitions={} snapshot_bytes={} heap_bytes={} threads={}",
        r.files, r.input_bytes, r.records, r.events, r.strings, r.string_bytes, r.fields, r.partitions, r.snapshot_bytes, r.heap_bytes, r.threads
    );
    Ok(())
}
