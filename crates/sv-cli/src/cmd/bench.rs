//! `sv bench <part>`: each part's benchmarks live in their own `bench_<part>.rs`.

use std::process::ExitCode;

#[path = "bench_events.rs"]
mod bench_events;
#[path = "bench_harness.rs"]
mod bench_harness;
#[path = "bench_model.rs"]
mod bench_model;
#[path = "bench_sigma.rs"]
mod bench_sigma;
#[path = "bench_sigmaforge.rs"]
mod bench_sigmaforge;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Event store: cold build, snapshot reload, sizes.
    Events(bench_events::Args),
    /// Evaluation harness: overhead per rollout with a built-in policy.
    Harness(bench_harness::Args),
    /// Embedded model: load time, prefill and decode tokens/s.
    Model(bench_model::Args),
    /// Sigma engine: per-rule reward latency, full hunt, store load, peak memory.
    Sigma(bench_sigma::Args),
    /// SigmaForge: rewards per second for 8×8 GRPO batches, one core and all cores.
    Sigmaforge(bench_sigmaforge::Args),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Events(a) => bench_events::run(a),
        Command::Harness(a) => bench_harness::run(a),
        Command::Model(a) => bench_model::run(a),
        Command::Sigma(a) => bench_sigma::run(a),
        Command::Sigmaforge(a) => bench_sigmaforge::run(a),
    }
}
