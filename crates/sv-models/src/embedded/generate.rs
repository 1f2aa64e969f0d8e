//! Loading the GGUF into the llama model and running the sampling loop.

use std::path::Path;
use std::time::Instant;

use candle_core::quantized::gguf_file;

use super::llama::{KvCache, Llama, Precision};
use super::sampler::Sampler;

use super::tokenizer::SmolTokenizer;
use crate::types::ModelError;

/// Prompt tokens fed per forward pass during prefill: bounds the attention scratch
/// (`chunk × context × heads` floats) on long prompts.
pub const PREFILL_CHUNK: usize = 512;

fn emb(e: impl std::fmt::Display) -> ModelError {
    ModelError::Embedded(e.to_string())
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// End-of-turn token or a stop string.
    Stop,
    /// `max_tokens` or the context window.
    Length,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenParams {
    pub max_tokens: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub seed: u64,
    pub stop: Vec<String>,
    /// Keep going past end-of-turn tokens (benchmarks only: fixed-length decode).
    pub ignore_eos: bool,
}

/// One finished sequence.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    /// Tokens generated (the end-of-turn token excluded).
    pub tokens: usize,
    pub finish: Finish,
    pub decode_secs: f64,
}

/// The loaded model: weights (shared, read-only), tokenizer and end-of-turn ids.
pub struct Engine {
    model: Llama,
    pub tokenizer: SmolTokenizer,
    eos: Vec<u32>,
    pub context: usize,
}

impl Engine {
    pub fn load(path: &Path, precision: Precision) -> Result<Engine, ModelError> {
        let mut file = std::fs::File::open(path)?;
        let ct = gguf_file::Content::read(&mut file)
            .map_err(|e| emb(format!("{}: not a readable GGUF: {e}", path.display())))?;
        let tokenizer = SmolTokenizer::from_gguf(&ct).map_err(emb)?;
        let mut eos = Vec::new();
        for t in ["<|im_end|>", "<|endoftext|>"] {
            if let Some(id) = tokenizer.id(t) {
                eos.push(id);
            }
        }
        if let Some(id) = ct
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
        {
            if !eos.contains(&id) {
                eos.push(id);
            }
        }
        let model = Llama::from_gguf(&ct, &mut file, precision).map_err(emb)?;
        Ok(Engine {
            context: model.context,
            model,
            tokenizer,
            eos,
        })
    }

    /// The network itself (for tests and tools that drive it token by token).
    pub fn model(&self) -> &Llama {
        &self.model
    }

    /// Runs the prompt through the model, returning the filled KV cache and the logits
    /// for the next token.
    pub fn prefill(&self, prompt: &[u32]) -> Result<(KvCache, Vec<f32>), ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::InvalidRequest("empty prompt".into()));
        }
        if prompt.len() >= self.context {
            return Err(ModelError::InvalidRequest(format!(
                "prompt has {} tokens; the embedded model's context window is {}",
                prompt.len(),
                self.context
            )));
        }
        let mut cache = self.model.new_cache();
        let mut logits = None;
        for chunk in prompt.chunks(PREFILL_CHUNK) {
            logits = Some(self.model.forward(chunk, &mut cache).map_err(emb)?);
        }
        let logits = logits.ok_or_else(|| emb("no logits"))?;
        Ok((cache, logits))
    }

    /// Decodes one sequence from a prefilled model.
    pub fn decode(
        &self,
        mut cache: KvCache,
        mut logits: Vec<f32>,
        prompt_len: usize,
        p: &GenParams,
    ) -> Result<Generation, ModelError> {
        let start = Instant::now();
        let mut sampler = Sampler::new(p.seed, p.temperature, p.top_p);
        let budget = p.max_tokens.min(self.context.saturating_sub(prompt_len));
        let longest_stop = p.stop.iter().map(String::len).max().unwrap_or(0);
        let mut bytes: Vec<u8> = Vec::new();
        let mut tokens = 0usize;
        let mut finish = Finish::Length;
        while tokens < budget {
            let next = sampler.sample(&logits);
            if !p.ignore_eos && self.eos.contains(&next) {
                finish = Finish::Stop;
                break;
            }
            tokens += 1;
            let piece = self.tokenizer.token_bytes(next);
            let before = bytes.len();
            bytes.extend_from_slice(piece);
            if longest_stop > 0 {
                // Only a match that ends in the new bytes is new.
                let from = before.saturating_sub(longest_stop - 1);
                if let Some(cut) = find_stop(&bytes, from, &p.stop) {
                    bytes.truncate(cut);
                    finish = Finish::Stop;
                    break;
                }
            }
            if tokens == budget {
                break;
            }
            logits = self.model.forward(&[next], &mut cache).map_err(emb)?;
        }
        Ok(Generation {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            tokens,
            finish,
            decode_secs: start.elapsed().as_secs_f64(),
        })
    }
}

/// Byte offset of the earliest stop string occurring at or after `from`.
fn find_stop(hay: &[u8], from: usize, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter_map(|s| {
            let s = s.as_bytes();
            hay[from.min(hay.len())..]
                .windows(s.len())
                .position(|w| w == s)
                .map(|i| from + i)
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_search_finds_earliest_and_respects_start() {
        let stops = vec!["\n\n".to_string(), "END".to_string()];
        assert_eq!(find_stop(b"abc\n\nEND", 0, &stops), Some(3));
        assert_eq!(find_stop(b"abcEND\n\n", 0, &stops), Some(3));
        assert_eq!(find_stop(b"abc", 0, &stops), None);
        assert_eq!(find_stop(b"\n\nxyz", 1, &stops), None);
        assert_eq!(find_stop(b"ab", 5, &stops), None);
    }
}
