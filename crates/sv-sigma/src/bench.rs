//! Measurements behind `sv bench sigma`: the per-rule reward latency that an RL loop
//! pays (compile + evaluate + IoU against a cached reference answer), measured on the
//! calling thread so it reflects one core.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sv_events::EventStore;

use crate::engine::Engine;
use crate::score::Scorer;

/// The shared corpus (`<data>/evtx`) as an event store, through the default snapshot cache
/// (`sv_data::cache_dir()/events`, the one `sv sigma hunt` uses): what benchmarks, examples
/// and corpus-wide tests start from.
pub fn corpus_store(data: &sv_data::DataDir) -> Result<EventStore, String> {
    let evtx = data.evtx().map_err(|e| e.to_string())?;
    let opts = sv_events::LoadOptions {
        cache_dir: Some(sv_data::cache_dir().join("events")),
        ..Default::default()
    };
    EventStore::load(std::slice::from_ref(&evtx), &opts)
        .map(|(store, _)| store)
        .map_err(|e| e.to_string())
}

/// How the latency benchmark runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyConfig {
    /// Timed repetitions per rule; the rule's latency is their median (default 7).
    pub reps: usize,
    /// Untimed runs per rule first (default 1): warms caches as a training loop would.
    pub warmup: usize,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig { reps: 7, warmup: 1 }
    }
}

/// One rule's reward latency.
#[derive(Debug, Clone, Serialize)]
pub struct RuleLatency {
    pub path: String,
    /// Median over the repetitions, in microseconds.
    pub micros: f64,
    /// Deduplicated events the rule matches.
    pub matches: u64,
}

/// The distribution over all rules that fire.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Rule files tried.
    pub files: usize,
    /// Files that compile and match at least one event: the ones measured.
    pub firing: usize,
    pub median_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// Measured rules, slowest first.
    pub rules: Vec<RuleLatency>,
}

/// The `p`-quantile (0..=1) of sorted values by nearest rank; 0 for no values.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Every `.yml`/`.yaml` file under `paths` (files given directly are taken whatever
/// their name), recursively, sorted, without following directory links.
pub fn rule_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(meta) = std::fs::symlink_metadata(p) {
            if meta.is_dir() {
                if let Ok(rd) = std::fs::read_dir(p) {
                    for e in rd.flatten() {
                        walk(&e.path(), out);
                    }
                }
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(p.to_path_buf());
            }
        }
    }
    let mut files = Vec::new();
    for p in paths {
        if p.is_file() {
            files.push(p.clone());
        } else {
            walk(p, &mut files);
        }
    }
    files.sort();
    files.dedup();
    files
}

/// [`rule_paths`] with each file's text (unreadable files are left out: the latency
/// benchmark measures rules, `sv sigma hunt` reports the rest).
pub fn rule_files(paths: &[PathBuf]) -> Vec<(String, String)> {
    rule_paths(paths)
        .into_iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(&f).ok()?;
            Some((f.display().to_string(), text))
        })
        .collect()
}

/// Measures the reward latency of every rule text that fires on `store`: each rule is
/// scored as a candidate against its own cached reference answer, so the figure is
/// compile + evaluate + IoU, the work done per rollout.
pub fn reward_latency(
    store: &EventStore,
    engine: &Engine,
    rules: &[(String, String)],
    config: &LatencyConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> LatencyReport {
    let scorer = Scorer::new(store, engine);
    let mut measured = Vec::new();
    for (i, (path, text)) in rules.iter().enumerate() {
        progress(i + 1, rules.len());
        let Ok(reference) = scorer.reference(text) else {
            continue;
        };
        if reference.matches.is_empty() {
            continue;
        }
        for _ in 0..config.warmup {
            std::hint::black_box(scorer.score_against(text, &reference));
        }
        let mut samples: Vec<f64> = (0..config.reps.max(1))
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(scorer.score_against(text, &reference));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        measured.push(RuleLatency {
            path: path.clone(),
            micros: quantile(&samples, 0.5),
            matches: reference.matches.len(),
        });
    }
    let mut values: Vec<f64> = measured.iter().map(|r| r.micros).collect();
    values.sort_by(f64::total_cmp);
    measured.sort_by(|a, b| b.micros.total_cmp(&a.micros).then(a.path.cmp(&b.path)));
    let mean = if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    LatencyReport {
        files: rules.len(),
        firing: measured.len(),
        median_us: quantile(&values, 0.5),
        p90_us: quantile(&values, 0.9),
        p99_us: quantile(&values, 0.99),
        max_us: values.last().copied().unwrap_or(0.0),
        mean_us: mean,
        rules: measured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.9), 90.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
