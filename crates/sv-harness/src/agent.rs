//! What answers a turn: a chat model (`embedded`, `openai:…`) or a built-in policy
//! (`reference`, `random`, `constant:…`, `replay:…`), behind one async trait.

use std::sync::Arc;

use sv_chat::Message;
use sv_env::{BuiltinPolicy, Environment, Episode, Task};
use sv_models::{ChatModel, ChatRequest, ClientConfig, ModelSpec, Sampling};

use crate::error::HarnessError;
use crate::rundir::{model_slug, Tokens};

/// One turn's input.
pub struct TurnRequest<'a> {
    pub env: &'a dyn Environment,
    pub task: &'a Task,
    pub rollout: u32,
    /// Per-rollout seed (`sv_env::rng::rollout_seed(run seed, task id, rollout)`).
    pub seed: u64,
    pub episode: &'a Episode<'a>,
}

/// One turn's output.
#[derive(Debug, Clone)]
pub struct AgentTurn {
    pub message: Message,
    pub tokens: Tokens,
    pub latency_ms: f64,
    pub cost_usd: Option<f64>,
    pub cached: bool,
}

/// Answers turns. Errors are rollout errors (written as error rows), not run errors.
#[async_trait::async_trait]
pub trait Agent: Send + Sync {
    /// The spec as given (`reference`, `openai:…`).
    fn spec(&self) -> &str;
    /// `embedded`, `openai`, `reference`, `random`, `constant`, `replay`.
    fn kind(&self) -> &str;
    /// The client's own name (for metadata).
    fn name(&self) -> String {
        self.spec().to_string()
    }
    /// Sampling parameters, for metadata (`None` for built-in policies).
    fn sampling(&self) -> Option<serde_json::Value> {
        None
    }
    /// The replay book, when this is `replay:` (drives the default task selection).
    fn replay(&self) -> Option<&sv_env::ReplayBook> {
        None
    }
    /// The built-in policy behind this agent, which the harness calls synchronously.
    fn as_builtin(&self) -> Option<&BuiltinAgent> {
        None
    }
    async fn turn(&self, req: TurnRequest<'_>) -> Result<AgentTurn, String>;
}

/// A built-in policy as an agent.
pub struct BuiltinAgent {
    spec: String,
    policy: BuiltinPolicy,
}

impl BuiltinAgent {
    pub fn new(spec: &str, policy: BuiltinPolicy) -> Self {
        BuiltinAgent {
            spec: spec.to_string(),
            policy,
        }
    }

    /// Answers synchronously (the harness's fast path for built-in policies).
    pub fn respond(&self, req: &TurnRequest<'_>) -> Result<AgentTurn, String> {
        self.policy
            .respond(req.env, req.task, req.rollout, req.seed)
            .map(|message| AgentTurn {
                message,
                tokens: Tokens::default(),
                latency_ms: 0.0,
                cost_usd: Some(0.0),
                cached: false,
            })
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl Agent for BuiltinAgent {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn kind(&self) -> &str {
        self.policy.kind()
    }
    fn replay(&self) -> Option<&sv_env::ReplayBook> {
        match &self.policy {
            BuiltinPolicy::Replay(book) => Some(book),
            _ => None,
        }
    }
    fn as_builtin(&self) -> Option<&BuiltinAgent> {
        Some(self)
    }
    async fn turn(&self, req: TurnRequest<'_>) -> Result<AgentTurn, String> {
        self.respond(&req)
    }
}

/// A chat model as an agent. Each rollout gets its own sampling seed.
pub struct ModelAgent {
    spec: String,
    kind: &'static str,
    model: Arc<dyn ChatModel>,
    sampling: Sampling,
}

impl ModelAgent {
    pub fn new(
        spec: &str,
        kind: &'static str,
        model: Arc<dyn ChatModel>,
        sampling: Sampling,
    ) -> Self {
        ModelAgent {
            spec: spec.to_string(),
            kind,
            model,
            sampling,
        }
    }
}

#[async_trait::async_trait]
impl Agent for ModelAgent {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn kind(&self) -> &str {
        self.kind
    }
    fn name(&self) -> String {
        self.model.name().to_string()
    }
    fn sampling(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.sampling).ok()
    }
    async fn turn(&self, req: TurnRequest<'_>) -> Result<AgentTurn, String> {
        let mut sampling = self.sampling.clone();
        sampling.n = 1;
        sampling.seed = Some(req.seed);
        let request = ChatRequest {
            messages: req.episode.messages(),
            tools: req.episode.tools().to_vec(),
            sampling,
        };
        let resp = self.model.chat(&request).await.map_err(|e| e.to_string())?;
        let message = resp
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| format!("{} returned no choices", self.model.name()))?;
        Ok(AgentTurn {
            message,
            tokens: Tokens {
                prompt: resp.usage.prompt_tokens,
                completion: resp.usage.completion_tokens,
                reasoning: resp.usage.reasoning_tokens,
            },
            latency_ms: resp.latency_ms,
            cost_usd: resp.cost_usd,
            cached: resp.cached,
        })
    }
}

/// Builds the agent for a `--model` spec: a built-in policy, or a model client from
/// `sv-models` (`embedded`, `openai:MODEL@BASE_URL`).
pub fn build_agent(
    spec: &str,
    sampling: &Sampling,
    client: &ClientConfig,
) -> Result<Arc<dyn Agent>, HarnessError> {
    if let Some(policy) = BuiltinPolicy::parse(spec) {
        return Ok(Arc::new(BuiltinAgent::new(spec, policy?)));
    }
    let model_spec = ModelSpec::parse(spec).map_err(|e| {
        HarnessError::Usage(format!(
            "{e}; --model takes embedded, openai:MODEL@BASE_URL, reference, random, constant:TEXT or replay:FILE"
        ))
    })?;
    let kind = match model_spec {
        ModelSpec::Embedded => "embedded",
        ModelSpec::OpenAi { .. } => "openai",
    };
    let model = sv_models::build(&model_spec, client)?;
    Ok(Arc::new(ModelAgent::new(
        spec,
        kind,
        model,
        sampling.clone(),
    )))
}

/// The directory-name slug of an agent.
pub fn agent_slug(agent: &dyn Agent) -> String {
    model_slug(agent.spec())
}
