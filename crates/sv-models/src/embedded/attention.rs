//! Attention of one new token over the KV cache (decode).
//!
//! At long context this, not the matrices, is most of a decode step: a 5,000-token
//! cache is 230 MB of keys and values to read per token. Each kv head's keys and values
//! are contiguous, the query heads that share a kv head (grouped-query attention) read
//! them once together, and the positions are split into chunks spread over the thread
//! pool, each with its own running maximum, merged at the end (the split-softmax of
//! "flash decoding").

use rayon::prelude::*;

/// Positions per parallel work item.
const CHUNK: usize = 512;

/// One chunk's unnormalised result for each query head of a group.
struct Partial {
    /// Maximum score per head.
    max: Vec<f32>,
    /// Σ exp(score - max) per head.
    sum: Vec<f32>,
    /// Σ exp(score - max) · value, `[head][hd]`.
    acc: Vec<f32>,
}

/// `Σ a_i b_i` over short vectors (a head's 64 values), two 8-wide accumulators.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Scores, softmax pieces and weighted values of positions `from..to` for the `rep`
/// query heads `q` (`[rep][hd]`) sharing keys `k` and values `v` (`[pos][hd]`).
fn chunk(q: &[f32], k: &[f32], v: &[f32], hd: usize, from: usize, to: usize) -> Partial {
    let rep = q.len() / hd;
    let n = to - from;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut scores = vec![0f32; rep * n];
    for p in from..to {
        let key = &k[p * hd..(p + 1) * hd];
        for r in 0..rep {
            scores[r * n + p - from] = dot(&q[r * hd..(r + 1) * hd], key) * scale;
        }
    }
    let mut max = vec![f32::NEG_INFINITY; rep];
    let mut sum = vec![0f32; rep];
    for r in 0..rep {
        let s = &mut scores[r * n..(r + 1) * n];
        max[r] = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for x in s.iter_mut() {
            *x = (*x - max[r]).exp();
            sum[r] += *x;
        }
    }
    let mut acc = vec![0f32; rep * hd];
    for p in from..to {
        let val = &v[p * hd..(p + 1) * hd];
        for r in 0..rep {
            let w = scores[r * n + p - from];
            for (o, x) in acc[r * hd..(r + 1) * hd].iter_mut().zip(val) {
                *o = x.mul_add(w, *o);
            }
        }
    }
    Partial { max, sum, acc }
}

/// Attention output `out` (`[n_head][hd]`) of query `q` (`[n_head][hd]`, rotated) over
/// the first `len` positions of each kv head's `keys[g]`/`values[g]` (`[pos][hd]`).
/// Query head `h` uses kv head `h / (n_head / kv_heads)`.
pub fn decode(
    q: &[f32],
    keys: &[Vec<f32>],
    values: &[Vec<f32>],
    len: usize,
    hd: usize,
    out: &mut [f32],
) {
    let nkv = keys.len();
    let rep = q.len() / hd / nkv;
    let chunks = len.div_ceil(CHUNK);
    let work = |i: usize| {
        let (g, c) = (i / chunks, i % chunks);
        let qg = &q[g * rep * hd..(g + 1) * rep * hd];
        let to = ((c + 1) * CHUNK).min(len);
        chunk(qg, &keys[g], &values[g], hd, c * CHUNK, to)
    };
    let items = nkv * chunks;
    // Below a few thousand positions in all, waking the pool costs more than it saves.
    let parts: Vec<Partial> = if items > 1 && len * nkv >= 2048 {
        (0..items).into_par_iter().map(work).collect()
    } else {
        (0..items).map(work).collect()
    };
    for g in 0..nkv {
        let group = &parts[g * chunks..(g + 1) * chunks];
        for r in 0..rep {
            let m = group
                .iter()
                .map(|p| p.max[r])
                .fold(f32::NEG_INFINITY, f32::max);
            let o = &mut out[(g * rep + r) * hd..(g * rep + r + 1) * hd];
            o.fill(0.0);
            let mut denom = 0f32;
            for p in group {
                let f = (p.max[r] - m).exp();
                denom += f * p.sum[r];
                for (a, x) in o.iter_mut().zip(&p.acc[r * hd..(r + 1) * hd]) {
                    *a = x.mul_add(f, *a);
                }
            }
            for a in o.iter_mut() {
                *a /= denom;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain softmax attention, head by head, in f64.
    fn reference(q: &[f32], k: &[Vec<f32>], v: &[Vec<f32>], len: usize, hd: usize) -> Vec<f32> {
        let nh = q.len() / hd;
        let rep = nh / k.len();
        let mut out = vec![0f32; q.len()];
        for h in 0..nh {
            let g = h / rep;
            let s: Vec<f64> = (0..len)
                .map(|p| {
                    (0..hd)
                        .map(|i| q[h * hd + i] as f64 * k[g][p * hd + i] as f64)
                        .sum::<f64>()
                        / (hd as f64).sqrt()
                })
                .collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for i in 0..hd {
                out[h * hd + i] = ((0..len)
                    .map(|p| e[p] * v[g][p * hd + i] as f64)
                    .sum::<f64>()
                    / z) as f32;
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 250.0 - 2.0)
            .collect()
    }

    #[test]
    fn chunked_attention_equals_plain_softmax_attention() {
        let (hd, nkv, rep) = (64, 3, 3);
        for len in [1, 7, 511, 512, 513, 1500] {
            let q = values(nkv * rep * hd, 1);
            let k: Vec<Vec<f32>> = (0..nkv).map(|g| values(len * hd, 10 + g as u32)).collect();
            let v: Vec<Vec<f32>> = (0..nkv).map(|g| values(len * hd, 20 + g as u32)).collect();
            let mut out = vec![0f32; q.len()];
            decode(&q, &k, &v, len, hd, &mut out);
            let want = reference(&q, &k, &v, len, hd);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-4, "len {len} [{i}]: {a} vs {b}");
            }
        }
    }
}
