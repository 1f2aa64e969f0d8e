//! Next-token choice: greedy at temperature 0, otherwise softmax with temperature and
//! nucleus (top-p) filtering, drawn from a seeded RNG so a seed fixes the output.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub struct Sampler {
    rng: StdRng,
    temperature: f64,
    top_p: f64,
}

impl Sampler {
    pub fn new(seed: u64, temperature: f64, top_p: f64) -> Self {
        Sampler {
            rng: StdRng::seed_from_u64(seed),
            temperature,
            top_p,
        }
    }

    /// The chosen token id. NaN logits are never chosen.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.temperature <= 1e-7 {
            return argmax(logits);
        }
        let max = logits
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f32::NEG_INFINITY, f32::max) as f64;
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| (i as u32, ((*v as f64 - max) / self.temperature).exp()))
            .collect();
        if probs.is_empty() {
            return 0;
        }
        let total: f64 = probs.iter().map(|p| p.1).sum();
        if self.top_p < 1.0 {
            probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut cum = 0.0;
            let mut keep = probs.len();
            for (k, p) in probs.iter().enumerate() {
                cum += p.1 / total;
                if cum >= self.top_p {
                    keep = k + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        let mass: f64 = probs.iter().map(|p| p.1).sum();
        let mut draw = self.rng.random::<f64>() * mass;
        for (id, p) in &probs {
            if draw < *p {
                return *id;
            }
            draw -= p;
        }
        probs[probs.len() - 1].0
    }
}

/// Index of the largest logit (the first on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, v) in logits.iter().enumerate() {
        if *v > best_v {
            best = i;
            best_v = *v;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(0, 0.0, 1.0);
        assert_eq!(s.sample(&[0.1, 3.0, 3.0, f32::NAN]), 1);
    }

    #[test]
    fn same_seed_same_draws_and_top_p_cuts_the_tail() {
        let logits = [2.0f32, 1.0, 0.5, -1.0, 0.0];
        let draws = |seed| {
            let mut s = Sampler::new(seed, 1.0, 1.0);
            (0..50).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        // p(0) ≈ 0.53, p(1) ≈ 0.20: top_p 0.6 keeps tokens 0 and 1 only.
        let mut s = Sampler::new(1, 1.0, 0.6);
        let seen: std::collections::BTreeSet<u32> = (0..500).map(|_| s.sample(&logits)).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0, 1]);
    }
}
