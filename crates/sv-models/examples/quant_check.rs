//! Why the embedded model does not use candle's quantized matmuls: a layer-by-layer
//! comparison on a real prompt.
//!
//! Runs SmolLM2's forward pass over "What is the capital of France?" four ways and
//! reports, per layer, how far each drifts from the f32 reference (dequantised weights,
//! f32 activations):
//!
//! - `q`:   candle's `QMatMul` on the file's blocks (Q4_1 matrices, Q8_0 embeddings);
//! - `fq8`: f32 weights, but the activations rounded through Q8_0 blocks first (what
//!   `q` does inside its kernels) — it fails the same way, so the kernels are not buggy;
//! - `f32`: the reference itself (drift 0) for scale.
//!
//! Run: `cargo run --release -p sv-models --example quant_check [MODE...]`.

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use sv_models::embedded::{template, tokenizer::SmolTokenizer, weights};

fn rel(a: &Tensor, b: &Tensor) -> Result<f32> {
    let d = (a - b)?.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt();
    let n = b.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt();
    Ok(d / n)
}

fn amax(a: &Tensor) -> Result<f32> {
    a.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
}

struct Run {
    /// Residual stream after each layer.
    resid: Vec<Tensor>,
    logits: Tensor,
}

fn run(ct: &gguf_file::Content, f: &mut std::fs::File, prompt: &[u32], mode: &str) -> Result<Run> {
    let dev = Device::Cpu;
    let t = prompt.len();
    let md = |k: &str| -> Result<usize> {
        match ct.metadata.get(k) {
            Some(v) => Ok(v.to_u32()? as usize),
            None => candle_core::bail!("no {k}"),
        }
    };
    let (nh, nkv, layers, dim) = (
        md("llama.attention.head_count")?,
        md("llama.attention.head_count_kv")?,
        md("llama.block_count")?,
        md("llama.embedding_length")?,
    );
    let hd = dim / nh;
    let rep = nh / nkv;
    let embed = ct.tensor(f, "token_embd.weight", &dev)?.dequantize(&dev)?;
    let mut x = embed
        .index_select(&Tensor::new(prompt, &dev)?, 0)?
        .unsqueeze(0)?;
    let mm = |name: &str, x: &Tensor, f: &mut std::fs::File| -> Result<Tensor> {
        let qt = ct.tensor(f, name, &dev)?;
        match mode {
            "q" => QMatMul::from_qtensor(qt)?.forward(x),
            "fq8" => {
                let xq = QTensor::quantize(&x.squeeze(0)?, GgmlDType::Q8_0)?
                    .dequantize(&dev)?
                    .unsqueeze(0)?;
                QMatMul::Tensor(qt.dequantize(&dev)?).forward(&xq)
            }
            _ => QMatMul::Tensor(qt.dequantize(&dev)?).forward(x),
        }
    };
    let norm = |x: &Tensor, name: &str, f: &mut std::fs::File| -> Result<Tensor> {
        let w = ct.tensor(f, name, &dev)?.dequantize(&dev)?;
        candle_nn::ops::rms_norm(&x.contiguous()?, &w, 1e-5)
    };
    let theta = ct
        .metadata
        .get("llama.rope.freq_base")
        .and_then(|v| v.to_f32().ok())
        .unwrap_or(10_000.0);
    let inv: Vec<f32> = (0..hd)
        .step_by(2)
        .map(|i| 1.0 / theta.powf(i as f32 / hd as f32))
        .collect();
    let pos = Tensor::arange(0, t as u32, &dev)?
        .to_dtype(DType::F32)?
        .reshape((t, 1))?;
    let fr = pos.matmul(&Tensor::new(inv.as_slice(), &dev)?.reshape((1, hd / 2))?)?;
    let (cos, sin) = (fr.cos()?, fr.sin()?);
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0. }))
        .collect();
    let mask = Tensor::from_slice(&mask, (t, t), &dev)?;
    let mut resid = Vec::new();
    for l in 0..layers {
        let p = |s: &str| format!("blk.{l}.{s}.weight");
        let h = norm(&x, &p("attn_norm"), f)?;
        let heads = |m: Tensor, n: usize| m.reshape((1, t, n, hd))?.transpose(1, 2)?.contiguous();
        let q = heads(mm(&p("attn_q"), &h, f)?, nh)?;
        let k = heads(mm(&p("attn_k"), &h, f)?, nkv)?;
        let v = heads(mm(&p("attn_v"), &h, f)?, nkv)?;
        let q = candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?;
        let k = Tensor::cat(&vec![&k; rep], 2)?.reshape((1, nh, t, hd))?;
        let v = Tensor::cat(&vec![&v; rep], 2)?.reshape((1, nh, t, hd))?;
        let att = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(&mask)?;
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((1, t, dim))?;
        x = (mm(&p("attn_output"), &y, f)? + x)?;
        let h = norm(&x, &p("ffn_norm"), f)?;
        let g = candle_nn::ops::silu(&mm(&p("ffn_gate"), &h, f)?)?;
        let u = mm(&p("ffn_up"), &h, f)?;
        x = (mm(&p("ffn_down"), &(g * u)?, f)? + x)?;
        resid.push(x.clone());
    }
    let h = norm(&x, "output_norm.weight", f)?;
    let logits = mm("token_embd.weight", &h, f)?.i((0, t - 1))?;
    Ok(Run { resid, logits })
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let path = weights::default_weights_path();
    let mut f = std::fs::File::open(&path)?;
    let ct = gguf_file::Content::read(&mut f)?;
    let tok = SmolTokenizer::from_gguf(&ct)?;
    let msg = sv_chat::Message::user("What is the capital of France?");
    let prompt = template::encode_prompt(&tok, &[msg], &[])?;
    let base = run(&ct, &mut f, &prompt, "f32")?;
    let top =
        |l: &Tensor| -> Result<String> { Ok(tok.decode(&[l.argmax(0)?.to_scalar::<u32>()?])) };
    let mut modes: Vec<String> = std::env::args().skip(1).collect();
    if modes.is_empty() {
        modes = vec!["q".into(), "fq8".into()];
    }
    for mode in modes {
        let r = run(&ct, &mut f, &prompt, &mode)?;
        println!(
            "== {mode}: first token {:?} (f32: {:?}), logits relative error {:.4}",
            top(&r.logits)?,
            top(&base.logits)?,
            rel(&r.logits, &base.logits)?
        );
        for (l, (a, b)) in r.resid.iter().zip(&base.resid).enumerate() {
            println!(
                "  layer {l:2}: residual relative error {:.4}  (|max| {:.0})",
                rel(a, b)?,
                amax(b)?
            );
        }
    }
    Ok(())
}
