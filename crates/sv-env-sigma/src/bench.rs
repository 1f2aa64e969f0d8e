//! `sv bench sigmaforge`: rewards per second for a GRPO-shaped batch (8 prompts × 8
//! rollouts = 64 completions), on one thread and on all cores.
//!
//! The 8 rollouts of each prompt are a realistic spread of what a policy writes: the
//! reference rule, another task's rule, the reference with its condition negated (fires on
//! almost the whole logsource), the logsource restated, every Windows event, a rule that
//! never fires, a `'*'` wildcard rule, and prose (a format failure).

use std::time::Instant;

use sv_env::{Environment, Task};

use crate::adversarial::{completion, suite};
use crate::env::SigmaForge;

/// Timings of one configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    pub threads: usize,
    pub batches: usize,
    pub rollouts_per_batch: usize,
    /// Wall time per batch (ms): mean, median, p90, max.
    pub batch_ms_mean: f64,
    pub batch_ms_p50: f64,
    pub batch_ms_p90: f64,
    pub batch_ms_max: f64,
    pub rewards_per_second: f64,
    pub mean_reward: f64,
}

/// The 64 (task index, completion) pairs of one batch drawn from `tasks[offset..]`.
pub fn batch(tasks: &[Task], env: &SigmaForge, offset: usize) -> Vec<(usize, String)> {
    let s = suite().unwrap_or_default();
    let by = |n: &str| s.iter().find(|e| e.name == n).cloned();
    let mut out = Vec::with_capacity(64);
    for k in 0..8 {
        let i = (offset + k) % tasks.len();
        let t = &tasks[i];
        let other = &tasks[(i + 1) % tasks.len()];
        let reference = env.reference_completion(t).unwrap_or_default();
        let ls = serde_json::from_value(
            t.answer
                .as_ref()
                .map(|a| a["logsource"].clone())
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        let q = t.prompt["question"].as_str().unwrap_or_default();
        let negated = negate_condition(&reference);
        let mut rollouts = vec![
            reference,
            env.reference_completion(other).unwrap_or_default(),
            negated,
        ];
        for name in [
            "logsource_only",
            "match_everything",
            "trivial_never",
            "wildcard_all",
            "prose",
        ] {
            if let Some(e) = by(name) {
                rollouts.push(completion(&e, q, &ls));
            }
        }
        out.extend(rollouts.into_iter().map(|c| (i, c)));
    }
    out
}

fn negate_condition(rule: &str) -> String {
    rule.lines()
        .map(|l| match l.trim_start().strip_prefix("condition:") {
            Some(c) if !c.trim().is_empty() && !c.trim().starts_with('-') => {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!("{indent}condition: not ({})", c.trim())
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Scores `batches` batches with `threads` threads (the batch's 64 rollouts split among them).
pub fn run(env: &SigmaForge, tasks: &[Task], batches: usize, threads: usize) -> BenchResult {
    let threads = threads.max(1);
    let mut times = Vec::with_capacity(batches);
    let mut total_reward = 0.0;
    let mut n = 0usize;
    let t_all = Instant::now();
    for b in 0..batches {
        let items = batch(tasks, env, b * 8);
        let t0 = Instant::now();
        let rewards: Vec<f64> = if threads == 1 {
            items
                .iter()
                .map(|(i, c)| env.score_completion(&tasks[*i].id, c, None).reward)
                .collect()
        } else {
            let chunk = items.len().div_ceil(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = items
                    .chunks(chunk)
                    .map(|part| {
                        s.spawn(move || {
                            part.iter()
                                .map(|(i, c)| env.score_completion(&tasks[*i].id, c, None).reward)
                                .collect::<Vec<f64>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_default())
                    .collect()
            })
        };
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        total_reward += rewards.iter().sum::<f64>();
        n += rewards.len();
    }
    let wall = t_all.elapsed().as_secs_f64();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f64| {
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * f).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let scoring: f64 = times.iter().sum::<f64>() / 1e3;
    let _ = wall;
    BenchResult {
        threads,
        batches,
        rollouts_per_batch: n.checked_div(batches).unwrap_or(0),
        batch_ms_mean: times.iter().sum::<f64>() / times.len().max(1) as f64,
        batch_ms_p50: q(0.5),
        batch_ms_p90: q(0.9),
        batch_ms_max: sorted.last().copied().unwrap_or(0.0),
        rewards_per_second: if scoring > 0.0 {
            n as f64 / scoring
        } else {
            0.0
        },
        mean_reward: if n > 0 { total_reward / n as f64 } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negates_the_condition_line() {
        assert_eq!(
            negate_condition("detection:\n  a: {x: 1}\n  condition: a and b\n"),
            "detection:\n  a: {x: 1}\n  condition: not (a and b)"
        );
    }
}
