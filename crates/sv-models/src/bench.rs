//! Throughput of the embedded model: load time, prefill and decode tokens per second.
//! `sv bench model` prints these; figures go to `docs/bench-models.md`.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::embedded::{EmbeddedModel, GenParams, Precision};
use crate::types::ModelError;

/// What to measure. Defaults: 3 loads, a 512-token prompt, 128 decoded tokens, 3 reps,
/// the default precision.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub loads: usize,
    pub prompt_tokens: usize,
    pub decode_tokens: usize,
    pub reps: usize,
    pub precision: Precision,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            loads: 3,
            prompt_tokens: 512,
            decode_tokens: 128,
            reps: 3,
            precision: Precision::Q4_1,
        }
    }
}

/// Medians over the repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub load_ms: f64,
    pub prompt_tokens: usize,
    pub prefill_ms: f64,
    pub prefill_tok_s: f64,
    pub decode_tokens: usize,
    pub decode_ms: f64,
    pub decode_tok_s: f64,
    pub threads: usize,
    pub precision: &'static str,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// A prompt of exactly `n` tokens from ordinary English-and-log text.
fn prompt_ids(model: &EmbeddedModel, n: usize) -> Result<Vec<u32>, ModelError> {
    const TEXT: &str =
        "The analyst reviewed the Windows event logs for signs of lateral movement. \
        Event 4624 recorded a logon of type 3 from 10.0.0.12 at 02:14, followed by a service \
        installation (event 7045) named PSEXESVC and a process creation of cmd.exe /c whoami. ";
    let tok = &model.engine().tokenizer;
    let unit = tok.encode(TEXT).map_err(ModelError::Embedded)?;
    if unit.is_empty() {
        return Err(ModelError::Embedded("empty benchmark text".into()));
    }
    Ok(unit.iter().copied().cycle().take(n).collect())
}

pub fn run(weights: Option<&Path>, cfg: &BenchConfig) -> Result<BenchReport, ModelError> {
    let mut loads = Vec::new();
    let mut model = None;
    for _ in 0..cfg.loads.max(1) {
        let start = Instant::now();
        let m = EmbeddedModel::load_with(weights, 1, cfg.precision)?;
        loads.push(start.elapsed().as_secs_f64() * 1000.0);
        model = Some(m);
    }
    let model = model.ok_or_else(|| ModelError::Embedded("no load".into()))?;
    let engine = model.engine();
    let prompt = prompt_ids(&model, cfg.prompt_tokens.max(1))?;
    let params = GenParams {
        max_tokens: cfg.decode_tokens.max(1),
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        stop: Vec::new(),
        ignore_eos: true,
    };
    // One untimed warm-up pass (allocator, caches).
    let (m, l) = engine.prefill(&prompt)?;
    engine.decode(
        m,
        l,
        prompt.len(),
        &GenParams {
            max_tokens: 8,
            ..params.clone()
        },
    )?;
    let (mut pre, mut dec, mut dec_tokens) = (Vec::new(), Vec::new(), 0);
    for _ in 0..cfg.reps.max(1) {
        let start = Instant::now();
        let (m, l) = engine.prefill(&prompt)?;
        pre.push(start.elapsed().as_secs_f64() * 1000.0);
        let g = engine.decode(m, l, prompt.len(), &params)?;
        dec.push(g.decode_secs * 1000.0);
        dec_tokens = g.tokens;
    }
    let prefill_ms = median(pre);
    let decode_ms = median(dec);
    Ok(BenchReport {
        load_ms: median(loads),
        prompt_tokens: prompt.len(),
        prefill_ms,
        prefill_tok_s: prompt.len() as f64 / (prefill_ms / 1000.0),
        decode_tokens: dec_tokens,
        decode_ms,
        // The timed loop runs one forward pass per token after the first.
        decode_tok_s: dec_tokens.saturating_sub(1) as f64 / (decode_ms / 1000.0),
        threads: rayon::current_num_threads(),
        precision: cfg.precision.as_str(),
    })
}
