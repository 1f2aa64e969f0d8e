//! SmolLM2's llama architecture on candle, with weights in a form candle computes right.
//!
//! The GGUF stores most matrices as Q4_1. With candle's CPU quantized matmuls (0.9.2 and
//! 0.11.1 alike, Q4_1 kernels or the file requantised to Q8_0), SmolLM2 answers "What is
//! the capital of France?" with French-flavoured noise; with the same weights
//! dequantised to f32 it answers "The capital of France is Paris.". So the default
//! ([`Precision::F32`]) dequantises every matrix at load (about 540 MB of memory); the
//! quantized forms stay selectable for investigation.
//!
//! The KV cache lives outside the weights ([`KvCache`]), so one loaded model serves any
//! number of sequences, and a prefilled cache can be cloned to decode several choices.

use std::io::{Read, Seek};

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};

/// RMS normalisation with a learned scale.
struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn from_qtensor(w: QTensor, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: w.dequantize(&Device::Cpu)?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}

/// `mask[i][j] = 1` where query `pos + i` must not see key `j`.
fn causal_mask(t: usize, pos: usize) -> Result<Tensor> {
    let kv = pos + t;
    let m: Vec<u8> = (0..t)
        .flat_map(|i| (0..kv).map(move |j| u8::from(j > pos + i)))
        .collect();
    Tensor::from_slice(&m, (t, kv), &Device::Cpu)
}

/// Repeats each key/value head `n` times (grouped-query attention).
fn repeat_kv(x: Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x);
    }
    let (b, h, t, d) = x.dims4()?;
    Tensor::cat(&vec![&x; n], 2)?.reshape((b, h * n, t, d))
}

/// How the Q4_1 matrices are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Requantised to Q8_0 (wrong answers with candle's CPU kernels, see above).
    Q8_0,
    /// Dequantised to f32 (default: the answers match the model's).
    F32,
    /// As stored in the file (Q4_1), using candle's own Q4_1 kernels.
    Native,
}

struct Layer {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    w_gate: QMatMul,
    w_up: QMatMul,
    w_down: QMatMul,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
}

pub struct Llama {
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    /// Positions the rotary tables cover: the model's context window.
    pub context: usize,
}

/// Keys and values of the tokens seen so far, per layer.
#[derive(Clone, Default)]
pub struct KvCache {
    kv: Vec<Option<(Tensor, Tensor)>>,
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

fn matmul(qt: QTensor, precision: Precision, dev: &Device) -> Result<QMatMul> {
    match (qt.dtype(), precision) {
        (GgmlDType::Q4_1, Precision::Q8_0) => {
            let w = qt.dequantize(dev)?;
            QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)
        }
        (GgmlDType::Q4_1, Precision::F32) => Ok(QMatMul::Tensor(qt.dequantize(dev)?)),
        (GgmlDType::Q8_0, Precision::F32) => Ok(QMatMul::Tensor(qt.dequantize(dev)?)),
        _ => QMatMul::from_qtensor(qt),
    }
}

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
        let eps = md_f32(ct, "llama.attention.layer_norm_rms_epsilon", 1e-5) as f64;
        let theta = md_f32(ct, "llama.rope.freq_base", 10_000.0);
        if n_head == 0 || n_kv_head == 0 || dim % n_head != 0 || n_head % n_kv_head != 0 {
            candle_core::bail!(
                "inconsistent head counts: {n_head} heads, {n_kv_head} kv heads, dim {dim}"
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
        let (cos, sin) = (freqs.cos()?, freqs.sin()?);

        let t = |r: &mut R, name: &str| ct.tensor(r, name, &dev);
        let embed_q = t(r, "token_embd.weight")?;
        let embed = embed_q.dequantize(&dev)?;
        let output = match t(r, "output.weight") {
            Ok(o) => matmul(o, precision, &dev)?,
            // SmolLM2 ties the output projection to the embeddings.
            Err(_) => matmul(embed_q, precision, &dev)?,
        };
        let norm = RmsNorm::from_qtensor(t(r, "output_norm.weight")?, eps)?;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut w = |s: &str| -> Result<QMatMul> {
                matmul(t(r, &format!("blk.{i}.{s}.weight"))?, precision, &dev)
            };
            let (wq, wk, wv, wo) = (w("attn_q")?, w("attn_k")?, w("attn_v")?, w("attn_output")?);
            let (w_gate, w_up, w_down) = (w("ffn_gate")?, w("ffn_up")?, w("ffn_down")?);
            layers.push(Layer {
                wq,
                wk,
                wv,
                wo,
                w_gate,
                w_up,
                w_down,
                attn_norm: RmsNorm::from_qtensor(t(r, &format!("blk.{i}.attn_norm.weight"))?, eps)?,
                ffn_norm: RmsNorm::from_qtensor(t(r, &format!("blk.{i}.ffn_norm.weight"))?, eps)?,
            });
        }
        Ok(Llama {
            embed,
            layers,
            norm,
            output,
            cos,
            sin,
            n_head,
            n_kv_head,
            head_dim,
            context,
        })
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            kv: vec![None; self.layers.len()],
            len: 0,
        }
    }

    /// Feeds `tokens` after what `cache` holds; returns the next-token logits `[vocab]`.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
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
        let dev = Device::Cpu;
        let ids = Tensor::new(tokens, &dev)?;
        let mut x = self.embed.index_select(&ids, 0)?.unsqueeze(0)?;
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        let mask = if t > 1 {
            let m = causal_mask(t, pos)?;
            Some(m.broadcast_as((1, self.n_head, t, pos + t))?)
        } else {
            None
        };
        let neg_inf = Tensor::new(f32::NEG_INFINITY, &dev)?;
        for (layer, slot) in self.layers.iter().zip(cache.kv.iter_mut()) {
            let h = layer.attn_norm.forward(&x)?;
            let q = layer
                .wq
                .forward(&h)?
                .reshape((1, t, self.n_head, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?;
            let k = layer
                .wk
                .forward(&h)?
                .reshape((1, t, self.n_kv_head, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?;
            let v = layer
                .wv
                .forward(&h)?
                .reshape((1, t, self.n_kv_head, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?;
            let q = candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?;
            let (k, v) = match slot.take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            let rep = self.n_head / self.n_kv_head;
            let k = repeat_kv(k, rep)?;
            let v = repeat_kv(v, rep)?.contiguous()?;
            let att = (q.matmul(&k.t()?)? / (self.head_dim as f64).sqrt())?;
            let att = match &mask {
                Some(m) => m.where_cond(&neg_inf.broadcast_as(att.shape())?, &att)?,
                None => att,
            };
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y =
                att.matmul(&v)?
                    .transpose(1, 2)?
                    .reshape((1, t, self.n_head * self.head_dim))?;
            x = (layer.wo.forward(&y)? + x)?;
            let h = layer.ffn_norm.forward(&x)?;
            let gate = candle_nn::ops::silu(&layer.w_gate.forward(&h)?)?;
            let up = layer.w_up.forward(&h)?;
            x = (layer.w_down.forward(&(gate * up)?)? + x)?;
        }
        cache.len += t;
        let last = self.norm.forward(&x.i((.., t - 1, ..))?)?;
        self.output.forward(&last)?.squeeze(0)
    }
}
