//! Model clients for `sv`.
//!
//! Environments and the harness talk to every model through one trait, [`ChatModel`]:
//! an OpenAI-compatible HTTP endpoint (vLLM, SGLang, llama.cpp, OpenAI, …) or the
//! embedded SmolLM2-135M-Instruct that runs in-process on candle so the whole pipeline
//! works offline. A [`ModelSpec`] (`embedded`, `openai:MODEL@BASE_URL`) names a model and
//! [`build`] turns it plus a [`ClientConfig`] into an `Arc<dyn ChatModel>` that is safe to
//! call concurrently from tokio.

mod spec;
mod types;

pub use spec::{build, ClientConfig, ModelSpec};
pub use types::{ChatModel, ChatRequest, ChatResponse, ModelError, Sampling, Usage};
