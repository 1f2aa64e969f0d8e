//! `sv compare`: paired bootstrap of two runs over the task ids they share.

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::metric::Metric;
use crate::run::Run;
use crate::stats::{self, Bootstrap, Paired};

/// One metric of a comparison; `delta = b − a` (candidate minus baseline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    pub metric: String,
    #[serde(flatten)]
    pub paired: Paired,
}

/// The comparison of run `a` (baseline) with run `b` (candidate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    /// Task ids present in both runs (before per-metric filtering).
    pub shared_tasks: usize,
    pub only_a: usize,
    pub only_b: usize,
    pub resamples: usize,
    pub seed: u64,
    pub level: f64,
    pub metrics: Vec<MetricComparison>,
}

/// Per-task values of `metric` in both runs over their shared tasks, in task-id order.
pub fn paired_values(a: &Run, b: &Run, metric: &Metric) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let ta = metric.per_task(&a.rows);
    let tb = metric.per_task(&b.rows);
    let mut ids = Vec::new();
    let mut va = Vec::new();
    let mut vb = Vec::new();
    for (id, x) in &ta {
        if let Some(y) = tb.get(id) {
            ids.push(id.clone());
            va.push(*x);
            vb.push(*y);
        }
    }
    (ids, va, vb)
}

/// Paired comparison of `metric` between `a` and `b`.
pub fn compare_metric(
    a: &Run,
    b: &Run,
    metric: &Metric,
    cfg: &Bootstrap,
) -> Result<MetricComparison, ReportError> {
    let (_, va, vb) = paired_values(a, b, metric);
    let paired = stats::paired_bootstrap(&va, &vb, cfg).ok_or_else(|| ReportError::NoValues {
        metric: metric.to_string(),
        run: format!("the tasks shared by {} and {}", a.label(), b.label()),
    })?;
    Ok(MetricComparison {
        metric: metric.to_string(),
        paired,
    })
}

/// Compares `a` and `b` on `metrics` (the defaults of [`Metric::defaults_for`] when empty).
/// Metrics without shared values are left out when defaulted, an error when asked for.
pub fn compare(
    a: &Run,
    b: &Run,
    metrics: &[Metric],
    cfg: &Bootstrap,
) -> Result<Comparison, ReportError> {
    let ids_a: std::collections::BTreeSet<&str> =
        a.rows.iter().map(|r| r.task_id.as_str()).collect();
    let ids_b: std::collections::BTreeSet<&str> =
        b.rows.iter().map(|r| r.task_id.as_str()).collect();
    let shared = ids_a.intersection(&ids_b).count();
    if shared == 0 {
        return Err(ReportError::NoSharedTasks {
            a: a.label(),
            b: b.label(),
        });
    }
    let explicit = !metrics.is_empty();
    let list = if explicit {
        metrics.to_vec()
    } else {
        Metric::defaults_for(&[a, b])
    };
    let mut out = Vec::new();
    for m in &list {
        match compare_metric(a, b, m, cfg) {
            Ok(c) => out.push(c),
            Err(e) if explicit => return Err(e),
            Err(_) => {}
        }
    }
    Ok(Comparison {
        a: a.label(),
        b: b.label(),
        shared_tasks: shared,
        only_a: ids_a.len() - shared,
        only_b: ids_b.len() - shared,
        resamples: cfg.resamples,
        seed: cfg.seed,
        level: cfg.level,
        metrics: out,
    })
}
