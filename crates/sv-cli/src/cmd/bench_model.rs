//! `sv bench model`: the embedded model's load time, prefill and decode tokens/s.

use std::path::PathBuf;
use std::process::ExitCode;

use sv_models::bench::{self, BenchConfig};
use sv_models::embedded::Precision;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF to load (default: the one `sv model setup` installed).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens decoded (greedy, end-of-turn ignored) for the decode measurement.
    #[arg(long, default_value_t = 128)]
    decode_tokens: usize,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Decode precision: q4_1 (the file's blocks × f32 activations, default) or f32.
    #[arg(long, default_value = "q4_1")]
    precision: Precision,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let cfg = BenchConfig {
        loads: a.reps,
        prompt_tokens: a.prompt_tokens,
        decode_tokens: a.decode_tokens,
        reps: a.reps,
        precision: a.precision,
    };
    let r = bench::run(a.weights.as_deref(), &cfg)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "embedded SmolLM2-135M-Instruct (Q4_1 GGUF, decode precision {}), {} threads, median of {}",
            r.precision, r.threads, a.reps
        );
        println!("  load                 {:>8.1} ms", r.load_ms);
        println!(
            "  prefill {:>5} tokens {:>8.1} ms  {:>8.1} tok/s",
            r.prompt_tokens, r.prefill_ms, r.prefill_tok_s
        );
        println!(
            "  decode  {:>5} tokens {:>8.1} ms  {:>8.1} tok/s",
            r.decode_tokens, r.decode_ms, r.decode_tok_s
        );
    }
    Ok(ExitCode::SUCCESS)
}
