//! The embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF), in-process: prefill on
//! candle's f32 gemm, decode on our own Q4_1 × f32 kernels ([`llama`], [`kernels`]).
//!
//! It exists so every pipeline runs offline end to end, not to score well. Generations
//! run on tokio's blocking pool, at most `embedded_parallel` at once (one already keeps
//! the CPU busy). For `n > 1` the prompt is prefilled once and each choice decodes from a
//! copy of that state with seed `seed + i`. Without a seed, one is drawn at random.
//! Requests with tools use the prompt-level convention in [`template`].

pub mod attention;
pub mod generate;
pub mod kernels;
pub mod llama;
pub mod sampler;
pub mod template;
pub mod tokenizer;
pub mod weights;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sv_chat::Message;
use tokio::sync::Semaphore;

pub use generate::{Engine, Finish, GenParams, Generation};
pub use llama::Precision;

use crate::types::{validate, ChatModel, ChatRequest, ChatResponse, ModelError, Usage};

/// The model id reported in responses and by `/v1/models`.
pub const MODEL_ID: &str = "smollm2-135m-instruct-q4_1";

/// A completion with what the OpenAI wire format needs beyond [`ChatResponse`].
#[derive(Debug, Clone)]
pub struct Completion {
    pub response: ChatResponse,
    pub finish: Vec<Finish>,
    pub prefill_secs: f64,
    pub decode_secs: f64,
}

pub struct EmbeddedModel {
    engine: Arc<Engine>,
    permits: Semaphore,
    name: String,
    path: PathBuf,
    load_secs: f64,
}

impl EmbeddedModel {
    /// Loads (and verifies) the weights at `path`, default [`weights::default_weights_path`].
    pub fn load(path: Option<&Path>, parallel: usize) -> Result<EmbeddedModel, ModelError> {
        Self::load_with(path, parallel, Precision::Q4_1)
    }

    /// [`load`](Self::load) with a choice of decode precision (f32 is the reference).
    pub fn load_with(
        path: Option<&Path>,
        parallel: usize,
        precision: Precision,
    ) -> Result<EmbeddedModel, ModelError> {
        let path = path
            .map(Path::to_path_buf)
            .unwrap_or_else(weights::default_weights_path);
        let start = Instant::now();
        weights::verify(&path)?;
        let engine = Engine::load(&path, precision)?;
        Ok(EmbeddedModel {
            engine: Arc::new(engine),
            permits: Semaphore::new(parallel.max(1)),
            name: format!("embedded:{MODEL_ID}"),
            path,
            load_secs: start.elapsed().as_secs_f64(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seconds `load` took (verify, parse, repack the blocks, f32 copies for prefill).
    pub fn load_secs(&self) -> f64 {
        self.load_secs
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Runs `req` synchronously on the calling thread (use from a blocking context).
    pub fn complete_blocking(&self, req: &ChatRequest) -> Result<Completion, ModelError> {
        complete(&self.engine, req)
    }

    /// Runs `req` on the blocking pool, within the parallelism limit.
    pub async fn complete(&self, req: &ChatRequest) -> Result<Completion, ModelError> {
        validate(req)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ModelError::Embedded(e.to_string()))?;
        let engine = Arc::clone(&self.engine);
        let req = req.clone();
        tokio::task::spawn_blocking(move || complete(&engine, &req))
            .await
            .map_err(|e| ModelError::Embedded(format!("generation task failed: {e}")))?
    }
}

fn complete(engine: &Engine, req: &ChatRequest) -> Result<Completion, ModelError> {
    validate(req)?;
    let start = Instant::now();
    let prompt = template::encode_prompt(&engine.tokenizer, &req.messages, &req.tools)
        .map_err(ModelError::Embedded)?;
    let (cache, logits) = engine.prefill(&prompt)?;
    let prefill_secs = start.elapsed().as_secs_f64();
    let s = &req.sampling;
    let seed = s.seed.unwrap_or_else(rand::random);
    let mut choices = Vec::with_capacity(s.n as usize);
    let mut finish = Vec::with_capacity(s.n as usize);
    let mut usage = Usage {
        prompt_tokens: prompt.len() as u64,
        ..Usage::default()
    };
    let mut decode_secs = 0.0;
    for i in 0..s.n {
        let params = GenParams {
            max_tokens: s.max_tokens as usize,
            temperature: s.temperature as f64,
            top_p: s.top_p as f64,
            seed: seed.wrapping_add(i as u64),
            stop: s.stop.clone(),
            ignore_eos: false,
        };
        let g = engine.decode(cache.clone(), logits.clone(), prompt.len(), &params)?;
        usage.completion_tokens += g.tokens as u64;
        decode_secs += g.decode_secs;
        let (content, tool_calls) = if req.tools.is_empty() {
            (g.text, Vec::new())
        } else {
            template::parse_tool_calls(&g.text, i as usize)
        };
        finish.push(g.finish);
        choices.push(Message {
            tool_calls,
            ..Message::assistant(content)
        });
    }
    Ok(Completion {
        response: ChatResponse {
            choices,
            usage,
            latency_ms: start.elapsed().as_secs_f64() * 1000.0,
            cost_usd: Some(0.0),
            cached: false,
            model: MODEL_ID.to_string(),
        },
        finish,
        prefill_secs,
        decode_secs,
    })
}

#[async_trait::async_trait]
impl ChatModel for EmbeddedModel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        Ok(self.complete(req).await?.response)
    }
}
