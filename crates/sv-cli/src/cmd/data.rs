//! `sv data`: data sets. Each subcommand lives in its own `data_<x>.rs`.

use std::process::ExitCode;

#[path = "data_build.rs"]
mod data_build;
#[path = "data_pull.rs"]
mod data_pull;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Build an environment's data set from the shared data (`sv data build sigma`).
    Build(data_build::Args),
    /// Fetch data sets from their public upstreams (or --mirror), verified by sha256.
    Pull(data_pull::Args),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Build(a) => data_build::run(a),
        Command::Pull(a) => data_pull::run(a),
    }
}
