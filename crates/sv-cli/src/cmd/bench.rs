//! `sv bench <part>`: each part's benchmarks live in their own `bench_<part>.rs`.

use std::process::ExitCode;

#[path = "bench_events.rs"]
mod bench_events;
#[path = "bench_sigma.rs"]
mod bench_sigma;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Event store: cold build, snapshot reload, sizes.
    Events(bench_events::Args),
    /// Sigma engine: per-rule reward latency, full hunt, store load, peak memory.
    Sigma(bench_sigma::Args),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Events(a) => bench_events::run(a),
        Command::Sigma(a) => bench_sigma::run(a),
    }
}
