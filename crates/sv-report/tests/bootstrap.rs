//! The bootstrap against analytic cases: for a large sample the percentile interval of a mean
//! must match the normal approximation `mean ± 1.96·s/√n`; a paired test must find a known
//! shift and must find nothing between identical runs. Deterministic by seed.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr_free::normal;
use sv_report::stats::{bootstrap_mean, paired_bootstrap, std_dev, Bootstrap};

/// Standard normal draws by Box–Muller from a seeded ChaCha8 stream (no extra crate).
mod rand_distr_free {
    use rand::Rng;
    pub fn normal(rng: &mut impl Rng, n: usize, mu: f64, sigma: f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = rng.gen();
            let r = (-2.0 * u1.ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            out.push(mu + sigma * r * t.cos());
            if out.len() < n {
                out.push(mu + sigma * r * t.sin());
            }
        }
        out
    }
}

const Z975: f64 = 1.959_963_984_540_054;

fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} ± {tol}"
    );
}

#[test]
fn bernoulli_mean_ci_matches_normal_approximation() {
    // Exactly 3,000 successes in 10,000 trials: p̂ = 0.3, se = √(p̂(1−p̂)/n).
    let n = 10_000;
    let values: Vec<f64> = (0..n).map(|i| if i % 10 < 3 { 1.0 } else { 0.0 }).collect();
    let ci = bootstrap_mean(&values, &Bootstrap::default()).unwrap();
    let se = (0.3f64 * 0.7 / n as f64).sqrt();
    let half = Z975 * se; // 0.008982
    assert_eq!(ci.n, n);
    assert_close("mean", ci.mean, 0.3, 1e-12);
    // Monte-Carlo error of a 2.5 % quantile from 10,000 resamples is ~2 % of the half width.
    assert_close("lo", ci.lo, 0.3 - half, 0.06 * half);
    assert_close("hi", ci.hi, 0.3 + half, 0.06 * half);
    assert!(ci.lo < 0.3 && 0.3 < ci.hi);
}

#[test]
fn normal_mean_ci_matches_t_interval() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let values = normal(&mut rng, 5_000, 2.0, 3.0);
    let s = std_dev(&values).unwrap();
    let m = values.iter().sum::<f64>() / values.len() as f64;
    let half = Z975 * s / (values.len() as f64).sqrt();
    let ci = bootstrap_mean(&values, &Bootstrap::default()).unwrap();
    assert_close("mean", ci.mean, m, 1e-12);
    assert_close("lo", ci.lo, m - half, 0.06 * half);
    assert_close("hi", ci.hi, m + half, 0.06 * half);
    // And the sample itself is what it claims to be.
    assert_close("sd", s, 3.0, 0.1);
}

#[test]
fn ci_level_is_respected() {
    let values: Vec<f64> = (0..2_000).map(|i| (i % 7) as f64).collect();
    let s = std_dev(&values).unwrap();
    let cfg = Bootstrap {
        level: 0.80,
        ..Bootstrap::default()
    };
    let ci = bootstrap_mean(&values, &cfg).unwrap();
    let z90 = 1.281_551_565_545;
    let half = z90 * s / (values.len() as f64).sqrt();
    assert_close("80% half width", (ci.hi - ci.lo) / 2.0, half, 0.06 * half);
}

#[test]
fn same_seed_same_interval_other_seed_other_interval() {
    let values: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64 / 100.0).collect();
    let a = bootstrap_mean(&values, &Bootstrap::default()).unwrap();
    let b = bootstrap_mean(&values, &Bootstrap::default()).unwrap();
    assert_eq!(a, b);
    let c = bootstrap_mean(
        &values,
        &Bootstrap {
            seed: 43,
            ..Bootstrap::default()
        },
    )
    .unwrap();
    assert_ne!(a.lo, c.lo);
    assert_close("seed-to-seed", a.lo, c.lo, 0.01);
}

#[test]
fn paired_known_shift_is_significant() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let a = normal(&mut rng, 400, 0.5, 0.2);
    let noise = normal(&mut rng, 400, 0.0, 0.05);
    // b = a + 0.1 + small noise: a strong, consistent improvement.
    let b: Vec<f64> = a.iter().zip(&noise).map(|(x, e)| x + 0.1 + e).collect();
    let p = paired_bootstrap(&a, &b, &Bootstrap::default()).unwrap();
    let want = noise.iter().sum::<f64>() / 400.0 + 0.1;
    assert_close("delta", p.delta, want, 1e-12);
    assert!(p.p_value < 0.01, "p = {}", p.p_value);
    // Nothing at least as extreme in 10,000 resamples: p = 1/(B+1).
    assert_close("p", p.p_value, 1.0 / 10_001.0, 1e-15);
    assert!(p.lo < p.delta && p.delta < p.hi && p.lo > 0.08 && p.hi < 0.12);
    // Pairing matters: the shift is tiny next to the between-task spread (sd 0.2), and the
    // paired interval is about as narrow as the noise alone (sd 0.05 / √400 ≈ 0.0025).
    let half = Z975 * std_dev(&noise).unwrap() / 20.0;
    assert_close("paired half width", (p.hi - p.lo) / 2.0, half, 0.08 * half);
}

#[test]
fn paired_identical_runs_give_zero_and_p_one() {
    let a: Vec<f64> = (0..300).map(|i| ((i * 13) % 17) as f64 / 16.0).collect();
    let p = paired_bootstrap(&a, &a, &Bootstrap::default()).unwrap();
    assert_eq!(p.delta, 0.0);
    assert_eq!((p.lo, p.hi), (0.0, 0.0));
    assert_eq!(p.p_value, 1.0);
}

#[test]
fn paired_pure_noise_is_not_significant() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let a = normal(&mut rng, 300, 0.5, 0.2);
    let b = normal(&mut rng, 300, 0.5, 0.2);
    let p = paired_bootstrap(&a, &b, &Bootstrap::default()).unwrap();
    assert!(p.p_value > 0.05, "p = {} delta = {}", p.p_value, p.delta);
    assert!(p.lo < 0.0 && p.hi > 0.0);
}
