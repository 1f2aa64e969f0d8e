//! `sv bench sigmaforge`: SigmaForge rewards per second for GRPO-shaped batches
//! (8 prompts × 8 rollouts), one thread and all cores (sv-env-sigma does the work).

use std::path::PathBuf;
use std::process::ExitCode;

use sv_env::{EnvBuild, Environment};

#[derive(clap::Args)]
pub struct Args {
    /// Batches of 64 rollouts to time per configuration.
    #[arg(long, default_value_t = 50)]
    batches: usize,
    /// Split the tasks come from.
    #[arg(long, default_value = "test")]
    split: String,
    /// Thread counts to run (default: 1 and all cores).
    #[arg(long, value_delimiter = ',')]
    threads: Option<Vec<usize>>,
    /// Environment config file merged over sigma's defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let defaults = sv_env_sigma::config::default_config();
    let config = match &args.config {
        Some(p) => sv_env::EnvConfig::load_over(&defaults, p)?,
        None => defaults,
    };
    let env = sv_env_sigma::SigmaForge::build(
        &EnvBuild {
            config,
            data_dir: args.data.clone(),
        },
        false,
    )?;
    let tasks = env.tasks(&args.split)?;
    anyhow::ensure!(!tasks.is_empty(), "split {} has no tasks", args.split);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads =
        args.threads
            .clone()
            .unwrap_or_else(|| if cores > 1 { vec![1, cores] } else { vec![1] });
    // Warm-up: one batch (page in the store, compile caches).
    sv_env_sigma::bench::run(&env, &tasks, 1, 1);
    if !args.json {
        println!("SigmaForge reward throughput: {} batches × 64 rollouts (8 prompts × 8), split {}, {} tasks", args.batches, args.split, tasks.len());
        println!(
            "{:>7}  {:>12}  {:>10}  {:>10}  {:>10}  {:>10}  {:>11}",
            "threads",
            "rewards/s",
            "batch mean",
            "batch p50",
            "batch p90",
            "batch max",
            "mean reward"
        );
    }
    for t in threads {
        let r = sv_env_sigma::bench::run(&env, &tasks, args.batches, t);
        if args.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{:>7}  {:>12.0}  {:>8.2}ms  {:>8.2}ms  {:>8.2}ms  {:>8.2}ms  {:>11.4}",
                r.threads,
                r.rewards_per_second,
                r.batch_ms_mean,
                r.batch_ms_p50,
                r.batch_ms_p90,
                r.batch_ms_max,
                r.mean_reward
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
