//! Which number of a row a statistic is about, and per-task aggregation.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::run::{Row, Run};

/// A per-rollout number: the reward, the valid flag (as 0/1), a reward component or a metric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Metric {
    Reward,
    Valid,
    Component(String),
    Metric(String),
}

impl Metric {
    /// The row's value; `None` when the row does not carry it (e.g. no reward after a failed
    /// call, or a component the env did not report for this task).
    pub fn value(&self, row: &Row) -> Option<f64> {
        match self {
            Metric::Reward => row.reward,
            Metric::Valid => Some(if row.valid { 1.0 } else { 0.0 }),
            Metric::Component(c) => row.components.get(c).copied(),
            Metric::Metric(m) => row.metrics.get(m).copied(),
        }
    }

    /// Per-task means of this metric over a run's rows (rollouts of a task are averaged, so
    /// every task weighs the same in the run's mean and its bootstrap resamples tasks).
    pub fn per_task(&self, rows: &[Row]) -> BTreeMap<String, f64> {
        let mut acc: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for r in rows {
            if let Some(v) = self.value(r) {
                let e = acc.entry(r.task_id.as_str()).or_default();
                e.0 += v;
                e.1 += 1;
            }
        }
        acc.into_iter()
            .map(|(k, (s, n))| (k.to_string(), s / n as f64))
            .collect()
    }

    /// The metrics a comparison of these runs looks at by default: reward, valid, and every
    /// component present in all of them.
    pub fn defaults_for(runs: &[&Run]) -> Vec<Metric> {
        let mut out = vec![Metric::Reward, Metric::Valid];
        if let Some((first, rest)) = runs.split_first() {
            for c in first.component_names() {
                if rest.iter().all(|r| r.component_names().contains(&c)) {
                    out.push(Metric::Component(c));
                }
            }
        }
        out
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Reward => f.write_str("reward"),
            Metric::Valid => f.write_str("valid"),
            Metric::Component(c) => write!(f, "component:{c}"),
            Metric::Metric(m) => write!(f, "metric:{m}"),
        }
    }
}

impl FromStr for Metric {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ReportError::BadMetric(s.to_string());
        match s {
            "reward" => Ok(Metric::Reward),
            "valid" => Ok(Metric::Valid),
            _ => match s.split_once(':') {
                Some(("component", n)) if !n.is_empty() => Ok(Metric::Component(n.to_string())),
                Some(("metric", n)) if !n.is_empty() => Ok(Metric::Metric(n.to_string())),
                _ => Err(bad()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["reward", "valid", "component:iou", "metric:latency:x"] {
            assert_eq!(s.parse::<Metric>().unwrap().to_string(), s);
        }
        assert!("component:".parse::<Metric>().is_err());
        assert!("iou".parse::<Metric>().is_err());
    }
}
