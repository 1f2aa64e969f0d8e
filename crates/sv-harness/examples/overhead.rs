//! Harness overhead without the `sv` binary: `cargo run --release -p sv-harness
//! --example overhead -- [TASKS] [ROLLOUTS] [THREADS,..] [CONCURRENCY]`.
//! Same measurement as `sv bench harness` (reference policy on the arith test env).

use std::sync::Arc;

use sv_env::testing::{default_config, ArithEnv};
use sv_models::{ClientConfig, Sampling};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tasks: usize = args.first().map_or(Ok(2000), |s| s.parse())?;
    let rollouts: u32 = args.get(1).map_or(Ok(10), |s| s.parse())?;
    let threads: Vec<usize> = args
        .get(2)
        .map_or("1,2", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let concurrency: usize = args.get(3).map_or(Ok(64), |s| s.parse())?;
    let mut config = default_config();
    config.params.insert("tasks_per_split".into(), tasks.into());
    let env = Arc::new(ArithEnv::new(config)?);
    let out = tempfile::tempdir()?;
    println!("| env | policy | threads | concurrency | rollouts | wall (s) | rollouts/s | µs/rollout | results.jsonl (MB) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for t in threads {
        let mut best: Option<sv_harness::bench::OverheadResult> = None;
        for _ in 0..3 {
            let agent = sv_harness::build_agent(
                "reference",
                &Sampling::default(),
                &ClientConfig::default(),
            )?;
            let r = sv_harness::bench::overhead(
                env.clone(),
                agent,
                "test",
                rollouts,
                t,
                concurrency,
                out.path(),
            )?;
            if best
                .as_ref()
                .is_none_or(|b| r.rollouts_per_s > b.rollouts_per_s)
            {
                best = Some(r);
            }
        }
        if let Some(r) = best {
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
    Ok(())
}
