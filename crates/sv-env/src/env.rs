//! The [`Environment`] trait and the values that cross it: tasks, trajectories, scores.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sv_chat::{Message, Role, ToolCall, ToolSpec};

use crate::config::EnvConfig;
use crate::dataset::DatasetManifest;
use crate::error::EnvError;

/// `name@version`, e.g. `sigma@1`. The version changes whenever the prompt, tools or
/// reward change in a way that makes scores incomparable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EnvId {
    pub name: String,
    pub version: u32,
}

impl EnvId {
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        EnvId {
            name: name.into(),
            version,
        }
    }

    /// Parses `name` (version `None`) or `name@N`.
    pub fn parse_ref(s: &str) -> Result<(String, Option<u32>), EnvError> {
        let s = s.trim();
        let (name, version) = match s.split_once('@') {
            None => (s, None),
            Some((n, v)) => {
                let v = v.parse::<u32>().map_err(|_| EnvError::BadEnvRef {
                    text: s.to_string(),
                    reason: format!("version {v:?} is not a number"),
                })?;
                (n, Some(v))
            }
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(EnvError::BadEnvRef {
                text: s.to_string(),
                reason: "names are ASCII letters, digits, `-` and `_`".into(),
            });
        }
        Ok((name.to_string(), version))
    }
}

impl fmt::Display for EnvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// One task of a data set. `prompt` and `answer` are the environment's own data (it
/// reads them back with serde); the harness only records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Stable across dataset rebuilds; unique within the data set.
    pub id: String,
    pub split: String,
    /// What the prompt is built from (a question, an artefact to analyse, …).
    pub prompt: serde_json::Value,
    /// The gold answer where the environment has one (drives the `reference` policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<serde_json::Value>,
    /// Grouping for per-category breakdowns in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Anything else worth recording (source rule id, difficulty, tags, …).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub metadata: serde_json::Value,
}

/// The answer to one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    pub content: String,
    /// True when the call was malformed or failed; counted in the trajectory.
    pub is_error: bool,
}

impl ToolOutput {
    pub fn ok(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: false,
        }
    }
    pub fn error(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: true,
        }
    }
}

/// Why an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model answered without calling a tool.
    Answered,
    /// `max_turns` assistant messages were produced and the last still called tools.
    MaxTurns,
    /// The environment's [`Environment::episode_done`] said so.
    EnvDone,
}

/// Everything that happened in one episode, as the environment scores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// The initial messages ([`Environment::initial_messages`]).
    pub prompt: Vec<Message>,
    /// The assistant and tool messages that followed, in order.
    pub transcript: Vec<Message>,
    /// Assistant messages produced.
    pub turns: u32,
    /// Tool calls the model made (executed or refused).
    pub tool_calls: u32,
    /// Tool calls that failed: invalid JSON arguments, unknown or disabled tools, over
    /// the budget, or an error the tool itself reported.
    pub tool_errors: u32,
    pub stop: StopReason,
}

impl Trajectory {
    /// A single-turn trajectory whose answer is `answer` (what built-in policies and
    /// replays produce).
    pub fn single_turn(prompt: Vec<Message>, answer: Message) -> Self {
        Trajectory {
            prompt,
            transcript: vec![answer],
            turns: 1,
            tool_calls: 0,
            tool_errors: 0,
            stop: StopReason::Answered,
        }
    }

    /// The last assistant message, if any.
    pub fn final_message(&self) -> Option<&Message> {
        self.transcript
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant)
    }

    /// The content of the last assistant message (empty when there is none).
    pub fn completion(&self) -> &str {
        self.final_message().map_or("", |m| m.content.as_str())
    }

    /// The reasoning field (`reasoning` / `reasoning_content`) of the last assistant message.
    pub fn reasoning(&self) -> Option<&str> {
        self.final_message().and_then(|m| m.reasoning.as_deref())
    }

    /// Every tool call the model made, in order.
    pub fn all_tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.transcript
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .flat_map(|m| m.tool_calls.iter())
    }
}

/// The result of scoring a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The scalar training reward.
    pub reward: f64,
    /// The completion parsed into the expected answer format (the "valid %" column).
    pub valid: bool,
    /// A confidence in [0, 1] the model stated, for calibration reports (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The named parts the reward is made of (each usually in [0, 1], before weighting).
    pub components: BTreeMap<String, f64>,
    /// Further numbers worth averaging that are not part of the reward.
    pub metrics: BTreeMap<String, f64>,
    /// Free-form detail; a parse or scoring failure is explained in `info.error`.
    pub info: serde_json::Value,
}

impl Score {
    /// A score with the given reward and nothing else.
    pub fn new(reward: f64, valid: bool) -> Self {
        Score {
            reward,
            valid,
            confidence: None,
            components: BTreeMap::new(),
            metrics: BTreeMap::new(),
            info: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn component(mut self, name: &str, value: f64) -> Self {
        self.components.insert(name.to_string(), value);
        self
    }

    pub fn metric(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.to_string(), value);
        self
    }

    /// Sets `info[key] = value` (turning `info` into an object if it was not one).
    pub fn with_info(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if !self.info.is_object() {
            self.info = serde_json::Value::Object(Default::default());
        }
        if let Some(map) = self.info.as_object_mut() {
            map.insert(key.to_string(), value.into());
        }
        self
    }

    /// Reward, components, metrics and confidence are all finite (confidence in [0, 1]).
    pub fn check(&self) -> Result<(), String> {
        if !self.reward.is_finite() {
            return Err(format!("reward is {}", self.reward));
        }
        for (k, v) in self.components.iter().chain(self.metrics.iter()) {
            if !v.is_finite() {
                return Err(format!("{k} is {v}"));
            }
        }
        if let Some(c) = self.confidence {
            if !(0.0..=1.0).contains(&c) {
                return Err(format!("confidence {c} is outside [0, 1]"));
            }
        }
        Ok(())
    }
}

/// An environment: a data set of tasks, how to prompt for them, optional tools, and a
/// reward.
///
/// The trait is synchronous and `Send + Sync`: scoring and tools are CPU work (running
/// a rule over an event store, parsing YAML), so async would buy nothing and would make
/// the trait unusable from plain threads, rayon, or a Python binding. One instance is
/// shared (`Arc<dyn Environment>`) by every concurrent rollout, so methods take `&self`
/// and per-episode state lives in the [`Trajectory`]. The harness calls `score` and
/// `call_tool` on tokio's blocking pool when [`Environment::cpu_heavy`] says so.
pub trait Environment: Send + Sync {
    fn id(&self) -> &EnvId;

    /// One line for `sv eval --list`.
    fn description(&self) -> &str {
        ""
    }

    /// The effective configuration (defaults merged with the user's file).
    fn config(&self) -> &EnvConfig;

    /// The data set the tasks come from (hash and provenance are recorded per run).
    fn dataset(&self) -> &DatasetManifest;

    /// Split names, e.g. `["train", "dev", "test"]`.
    fn splits(&self) -> Vec<String>;

    /// The tasks of `split` in a stable order; an unknown split is an error that lists
    /// the known ones.
    fn tasks(&self, split: &str) -> Result<Vec<Task>, EnvError>;

    /// The messages that open an episode (system + user, usually).
    fn initial_messages(&self, task: &Task) -> Vec<Message>;

    /// Tools the model may call, in OpenAI `tools` format. Empty for single-turn
    /// environments. The episode drops tools that the config switches off.
    fn tools(&self, _task: &Task) -> Vec<ToolSpec> {
        Vec::new()
    }

    /// Runs one tool call whose arguments parsed as JSON. Failures are returned as
    /// [`ToolOutput::error`] (the model sees them), never as a panic.
    fn call_tool(&self, _task: &Task, name: &str, _arguments: &serde_json::Value) -> ToolOutput {
        ToolOutput::error(format!("unknown tool `{name}`"))
    }

    /// Ends an episode early (e.g. the model gave up). Checked after each turn.
    fn episode_done(&self, _task: &Task, _trajectory: &Trajectory) -> bool {
        false
    }

    /// Scores a finished episode. Must not panic on any completion: a parse failure is
    /// the format penalty the environment defines, explained in `info.error`.
    fn score(&self, task: &Task, trajectory: &Trajectory) -> Score;

    /// The completion a perfect model would give (the `reference` policy). `None` when
    /// the environment has no gold answer for this task.
    fn reference_completion(&self, task: &Task) -> Option<String>;

    /// A seeded, deterministic low-effort completion for the `random` baseline. The
    /// default shuffles the words of the last user message (prose, no answer).
    fn random_completion(&self, task: &Task, seed: u64) -> String {
        let prompt = self.initial_messages(task);
        let text = prompt
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let mut rng = crate::rng::SplitMix64::new(seed);
        rng.shuffle(&mut words);
        words.truncate(64);
        words.join(" ")
    }

    /// True when `score`/`call_tool` take long enough (> ~50 µs) that the harness should
    /// move them off the async worker threads.
    fn cpu_heavy(&self) -> bool {
        true
    }
}
