//! Shared helpers: the arith test environment and scripted agents.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sv_chat::{FunctionCall, Message, ToolCall};
use sv_env::testing::{default_config, ArithEnv};
use sv_env::{EnvConfig, Environment};
use sv_harness::{Agent, AgentTurn, EvalSpec, Tokens, TurnRequest};

pub fn arith(tasks: usize) -> Arc<dyn Environment> {
    arith_with(tasks, default_config())
}

pub fn arith_with(tasks: usize, mut config: EnvConfig) -> Arc<dyn Environment> {
    config.params.insert("tasks_per_split".into(), tasks.into());
    Arc::new(ArithEnv::new(config).unwrap())
}

/// Answers correctly when the task index is even, off by one otherwise; optionally
/// slow, failing on every `fail_every`-th task, panicking on one task, or calling the
/// `calc` tool first.
pub struct Scripted {
    pub spec: String,
    pub delay: Duration,
    pub fail_every: Option<usize>,
    pub panic_on: Option<String>,
    pub use_tool: bool,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl Scripted {
    pub fn new(spec: &str) -> Self {
        Scripted {
            spec: spec.into(),
            delay: Duration::ZERO,
            fail_every: None,
            panic_on: None,
            use_tool: false,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }
}

pub fn task_index(id: &str) -> usize {
    id.rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// What `Scripted` earns on a task (without tools): 1.0 on even indices, 0.2 on odd.
pub fn expected_reward(task_id: &str) -> f64 {
    if task_index(task_id).is_multiple_of(2) {
        1.0
    } else {
        0.2
    }
}

#[async_trait::async_trait]
impl Agent for Scripted {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn kind(&self) -> &str {
        "scripted"
    }
    async fn turn(&self, req: TurnRequest<'_>) -> Result<AgentTurn, String> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let idx = task_index(&req.task.id);
        if self.panic_on.as_deref() == Some(req.task.id.as_str()) {
            panic!("scripted panic on {}", req.task.id);
        }
        if self.fail_every.is_some_and(|k| idx.is_multiple_of(k)) {
            return Err(format!("HTTP 500 from fake server for {}", req.task.id));
        }
        let gold = req
            .task
            .answer
            .as_ref()
            .and_then(|a| a.as_i64())
            .unwrap_or(0);
        let turns_so_far = req.episode.trajectory().turns;
        let message = if self.use_tool && turns_so_far == 0 {
            let expr = req.task.prompt["expression"].as_str().unwrap_or("1");
            Message {
                tool_calls: vec![ToolCall {
                    id: "call_0".into(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: "calc".into(),
                        arguments: serde_json::json!({ "expression": expr }).to_string(),
                    },
                }],
                ..Message::assistant("")
            }
        } else {
            let answer = if self.use_tool {
                // Use what the tool said.
                req.episode
                    .trajectory()
                    .transcript
                    .last()
                    .map(|m| m.content.clone())
                    .unwrap_or_default()
            } else if idx.is_multiple_of(2) {
                gold.to_string()
            } else {
                (gold + 1).to_string()
            };
            Message {
                reasoning: Some(format!("thinking about {}", req.task.id)),
                ..Message::assistant(format!(
                    "Sure.\n```json\n{{\"answer\": {answer}, \"confidence\": 0.75}}\n```"
                ))
            }
        };
        Ok(AgentTurn {
            message,
            tokens: Tokens {
                prompt: 100,
                completion: 20,
                reasoning: 5,
            },
            latency_ms: 10.0,
            cost_usd: Some(0.001),
            cached: false,
        })
    }
}

pub fn spec(env: Arc<dyn Environment>, agent: Arc<dyn Agent>, out: &std::path::Path) -> EvalSpec {
    EvalSpec {
        env,
        config_source: None,
        agent,
        split: "test".into(),
        n: None,
        tasks: None,
        seed: 42,
        rollouts: None,
        concurrency: 4,
        out_dir: out.to_path_buf(),
        command: vec!["test".into()],
    }
}
