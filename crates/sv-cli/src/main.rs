//! `sv`: Security Verifiers.
//!
//! Each command group lives in its own module under `cmd/` and only parses arguments,
//! calls a library crate and prints; the work itself belongs to the crates.

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "sv",
    version,
    about = "Executable, verifiable RL environments for security work"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Sigma engine: hunt, check, regress, score.
    Sigma(cmd::sigma::Args),
    /// Run an evaluation of one or more models on an environment.
    Eval(cmd::eval::Args),
    /// Render an HTML + Markdown report over run directories.
    Report(cmd::report::Args),
    /// Paired comparison of two runs over shared tasks.
    Compare(cmd::report::CompareArgs),
    /// Fail (non-zero exit) when a candidate run drops below a baseline.
    Gate(cmd::report::GateArgs),
    /// The embedded model: setup, serve an OpenAI-compatible endpoint.
    Model(cmd::model::Args),
    /// Data sets: pull from upstream, build environment datasets.
    Data(cmd::data::Args),
    /// Benchmarks (figures go to BENCHMARKS.md).
    Bench(cmd::bench::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sigma(a) => cmd::sigma::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Compare(a) => cmd::report::compare(a),
        Command::Gate(a) => cmd::report::gate(a),
        Command::Model(a) => cmd::model::run(a),
        Command::Data(a) => cmd::data::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
