//! Seeded bootstrap statistics, quantiles, histograms and calibration.
//!
//! Everything here is a pure function of its inputs and [`Bootstrap::seed`]: the same data and
//! seed give the same interval on every machine (the RNG, ChaCha8, and `rand` are pinned to exact
//! versions in Cargo.toml for that reason).

use rand::distributions::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of the percentile bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Number of resamples (default 10,000: the Monte-Carlo error of a 95 % percentile bound
    /// is then well under 1 % of the interval width for the sample sizes evaluations have).
    pub resamples: usize,
    /// RNG seed (default 42). Every statistic starts from this seed, so a figure does not
    /// depend on which other figures were computed before it.
    pub seed: u64,
    /// Two-sided confidence level (default 0.95).
    pub level: f64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 10_000,
            seed: 42,
            level: 0.95,
        }
    }
}

/// A mean with its bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    /// Number of observations (tasks, when the caller averaged rollouts per task first).
    pub n: usize,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The result of a paired bootstrap of `b - a` over matched observations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// Number of matched pairs.
    pub n: usize,
    pub mean_a: f64,
    pub mean_b: f64,
    /// `mean_b - mean_a` (the mean of the per-pair differences).
    pub delta: f64,
    /// Percentile bootstrap interval of `delta`.
    pub lo: f64,
    pub hi: f64,
    /// Two-sided bootstrap p-value of "no difference": the share of resampled mean
    /// differences, re-centred on zero, that are at least as far from zero as the observed
    /// one, computed as `(1 + count) / (1 + resamples)` so it is never exactly zero.
    pub p_value: f64,
}

/// Arithmetic mean (`None` for an empty slice).
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// Sample standard deviation (n - 1 in the denominator); `None` below two values.
pub fn std_dev(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (values.len() - 1) as f64).sqrt())
}

/// Quantile `q` in [0, 1] of already sorted values, linear interpolation between order
/// statistics (R's type 7, numpy's default). `None` for an empty slice.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let q = q.clamp(0.0, 1.0);
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Quantile of unsorted values (copies and sorts; NaNs must not be present).
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

/// Resampled means: `resamples` means of `values` drawn with replacement.
fn resampled_means(values: &[f64], cfg: &Bootstrap) -> Vec<f64> {
    let n = values.len();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let pick = Uniform::new(0, n);
    let mut out = Vec::with_capacity(cfg.resamples);
    for _ in 0..cfg.resamples {
        let mut sum = 0.0;
        for _ in 0..n {
            sum += values[pick.sample(&mut rng)];
        }
        out.push(sum / n as f64);
    }
    out
}

fn interval(mut means: Vec<f64>, level: f64) -> (f64, f64) {
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    let lo = quantile_sorted(&means, alpha).unwrap_or(f64::NAN);
    let hi = quantile_sorted(&means, 1.0 - alpha).unwrap_or(f64::NAN);
    (lo, hi)
}

/// Mean with a percentile-bootstrap confidence interval. `None` for no values; a single value
/// (or zero resamples) gives a zero-width interval at the mean.
pub fn bootstrap_mean(values: &[f64], cfg: &Bootstrap) -> Option<MeanCi> {
    let m = mean(values)?;
    if values.len() == 1 || cfg.resamples == 0 {
        return Some(MeanCi {
            n: values.len(),
            mean: m,
            lo: m,
            hi: m,
        });
    }
    let (lo, hi) = interval(resampled_means(values, cfg), cfg.level);
    Some(MeanCi {
        n: values.len(),
        mean: m,
        lo,
        hi,
    })
}

/// [`bootstrap_mean`] of several equally long columns at once: every resample draws one set of
/// indices and sums all columns with it, so k columns cost little more than one. Each result is
/// identical to `bootstrap_mean(column, cfg)` (same seed, same draws). `None` for empty input;
/// columns must all have the same length (columns of another length give `None`).
pub fn bootstrap_means(columns: &[&[f64]], cfg: &Bootstrap) -> Vec<Option<MeanCi>> {
    let Some(n) = columns.first().map(|c| c.len()) else {
        return Vec::new();
    };
    if n <= 1 || cfg.resamples == 0 {
        return columns.iter().map(|c| bootstrap_mean(c, cfg)).collect();
    }
    let ok: Vec<bool> = columns.iter().map(|c| c.len() == n).collect();
    let live: Vec<&[f64]> = columns
        .iter()
        .zip(&ok)
        .filter(|(_, ok)| **ok)
        .map(|(c, _)| *c)
        .collect();
    // Row-major copy: one draw touches k adjacent values, summed into k independent
    // accumulators (no dependency chain between columns).
    let k = live.len();
    let mut data = vec![0.0; n * k];
    for (j, col) in live.iter().enumerate() {
        for (i, v) in col.iter().enumerate() {
            data[i * k + j] = *v;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let pick = Uniform::new(0, n);
    let mut sums = vec![0.0; k];
    let mut means: Vec<Vec<f64>> = vec![Vec::with_capacity(cfg.resamples); k];
    for _ in 0..cfg.resamples {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for _ in 0..n {
            let i = pick.sample(&mut rng);
            for (s, v) in sums.iter_mut().zip(&data[i * k..i * k + k]) {
                *s += v;
            }
        }
        for (out, s) in means.iter_mut().zip(&sums) {
            out.push(s / n as f64);
        }
    }
    let mut results = means.into_iter().zip(&live).map(|(m, col)| {
        let (lo, hi) = interval(m, cfg.level);
        Some(MeanCi {
            n,
            mean: mean(col).unwrap_or(f64::NAN),
            lo,
            hi,
        })
    });
    ok.iter()
        .map(|ok| if *ok { results.next().flatten() } else { None })
        .collect()
}

/// Paired bootstrap of `b - a`; `a[i]` and `b[i]` must be the same task. `None` when the
/// slices are empty or differ in length.
pub fn paired_bootstrap(a: &[f64], b: &[f64], cfg: &Bootstrap) -> Option<Paired> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let mean_a = mean(a)?;
    let mean_b = mean(b)?;
    let delta = mean(&diffs)?;
    if diffs.len() == 1 || cfg.resamples == 0 {
        return Some(Paired {
            n: diffs.len(),
            mean_a,
            mean_b,
            delta,
            lo: delta,
            hi: delta,
            p_value: 1.0,
        });
    }
    let means = resampled_means(&diffs, cfg);
    // Under the null the resampled deltas scatter around zero as they scatter around `delta`;
    // a tolerance absorbs float noise so that identical runs give exactly p = 1.
    let tol = 1e-12 * (1.0 + delta.abs());
    let extreme = means
        .iter()
        .filter(|m| ((*m - delta).abs() + tol) >= delta.abs())
        .count();
    let p_value = ((1 + extreme) as f64 / (1 + means.len()) as f64).min(1.0);
    let (lo, hi) = interval(means, cfg.level);
    Some(Paired {
        n: diffs.len(),
        mean_a,
        mean_b,
        delta,
        lo,
        hi,
        p_value,
    })
}

/// Equal-width histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    /// `counts[i]` covers `[lo + i·w, lo + (i+1)·w)`; the last bin also holds `hi`.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Bins `values` into `bins` equal bins over `[lo, hi]`; values outside are clamped into
    /// the first/last bin, NaNs are skipped. `bins` is at least 1; `hi <= lo` puts everything
    /// in one bin.
    pub fn new(values: &[f64], lo: f64, hi: f64, bins: usize) -> Self {
        let bins = bins.max(1);
        let mut counts = vec![0u64; bins];
        let width = hi - lo;
        for &v in values {
            if v.is_nan() {
                continue;
            }
            let i = if width > 0.0 {
                (((v - lo) / width) * bins as f64).floor()
            } else {
                0.0
            };
            let i = if i < 0.0 {
                0
            } else {
                (i as usize).min(bins - 1)
            };
            counts[i] += 1;
        }
        Histogram { lo, hi, counts }
    }

    /// A range that suits rewards: `[0, 1]` when every value lies there, otherwise the data's
    /// own range (widened by one when it is a single point).
    pub fn auto_range(values: &[f64]) -> (f64, f64) {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in finite {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        if lo >= 0.0 && hi <= 1.0 {
            return (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            return (lo - 0.5, hi + 0.5);
        }
        (lo, hi)
    }

    pub fn bin_edges(&self, i: usize) -> (f64, f64) {
        let w = (self.hi - self.lo) / self.counts.len() as f64;
        (self.lo + w * i as f64, self.lo + w * (i + 1) as f64)
    }
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    /// Mean stated confidence in the bin (NaN when empty).
    pub confidence: f64,
    /// Mean outcome (accuracy for 0/1 outcomes) in the bin (NaN when empty).
    pub accuracy: f64,
}

/// Calibration of stated confidences against outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub n: usize,
    /// Expected calibration error: `Σ_bins |bin|/n · |accuracy − confidence|`.
    pub ece: f64,
    /// Maximum calibration error over non-empty bins.
    pub mce: f64,
    /// Mean squared error of confidence against outcome.
    pub brier: f64,
    pub bins: Vec<ReliabilityBin>,
}

/// Reliability bins and ECE over `(confidence, outcome)` pairs, both in [0, 1] (values outside
/// are clamped). Bins are equal-width over [0, 1]; a confidence of exactly 1 falls in the last
/// bin. `None` when there are no pairs.
pub fn calibration(pairs: &[(f64, f64)], bins: usize) -> Option<Calibration> {
    let bins = bins.max(1);
    let pairs: Vec<(f64, f64)> = pairs
        .iter()
        .filter(|(c, o)| c.is_finite() && o.is_finite())
        .map(|&(c, o)| (c.clamp(0.0, 1.0), o.clamp(0.0, 1.0)))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mut sum_c = vec![0.0; bins];
    let mut sum_o = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    let mut brier = 0.0;
    for &(c, o) in &pairs {
        let i = ((c * bins as f64).floor() as usize).min(bins - 1);
        sum_c[i] += c;
        sum_o[i] += o;
        count[i] += 1;
        brier += (c - o) * (c - o);
    }
    let n = pairs.len();
    let mut ece = 0.0;
    let mut mce: f64 = 0.0;
    let mut out = Vec::with_capacity(bins);
    for i in 0..bins {
        let (conf, acc) = if count[i] > 0 {
            (sum_c[i] / count[i] as f64, sum_o[i] / count[i] as f64)
        } else {
            (f64::NAN, f64::NAN)
        };
        if count[i] > 0 {
            let gap = (acc - conf).abs();
            ece += count[i] as f64 / n as f64 * gap;
            mce = mce.max(gap);
        }
        out.push(ReliabilityBin {
            lo: i as f64 / bins as f64,
            hi: (i + 1) as f64 / bins as f64,
            count: count[i],
            confidence: conf,
            accuracy: acc,
        });
    }
    Some(Calibration {
        n,
        ece,
        mce,
        brier: brier / n as f64,
        bins: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&v, 1.0), Some(4.0));
        // numpy.quantile([1,2,3,4], 0.5) == 2.5, 0.25 -> 1.75
        assert_eq!(quantile_sorted(&v, 0.5), Some(2.5));
        assert_eq!(quantile_sorted(&v, 0.25), Some(1.75));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn histogram_bins_edges_and_clamps() {
        let h = Histogram::new(
            &[0.0, 0.05, 0.1, 0.55, 1.0, 1.5, -1.0, f64::NAN],
            0.0,
            1.0,
            10,
        );
        assert_eq!(h.counts, vec![3, 1, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(Histogram::auto_range(&[0.2, 0.9]), (0.0, 1.0));
        assert_eq!(Histogram::auto_range(&[-2.0, 3.0]), (-2.0, 3.0));
        assert_eq!(Histogram::auto_range(&[]), (0.0, 1.0));
    }

    #[test]
    fn shared_draws_equal_separate_draws() {
        let cfg = Bootstrap {
            resamples: 500,
            ..Bootstrap::default()
        };
        let a: Vec<f64> = (0..50).map(|i| (i % 7) as f64).collect();
        let b: Vec<f64> = (0..50).map(|i| ((i * 3) % 11) as f64 / 10.0).collect();
        let short = [1.0, 2.0];
        let got = bootstrap_means(&[&a, &short, &b], &cfg);
        assert_eq!(got[0], bootstrap_mean(&a, &cfg));
        assert_eq!(got[1], None);
        assert_eq!(got[2], bootstrap_mean(&b, &cfg));
    }

    #[test]
    fn single_value_and_empty() {
        let cfg = Bootstrap::default();
        assert!(bootstrap_mean(&[], &cfg).is_none());
        let one = bootstrap_mean(&[0.7], &cfg).unwrap();
        assert_eq!((one.mean, one.lo, one.hi), (0.7, 0.7, 0.7));
        assert!(paired_bootstrap(&[1.0], &[1.0, 2.0], &cfg).is_none());
    }

    #[test]
    fn calibration_by_hand() {
        // Bin [0.2,0.3): confidences 0.2, 0.2 with outcomes 0, 1 -> acc 0.5, conf 0.2, gap 0.3.
        // Bin [0.9,1.0]: confidences 0.9, 1.0 with outcomes 1, 1 -> acc 1, conf 0.95, gap 0.05.
        let c = calibration(&[(0.2, 0.0), (0.2, 1.0), (0.9, 1.0), (1.0, 1.0)], 10).unwrap();
        assert_eq!(c.n, 4);
        assert!(
            (c.ece - (0.5 * 0.3 + 0.5 * 0.05)).abs() < 1e-12,
            "{}",
            c.ece
        );
        assert!((c.mce - 0.3).abs() < 1e-12);
        let brier = (0.04 + 0.64 + 0.01 + 0.0) / 4.0;
        assert!((c.brier - brier).abs() < 1e-12);
        assert_eq!(c.bins[2].count, 2);
        assert_eq!(c.bins[9].count, 2);
        assert!(c.bins[0].accuracy.is_nan());
        // Perfect calibration.
        let p = calibration(&[(0.0, 0.0), (1.0, 1.0)], 10).unwrap();
        assert_eq!(p.ece, 0.0);
    }
}
