//! `sv sigma`: hunt, check, regress and score with the `sv-sigma` engine.
//!
//! Each subcommand parses its arguments, calls the library and prints; detection rows go
//! to stdout (or `--output`), summaries and progress to stderr.

mod check;
mod common;
mod hunt;
mod output;
mod regress;
mod score;

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run rules over EVTX logs: one row per (rule, file, record), a summary on stderr.
    Hunt(hunt::HuntArgs),
    /// Lint rules: `path:line:col: error|warning: message`; exit 1 on errors.
    Check(check::CheckArgs),
    /// Run SigmaHQ regression cases (info.yml + .evtx) against their rules.
    Regress(regress::RegressArgs),
    /// Score a candidate rule against a reference (IoU over deduplicated events).
    Score(score::ScoreArgs),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Hunt(a) => hunt::run(a),
        Command::Check(a) => check::run(a),
        Command::Regress(a) => regress::run(a),
        Command::Score(a) => score::run(a),
    }
}

/// For `sv bench sigma`: the shared helpers.
pub(crate) use common::{default_rule_dirs, describe_load, secs};
