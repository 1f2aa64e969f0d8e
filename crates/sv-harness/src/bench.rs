//! Harness overhead: how many rollouts per second the harness sustains when the policy
//! and the environment cost next to nothing (`sv bench harness`, figures in
//! `docs/bench-harness.md`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use sv_env::Environment;

use crate::agent::Agent;
use crate::error::HarnessError;
use crate::progress::Silent;
use crate::runner::{run_eval, EvalSpec};

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct OverheadResult {
    pub env: String,
    pub model: String,
    pub threads: usize,
    pub concurrency: usize,
    pub rollouts: usize,
    /// Whole `run_eval`: metadata, rollouts, row writes, summary (reads the file back).
    pub wall_s: f64,
    pub rollouts_per_s: f64,
    pub us_per_rollout: f64,
    pub results_bytes: u64,
    pub mean_reward: f64,
}

/// Runs `rollouts_per_task` rollouts of every task of `split` with `agent` on a tokio
/// runtime of `threads` workers, writing the run under `out`.
pub fn overhead(
    env: Arc<dyn Environment>,
    agent: Arc<dyn Agent>,
    split: &str,
    rollouts_per_task: u32,
    threads: usize,
    concurrency: usize,
    out: &Path,
) -> Result<OverheadResult, HarnessError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| HarnessError::Usage(format!("tokio runtime: {e}")))?;
    let model = agent.spec().to_string();
    let spec = EvalSpec {
        env: Arc::clone(&env),
        config_source: None,
        agent,
        split: split.to_string(),
        n: None,
        tasks: None,
        seed: 42,
        rollouts: Some(rollouts_per_task),
        concurrency,
        out_dir: out.to_path_buf(),
        command: vec!["sv".into(), "bench".into(), "harness".into()],
    };
    let t0 = Instant::now();
    let outcome = rt.block_on(run_eval(spec, &Silent))?;
    let wall_s = t0.elapsed().as_secs_f64();
    let n = outcome.summary.rollouts;
    let results_bytes = std::fs::metadata(outcome.run_dir.join(crate::rundir::RESULTS))
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(OverheadResult {
        env: env.id().to_string(),
        model,
        threads: threads.max(1),
        concurrency,
        rollouts: n,
        wall_s,
        rollouts_per_s: n as f64 / wall_s,
        us_per_rollout: wall_s * 1e6 / n.max(1) as f64,
        results_bytes,
        mean_reward: outcome.summary.mean_reward,
    })
}
