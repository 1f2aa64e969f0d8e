//! `sv sigma regress`: SigmaHQ regression cases against their rules.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sv_sigma::regress::{Regression, Status, Totals};

use super::common::{self, EngineArgs};

#[derive(clap::Args, Debug)]
pub struct RegressArgs {
    /// Folder searched recursively for cases (`info.yml` + `.evtx`)
    /// (default: <data>/sigma/regression).
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,
    /// Rule folders scanned for each case's rule id (default: <data>/sigma).
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Print only failures, errors and skips (and the total).
    #[arg(long)]
    pub failures_only: bool,
    /// One JSON object per case instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: RegressArgs) -> Result<ExitCode> {
    let data = a.engine.data_dir()?;
    let cases = match &a.cases {
        Some(c) => c.clone(),
        None => data.part("sigma")?.join("regression"),
    };
    let rules = if a.rules.is_empty() {
        vec![data.part("sigma")?]
    } else {
        a.rules.clone()
    };
    let engine = a.engine.engine()?;
    let reg = Regression::prepare(&cases, &rules)?;
    anyhow::ensure!(
        !reg.cases.is_empty(),
        "no case (info.yml) under {}",
        cases.display()
    );
    let bar = common::progress_bar(0, "regression");
    let results = reg.run(&engine, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for r in &results {
        if a.failures_only && r.status == Status::Pass {
            continue;
        }
        if a.json {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)?;
            continue;
        }
        let actual = r
            .actual
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into());
        let (tag, note) = match &r.status {
            Status::Pass => ("PASS", String::new()),
            Status::Fail => ("FAIL", String::new()),
            Status::Error { reason } => ("ERROR", format!("  ({reason})")),
            Status::Skipped { reason } => ("SKIP", format!("  ({reason})")),
        };
        writeln!(
            out,
            "{tag:<5} {}  expected {}, got {actual}{note}",
            r.case, r.expected
        )?;
    }
    let totals = Totals::of(&results);
    if a.json {
        writeln!(out, "{}", serde_json::json!({ "totals": totals }))?;
    } else {
        writeln!(out, "{totals}")?;
    }
    out.flush()?;
    Ok(if totals.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
