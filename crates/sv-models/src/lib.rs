//! Model clients for `sv`.
//!
//! Environments and the harness talk to every model through one trait, [`ChatModel`]:
//! an OpenAI-compatible HTTP endpoint (vLLM, SGLang, llama.cpp, OpenAI, …) or the
//! embedded SmolLM2-135M-Instruct that runs in-process on candle so the whole pipeline
//! works offline. A [`ModelSpec`] (`embedded`, `openai:MODEL@BASE_URL`) names a model and
//! [`build`] turns it plus a [`ClientConfig`] into an `Arc<dyn ChatModel>` that is safe to
//! call concurrently from tokio. [`server`] serves the embedded model over the same
//! OpenAI-compatible API (`sv model serve`).

pub mod bench;
pub mod cache;
mod cached;
pub mod embedded;
pub mod openai;
pub mod prices;
mod retry;
pub mod server;
mod spec;
mod types;
pub mod wire;

pub use cached::Cached;
pub use embedded::EmbeddedModel;
pub use openai::OpenAiClient;
pub use spec::{build, ClientConfig, ModelSpec};
pub use sv_chat;
pub use types::{ChatModel, ChatRequest, ChatResponse, ModelError, Sampling, Usage, MAX_N};

/// Runs a future to completion on a fresh multi-threaded tokio runtime (for callers that
/// are not async themselves, like the CLI).
pub fn block_on<F: std::future::Future>(fut: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(fut))
}
