//! `sv eval`: run models on an environment, or resume a run (format: docs/harness.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use sv_env::Registry;
use sv_harness::{Bar, EvalSpec, Progress, ResumeOptions, ResumeSources, Silent};
use sv_models::{ClientConfig, Sampling};

#[derive(clap::Args)]
pub struct Args {
    /// Environment, `name` or `name@version` (see --list).
    #[arg(required_unless_present_any = ["resume", "list"])]
    env: Option<String>,
    /// embedded | openai:MODEL@BASE_URL | reference | random | constant:TEXT | replay:FILE.
    /// Repeat for several models.
    #[arg(long = "model", short = 'm')]
    models: Vec<String>,
    #[arg(long, default_value = "test")]
    split: String,
    /// Evaluate N tasks (a seeded sample of the split).
    #[arg(long, conflicts_with = "tasks")]
    n: Option<usize>,
    /// Comma-separated task ids.
    #[arg(long, value_delimiter = ',')]
    tasks: Option<Vec<String>>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Rollouts in flight at once [default: 8; on --resume: as recorded].
    #[arg(long, short = 'c')]
    concurrency: Option<usize>,
    /// Rollouts per task (default 1, or what a replay file holds).
    #[arg(long)]
    rollouts: Option<u32>,
    /// Parent folder of run directories.
    #[arg(long, default_value = "outputs/evals")]
    out: PathBuf,
    /// Environment config file (TOML, YAML or JSON) merged over the defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data folder (else SV_DATA, ../shared/data, the user data directory).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Continue a run that stopped (crash, kill, Ctrl-C).
    #[arg(long, conflicts_with_all = ["env", "models", "n", "tasks", "rollouts", "config"])]
    resume: Option<PathBuf>,
    /// With --resume: also run again the rollouts whose rows ended in an error (model
    /// timeouts, server errors); their rows are replaced, never duplicated.
    #[arg(long)]
    retry_errors: bool,
    /// List the environments.
    #[arg(long)]
    list: bool,
    #[arg(long)]
    temperature: Option<f32>,
    #[arg(long)]
    top_p: Option<f32>,
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Price table overriding the shipped one.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Do not use the response cache.
    #[arg(long)]
    no_cache: bool,
    /// Print the summary JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Every environment the `sv` binary knows.
pub fn registry() -> anyhow::Result<Registry> {
    let mut registry = Registry::new();
    sv_env_sigma::register(&mut registry)?;
    Ok(registry)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = registry()?;
    if args.list {
        if registry.entries().is_empty() {
            println!("no environments are registered in this build");
        }
        for e in registry.entries() {
            println!("{}@{}\t{}", e.name, e.version, e.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.retry_errors && args.resume.is_none() {
        bail!("--retry-errors applies to a resumed run: sv eval --resume RUN_DIR --retry-errors");
    }
    let concurrency = args.concurrency.unwrap_or(8);
    let client = ClientConfig {
        concurrency: concurrency.max(1),
        price_table: args.prices.clone(),
        cache_dir: if args.no_cache {
            None
        } else {
            ClientConfig::default().cache_dir
        },
        ..ClientConfig::default()
    };
    let progress: Box<dyn Progress> = if args.quiet {
        Box::new(Silent)
    } else {
        Box::new(Bar::new())
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut outcomes = Vec::new();
    if let Some(dir) = &args.resume {
        let sources = ResumeSources {
            registry: &registry,
            data_dir: args.data.as_deref(),
            client: &client,
        };
        let options = ResumeOptions {
            concurrency: args.concurrency,
            retry_errors: args.retry_errors,
        };
        let out = runtime.block_on(sv_harness::resume_eval(dir, &sources, &options, &*progress))?;
        outcomes.push(out);
    } else {
        let Some(env_name) = args.env.as_deref() else {
            bail!("name an environment (sv eval --list) or pass --resume RUN_DIR");
        };
        if args.models.is_empty() {
            bail!("give at least one --model (e.g. --model reference, --model embedded)");
        }
        let loaded = registry.load(env_name, args.config.as_deref(), args.data.as_deref())?;
        let mut sampling = Sampling::default();
        if let Some(t) = args.temperature {
            sampling.temperature = t;
        }
        if let Some(p) = args.top_p {
            sampling.top_p = p;
        }
        if let Some(m) = args.max_tokens {
            sampling.max_tokens = m;
        }
        for spec in &args.models {
            let agent = sv_harness::build_agent(spec, &sampling, &client)?;
            let eval = EvalSpec {
                env: loaded.env.clone(),
                config_source: loaded.config_source.clone(),
                agent,
                split: args.split.clone(),
                n: args.n,
                tasks: args.tasks.clone(),
                seed: args.seed,
                rollouts: args.rollouts,
                concurrency,
                out_dir: args.out.clone(),
                command: std::env::args().collect(),
            };
            let out = runtime.block_on(sv_harness::run_eval(eval, &*progress))?;
            let interrupted = out.status == "interrupted";
            outcomes.push(out);
            if interrupted {
                break;
            }
        }
    }
    let summaries: Vec<_> = outcomes.iter().map(|o| o.summary.clone()).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else {
        print!("{}", sv_harness::table::render(&summaries));
        for o in &outcomes {
            println!("{}: {}", o.status, o.run_dir.display());
        }
    }
    if outcomes.iter().any(|o| o.status == "interrupted") {
        eprintln!("interrupted: continue with `sv eval --resume RUN_DIR`");
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
