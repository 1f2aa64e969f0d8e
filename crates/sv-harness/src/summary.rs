//! `summary.json`: aggregates over a run's rows.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::rundir::{Row, Tokens, SUMMARY_FORMAT};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenMeans {
    pub prompt: f64,
    pub completion: f64,
    pub reasoning: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    pub n: usize,
    pub mean_reward: f64,
    pub valid_rate: f64,
}

/// The contents of `summary.json` (see `docs/harness.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub format: String,
    pub run_id: String,
    pub env: String,
    pub model: String,
    pub model_slug: String,
    pub rollouts: usize,
    pub tasks: usize,
    pub errors: usize,
    pub mean_reward: f64,
    pub std_reward: f64,
    pub mean_reward_ok: Option<f64>,
    pub valid_rate: f64,
    pub components: BTreeMap<String, f64>,
    pub metrics: BTreeMap<String, f64>,
    pub confidence_rows: usize,
    pub turns_mean: f64,
    pub tool_calls_mean: f64,
    pub latency_ms: LatencyStats,
    pub tokens: Tokens,
    pub tokens_mean: TokenMeans,
    pub cost_usd: Option<f64>,
    pub cost_usd_mean: Option<f64>,
    pub by_category: BTreeMap<String, CategoryStats>,
    pub wall_s: f64,
    pub rollouts_per_s: f64,
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn key_means<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, f64>>) -> BTreeMap<String, f64> {
    let mut acc: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for m in maps {
        for (k, v) in m {
            let e = acc.entry(k.clone()).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    acc.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// Aggregates `rows`. Identity fields come from the caller.
pub fn summarize(
    run_id: &str,
    env: &str,
    model: &str,
    model_slug: &str,
    rows: &[Row],
    wall_s: f64,
) -> Summary {
    // Sum in a fixed order so the same rows give bit-identical means whatever order
    // they finished in.
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.task_id, a.rollout).cmp(&(&b.task_id, b.rollout)));
    let rows = sorted.as_slice();
    let n = rows.len();
    let nf = n.max(1) as f64;
    let mean_reward = mean(rows.iter().map(|r| r.reward)).unwrap_or(0.0);
    let var = rows
        .iter()
        .map(|r| (r.reward - mean_reward).powi(2))
        .sum::<f64>()
        / nf;
    let ok: Vec<&Row> = rows.iter().copied().filter(|r| r.error.is_none()).collect();
    let mut lat: Vec<f64> = rows.iter().map(|r| r.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let mut tokens = Tokens::default();
    for r in rows {
        tokens.prompt += r.tokens.prompt;
        tokens.completion += r.tokens.completion;
        tokens.reasoning += r.tokens.reasoning;
    }
    let costs: Vec<f64> = rows.iter().filter_map(|r| r.cost_usd).collect();
    let cost = (!costs.is_empty()).then(|| costs.iter().sum::<f64>());
    let mut cats: BTreeMap<String, (usize, f64, usize)> = BTreeMap::new();
    for r in rows {
        let e = cats
            .entry(r.category.clone().unwrap_or_else(|| "(none)".into()))
            .or_default();
        e.0 += 1;
        e.1 += r.reward;
        e.2 += usize::from(r.valid);
    }
    let tasks: HashSet<&str> = rows.iter().map(|r| r.task_id.as_str()).collect();
    Summary {
        format: SUMMARY_FORMAT.into(),
        run_id: run_id.into(),
        env: env.into(),
        model: model.into(),
        model_slug: model_slug.into(),
        rollouts: n,
        tasks: tasks.len(),
        errors: n - ok.len(),
        mean_reward,
        std_reward: var.sqrt(),
        mean_reward_ok: mean(ok.iter().map(|r| r.reward)),
        valid_rate: rows.iter().filter(|r| r.valid).count() as f64 / nf,
        components: key_means(rows.iter().map(|r| &r.components)),
        metrics: key_means(rows.iter().map(|r| &r.metrics)),
        confidence_rows: rows.iter().filter(|r| r.confidence.is_some()).count(),
        turns_mean: mean(rows.iter().map(|r| f64::from(r.turns))).unwrap_or(0.0),
        tool_calls_mean: mean(rows.iter().map(|r| r.tool_calls.len() as f64)).unwrap_or(0.0),
        latency_ms: LatencyStats {
            mean: mean(lat.iter().copied()).unwrap_or(0.0),
            p50: percentile(&lat, 50.0),
            p95: percentile(&lat, 95.0),
            max: lat.last().copied().unwrap_or(0.0),
        },
        tokens,
        tokens_mean: TokenMeans {
            prompt: tokens.prompt as f64 / nf,
            completion: tokens.completion as f64 / nf,
            reasoning: tokens.reasoning as f64 / nf,
        },
        cost_usd: cost,
        cost_usd_mean: cost.map(|c| c / costs.len() as f64),
        by_category: cats
            .into_iter()
            .map(|(k, (n, s, v))| {
                (
                    k,
                    CategoryStats {
                        n,
                        mean_reward: s / n as f64,
                        valid_rate: v as f64 / n as f64,
                    },
                )
            })
            .collect(),
        wall_s,
        rollouts_per_s: if wall_s > 0.0 { n as f64 / wall_s } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(
        task: &str,
        reward: f64,
        valid: bool,
        error: bool,
        lat: f64,
        cat: &str,
    ) -> Row {
        Row {
            run_id: "r".into(),
            task_id: task.into(),
            rollout: 0,
            split: "test".into(),
            category: Some(cat.into()),
            prompt: vec![],
            completion: (!error).then(|| "x".into()),
            reasoning: None,
            transcript: vec![],
            tool_calls: vec![],
            turns: 1,
            stop: None,
            reward,
            valid,
            components: [("c".to_string(), reward)].into(),
            metrics: BTreeMap::new(),
            confidence: None,
            tokens: Tokens {
                prompt: 10,
                completion: 5,
                reasoning: 1,
            },
            latency_ms: lat,
            score_ms: 0.0,
            cost_usd: (!error).then_some(0.5),
            cached: false,
            error: error.then(|| "boom".into()),
            info: serde_json::Value::Null,
        }
    }

    #[test]
    fn exact_aggregates() {
        let rows = vec![
            row("a", 1.0, true, false, 10.0, "x"),
            row("b", 0.5, true, false, 30.0, "x"),
            row("c", 0.0, false, true, 20.0, "y"),
            row("d", 0.5, false, false, 40.0, "y"),
        ];
        let s = summarize("r", "arith@1", "m", "m", &rows, 2.0);
        assert_eq!(s.rollouts, 4);
        assert_eq!(s.errors, 1);
        assert_eq!(s.mean_reward, 0.5);
        assert_eq!(s.std_reward, (0.125f64).sqrt());
        assert_eq!(s.mean_reward_ok, Some(2.0 / 3.0));
        assert_eq!(s.valid_rate, 0.5);
        assert_eq!(s.components["c"], 0.5);
        assert_eq!(
            s.latency_ms,
            LatencyStats {
                mean: 25.0,
                p50: 20.0,
                p95: 40.0,
                max: 40.0
            }
        );
        assert_eq!(
            s.tokens,
            Tokens {
                prompt: 40,
                completion: 20,
                reasoning: 4
            }
        );
        assert_eq!(s.cost_usd, Some(1.5));
        assert_eq!(s.cost_usd_mean, Some(0.5));
        assert_eq!(
            s.by_category["y"],
            CategoryStats {
                n: 2,
                mean_reward: 0.25,
                valid_rate: 0.0
            }
        );
        assert_eq!(s.rollouts_per_s, 2.0);
    }
}
