//! `sv bench harness`: harness overhead per rollout with a built-in policy on a cheap
//! environment (the `arith` test environment unless `--env` names a registered one).

use std::process::ExitCode;
use std::sync::Arc;

use sv_env::testing::{default_config, ArithEnv};
use sv_env::Environment;
use sv_models::{ClientConfig, Sampling};

#[derive(clap::Args)]
pub struct Args {
    /// A registered environment instead of the built-in `arith` test environment.
    #[arg(long)]
    env: Option<String>,
    /// Built-in policy to run.
    #[arg(long, default_value = "reference")]
    model: String,
    #[arg(long, default_value = "test")]
    split: String,
    /// Tasks of the `arith` environment.
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// Rollouts per task.
    #[arg(long, default_value_t = 10)]
    rollouts: u32,
    /// Worker-thread counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Repetitions per setting (the best is reported, all are printed).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let env: Arc<dyn Environment> = match &args.env {
        Some(name) => crate::cmd::eval::registry()?.load(name, None, None)?.env,
        None => {
            let mut config = default_config();
            config
                .params
                .insert("tasks_per_split".into(), args.tasks.into());
            Arc::new(ArithEnv::new(config)?)
        }
    };
    if sv_env::BuiltinPolicy::parse(&args.model).is_none() {
        anyhow::bail!("`sv bench harness` measures the harness: use a built-in policy (reference, random, constant:TEXT, replay:FILE)");
    }
    let out = tempfile::tempdir()?;
    if !args.json {
        println!(
            "| env | policy | threads | concurrency | rollouts | wall (s) | rollouts/s | µs/rollout | results.jsonl (MB) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
    }
    for &threads in &args.threads {
        let mut best: Option<sv_harness::bench::OverheadResult> = None;
        for _ in 0..args.repeat.max(1) {
            let agent = sv_harness::build_agent(
                &args.model,
                &Sampling::default(),
                &ClientConfig::default(),
            )?;
            let r = sv_harness::bench::overhead(
                Arc::clone(&env),
                agent,
                &args.split,
                args.rollouts,
                threads,
                args.concurrency,
                out.path(),
            )?;
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            }
            if best
                .as_ref()
                .is_none_or(|b| r.rollouts_per_s > b.rollouts_per_s)
            {
                best = Some(r);
            }
        }
        if let (Some(r), false) = (best, args.json) {
            println!(
                "| {} | {} | {} | {} | {} | {:.3} | {:.0} | {:.1} | {:.1} |",
                r.env,
                r.model,
                r.threads,
                r.concurrency,
                r.rollouts,
                r.wall_s,
                r.rollouts_per_s,
                r.us_per_rollout,
                r.results_bytes as f64 / 1e6
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
