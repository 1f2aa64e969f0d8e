//! `arith`: a small, deterministic environment for harness tests and overhead
//! benchmarks (feature `testing`). It is real in every way the harness cares about —
//! splits, a gold answer, a fenced-JSON answer format parsed with the shared parser, a
//! weighted reward with components, a stated confidence, and a `calc` tool for the
//! multi-turn path — but it is never registered for users.
//!
//! Task `arith-<split>-<i>` asks for the value of `a op b op c` (integers 1–99, `+ - *`,
//! usual precedence). The answer is ```` ```json {"answer": N, "confidence": P} ````.
//! Reward = `format·[parsed] + correct·[answer == gold]`, weights 0.2 / 0.8 by default.

use std::sync::Arc;

use serde_json::json;
use sv_chat::{Message, ToolSpec};

use crate::config::EnvConfig;
use crate::dataset::{sha256_hex, DataSource, DatasetManifest};
use crate::env::{EnvId, Environment, Score, Task, ToolOutput, Trajectory};
use crate::error::EnvError;
use crate::parse::{parse_completion, FenceSpec};
use crate::registry::{EnvBuild, EnvEntry};
use crate::rng::SplitMix64;

pub const COMPONENTS: [&str; 2] = ["format", "correct"];
const PARAMS: [&str; 2] = ["tasks_per_split", "seed"];

/// The registry entry (for tests that exercise the registry; the CLI never adds it).
pub fn entry() -> EnvEntry {
    EnvEntry {
        name: "arith",
        version: 1,
        description: "arithmetic test environment (tests and benchmarks only)",
        default_config,
        build: |b: &EnvBuild| Ok(Arc::new(ArithEnv::new(b.config.clone())?) as Arc<dyn Environment>),
    }
}

pub fn default_config() -> EnvConfig {
    EnvConfig {
        reward_weights: [("format".to_string(), 0.2), ("correct".to_string(), 0.8)].into(),
        params: json!({"tasks_per_split": 50, "seed": 7})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ..EnvConfig::default()
    }
}

pub struct ArithEnv {
    id: EnvId,
    config: EnvConfig,
    manifest: DatasetManifest,
    train: Vec<Task>,
    test: Vec<Task>,
    fence: FenceSpec,
    cpu_heavy: bool,
}

impl ArithEnv {
    pub fn new(config: EnvConfig) -> Result<Self, EnvError> {
        let bad = |reason: String| EnvError::Config {
            source_name: "arith".into(),
            reason,
        };
        config.check_weights(&COMPONENTS).map_err(bad)?;
        config.check_tools(&["calc"]).map_err(bad)?;
        config.check_params(&PARAMS).map_err(bad)?;
        let n: usize = config.param("tasks_per_split", 50).map_err(bad)?;
        let seed: u64 = config.param("seed", 7).map_err(bad)?;
        let train = generate("train", n, seed);
        let test = generate("test", n, seed ^ 0xA5A5);
        let mut jsonl = String::new();
        for t in train.iter().chain(test.iter()) {
            jsonl.push_str(&serde_json::to_string(t).map_err(|e| EnvError::Other(e.to_string()))?);
            jsonl.push('\n');
        }
        let manifest = DatasetManifest {
            name: "arith".into(),
            version: "1".into(),
            task_file: "(generated in memory)".into(),
            sha256: sha256_hex(jsonl.as_bytes()),
            tasks: 2 * n,
            splits: [("train".to_string(), n), ("test".to_string(), n)].into(),
            sources: vec![DataSource {
                name: "generated".into(),
                location: format!("sv_env::testing seed={seed}"),
                sha256: None,
                license: Some("Apache-2.0".into()),
            }],
            generator: [("sv-env".to_string(), env!("CARGO_PKG_VERSION").to_string())].into(),
        };
        Ok(ArithEnv {
            id: EnvId::new("arith", 1),
            config,
            manifest,
            train,
            test,
            fence: FenceSpec::json(),
            cpu_heavy: false,
        })
    }

    /// Pretend scoring is expensive (exercises the harness's blocking-pool path).
    pub fn with_cpu_heavy(mut self, heavy: bool) -> Self {
        self.cpu_heavy = heavy;
        self
    }
}

fn generate(split: &str, n: usize, seed: u64) -> Vec<Task> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let a = 1 + rng.below(99) as i64;
            let b = 1 + rng.below(99) as i64;
            let c = 1 + rng.below(99) as i64;
            let ops = ['+', '-', '*'];
            let o1 = ops[rng.below(3)];
            let o2 = ops[rng.below(3)];
            let expr = format!("{a} {o1} {b} {o2} {c}");
            let answer = eval(&expr).unwrap_or(0);
            let category = if o1 == '*' || o2 == '*' { "mul" } else { "add" };
            Task {
                id: format!("arith-{split}-{i:04}"),
                split: split.to_string(),
                prompt: json!({ "expression": expr }),
                answer: Some(json!(answer)),
                category: Some(category.to_string()),
                metadata: json!({ "operands": [a, b, c] }),
            }
        })
        .collect()
}

/// Evaluates integers with `+ - *` and parentheses (at most 200 bytes, depth 32).
pub fn eval(expr: &str) -> Result<i64, String> {
    if expr.len() > 200 {
        return Err("expression longer than 200 bytes".into());
    }
    let tokens: Vec<char> = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let mut pos = 0;
    let v = sum(&tokens, &mut pos, 0)?;
    if pos != tokens.len() {
        return Err(format!("unexpected `{}` at position {pos}", tokens[pos]));
    }
    Ok(v)
}

fn sum(t: &[char], pos: &mut usize, depth: u32) -> Result<i64, String> {
    let mut v = product(t, pos, depth)?;
    while let Some(&op) = t.get(*pos) {
        if op != '+' && op != '-' {
            break;
        }
        *pos += 1;
        let r = product(t, pos, depth)?;
        v = if op == '+' {
            v.checked_add(r)
        } else {
            v.checked_sub(r)
        }
        .ok_or("overflow")?;
    }
    Ok(v)
}

fn product(t: &[char], pos: &mut usize, depth: u32) -> Result<i64, String> {
    let mut v = atom(t, pos, depth)?;
    while t.get(*pos) == Some(&'*') {
        *pos += 1;
        v = v.checked_mul(atom(t, pos, depth)?).ok_or("overflow")?;
    }
    Ok(v)
}

fn atom(t: &[char], pos: &mut usize, depth: u32) -> Result<i64, String> {
    if depth > 32 {
        return Err("nested too deeply".into());
    }
    match t.get(*pos) {
        Some('(') => {
            *pos += 1;
            let v = sum(t, pos, depth + 1)?;
            if t.get(*pos) != Some(&')') {
                return Err("missing `)`".into());
            }
            *pos += 1;
            Ok(v)
        }
        Some('-') => {
            *pos += 1;
            Ok(-atom(t, pos, depth + 1)?)
        }
        Some(c) if c.is_ascii_digit() => {
            let start = *pos;
            while t.get(*pos).is_some_and(|c| c.is_ascii_digit()) {
                *pos += 1;
            }
            let s: String = t[start..*pos].iter().collect();
            s.parse::<i64>().map_err(|e| e.to_string())
        }
        Some(c) => Err(format!("unexpected `{c}` at position {}", *pos)),
        None => Err("unexpected end of expression".into()),
    }
}

impl Environment for ArithEnv {
    fn id(&self) -> &EnvId {
        &self.id
    }

    fn description(&self) -> &str {
        "arithmetic test environment (tests and benchmarks only)"
    }

    fn config(&self) -> &EnvConfig {
        &self.config
    }

    fn dataset(&self) -> &DatasetManifest {
        &self.manifest
    }

    fn splits(&self) -> Vec<String> {
        vec!["train".into(), "test".into()]
    }

    fn tasks(&self, split: &str) -> Result<Vec<Task>, EnvError> {
        match split {
            "train" => Ok(self.train.clone()),
            "test" => Ok(self.test.clone()),
            _ => Err(EnvError::UnknownSplit {
                split: split.into(),
                available: "train, test".into(),
            }),
        }
    }

    fn initial_messages(&self, task: &Task) -> Vec<Message> {
        let expr = task.prompt["expression"].as_str().unwrap_or("");
        vec![
            Message::system(
                "You are a careful calculator. Answer with one fenced JSON block: \
                 ```json\n{\"answer\": <integer>, \"confidence\": <0..1>}\n```",
            ),
            Message::user(format!("What is {expr}?")),
        ]
    }

    fn tools(&self, _task: &Task) -> Vec<ToolSpec> {
        if self.config.max_turns <= 1 {
            return Vec::new();
        }
        vec![ToolSpec::function(
            "calc",
            "Evaluate an integer expression with + - * and parentheses.",
            json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
        )]
    }

    fn call_tool(&self, _task: &Task, name: &str, args: &serde_json::Value) -> ToolOutput {
        if name != "calc" {
            return ToolOutput::error(format!("unknown tool `{name}`"));
        }
        match args.get("expression").and_then(|e| e.as_str()) {
            None => ToolOutput::error("missing string argument `expression`"),
            Some(e) => match eval(e) {
                Ok(v) => ToolOutput::ok(v.to_string()),
                Err(err) => ToolOutput::error(err),
            },
        }
    }

    fn score(&self, task: &Task, trajectory: &Trajectory) -> Score {
        let gold = task.answer.as_ref().and_then(|a| a.as_i64());
        let tools = f64::from(trajectory.tool_calls);
        let invalid = |info: serde_json::Value| {
            let mut s = Score::new(0.0, false)
                .component("format", 0.0)
                .component("correct", 0.0)
                .metric("tool_calls", tools);
            s.info = info;
            s
        };
        let parsed =
            match parse_completion(trajectory.completion(), trajectory.reasoning(), &self.fence) {
                Ok(p) => p,
                Err(e) => return invalid(e.to_info()),
            };
        let value: serde_json::Value = match serde_json::from_str(&parsed.body) {
            Ok(v) => v,
            Err(e) => {
                return invalid(
                    json!({"error": format!("answer block is not JSON: {e}"), "error_kind": "json"}),
                )
            }
        };
        let Some(answer) = value.get("answer").and_then(|a| a.as_i64()) else {
            return invalid(json!({"error": "no integer `answer` field", "error_kind": "schema"}));
        };
        let correct = if Some(answer) == gold { 1.0 } else { 0.0 };
        let reward = self.config.weight("format") + self.config.weight("correct") * correct;
        let mut score = Score::new(reward, true)
            .component("format", 1.0)
            .component("correct", correct)
            .metric("tool_calls", tools)
            .metric("abs_error", gold.map_or(0.0, |g| (answer - g).abs() as f64))
            .with_info("answer", answer);
        score.confidence = value
            .get("confidence")
            .and_then(|c| c.as_f64())
            .filter(|c| (0.0..=1.0).contains(c));
        score
    }

    fn reference_completion(&self, task: &Task) -> Option<String> {
        let a = task.answer.as_ref()?.as_i64()?;
        Some(format!(
            "```json\n{{\"answer\": {a}, \"confidence\": 1.0}}\n```"
        ))
    }

    fn cpu_heavy(&self) -> bool {
        self.cpu_heavy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::episode::{Episode, Step};
    use sv_chat::{FunctionCall, ToolCall};

    fn env(turns: u32, calls: u32) -> ArithEnv {
        ArithEnv::new(EnvConfig {
            max_turns: turns,
            max_tool_calls: calls,
            ..default_config()
        })
        .unwrap()
    }

    #[test]
    fn eval_works_and_rejects() {
        assert_eq!(eval("2 + 3 * 4").unwrap(), 14);
        assert_eq!(eval("(2+3)*4 - -1").unwrap(), 21);
        assert!(eval("2 +").is_err());
        assert!(eval("2 ) 3").is_err());
        assert!(eval(&"(".repeat(100)).is_err());
        assert!(eval("99999999999*99999999999")
            .unwrap_err()
            .contains("overflow"));
    }

    #[test]
    fn tasks_are_deterministic_with_exact_first_task() {
        let e = env(1, 0);
        let t = &e.tasks("test").unwrap()[0];
        let again = &env(1, 0).tasks("test").unwrap()[0];
        assert_eq!(t, again);
        assert_eq!(e.manifest.sha256, env(1, 0).manifest.sha256);
        let expr = t.prompt["expression"].as_str().unwrap();
        assert_eq!(
            t.answer.as_ref().unwrap().as_i64().unwrap(),
            eval(expr).unwrap()
        );
        assert!(matches!(e.tasks("dev"), Err(EnvError::UnknownSplit { .. })));
    }

    #[test]
    fn reference_scores_one_and_garbage_zero() {
        let e = env(1, 0);
        for t in e.tasks("test").unwrap() {
            let traj = Trajectory::single_turn(
                e.initial_messages(&t),
                Message::assistant(e.reference_completion(&t).unwrap()),
            );
            let s = e.score(&t, &traj);
            assert_eq!(s.reward, 1.0);
            assert_eq!(s.confidence, Some(1.0));
        }
        let t = &e.tasks("test").unwrap()[0];
        let s = e.score(
            t,
            &Trajectory::single_turn(vec![], Message::assistant("no idea")),
        );
        assert_eq!(s.reward, 0.0);
        assert!(!s.valid);
        assert_eq!(s.info["error_kind"], "no_fence");
        let s = e.score(
            t,
            &Trajectory::single_turn(
                vec![],
                Message::assistant("```json\n{\"answer\": 123456789}\n```"),
            ),
        );
        assert!((s.reward - 0.2).abs() < 1e-12);
    }

    fn call(id: &str, args: &str) -> Message {
        Message {
            tool_calls: vec![ToolCall {
                id: id.into(),
                kind: "function".into(),
                function: FunctionCall {
                    name: "calc".into(),
                    arguments: args.into(),
                },
            }],
            ..Message::assistant("")
        }
    }

    #[test]
    fn episode_runs_tools_counts_errors_and_stops() {
        let e = env(3, 2);
        let t = &e.tasks("test").unwrap()[0];
        let mut ep = Episode::new(&e, t);
        assert_eq!(ep.tools().len(), 1);
        assert_eq!(
            ep.step(call("c1", "{\"expression\": \"6*7\"}")),
            Step::Continue
        );
        assert_eq!(ep.trajectory().transcript[1].content, "42");
        assert_eq!(ep.step(call("c2", "{not json")), Step::Continue);
        assert!(ep.trajectory().transcript[3]
            .content
            .contains("not valid JSON"));
        // Third turn reaches max_turns; the call is over the budget of 2.
        assert_eq!(
            ep.step(call("c3", "{\"expression\": \"1\"}")),
            Step::Done(crate::env::StopReason::MaxTurns)
        );
        let traj = ep.finish();
        assert_eq!((traj.turns, traj.tool_calls, traj.tool_errors), (3, 3, 2));
        assert!(traj.transcript[5].content.contains("tool-call limit"));
        assert_eq!(e.score(t, &traj).info["error_kind"], "empty");

        // Disabled tool: not offered, and a call to it is refused.
        let mut cfg = default_config();
        cfg.max_turns = 2;
        cfg.max_tool_calls = 5;
        cfg.tools.insert("calc".into(), false);
        let e = ArithEnv::new(cfg).unwrap();
        let mut ep = Episode::new(&e, t);
        assert!(ep.tools().is_empty());
        ep.step(call("c", "{\"expression\": \"1\"}"));
        assert!(ep.trajectory().transcript[1]
            .content
            .contains("unknown or disabled tool"));
        assert_eq!(
            ep.step(Message::assistant("done")),
            Step::Done(crate::env::StopReason::Answered)
        );
    }
}
