//! `sv gate`: a pass/fail verdict for CI when a candidate run drops below a baseline.
//!
//! The drop of a metric is `baseline − candidate` over the tasks both runs share (per-task
//! means, so extra or missing tasks cannot move the verdict). With [`DropKind::Absolute`] the
//! gate fails when that drop exceeds `max_drop` in the metric's own units (0.03 = three reward
//! points on a 0–1 scale); with [`DropKind::Relative`] when `drop / |baseline|` exceeds
//! `max_drop` (0.03 = 3 % of the baseline). Improvements never fail. The paired-bootstrap
//! interval and p-value are reported alongside, so a reader can tell a real regression from
//! noise; the verdict itself is on the point estimate, which is what a threshold means.

use serde::{Deserialize, Serialize};

use crate::compare::compare_metric;
use crate::error::ReportError;
use crate::metric::Metric;
use crate::run::Run;
use crate::stats::{Bootstrap, Paired};

/// How `max_drop` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropKind {
    /// In the metric's units.
    Absolute,
    /// As a fraction of the baseline's value.
    Relative,
}

/// The verdict on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCheck {
    pub metric: String,
    pub baseline: f64,
    pub candidate: f64,
    /// `baseline − candidate` (positive = worse), in the metric's units.
    pub drop: f64,
    /// `drop / |baseline|` (infinite when the baseline is 0 and the drop positive).
    pub relative_drop: f64,
    pub max_drop: f64,
    pub kind: DropKind,
    pub passed: bool,
    /// Confidence level of `paired`'s interval.
    pub level: f64,
    pub paired: Paired,
}

impl GateCheck {
    /// One line: which metric, by how much, against what threshold.
    pub fn message(&self) -> String {
        let verdict = if self.passed { "ok" } else { "FAIL" };
        let change = if self.drop > 0.0 {
            "dropped"
        } else {
            "changed"
        };
        let limit = match self.kind {
            DropKind::Absolute => format!("max drop {:.4}", self.max_drop),
            DropKind::Relative => format!("max drop {:.2}%", self.max_drop * 100.0),
        };
        format!(
            "{verdict}: {} {change} by {:.4} ({:+.2}% of baseline): {:.4} -> {:.4} over {} shared tasks; {limit}; {}% CI of change [{:+.4}, {:+.4}], p = {:.4}",
            self.metric,
            self.drop,
            -self.relative_drop * 100.0,
            self.baseline,
            self.candidate,
            self.paired.n,
            self.level * 100.0,
            self.paired.lo,
            self.paired.hi,
            self.paired.p_value,
        )
    }
}

/// The verdict over every checked metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub baseline: String,
    pub candidate: String,
    pub passed: bool,
    pub checks: Vec<GateCheck>,
}

/// Checks each metric (reward when `metrics` is empty).
pub fn gate(
    baseline: &Run,
    candidate: &Run,
    metrics: &[Metric],
    max_drop: f64,
    kind: DropKind,
    cfg: &Bootstrap,
) -> Result<GateReport, ReportError> {
    if !(max_drop.is_finite() && max_drop >= 0.0) {
        return Err(ReportError::Option(format!(
            "--max-drop must be a finite number >= 0, got {max_drop}"
        )));
    }
    let list = if metrics.is_empty() {
        vec![Metric::Reward]
    } else {
        metrics.to_vec()
    };
    let mut checks = Vec::new();
    for m in &list {
        let c = compare_metric(baseline, candidate, m, cfg).map_err(|e| match e {
            ReportError::NoValues { .. } if shared_ids(baseline, candidate) == 0 => {
                ReportError::NoSharedTasks {
                    a: baseline.label(),
                    b: candidate.label(),
                }
            }
            other => other,
        })?;
        let p = c.paired;
        let drop = p.mean_a - p.mean_b;
        let relative_drop = if p.mean_a != 0.0 {
            drop / p.mean_a.abs()
        } else if drop > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let measured = match kind {
            DropKind::Absolute => drop,
            DropKind::Relative => relative_drop,
        };
        // A hair of tolerance so that a drop of exactly the threshold passes despite rounding.
        let passed = measured <= max_drop + 1e-12;
        checks.push(GateCheck {
            metric: m.to_string(),
            baseline: p.mean_a,
            candidate: p.mean_b,
            drop,
            relative_drop,
            max_drop,
            kind,
            passed,
            level: cfg.level,
            paired: p,
        });
    }
    Ok(GateReport {
        baseline: baseline.label(),
        candidate: candidate.label(),
        passed: checks.iter().all(|c| c.passed),
        checks,
    })
}

fn shared_ids(a: &Run, b: &Run) -> usize {
    let ids: std::collections::BTreeSet<&str> = a.rows.iter().map(|r| r.task_id.as_str()).collect();
    b.rows
        .iter()
        .map(|r| r.task_id.as_str())
        .filter(|t| ids.contains(t))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}
