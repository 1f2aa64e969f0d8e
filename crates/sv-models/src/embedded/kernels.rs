//! Matrix–vector products for decoding one token at a time, with f32 activations.
//!
//! Decode is memory-bound: every token reads every weight once. Holding the matrices as
//! the GGUF stores them (Q4_1: 0.75 bytes a weight here; the Q8_0 embeddings: 1.1) reads
//! 5× less than f32. Unlike candle's quantized matmuls (and ggml's), the activations are
//! NOT rounded to 8 bits: that rounding is what broke SmolLM2's answers (see
//! `docs/models.md`), so these kernels dequantise each block in registers and multiply
//! by the f32 activations. Results equal the f32 product of the dequantised matrix up
//! to summation order.
//!
//! AVX2/FMA paths are compiled in when the target has them (`.cargo/config.toml` builds
//! for x86-64-v3); a portable version covers other targets and checks the AVX2 one.

use candle_core::quantized::{GgmlDType, QTensor};
use rayon::prelude::*;

/// Weights per quantization block (Q4_1 and Q8_0 alike).
pub const BLOCK: usize = 32;
/// Bytes of one Q4_1 block in a GGUF: f16 scale, f16 minimum, 16 bytes of nibbles.
const Q4_1_BYTES: usize = 20;
/// Bytes of one Q8_0 block: f16 scale, 32 signed bytes.
const Q8_0_BYTES: usize = 34;
/// Output rows per parallel task.
const ROWS_PER_TASK: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    #[error("unsupported matrix: {0}")]
    Unsupported(String),
}

/// An `n × k` matrix (row `i` holds the weights of output `i`) in one of the layouts the
/// decode kernels read.
pub enum Matrix {
    F32 {
        w: Vec<f32>,
        n: usize,
        k: usize,
    },
    /// Value `j` of block `b` in row `i`: `nibble * d + m`; the low nibbles of the 16
    /// bytes are weights 0..16, the high nibbles 16..32 (ggml's layout).
    Q4_1 {
        qs: Vec<u8>,
        d: Vec<f32>,
        m: Vec<f32>,
        n: usize,
        k: usize,
    },
    /// Value `j` of block `b`: `q * d`.
    Q8_0 {
        qs: Vec<i8>,
        d: Vec<f32>,
        n: usize,
        k: usize,
    },
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

impl Matrix {
    /// Takes a 2-D GGUF tensor as it is stored (Q4_1, Q8_0 or F32), or dequantised to
    /// f32 when `to_f32`.
    pub fn from_qtensor(qt: &QTensor, to_f32: bool) -> Result<Matrix, KernelError> {
        let (n, k) = qt.shape().dims2()?;
        if to_f32 || qt.dtype() == GgmlDType::F32 {
            let w = qt
                .dequantize(&candle_core::Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            return Ok(Matrix::F32 { w, n, k });
        }
        if k % BLOCK != 0 {
            return Err(KernelError::Unsupported(format!(
                "row length {k} is not a multiple of {BLOCK}"
            )));
        }
        let nb = n * k / BLOCK;
        let raw = qt.data()?;
        match qt.dtype() {
            GgmlDType::Q4_1 if raw.len() == nb * Q4_1_BYTES => {
                let mut qs = Vec::with_capacity(nb * 16);
                let (mut d, mut m) = (Vec::with_capacity(nb), Vec::with_capacity(nb));
                for blk in raw.chunks_exact(Q4_1_BYTES) {
                    d.push(f16_at(blk, 0));
                    m.push(f16_at(blk, 2));
                    qs.extend_from_slice(&blk[4..]);
                }
                Ok(Matrix::Q4_1 { qs, d, m, n, k })
            }
            GgmlDType::Q8_0 if raw.len() == nb * Q8_0_BYTES => {
                let mut qs = Vec::with_capacity(nb * BLOCK);
                let mut d = Vec::with_capacity(nb);
                for blk in raw.chunks_exact(Q8_0_BYTES) {
                    d.push(f16_at(blk, 0));
                    qs.extend(blk[2..].iter().map(|&b| b as i8));
                }
                Ok(Matrix::Q8_0 { qs, d, n, k })
            }
            other => Err(KernelError::Unsupported(format!(
                "{other:?} tensor of {} bytes for {n}×{k}",
                raw.len()
            ))),
        }
    }

    /// Stacks matrices with the same input size and layout (one matvec instead of
    /// several: fewer thread hand-offs per token).
    pub fn stack(parts: Vec<Matrix>) -> Result<Matrix, KernelError> {
        let mut it = parts.into_iter();
        let Some(mut out) = it.next() else {
            return Err(KernelError::Unsupported("nothing to stack".into()));
        };
        for p in it {
            match (&mut out, p) {
                (
                    Matrix::F32 { w, n, k },
                    Matrix::F32 {
                        w: w2,
                        n: n2,
                        k: k2,
                    },
                ) if *k == k2 => {
                    w.extend(w2);
                    *n += n2;
                }
                (
                    Matrix::Q4_1 { qs, d, m, n, k },
                    Matrix::Q4_1 {
                        qs: q2,
                        d: d2,
                        m: m2,
                        n: n2,
                        k: k2,
                    },
                ) if *k == k2 => {
                    qs.extend(q2);
                    d.extend(d2);
                    m.extend(m2);
                    *n += n2;
                }
                (
                    Matrix::Q8_0 { qs, d, n, k },
                    Matrix::Q8_0 {
                        qs: q2,
                        d: d2,
                        n: n2,
                        k: k2,
                    },
                ) if *k == k2 => {
                    qs.extend(q2);
                    d.extend(d2);
                    *n += n2;
                }
                _ => {
                    return Err(KernelError::Unsupported(
                        "stacking matrices of different layouts or widths".into(),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Output size.
    pub fn rows(&self) -> usize {
        match self {
            Matrix::F32 { n, .. } | Matrix::Q4_1 { n, .. } | Matrix::Q8_0 { n, .. } => *n,
        }
    }

    /// Input size.
    pub fn cols(&self) -> usize {
        match self {
            Matrix::F32 { k, .. } | Matrix::Q4_1 { k, .. } | Matrix::Q8_0 { k, .. } => *k,
        }
    }

    /// The matrix as f32, row-major (for the prefill path's batched matmuls).
    pub fn to_f32(&self) -> Vec<f32> {
        let (n, k) = (self.rows(), self.cols());
        let mut out = vec![0f32; n * k];
        let nb = k / BLOCK;
        match self {
            Matrix::F32 { w, .. } => out.copy_from_slice(w),
            Matrix::Q4_1 { qs, d, m, .. } => {
                for (b, o) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let q = &qs[b * 16..b * 16 + 16];
                    for j in 0..16 {
                        o[j] = (q[j] & 0x0F) as f32 * d[b] + m[b];
                        o[j + 16] = (q[j] >> 4) as f32 * d[b] + m[b];
                    }
                }
            }
            Matrix::Q8_0 { qs, d, .. } => {
                for (b, o) in out.chunks_exact_mut(BLOCK).enumerate() {
                    for j in 0..BLOCK {
                        o[j] = qs[b * BLOCK + j] as f32 * d[b];
                    }
                }
            }
        }
        debug_assert_eq!(out.len(), n * nb * BLOCK);
        out
    }

    /// Row `i` dequantised into `out` (`k` floats): embedding look-ups.
    pub fn row_into(&self, i: usize, out: &mut [f32]) {
        let k = self.cols();
        let nb = k / BLOCK;
        match self {
            Matrix::F32 { w, .. } => out.copy_from_slice(&w[i * k..(i + 1) * k]),
            Matrix::Q4_1 { qs, d, m, .. } => {
                for (bi, o) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let b = i * nb + bi;
                    let q = &qs[b * 16..b * 16 + 16];
                    for j in 0..16 {
                        o[j] = (q[j] & 0x0F) as f32 * d[b] + m[b];
                        o[j + 16] = (q[j] >> 4) as f32 * d[b] + m[b];
                    }
                }
            }
            Matrix::Q8_0 { qs, d, .. } => {
                for (bi, o) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let b = i * nb + bi;
                    for j in 0..BLOCK {
                        o[j] = qs[b * BLOCK + j] as f32 * d[b];
                    }
                }
            }
        }
    }

    /// `y = W x`, rows split over rayon's pool. `x.len() == cols()`, `y.len() == rows()`.
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        let k = self.cols();
        assert_eq!(x.len(), k, "matvec input length");
        assert_eq!(y.len(), self.rows(), "matvec output length");
        let nb = k / BLOCK;
        match self {
            Matrix::F32 { w, .. } => par_rows(y, |i| dot_f32(&w[i * k..(i + 1) * k], x)),
            Matrix::Q4_1 { qs, d, m, .. } => {
                // Σ_j (q_j d + m) x_j = d Σ q_j x_j + m Σ x_j: the block sums of x are
                // shared by every row.
                let xsum: Vec<f32> = x.chunks_exact(BLOCK).map(|c| c.iter().sum()).collect();
                par_rows(y, |i| {
                    let r = i * nb..(i + 1) * nb;
                    let q = &qs[r.start * 16..r.end * 16];
                    dot_q4_1(q, &d[r.clone()], &m[r], x, &xsum)
                })
            }
            Matrix::Q8_0 { qs, d, .. } => par_rows(y, |i| {
                let r = i * nb..(i + 1) * nb;
                dot_q8_0(&qs[r.start * BLOCK..r.end * BLOCK], &d[r], x)
            }),
        }
    }
}

pub(crate) fn par_rows(y: &mut [f32], f: impl Fn(usize) -> f32 + Sync) {
    y.par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(c, ys)| {
            for (j, out) in ys.iter_mut().enumerate() {
                *out = f(c * ROWS_PER_TASK + j);
            }
        });
}

/// `Σ a_i b_i` with 32 independent partial sums (vectorised by the compiler).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 32];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..32 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut s: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    for v in acc {
        s += v;
    }
    s
}

/// `y += a x`.
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = v.mul_add(a, *o);
    }
}

/// `Σ_b (d_b Σ_j nibble_bj x_bj + m_b xsum_b)`, `xsum_b` the sum of block `b` of `x`.
fn dot_q4_1(qs: &[u8], d: &[f32], m: &[f32], x: &[f32], xsum: &[f32]) -> f32 {
    let mins: f32 = m.iter().zip(xsum).map(|(m, s)| m * s).sum();
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F was detected at run time; lengths are checked inside.
        return unsafe { avx512::dot_q4_1(qs, d, x) } + mins;
    }
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        // SAFETY: the target has AVX2 and FMA (checked at compile time); lengths are
        // checked inside.
        unsafe { avx2::dot_q4_1(qs, d, x) + mins }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        dot_q4_1_portable(qs, d, x) + mins
    }
}

fn dot_q8_0(qs: &[i8], d: &[f32], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F was detected at run time; lengths are checked inside.
        return unsafe { avx512::dot_q8_0(qs, d, x) };
    }
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        // SAFETY: as above.
        unsafe { avx2::dot_q8_0(qs, d, x) }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        dot_q8_0_portable(qs, d, x)
    }
}

#[cfg_attr(
    all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ),
    allow(dead_code)
)]
fn dot_q4_1_portable(qs: &[u8], d: &[f32], x: &[f32]) -> f32 {
    let mut s = 0f32;
    for ((q, &d), x) in qs.chunks_exact(16).zip(d).zip(x.chunks_exact(BLOCK)) {
        let mut b = 0f32;
        for j in 0..16 {
            b += (q[j] & 0x0F) as f32 * x[j] + (q[j] >> 4) as f32 * x[j + 16];
        }
        s += d * b;
    }
    s
}

#[cfg_attr(
    all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ),
    allow(dead_code)
)]
fn dot_q8_0_portable(qs: &[i8], d: &[f32], x: &[f32]) -> f32 {
    let mut s = 0f32;
    for ((q, &d), x) in qs.chunks_exact(BLOCK).zip(d).zip(x.chunks_exact(BLOCK)) {
        let b: f32 = q.iter().zip(x).map(|(&q, &x)| q as f32 * x).sum();
        s += d * b;
    }
    s
}

/// Whether to use the AVX-512 kernels: detected at run time (the build targets AVX2);
/// `SV_NO_AVX512=1` turns them off (for comparisons).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::env::var_os("SV_NO_AVX512").is_none_or(|v| v.is_empty() || v == "0")
    })
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::BLOCK;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_q4_1(qs: &[u8], d: &[f32], x: &[f32]) -> f32 {
        let nb = d.len();
        assert!(qs.len() >= nb * 16 && x.len() >= nb * BLOCK);
        let low = _mm_set1_epi8(0x0F);
        let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let (qp, xp) = (qs.as_ptr(), x.as_ptr());
        for b in 0..nb {
            let q = _mm_loadu_si128(qp.add(b * 16) as *const __m128i);
            let lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, low)));
            let hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(
                _mm_srli_epi16(q, 4),
                low,
            )));
            let x = xp.add(b * BLOCK);
            let s = _mm512_fmadd_ps(
                hi,
                _mm512_loadu_ps(x.add(16)),
                _mm512_mul_ps(lo, _mm512_loadu_ps(x)),
            );
            let db = _mm512_set1_ps(*d.get_unchecked(b));
            if b % 2 == 0 {
                acc0 = _mm512_fmadd_ps(db, s, acc0);
            } else {
                acc1 = _mm512_fmadd_ps(db, s, acc1);
            }
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_q8_0(qs: &[i8], d: &[f32], x: &[f32]) -> f32 {
        let nb = d.len();
        assert!(qs.len() >= nb * BLOCK && x.len() >= nb * BLOCK);
        let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let (qp, xp) = (qs.as_ptr(), x.as_ptr());
        for b in 0..nb {
            let q0 = _mm_loadu_si128(qp.add(b * BLOCK) as *const __m128i);
            let q1 = _mm_loadu_si128(qp.add(b * BLOCK + 16) as *const __m128i);
            let w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0));
            let w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1));
            let x = xp.add(b * BLOCK);
            let s = _mm512_fmadd_ps(
                w1,
                _mm512_loadu_ps(x.add(16)),
                _mm512_mul_ps(w0, _mm512_loadu_ps(x)),
            );
            let db = _mm512_set1_ps(*d.get_unchecked(b));
            if b % 2 == 0 {
                acc0 = _mm512_fmadd_ps(db, s, acc0);
            } else {
                acc1 = _mm512_fmadd_ps(db, s, acc1);
            }
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod avx2 {
    use super::BLOCK;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    pub unsafe fn dot_q4_1(qs: &[u8], d: &[f32], x: &[f32]) -> f32 {
        let nb = d.len();
        assert!(qs.len() >= nb * 16 && x.len() >= nb * BLOCK);
        let low = _mm_set1_epi8(0x0F);
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (qp, xp) = (qs.as_ptr(), x.as_ptr());
        for b in 0..nb {
            let q = _mm_loadu_si128(qp.add(b * 16) as *const __m128i);
            let lo = _mm_and_si128(q, low);
            let hi = _mm_and_si128(_mm_srli_epi16(q, 4), low);
            let w0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
            let w1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
            let w2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
            let w3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
            let x = xp.add(b * BLOCK);
            let s0 = _mm256_fmadd_ps(
                w1,
                _mm256_loadu_ps(x.add(8)),
                _mm256_mul_ps(w0, _mm256_loadu_ps(x)),
            );
            let s1 = _mm256_fmadd_ps(
                w3,
                _mm256_loadu_ps(x.add(24)),
                _mm256_mul_ps(w2, _mm256_loadu_ps(x.add(16))),
            );
            let db = _mm256_set1_ps(*d.get_unchecked(b));
            acc0 = _mm256_fmadd_ps(db, s0, acc0);
            acc1 = _mm256_fmadd_ps(db, s1, acc1);
        }
        hsum(_mm256_add_ps(acc0, acc1))
    }

    pub unsafe fn dot_q8_0(qs: &[i8], d: &[f32], x: &[f32]) -> f32 {
        let nb = d.len();
        assert!(qs.len() >= nb * BLOCK && x.len() >= nb * BLOCK);
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (qp, xp) = (qs.as_ptr(), x.as_ptr());
        for b in 0..nb {
            let q = _mm256_loadu_si256(qp.add(b * BLOCK) as *const __m256i);
            let ql = _mm256_castsi256_si128(q);
            let qh = _mm256_extracti128_si256(q, 1);
            let w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(ql));
            let w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(ql, 8)));
            let w2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qh));
            let w3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qh, 8)));
            let x = xp.add(b * BLOCK);
            let s0 = _mm256_fmadd_ps(
                w1,
                _mm256_loadu_ps(x.add(8)),
                _mm256_mul_ps(w0, _mm256_loadu_ps(x)),
            );
            let s1 = _mm256_fmadd_ps(
                w3,
                _mm256_loadu_ps(x.add(24)),
                _mm256_mul_ps(w2, _mm256_loadu_ps(x.add(16))),
            );
            let db = _mm256_set1_ps(*d.get_unchecked(b));
            acc0 = _mm256_fmadd_ps(db, s0, acc0);
            acc1 = _mm256_fmadd_ps(db, s1, acc1);
        }
        hsum(_mm256_add_ps(acc0, acc1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Deterministic pseudo-random values in [-1, 1) with a few large outliers, like
    /// real activations.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
                if i % 97 == 0 {
                    v * 300.0
                } else {
                    v
                }
            })
            .collect()
    }

    fn check(dtype: GgmlDType) {
        let (n, k) = (40, 96);
        let w = Tensor::from_vec(values(n * k, 1), (n, k), &Device::Cpu).unwrap();
        let qt = QTensor::quantize(&w, dtype).unwrap();
        let reference = qt.dequantize(&Device::Cpu).unwrap();
        let m = Matrix::from_qtensor(&qt, false).unwrap();
        let dense = m.to_f32();
        assert_eq!(
            dense,
            reference.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            "{dtype:?} repack"
        );
        let x = values(k, 2);
        let mut y = vec![0f32; n];
        m.matvec(&x, &mut y);
        let mut row = vec![0f32; k];
        for i in 0..n {
            m.row_into(i, &mut row);
            assert_eq!(row, dense[i * k..(i + 1) * k]);
            let exact: f64 = row.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
            // The size of the terms actually summed: Q4_1 splits each weight into
            // `q d + m`, which may be far larger than the weight itself.
            let scale: f64 = match &m {
                Matrix::Q4_1 { d, m: mins, .. } => x
                    .chunks_exact(BLOCK)
                    .enumerate()
                    .map(|(b, xb)| {
                        let j = i * (k / BLOCK) + b;
                        (15.0 * d[j].abs() + mins[j].abs()) as f64
                            * xb.iter().map(|v| v.abs() as f64).sum::<f64>()
                    })
                    .sum(),
                _ => row
                    .iter()
                    .zip(&x)
                    .map(|(a, b)| (*a as f64 * *b as f64).abs())
                    .sum(),
            };
            assert!(
                (y[i] as f64 - exact).abs() <= 1e-5 * scale.max(1.0),
                "{dtype:?} row {i}: {} vs {exact}",
                y[i]
            );
        }
    }

    #[test]
    fn q4_1_matvec_equals_the_dequantised_product() {
        check(GgmlDType::Q4_1);
    }

    #[test]
    fn q8_0_matvec_equals_the_dequantised_product() {
        check(GgmlDType::Q8_0);
    }

    #[test]
    fn f32_matvec_equals_the_product() {
        check(GgmlDType::F32);
    }

    #[test]
    fn simd_and_portable_kernels_agree() {
        let k = 192;
        let x = values(k, 3);
        let w = Tensor::from_vec(values(k, 4), (1, k), &Device::Cpu).unwrap();
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let m = Matrix::from_qtensor(&QTensor::quantize(&w, dtype).unwrap(), false).unwrap();
            let (simd, portable) = match &m {
                Matrix::Q4_1 { qs, d, m, .. } => {
                    let xsum: Vec<f32> = x.chunks_exact(BLOCK).map(|c| c.iter().sum()).collect();
                    let mins: f32 = m.iter().zip(&xsum).map(|(m, s)| m * s).sum();
                    (
                        dot_q4_1(qs, d, m, &x, &xsum),
                        dot_q4_1_portable(qs, d, &x) + mins,
                    )
                }
                Matrix::Q8_0 { qs, d, .. } => (dot_q8_0(qs, d, &x), dot_q8_0_portable(qs, d, &x)),
                Matrix::F32 { .. } => unreachable!(),
            };
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
            assert!(close(simd, portable), "{simd} vs {portable}");
            // Each SIMD flavour the machine has, whichever `dot_*` picked.
            let (plain, mins) = match &m {
                Matrix::Q4_1 { qs, d, m, .. } => {
                    let xsum: Vec<f32> = x.chunks_exact(BLOCK).map(|c| c.iter().sum()).collect();
                    let mins: f32 = m.iter().zip(&xsum).map(|(m, s)| m * s).sum();
                    (dot_q4_1_portable(qs, d, &x), mins)
                }
                Matrix::Q8_0 { qs, d, .. } => (dot_q8_0_portable(qs, d, &x), 0.0),
                Matrix::F32 { .. } => unreachable!(),
            };
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: detected just above.
                let v = unsafe {
                    match &m {
                        Matrix::Q4_1 { qs, d, .. } => avx512::dot_q4_1(qs, d, &x),
                        Matrix::Q8_0 { qs, d, .. } => avx512::dot_q8_0(qs, d, &x),
                        Matrix::F32 { .. } => unreachable!(),
                    }
                };
                assert!(close(v + mins, plain + mins), "avx512 {v} vs {plain}");
            }
            #[cfg(all(
                target_arch = "x86_64",
                target_feature = "avx2",
                target_feature = "fma"
            ))]
            {
                // SAFETY: compiled for AVX2/FMA.
                let v = unsafe {
                    match &m {
                        Matrix::Q4_1 { qs, d, .. } => avx2::dot_q4_1(qs, d, &x),
                        Matrix::Q8_0 { qs, d, .. } => avx2::dot_q8_0(qs, d, &x),
                        Matrix::F32 { .. } => unreachable!(),
                    }
                };
                assert!(close(v + mins, plain + mins), "avx2 {v} vs {plain}");
            }
        }
    }
}
