//! `sv sigma check`: lint rules, one diagnostic per line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sv_sigma::lint::{lint, LogsourceFields, Severity};

use super::common::EngineArgs;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Rule files or folders (searched recursively for *.yml / *.yaml).
    #[arg(required = true, value_name = "RULE")]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Exit non-zero on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print diagnostics as JSON lines (`{path, severity, line, col, message}`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: CheckArgs) -> Result<ExitCode> {
    let engine = a.engine.engine()?;
    let fields = LogsourceFields::from_data_dir(&a.engine.data_dir()?.root).ok();
    for p in &a.rules {
        anyhow::ensure!(p.exists(), "{} does not exist", p.display());
    }
    let files = sv_sigma::bench::rule_paths(&a.rules);
    let (mut errors, mut warnings) = (0usize, 0usize);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in &files {
        let shown = f.display().to_string();
        let diags = match read_rule(f, engine.config.limits.max_rule_bytes) {
            Ok(text) => lint(&engine, &text, &shown, fields.as_ref()),
            Err(msg) => vec![sv_sigma::lint::Diagnostic {
                severity: Severity::Error,
                line: None,
                col: None,
                message: msg,
            }],
        };
        for d in diags {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
                Severity::Info => {}
            }
            let sev = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            if a.json {
                let v = serde_json::json!({
                    "path": shown, "severity": sev, "line": d.line, "col": d.col, "message": d.message,
                });
                writeln!(out, "{v}")?;
            } else {
                match (d.line, d.col) {
                    (Some(l), Some(c)) => writeln!(out, "{shown}:{l}:{c}: {sev}: {}", d.message)?,
                    (Some(l), None) => writeln!(out, "{shown}:{l}: {sev}: {}", d.message)?,
                    _ => writeln!(out, "{shown}: {sev}: {}", d.message)?,
                }
            }
        }
    }
    out.flush()?;
    eprintln!(
        "{} files checked: {errors} errors, {warnings} warnings",
        files.len()
    );
    let failed = errors > 0 || (a.deny_warnings && warnings > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_rule(path: &std::path::Path, max: usize) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > max as u64 {
        return Err(format!(
            "limit: rule file is {} bytes, the limit is {max}",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "yaml: not UTF-8 (byte offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}
