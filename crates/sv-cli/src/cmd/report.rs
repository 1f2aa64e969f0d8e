//! `sv report`, `sv compare`, `sv gate`: argument parsing and printing over `sv-report`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use sv_report::{Bootstrap, DropKind, Metric, ReadLimits, Report, ReportOptions, Run};

/// Statistics options shared by the three commands.
#[derive(clap::Args, Clone, Copy)]
pub struct BootstrapArgs {
    /// Bootstrap resamples (at most 1,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    bootstrap: u32,
    /// Bootstrap seed (same data + seed = same intervals).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Confidence level of the intervals, in (0, 1).
    #[arg(long, default_value_t = 0.95, value_parser = parse_level)]
    level: f64,
}

fn parse_level(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x < 1.0 => Ok(x),
        _ => Err(format!(
            "`{s}` is not a confidence level in (0, 1), e.g. 0.95"
        )),
    }
}

impl BootstrapArgs {
    fn config(&self) -> Bootstrap {
        Bootstrap {
            resamples: self.bootstrap as usize,
            seed: self.seed,
            level: self.level,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Run directories (holding results.jsonl), or folders to search for them
    /// (e.g. outputs/evals).
    #[arg(required = true, value_name = "RUN_DIR")]
    runs: Vec<PathBuf>,
    /// Folder for report.html, report.md and report.json [default: the run directory for
    /// one run, outputs/reports for several].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Page title.
    #[arg(long, default_value = "sv evaluation report")]
    title: String,
    /// Lowest-reward rollouts listed per run.
    #[arg(long, default_value_t = 10)]
    worst: usize,
    /// Longest completion shown per listed rollout, in characters.
    #[arg(long, default_value_t = 4_000)]
    max_chars: usize,
    /// Defang URLs, IPs and e-mail addresses in every completion shown (envs can ask for it
    /// per row with info.defang; info.redact hides a row's text).
    #[arg(long)]
    defang: bool,
    #[command(flatten)]
    stats: BootstrapArgs,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Baseline run directory (A).
    #[arg(value_name = "RUN_A")]
    a: PathBuf,
    /// Candidate run directory (B); deltas are B − A.
    #[arg(value_name = "RUN_B")]
    b: PathBuf,
    /// Metric to compare: reward, valid, component:NAME or metric:NAME (repeatable)
    /// [default: reward, valid and every shared component].
    #[arg(long = "metric", value_name = "METRIC")]
    metrics: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stats: BootstrapArgs,
}

#[derive(clap::Args)]
pub struct GateArgs {
    /// The run to hold the line against.
    #[arg(long, value_name = "RUN")]
    baseline: PathBuf,
    /// The run under test.
    #[arg(long, value_name = "RUN")]
    candidate: PathBuf,
    /// Largest allowed drop (baseline − candidate, over shared tasks): absolute, in the
    /// metric's units (0.03 = 3 points of a 0–1 reward), or with --relative a fraction of the
    /// baseline (0.03 = 3 %).
    #[arg(long, default_value_t = 0.03, value_name = "X")]
    max_drop: f64,
    /// Metric to check: reward, valid, component:NAME or metric:NAME (repeatable; all must
    /// pass) [default: reward].
    #[arg(long = "metric", value_name = "METRIC")]
    metrics: Vec<String>,
    /// Read --max-drop as a fraction of the baseline's value.
    #[arg(long)]
    relative: bool,
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stats: BootstrapArgs,
}

fn parse_metrics(list: &[String]) -> anyhow::Result<Vec<Metric>> {
    list.iter()
        .map(|m| m.parse::<Metric>().map_err(anyhow::Error::from))
        .collect()
}

/// Loads exactly one run from `path` (a run directory, or a folder holding a single run).
fn one_run(path: &Path, what: &str) -> anyhow::Result<Run> {
    let limits = ReadLimits::default();
    let dirs = sv_report::discover(&[path.to_path_buf()], &limits)
        .with_context(|| format!("{what} {}", path.display()))?;
    if dirs.len() != 1 {
        bail!(
            "{what} {} holds {} runs; name one run directory:\n  {}",
            path.display(),
            dirs.len(),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    Ok(Run::load(&dirs[0], &limits)?)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runs = sv_report::load_runs(&args.runs, &ReadLimits::default())?;
    let out = match (&args.out, runs.as_slice()) {
        (Some(o), _) => o.clone(),
        (None, [one]) => one.dir.clone(),
        (None, _) => PathBuf::from("outputs/reports"),
    };
    let mut opts = ReportOptions {
        max_completion_chars: args.max_chars,
        defang: args.defang,
        title: args.title,
        ..ReportOptions::default()
    };
    opts.summary.worst = args.worst;
    opts.summary.bootstrap = args.stats.config();
    let report = Report::new(&runs, opts);
    let written = report.write(&out)?;
    for s in &report.summaries {
        let reward = s.reward.map_or("–".into(), |r| {
            format!("{:.3} [{:.3}, {:.3}]", r.mean, r.lo, r.hi)
        });
        let valid = s
            .valid
            .map_or("–".into(), |v| format!("{:.1}%", v.mean * 100.0));
        println!(
            "{}: reward {reward}, valid {valid}, {} tasks, {} rollouts, {} errors",
            s.label, s.tasks, s.rollouts, s.errors
        );
        for w in &s.warnings {
            eprintln!("warning: {}: {w}", s.label);
        }
    }
    println!("html: {}", written.html.display());
    println!("markdown: {}", written.markdown.display());
    println!("json: {}", written.json.display());
    Ok(ExitCode::SUCCESS)
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let metrics = parse_metrics(&args.metrics)?;
    let a = one_run(&args.a, "RUN_A")?;
    let b = one_run(&args.b, "RUN_B")?;
    let c = sv_report::compare(&a, &b, &metrics, &args.stats.config())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("A (baseline):  {}", c.a);
    println!("B (candidate): {}", c.b);
    println!(
        "shared tasks: {} (only in A: {}, only in B: {}); paired bootstrap over tasks, {} resamples, seed {}",
        c.shared_tasks, c.only_a, c.only_b, c.resamples, c.seed
    );
    let width = c
        .metrics
        .iter()
        .map(|m| m.metric.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<width$}  {:>5}  {:>9}  {:>9}  {:>9}  {:>21}  {:>7}",
        "metric",
        "n",
        "A",
        "B",
        "B − A",
        format!("{:.0}% CI", c.level * 100.0),
        "p"
    );
    for m in &c.metrics {
        let p = &m.paired;
        println!(
            "{:<width$}  {:>5}  {:>9.4}  {:>9.4}  {:>+9.4}  {:>21}  {:>7.4}",
            m.metric,
            p.n,
            p.mean_a,
            p.mean_b,
            p.delta,
            format!("[{:+.4}, {:+.4}]", p.lo, p.hi),
            p.p_value
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gate(args: GateArgs) -> anyhow::Result<ExitCode> {
    let metrics = parse_metrics(&args.metrics)?;
    let base = one_run(&args.baseline, "--baseline")?;
    let cand = one_run(&args.candidate, "--candidate")?;
    let kind = if args.relative {
        DropKind::Relative
    } else {
        DropKind::Absolute
    };
    let g = sv_report::gate(
        &base,
        &cand,
        &metrics,
        args.max_drop,
        kind,
        &args.stats.config(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&g)?);
    } else {
        println!("baseline:  {}", g.baseline);
        println!("candidate: {}", g.candidate);
        for c in &g.checks {
            println!("{}", c.message());
        }
    }
    if g.passed {
        if !args.json {
            println!("gate passed");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        let failed: Vec<String> = g
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} dropped by {:.4}", c.metric, c.drop))
            .collect();
        eprintln!("gate failed: {}", failed.join(", "));
        Ok(ExitCode::from(1))
    }
}
