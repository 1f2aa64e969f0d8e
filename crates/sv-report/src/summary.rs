//! The numbers of one run that every report output (HTML, Markdown, JSON) shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metric::Metric;
use crate::run::Run;
use crate::stats::{self, Bootstrap, Calibration, Histogram, MeanCi};

/// What to compute; the defaults are what `sv report` uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummaryOptions {
    pub bootstrap: Bootstrap,
    /// Reward histogram bins (default 20).
    pub histogram_bins: usize,
    /// Reliability-diagram bins (default 10).
    pub calibration_bins: usize,
    /// How many lowest-reward rollouts to list per run (default 10).
    pub worst: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            bootstrap: Bootstrap::default(),
            histogram_bins: 20,
            calibration_bins: 10,
            worst: 10,
        }
    }
}

/// Distribution of a per-rollout quantity (latency, cost, tokens).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Rollouts that reported it.
    pub n: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub sum: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let sum: f64 = v.iter().sum();
        Some(Spread {
            n: v.len(),
            mean: sum / v.len() as f64,
            p50: stats::quantile_sorted(&v, 0.5)?,
            p95: stats::quantile_sorted(&v, 0.95)?,
            sum,
        })
    }
}

/// Reward of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    pub category: String,
    pub rollouts: usize,
    pub reward: Option<MeanCi>,
    pub valid: Option<MeanCi>,
}

/// Everything reported about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub label: String,
    pub run_id: String,
    pub env: String,
    pub env_version: Option<String>,
    pub model: String,
    pub dir: String,
    /// From `metadata.json`: `complete`, `running` (or crashed), `interrupted`.
    pub status: Option<String>,
    pub planned: Option<u64>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub git_commit: Option<String>,
    pub dataset_sha256: Option<String>,
    /// `model.sampling` from `metadata.json`, as compact JSON.
    pub sampling: Option<String>,
    pub rollouts: usize,
    pub tasks: usize,
    /// Rollouts with an `error`.
    pub errors: usize,
    /// Mean over tasks (rollouts of a task averaged first), CI by resampling tasks.
    pub reward: Option<MeanCi>,
    /// Share of rollouts whose answer parsed, per task then over tasks.
    pub valid: Option<MeanCi>,
    pub components: BTreeMap<String, MeanCi>,
    pub metrics: BTreeMap<String, MeanCi>,
    pub categories: Vec<CategoryStats>,
    pub latency_ms: Option<Spread>,
    pub cost_usd: Option<Spread>,
    pub prompt_tokens: Option<Spread>,
    pub completion_tokens: Option<Spread>,
    pub total_tokens: Option<Spread>,
    pub reward_histogram: Histogram,
    pub calibration: Option<Calibration>,
    /// Indices into the run's rows of its lowest-reward rollouts (errors first), worst first.
    pub worst: Vec<usize>,
    pub warnings: Vec<String>,
}

/// CIs of many metrics over the same rows. Metrics defined on the same tasks (the usual case:
/// reward, valid and components every row carries) share one set of bootstrap draws, which
/// gives the same numbers as separate calls at a fraction of the cost.
fn overall_cis(
    metrics: &[Metric],
    rows: &[crate::run::Row],
    cfg: &Bootstrap,
) -> BTreeMap<Metric, MeanCi> {
    let mut groups: BTreeMap<Vec<String>, Vec<(Metric, Vec<f64>)>> = BTreeMap::new();
    for m in metrics {
        let per_task = m.per_task(rows);
        let keys: Vec<String> = per_task.keys().cloned().collect();
        groups
            .entry(keys)
            .or_default()
            .push((m.clone(), per_task.into_values().collect()));
    }
    let mut out = BTreeMap::new();
    for (_, members) in groups {
        let cols: Vec<&[f64]> = members.iter().map(|(_, v)| v.as_slice()).collect();
        for ((m, _), c) in members.iter().zip(stats::bootstrap_means(&cols, cfg)) {
            if let Some(c) = c {
                out.insert(m.clone(), c);
            }
        }
    }
    out
}

impl RunSummary {
    pub fn of(run: &Run, opts: &SummaryOptions) -> RunSummary {
        let rows = &run.rows;
        let cfg = &opts.bootstrap;
        let mut wanted = vec![Metric::Reward, Metric::Valid];
        wanted.extend(run.component_names().into_iter().map(Metric::Component));
        wanted.extend(run.metric_names().into_iter().map(Metric::Metric));
        let mut cis = overall_cis(&wanted, rows, cfg);
        let reward = cis.remove(&Metric::Reward);
        let valid = cis.remove(&Metric::Valid);
        let mut components = BTreeMap::new();
        let mut metrics = BTreeMap::new();
        for (m, c) in cis {
            match m {
                Metric::Component(name) => {
                    components.insert(name, c);
                }
                Metric::Metric(name) => {
                    metrics.insert(name, c);
                }
                Metric::Reward | Metric::Valid => {}
            }
        }

        let mut by_cat: BTreeMap<&str, Vec<crate::run::Row>> = BTreeMap::new();
        if rows.iter().any(|r| r.category.is_some()) {
            for r in rows {
                by_cat
                    .entry(r.category.as_deref().unwrap_or("(none)"))
                    .or_default()
                    .push(r.clone());
            }
        }
        let categories = by_cat
            .into_iter()
            .map(|(c, rs)| {
                let mut cis = overall_cis(&[Metric::Reward, Metric::Valid], &rs, cfg);
                CategoryStats {
                    category: c.to_string(),
                    rollouts: rs.len(),
                    reward: cis.remove(&Metric::Reward),
                    valid: cis.remove(&Metric::Valid),
                }
            })
            .collect();

        let rewards: Vec<f64> = rows.iter().filter_map(|r| r.reward).collect();
        let (lo, hi) = Histogram::auto_range(&rewards);
        let pairs: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| Some((r.confidence?, r.outcome()?)))
            .collect();

        let collect = |f: &dyn Fn(&crate::run::Row) -> Option<f64>| -> Option<Spread> {
            Spread::of(&rows.iter().filter_map(f).collect::<Vec<_>>())
        };

        let mut order: Vec<usize> = (0..rows.len()).collect();
        // Failed rollouts first, then ascending reward; ties by task id for stability.
        order.sort_by(|&a, &b| {
            let (ra, rb) = (&rows[a], &rows[b]);
            let ka = ra.reward.unwrap_or(f64::NEG_INFINITY);
            let kb = rb.reward.unwrap_or(f64::NEG_INFINITY);
            rb.error
                .is_some()
                .cmp(&ra.error.is_some())
                .then_with(|| ka.total_cmp(&kb))
                .then_with(|| ra.task_id.cmp(&rb.task_id))
                .then_with(|| ra.rollout.cmp(&rb.rollout))
        });
        order.truncate(opts.worst);

        let tasks = rows
            .iter()
            .map(|r| r.task_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        RunSummary {
            label: run.label(),
            run_id: run.meta.run_id.clone(),
            env: run.meta.env.clone(),
            env_version: run.meta.env_version.clone(),
            model: run.meta.model.clone(),
            dir: run.dir.display().to_string(),
            status: run.meta.status.clone(),
            planned: run.meta.planned,
            started: run.meta.started.clone(),
            finished: run.meta.finished.clone(),
            git_commit: run.meta.git_commit.clone(),
            dataset_sha256: run.meta.dataset_sha256.clone(),
            sampling: run
                .meta
                .raw
                .pointer("/model/sampling")
                .filter(|v| !v.is_null())
                .map(|v| v.to_string()),
            rollouts: rows.len(),
            tasks,
            errors: rows.iter().filter(|r| r.error.is_some()).count(),
            reward,
            valid,
            components,
            metrics,
            categories,
            latency_ms: collect(&|r| r.latency_ms),
            cost_usd: collect(&|r| r.cost_usd),
            prompt_tokens: collect(&|r| r.tokens.prompt),
            completion_tokens: collect(&|r| r.tokens.completion),
            total_tokens: collect(&|r| r.tokens.total),
            reward_histogram: Histogram::new(&rewards, lo, hi, opts.histogram_bins),
            calibration: stats::calibration(&pairs, opts.calibration_bins),
            worst: order,
            warnings: run.warnings.clone(),
        }
    }
}
