//! `sv sigma hunt`: every rule over the EVTX corpus.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use sv_sigma::hunt::RuleStats;
use sv_sigma::hunt::{self, diff, HuntOptions};
use sv_sigma::Semantics;

use super::common::{self, EngineArgs};
use super::output::{self, Format};

#[derive(clap::Args, Debug)]
pub struct HuntArgs {
    /// Rule files or folders (default: <data>/sigma/rules*).
    #[arg(long, short = 'r', num_args = 1.., value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// EVTX files or folders (default: <data>/evtx).
    #[arg(long, short = 'e', num_args = 1.., value_name = "PATH")]
    pub evtx: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output format of the detection rows.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: Format,
    /// Only rules of these levels (comma-separated or repeated: informational, low,
    /// medium, high, critical).
    #[arg(long, value_delimiter = ',', value_name = "LEVEL")]
    pub level: Vec<String>,
    /// Write the rows to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Parse the EVTX files even if a snapshot exists (and do not write one).
    #[arg(long)]
    pub no_cache: bool,
    /// Instead of detections, list the detections that differ between `sigma` and
    /// `chainsaw` semantics, with the reason for each.
    #[arg(long)]
    pub diff_semantics: bool,
    /// Worker threads for evaluation (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// List every rejected rule in the summary (default: up to 5 per reason).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// No summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(a: HuntArgs) -> Result<ExitCode> {
    let t0 = Instant::now();
    let data = a.engine.data_dir()?;
    let rule_dirs = if a.rules.is_empty() {
        common::default_rule_dirs(&data)?
    } else {
        a.rules.clone()
    };
    for p in &rule_dirs {
        anyhow::ensure!(p.exists(), "rule path {} does not exist", p.display());
    }
    let evtx = common::evtx_paths(&a.evtx, &a.engine)?;
    let (store, load) = common::load_store(&evtx, a.no_cache)?;

    let mut log = Summary::new(a.quiet);
    log.line(format!("events: {}", common::describe_load(&load)));
    for p in common::file_problems(&load) {
        log.line(format!("  {p}"));
    }
    let paths = common::RulePaths::new(&rule_dirs);

    if a.diff_semantics {
        let t = Instant::now();
        let sigma = a.engine.engine_with(Semantics::Sigma)?;
        let chainsaw = a.engine.engine_with(Semantics::Chainsaw)?;
        let (mut diffs, s_stats, c_stats) =
            diff::diff_paths(&store, &sigma, &chainsaw, &rule_dirs, a.threads);
        summarize_rules(&mut log, &s_stats, Semantics::Sigma, a.verbose, &paths);
        summarize_rules(&mut log, &c_stats, Semantics::Chainsaw, a.verbose, &paths);
        for d in &mut diffs {
            d.rule_path = paths.show(&d.rule_path);
        }
        let rows = diff::diff_rows(&store, &diffs);
        let mut out = output::open_output(a.output.as_deref())?;
        output::write_rows(&mut out, a.format, &rows)?;
        summarize_diff(&mut log, &diffs, rows.len(), a.verbose);
        log.line(format!(
            "time: load {}, rules + diff {}, total {}",
            common::secs(load.elapsed),
            common::secs(t.elapsed()),
            common::secs(t0.elapsed())
        ));
        return Ok(ExitCode::SUCCESS);
    }

    let engine = a.engine.engine()?;
    let opts = HuntOptions {
        threads: a.threads,
        levels: a.level.clone(),
    };
    let bar = common::progress_bar(0, "hunting");
    let progress = {
        let bar = bar.clone();
        move |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    };
    // Rules are compiled and evaluated file by file on every core, never all held at once.
    let (result, stats) = hunt::run_paths(&store, &engine, &rule_dirs, &opts, Some(&progress));
    bar.finish_and_clear();
    summarize_rules(&mut log, &stats, engine.config.semantics, a.verbose, &paths);
    let mut rows = result.rows(&store);
    for r in &mut rows {
        r.rule_path = paths.show(&r.rule_path);
    }
    rows.sort_by(hunt::HuntRow::order);
    let mut out = output::open_output(a.output.as_deref())?;
    output::write_rows(&mut out, a.format, &rows)?;
    drop(out);

    if result.filtered_out > 0 {
        log.line(format!(
            "level filter {}: {} rules left out",
            a.level.join(","),
            result.filtered_out
        ));
    }
    for (info, e) in result.errors() {
        log.line(format!(
            "  evaluation failed: {}: {e}",
            paths.show(&info.path)
        ));
    }
    log.line(format!(
        "detections: {} rows (rule, file, record); {} (rule, event) pairs over {} distinct events; {} rules fired",
        rows.len(),
        result.event_detections(),
        result.distinct_events(),
        result.rules_firing()
    ));
    log.line(format!(
        "time: load {}, rules (compile + evaluate) {}, total {}",
        common::secs(load.elapsed),
        common::secs(result.elapsed),
        common::secs(t0.elapsed())
    ));
    Ok(ExitCode::SUCCESS)
}

/// Summary lines on stderr.
pub struct Summary {
    quiet: bool,
}

impl Summary {
    pub fn new(quiet: bool) -> Summary {
        Summary { quiet }
    }
    pub fn line(&mut self, s: String) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{s}");
        }
    }
}

fn summarize_rules(
    log: &mut Summary,
    set: &RuleStats,
    semantics: Semantics,
    verbose: bool,
    paths: &common::RulePaths,
) {
    log.line(format!(
        "rules ({semantics} semantics): {} files, {} rules compiled, {} correlations, {} rejected",
        set.files,
        set.compiled,
        set.correlations,
        set.rejected.len()
    ));
    let mut groups: BTreeMap<&str, Vec<&(String, sv_sigma::RuleError)>> = BTreeMap::new();
    for r in &set.rejected {
        groups.entry(r.1.kind.as_str()).or_default().push(r);
    }
    for (kind, list) in groups {
        log.line(format!("  rejected, {kind}: {}", list.len()));
        let shown = if verbose {
            list.len()
        } else {
            list.len().min(5)
        };
        for (path, e) in &list[..shown] {
            let at = match (e.line, e.col) {
                (Some(l), Some(c)) => format!(":{l}:{c}"),
                _ => String::new(),
            };
            log.line(format!("    {}{at}: {}", paths.show(path), e.message));
        }
        if shown < list.len() {
            log.line(format!(
                "    ... and {} more (--verbose lists all)",
                list.len() - shown
            ));
        }
    }
}

fn summarize_diff(log: &mut Summary, diffs: &[diff::RuleDiff], rows: usize, verbose: bool) {
    let mut by_reason: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for d in diffs {
        for r in &d.reasons {
            let e = by_reason.entry(r.reason.as_str()).or_default();
            e.0 += r.only_sigma;
            e.1 += r.only_chainsaw;
        }
    }
    log.line(format!(
        "semantics differ on {} rules ({rows} rows):",
        diffs.len()
    ));
    for (reason, (s, c)) in &by_reason {
        log.line(format!(
            "  {reason}: {s} events only under sigma, {c} only under chainsaw"
        ));
    }
    // Largest differences first; all of them with --verbose.
    let mut order: Vec<&diff::RuleDiff> = diffs.iter().collect();
    let size = |d: &diff::RuleDiff| d.sigma_matches + d.chainsaw_matches - 2 * d.both;
    order.sort_by(|a, b| size(b).cmp(&size(a)).then(a.rule_path.cmp(&b.rule_path)));
    let shown = if verbose {
        order.len()
    } else {
        order.len().min(20)
    };
    if shown > 0 {
        log.line("  rules with the most differing events (sigma / chainsaw / both):".into());
    }
    for d in &order[..shown] {
        let reasons: Vec<String> = d
            .reasons
            .iter()
            .map(|r| {
                format!(
                    "{} +{}/-{}",
                    r.reason.as_str(),
                    r.only_sigma,
                    r.only_chainsaw
                )
            })
            .collect();
        log.line(format!(
            "    {}  {} / {} / {}  [{}]",
            d.rule_path,
            d.sigma_matches,
            d.chainsaw_matches,
            d.both,
            reasons.join(", ")
        ));
    }
    if shown < order.len() {
        log.line(format!(
            "    ... and {} more rules (--verbose lists all)",
            order.len() - shown
        ));
    }
}
