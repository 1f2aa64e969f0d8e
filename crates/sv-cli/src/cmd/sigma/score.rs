//! `sv sigma score`: one candidate against one reference, or a stream of them.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sv_sigma::score::{BatchOutput, ScoreReport, Scorer};

use super::common::{self, EngineArgs};

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// The candidate rule file.
    #[arg(long, value_name = "FILE", required_unless_present = "batch")]
    pub candidate: Option<PathBuf>,
    /// The reference rule file.
    #[arg(long, value_name = "FILE", required_unless_present = "batch")]
    pub reference: Option<PathBuf>,
    /// Read JSON lines `{"id", "candidate", "reference"}` (rule YAML text) from stdin and
    /// write one JSON result per line, in input order.
    #[arg(long, conflicts_with_all = ["candidate", "reference"])]
    pub batch: bool,
    /// EVTX files or folders (default: <data>/evtx).
    #[arg(long, short = 'e', num_args = 1.., value_name = "PATH")]
    pub evtx: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Parse the EVTX files even if a snapshot exists.
    #[arg(long)]
    pub no_cache: bool,
    /// Longest batch input line; longer lines get an error result (default 16 MiB).
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    pub max_line_bytes: usize,
    /// Per-rule evaluation wall-time budget in milliseconds (default: the engine's 5000).
    #[arg(long, value_name = "MS")]
    pub max_eval_ms: Option<u64>,
}

pub fn run(a: ScoreArgs) -> Result<ExitCode> {
    let mut engine = a.engine.engine()?;
    if let Some(ms) = a.max_eval_ms {
        engine.config.limits.max_eval_ms = ms;
    }
    let evtx = common::evtx_paths(&a.evtx, &a.engine)?;
    let (store, _) = common::load_store(&evtx, a.no_cache)?;
    let scorer = Scorer::new(&store, &engine);
    if a.batch {
        batch(&scorer, a.max_line_bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let read = |p: &Option<PathBuf>| -> Result<String> {
        let p = p.as_ref().context("missing rule file")?;
        read_text(p, engine.config.limits.max_rule_bytes)
    };
    let report: ScoreReport = match (read(&a.candidate), read(&a.reference)) {
        (Ok(c), Ok(r)) => scorer.score(&c, &r),
        (Err(e), Ok(r)) => {
            let mut rep = scorer.score("", &r);
            rep.errors = vec![format!("candidate: {e:#}")];
            rep.yaml_valid = false;
            rep.logsource_correct = false;
            rep
        }
        (_, Err(e)) => return Err(e.context("reading the reference")),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// A rule file as text; an unreadable, oversized or non-UTF-8 file is an error.
fn read_text(p: &std::path::Path, max: usize) -> Result<String> {
    let meta = std::fs::metadata(p).with_context(|| format!("{}", p.display()))?;
    anyhow::ensure!(
        meta.len() <= max as u64,
        "{}: {} bytes, the rule size limit is {max}",
        p.display(),
        meta.len()
    );
    let bytes = std::fs::read(p).with_context(|| format!("{}", p.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8", p.display()))
}

fn batch(scorer: &Scorer<'_>, max_line: usize) -> Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (read, too_long) = read_line_bounded(&mut input, &mut buf, max_line)?;
        if read == 0 {
            break;
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        if !too_long && buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let result = if too_long {
            error_line(format!(
                "input: line longer than {max_line} bytes (--max-line-bytes)"
            ))
        } else {
            match std::str::from_utf8(&buf) {
                Ok(line) => scorer.score_line(line),
                Err(_) => error_line("input: line is not UTF-8".into()),
            }
        };
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
        // A trainer reads results as they come.
        out.flush()?;
    }
    Ok(())
}

fn error_line(msg: String) -> BatchOutput {
    BatchOutput {
        id: serde_json::Value::Null,
        report: ScoreReport {
            errors: vec![msg],
            ..ScoreReport::default()
        },
    }
}

/// Reads one line into `buf`, keeping at most `max` bytes and discarding the rest of a
/// longer line. Returns (bytes consumed, whether the line was too long).
fn read_line_bounded(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> Result<(usize, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok((consumed, too_long));
        }
        let (take, done) = match memchr_newline(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max + 1 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, too_long));
        }
    }
}

fn memchr_newline(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let mut r = std::io::Cursor::new(b"abc\n0123456789\nxy".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), (4, false));
        assert_eq!(buf, b"abc\n");
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), (11, true));
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), (2, false));
        assert_eq!(buf, b"xy");
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), (0, false));
    }
}
