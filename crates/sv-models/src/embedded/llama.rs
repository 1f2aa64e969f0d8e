//! SmolLM2's llama architecture: batched prefill on candle, single-token decode on our
//! own kernels.
//!
//! Why not candle's quantized matmuls: they (like ggml's) round the activations to 8
//! bits per block of 32 before the dot products. SmolLM2-135M's hidden states carry
//! outlier channels (residual values near 25,000 next to values near 1), and that
//! rounding, compounded over 30 layers, moves the logits by about 5%: enough to turn
//! "The capital of France is Paris." into noise. The weights themselves are fine: the
//! same Q4_1 matrices with f32 activations answer correctly (`examples/quant_check.rs`
//! shows it layer by layer). So:
//!
//! - prefill (many tokens at once, compute-bound) multiplies by f32 copies of the
//!   matrices with candle's gemm;
//! - decode (one token, memory-bound) multiplies by the matrices as stored (Q4_1, the
//!   Q8_0 embeddings), dequantised in registers against f32 activations
//!   ([`kernels`](super::kernels)), with plain-Rust attention over a growable KV cache
//!   ([`attention`](super::attention)).
//!
//! [`Precision::F32`] decodes from f32 matrices instead (the reference; slower).
//! The KV cache lives outside the weights ([`KvCache`]), so one loaded model serves any
//! number of sequences, and a prefilled cache can be cloned to decode several choices.

use std::io::{Read, Seek};
use std::str::FromStr;

use candle_core::quantized::{gguf_file, QTensor};
use candle_core::{DType, Device, Result, Tensor};

use super::attention;
use super::kernels::{self, dot_f32, Matrix};

/// How the matrices are held for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// As stored in the file (Q4_1 matrices, Q8_0 embeddings), multiplied against f32
    /// activations (default: the f32 answers at about twice the decode speed).
    Q4_1,
    /// Dequantised to f32 (the reference).
    F32,
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "q4_1" | "q4" => Ok(Precision::Q4_1),
            "f32" => Ok(Precision::F32),
            _ => Err(format!("unknown precision {s:?} (expected q4_1 or f32)")),
        }
    }
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Q4_1 => "q4_1",
            Precision::F32 => "f32",
        }
    }
}

fn kerr(e: kernels::KernelError) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

/// A matrix in the layout decode reads: the file's blocks, or f32 for [`Precision::F32`].
fn decode_matrix(qt: &QTensor, precision: Precision) -> Result<Matrix> {
    Matrix::from_qtensor(qt, precision == Precision::F32).map_err(kerr)
}

fn rms_norm_into(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ms = dot_f32(x, x) / x.len() as f32;
    let r = 1.0 / (ms + eps).sqrt();
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = v * r * g;
    }
}

/// Rotates consecutive pairs of `x` (one head) by the angles of one position.
fn rope_in_place(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    for (pair, (&c, &s)) in x.chunks_exact_mut(2).zip(cos.iter().zip(sin)) {
        let (a, b) = (pair[0], pair[1]);
        pair[0] = a * c - b * s;
        pair[1] = a * s + b * c;
    }
}

struct Layer {
    /// f32 matrices for prefill: q, k, v, o, gate, up, down.
    dense: [Tensor; 7],
    /// For decode: q, k and v stacked (one matvec), o, gate and up stacked, down.
    qkv: Matrix,
    o: Matrix,
    gate_up: Matrix,
    down: Matrix,
    ffn: usize,
    attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    attn_norm_t: Tensor,
    ffn_norm_t: Tensor,
}

pub struct Llama {
    /// Token embeddings, also the output projection (SmolLM2 ties them).
    embed: Matrix,
    /// The separate output projection, for GGUFs that have one.
    output: Option<Matrix>,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    /// Rotary tables, `[context][head_dim / 2]`.
    cos: Vec<f32>,
    sin: Vec<f32>,
    cos_t: Tensor,
    sin_t: Tensor,
    eps: f32,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    dim: usize,
    vocab: usize,
    /// Positions the rotary tables cover: the model's context window.
    pub context: usize,
}

/// Keys and values of the tokens seen so far: one growable `[position][head_dim]` array
/// per layer and kv head (index `layer * kv_heads + head`), so attention streams
/// through contiguous memory.
#[derive(Clone, Default)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn md_u32(ct: &gguf_file::Content, key: &str) -> Result<usize> {
    match ct.metadata.get(key) {
        Some(v) => Ok(v.to_u32()? as usize),
        None => candle_core::bail!("GGUF metadata lacks {key}"),
    }
}

fn md_f32(ct: &gguf_file::Content, key: &str, default: f32) -> f32 {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_f32().ok())
        .unwrap_or(default)
}

fn vec_f32(qt: QTensor) -> Result<Vec<f32>> {
    qt.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()
}

const LAYER_MATRICES: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

impl Llama {
    pub fn from_gguf<R: Read + Seek>(
        ct: &gguf_file::Content,
        r: &mut R,
        precision: Precision,
    ) -> Result<Llama> {
        let dev = Device::Cpu;
        let arch = ct
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            candle_core::bail!("expected a llama GGUF, found architecture {arch:?}");
        }
        let n_head = md_u32(ct, "llama.attention.head_count")?;
        let n_kv_head = md_u32(ct, "llama.attention.head_count_kv")?;
        let n_layer = md_u32(ct, "llama.block_count")?;
        let dim = md_u32(ct, "llama.embedding_length")?;
        let context = md_u32(ct, "llama.context_length")?;
        let eps = md_f32(ct, "llama.attention.layer_norm_rms_epsilon", 1e-5);
        let theta = md_f32(ct, "llama.rope.freq_base", 10_000.0);
        if n_head == 0
            || n_kv_head == 0
            || dim % n_head != 0
            || n_head % n_kv_head != 0
            || (dim / n_head) % 2 != 0
            || context == 0
        {
            candle_core::bail!(
                "inconsistent shape: {n_head} heads, {n_kv_head} kv heads, dim {dim}, context {context}"
            );
        }
        let head_dim = dim / n_head;
        let inv_freq: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / theta.powf(i as f32 / head_dim as f32))
            .collect();
        let inv = Tensor::new(inv_freq.as_slice(), &dev)?;
        let pos = Tensor::arange(0, context as u32, &dev)?
            .to_dtype(DType::F32)?
            .reshape((context, 1))?;
        let freqs = pos.matmul(&inv.reshape((1, head_dim / 2))?)?;
        let (cos_t, sin_t) = (freqs.cos()?, freqs.sin()?);

        let t = |r: &mut R, name: &str| ct.tensor(r, name, &dev);
        let embed_q = t(r, "token_embd.weight")?;
        let (vocab, edim) = embed_q.shape().dims2()?;
        if edim != dim {
            candle_core::bail!("token_embd is {vocab}×{edim}, expected ×{dim}");
        }
        let embed = decode_matrix(&embed_q, precision)?;
        let output = match t(r, "output.weight") {
            Ok(o) => Some(decode_matrix(&o, precision)?),
            // SmolLM2 ties the output projection to the embeddings.
            Err(_) => None,
        };
        if output
            .as_ref()
            .is_some_and(|o| o.cols() != dim || o.rows() != vocab)
        {
            candle_core::bail!("output.weight is not {vocab}×{dim}");
        }
        let norm = vec_f32(t(r, "output_norm.weight")?)?;
        if norm.len() != dim {
            candle_core::bail!("output_norm has {} weights, expected {dim}", norm.len());
        }
        let kv = n_kv_head * head_dim;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut q = Vec::with_capacity(LAYER_MATRICES.len());
            for s in LAYER_MATRICES {
                q.push(t(r, &format!("blk.{i}.{s}.weight"))?);
            }
            let dims: Vec<(usize, usize)> =
                q.iter().map(|q| q.shape().dims2()).collect::<Result<_>>()?;
            let ffn = dims[4].0;
            let expected = [
                (dim, dim),
                (kv, dim),
                (kv, dim),
                (dim, dim),
                (ffn, dim),
                (ffn, dim),
                (dim, ffn),
            ];
            if dims != expected {
                candle_core::bail!(
                    "layer {i} has matrices of shapes {dims:?}, expected {expected:?}"
                );
            }
            let dm = |j: usize| decode_matrix(&q[j], precision);
            let qkv = Matrix::stack(vec![dm(0)?, dm(1)?, dm(2)?]).map_err(kerr)?;
            let gate_up = Matrix::stack(vec![dm(4)?, dm(5)?]).map_err(kerr)?;
            let (o, down) = (dm(3)?, dm(6)?);
            let dense = [
                q[0].dequantize(&dev)?,
                q[1].dequantize(&dev)?,
                q[2].dequantize(&dev)?,
                q[3].dequantize(&dev)?,
                q[4].dequantize(&dev)?,
                q[5].dequantize(&dev)?,
                q[6].dequantize(&dev)?,
            ];
            let attn_norm = vec_f32(t(r, &format!("blk.{i}.attn_norm.weight"))?)?;
            let ffn_norm = vec_f32(t(r, &format!("blk.{i}.ffn_norm.weight"))?)?;
            if attn_norm.len() != dim || ffn_norm.len() != dim {
                candle_core::bail!("layer {i} has norms of the wrong size");
            }
            layers.push(Layer {
                dense,
                qkv,
                o,
                gate_up,
                down,
                ffn,
                attn_norm_t: Tensor::from_slice(&attn_norm, dim, &dev)?,
                ffn_norm_t: Tensor::from_slice(&ffn_norm, dim, &dev)?,
                attn_norm,
                ffn_norm,
            });
        }
        Ok(Llama {
            embed,
            output,
            layers,
            norm,
            cos: cos_t.flatten_all()?.to_vec1()?,
            sin: sin_t.flatten_all()?.to_vec1()?,
            cos_t,
            sin_t,
            eps,
            n_head,
            n_kv_head,
            head_dim,
            dim,
            vocab,
            context,
        })
    }

    pub fn new_cache(&self) -> KvCache {
        let n = self.layers.len() * self.n_kv_head;
        KvCache {
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
            len: 0,
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Feeds `tokens` after what `cache` holds; returns the next-token logits `[vocab]`.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let t = tokens.len();
        let pos = cache.len;
        if t == 0 {
            candle_core::bail!("no tokens to feed");
        }
        if pos + t > self.context {
            candle_core::bail!(
                "sequence of {} tokens exceeds the context of {}",
                pos + t,
                self.context
            );
        }
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= self.vocab) {
            candle_core::bail!("token id {bad} is outside the vocabulary of {}", self.vocab);
        }
        if cache.k.len() != self.layers.len() * self.n_kv_head {
            candle_core::bail!("KV cache belongs to another model");
        }
        let last = if t == 1 {
            self.step(tokens[0], cache)?
        } else {
            self.prefill(tokens, cache)?
        };
        cache.len += t;
        let mut h = vec![0f32; self.dim];
        rms_norm_into(&last, &self.norm, self.eps, &mut h);
        let mut logits = vec![0f32; self.vocab];
        self.output
            .as_ref()
            .unwrap_or(&self.embed)
            .matvec(&h, &mut logits);
        Ok(logits)
    }

    /// One token through every layer; returns the final hidden state (before the norm).
    fn step(&self, token: u32, cache: &mut KvCache) -> Result<Vec<f32>> {
        let (dim, hd, nkv) = (self.dim, self.head_dim, self.n_kv_head);
        let kvd = nkv * hd;
        let pos = cache.len;
        let half = hd / 2;
        let (cos, sin) = (
            &self.cos[pos * half..(pos + 1) * half],
            &self.sin[pos * half..(pos + 1) * half],
        );
        let mut x = vec![0f32; dim];
        self.embed.row_into(token as usize, &mut x);
        let mut h = vec![0f32; dim];
        let mut qkv = vec![0f32; dim + 2 * kvd];
        let mut y = vec![0f32; dim];
        let mut o = vec![0f32; dim];
        let ffn = self.layers.first().map_or(0, |l| l.ffn);
        let mut gate_up = vec![0f32; 2 * ffn];
        for (l, layer) in self.layers.iter().enumerate() {
            rms_norm_into(&x, &layer.attn_norm, self.eps, &mut h);
            layer.qkv.matvec(&h, &mut qkv);
            let (q, kv) = qkv.split_at_mut(dim);
            let (k, v) = kv.split_at_mut(kvd);
            for head in q.chunks_exact_mut(hd).chain(k.chunks_exact_mut(hd)) {
                rope_in_place(head, cos, sin);
            }
            let slots = l * nkv..(l + 1) * nkv;
            for (g, (kc, vc)) in cache.k[slots.clone()]
                .iter_mut()
                .zip(&mut cache.v[slots.clone()])
                .enumerate()
            {
                kc.extend_from_slice(&k[g * hd..(g + 1) * hd]);
                vc.extend_from_slice(&v[g * hd..(g + 1) * hd]);
            }
            attention::decode(
                q,
                &cache.k[slots.clone()],
                &cache.v[slots],
                pos + 1,
                hd,
                &mut y,
            );
            layer.o.matvec(&y, &mut o);
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
            rms_norm_into(&x, &layer.ffn_norm, self.eps, &mut h);
            layer.gate_up.matvec(&h, &mut gate_up);
            let (gate, up) = gate_up.split_at_mut(ffn);
            for (g, u) in gate.iter_mut().zip(up.iter()) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            layer.down.matvec(gate, &mut o);
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
        }
        Ok(x)
    }

    /// Several tokens at once (batched matmuls on candle); returns the last token's
    /// final hidden state.
    fn prefill(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let dev = Device::Cpu;
        let (t, pos) = (tokens.len(), cache.len);
        let (nh, nkv, hd) = (self.n_head, self.n_kv_head, self.head_dim);
        let rep = nh / nkv;
        let mut emb = vec![0f32; t * self.dim];
        for (row, &id) in emb.chunks_exact_mut(self.dim).zip(tokens) {
            self.embed.row_into(id as usize, row);
        }
        let mut x = Tensor::from_vec(emb, (t, self.dim), &dev)?;
        let cos = self.cos_t.narrow(0, pos, t)?;
        let sin = self.sin_t.narrow(0, pos, t)?;
        let masks = causal_masks(t, pos)?;
        let mm = |x: &Tensor, w: &Tensor| x.matmul(&w.t()?);
        // [t, heads * hd] -> [heads, t, hd]
        let heads = |m: Tensor, n: usize| -> Result<Tensor> {
            m.reshape((t, n, hd))?.transpose(0, 1)?.contiguous()
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let [wq, wk, wv, wo, wg, wu, wd] = &layer.dense;
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm_t, self.eps)?;
            let rope = |m: Tensor| -> Result<Tensor> {
                candle_nn::rotary_emb::rope_i(&m.unsqueeze(0)?, &cos, &sin)?.squeeze(0)
            };
            let q = rope(heads(mm(&h, wq)?, nh)?)?;
            let k = rope(heads(mm(&h, wk)?, nkv)?)?;
            let v = heads(mm(&h, wv)?, nkv)?;
            // Append to the cache (per kv head, [position][hd]).
            let (k, v) = (
                k.flatten_all()?.to_vec1::<f32>()?,
                v.flatten_all()?.to_vec1::<f32>()?,
            );
            let slots = l * nkv..(l + 1) * nkv;
            for (g, (kc, vc)) in cache.k[slots.clone()]
                .iter_mut()
                .zip(&mut cache.v[slots.clone()])
                .enumerate()
            {
                kc.extend_from_slice(&k[g * t * hd..(g + 1) * t * hd]);
                vc.extend_from_slice(&v[g * t * hd..(g + 1) * t * hd]);
            }
            // Grouped-query attention: the `rep` query heads sharing a kv head are
            // consecutive, so they stack into one batch against that head's keys.
            let q = q.reshape((nkv, rep, t, hd))?;
            let mut groups = Vec::with_capacity(nkv);
            for (g, (kc, vc)) in cache.k[slots.clone()]
                .iter()
                .zip(&cache.v[slots])
                .enumerate()
            {
                groups.push(prefill_attention(&q.get(g)?, kc, vc, pos, hd, &masks)?);
            }
            let y = Tensor::cat(&groups, 0)? // [nh, t, hd]
                .transpose(0, 1)?
                .reshape((t, nh * hd))?;
            x = (mm(&y, wo)? + x)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm_t, self.eps)?;
            let gate = candle_nn::ops::silu(&mm(&h, wg)?)?;
            let up = mm(&h, wu)?;
            x = (mm(&(gate * up)?, wd)? + x)?;
        }
        x.narrow(0, t - 1, 1)?.flatten_all()?.to_vec1::<f32>()
    }
}

/// Query rows per attention block in prefill: bounds the score matrix to
/// `rep × 128 × context` floats (12 MB at 8,192 positions), small enough for the
/// allocator to reuse instead of mapping fresh zeroed pages for every block.
const QUERY_BLOCK: usize = 128;

/// The additive causal masks of the query blocks of a prefill chunk at `pos` with `t`
/// tokens (the same for every layer and head): block `b` is `[1, tb, pos + b0 + tb]`.
fn causal_masks(t: usize, pos: usize) -> Result<Vec<Tensor>> {
    (0..t)
        .step_by(QUERY_BLOCK)
        .map(|b0| {
            let tb = QUERY_BLOCK.min(t - b0);
            let kv = pos + b0 + tb;
            // Query i of the block (position pos + b0 + i) sees keys 0..=pos + b0 + i.
            let mask: Vec<f32> = (0..tb)
                .flat_map(|i| {
                    (0..kv).map(move |j| {
                        if j > pos + b0 + i {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            Tensor::from_vec(mask, (1, tb, kv), &Device::Cpu)
        })
        .collect()
}

/// Causal attention of one kv head's query heads `q` (`[rep, t, hd]`, positions
/// `pos..pos + t`) over the cached keys/values `kc`/`vc` (`[pos + t][hd]`), returns
/// `[rep, t, hd]`. Each block of queries only reads the keys it may see; `masks` from
/// [`causal_masks`].
fn prefill_attention(
    q: &Tensor,
    kc: &[f32],
    vc: &[f32],
    pos: usize,
    hd: usize,
    masks: &[Tensor],
) -> Result<Tensor> {
    let dev = Device::Cpu;
    let (rep, t, _) = q.dims3()?;
    let scale = 1.0 / (hd as f64).sqrt();
    let mut blocks = Vec::with_capacity(t.div_ceil(QUERY_BLOCK));
    for (b0, mask) in (0..t).step_by(QUERY_BLOCK).zip(masks) {
        let tb = QUERY_BLOCK.min(t - b0);
        let kv = pos + b0 + tb;
        let keys = Tensor::from_slice(&kc[..kv * hd], (kv, hd), &dev)?;
        let vals = Tensor::from_slice(&vc[..kv * hd], (kv, hd), &dev)?;
        let qb = q.narrow(1, b0, tb)?.contiguous()?.reshape((rep * tb, hd))?;
        let att = (qb.matmul(&keys.t()?)? * scale)?
            .reshape((rep, tb, kv))?
            .broadcast_add(mask)?;
        let att = candle_nn::ops::softmax_last_dim(&att)?.reshape((rep * tb, kv))?;
        blocks.push(att.matmul(&vals)?.reshape((rep, tb, hd))?);
    }
    Tensor::cat(&blocks, 1)
}
