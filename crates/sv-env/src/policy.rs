//! Built-in policies: answers that need no model, for baselines and tests.
//!
//! - `reference`: the environment's gold answer — an upper bound that must score top.
//! - `random`: [`Environment::random_completion`], seeded per rollout — a lower bound.
//! - `constant:TEXT`: the same text for every task — a lower bound / probe.
//! - `replay:FILE`: completions saved earlier (a run's `results.jsonl`, or any JSONL of
//!   `{"task_id", "completion"[, "rollout", "reasoning"]}`), re-scored.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sv_chat::Message;

use crate::env::{Environment, Task};
use crate::rng::rollout_seed;

/// Why a built-in policy has no answer for a task (recorded as the row's error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("bad policy spec {spec:?}: {reason}")]
    Spec { spec: String, reason: String },
    #[error("replay file {path}: {reason}")]
    ReplayFile { path: PathBuf, reason: String },
    #[error("environment has no reference answer for task {task_id}")]
    NoReference { task_id: String },
    #[error("replay file has no completion for task {task_id} rollout {rollout}")]
    NotInReplay { task_id: String, rollout: u32 },
    #[error("replayed row for task {task_id} rollout {rollout} was an error: {error}")]
    ReplayedError {
        task_id: String,
        rollout: u32,
        error: String,
    },
}

/// One saved completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayEntry {
    pub completion: Option<String>,
    pub reasoning: Option<String>,
    /// The original row's error, when it had one (replays as that error).
    pub error: Option<String>,
}

/// Saved completions by `(task_id, rollout)`, in file order of first appearance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayBook {
    pub path: PathBuf,
    pub entries: BTreeMap<(String, u32), ReplayEntry>,
    /// Task ids in the order they first appear.
    pub task_order: Vec<String>,
}

#[derive(Deserialize)]
struct ReplayRow {
    task_id: String,
    #[serde(default)]
    rollout: u32,
    #[serde(default)]
    completion: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

impl ReplayBook {
    /// Reads a JSONL file. A torn last line (no newline, not JSON: a crashed writer) is
    /// skipped; any other bad line is an error naming it. A `(task_id, rollout)` seen
    /// twice is an error.
    pub fn load(path: &Path) -> Result<ReplayBook, PolicyError> {
        let bad = |reason: String| PolicyError::ReplayFile {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let lines: Vec<String> = std::io::BufReader::new(file)
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let ends_with_newline = std::fs::read(path)
            .map(|b| b.last() == Some(&b'\n'))
            .unwrap_or(true);
        let mut book = ReplayBook {
            path: path.to_path_buf(),
            ..Default::default()
        };
        let last = lines.len();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row: ReplayRow = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(_) if i + 1 == last && !ends_with_newline => continue,
                Err(e) => return Err(bad(format!("line {}: {e}", i + 1))),
            };
            let key = (row.task_id.clone(), row.rollout);
            if book.entries.contains_key(&key) {
                return Err(bad(format!(
                    "line {}: task {} rollout {} appears twice",
                    i + 1,
                    row.task_id,
                    row.rollout
                )));
            }
            if row.completion.is_none() && row.error.is_none() {
                return Err(bad(format!(
                    "line {}: neither `completion` nor `error`",
                    i + 1
                )));
            }
            if !book.task_order.contains(&row.task_id) {
                book.task_order.push(row.task_id.clone());
            }
            book.entries.insert(
                key,
                ReplayEntry {
                    completion: row.completion,
                    reasoning: row.reasoning,
                    error: row.error,
                },
            );
        }
        if book.entries.is_empty() {
            return Err(bad("no completions in the file".into()));
        }
        Ok(book)
    }

    /// Rollouts per task: one more than the highest rollout index in the file.
    pub fn rollouts(&self) -> u32 {
        self.entries.keys().map(|(_, r)| r + 1).max().unwrap_or(1)
    }
}

/// A policy that needs no model.
#[derive(Debug, Clone)]
pub enum BuiltinPolicy {
    Reference,
    Random,
    Constant(String),
    Replay(Arc<ReplayBook>),
}

impl BuiltinPolicy {
    /// Parses `reference`, `random`, `constant:TEXT` or `replay:FILE`; `None` when
    /// `spec` names something else (a model).
    pub fn parse(spec: &str) -> Option<Result<BuiltinPolicy, PolicyError>> {
        match spec {
            "reference" => Some(Ok(BuiltinPolicy::Reference)),
            "random" => Some(Ok(BuiltinPolicy::Random)),
            _ => {
                if let Some(text) = spec.strip_prefix("constant:") {
                    Some(Ok(BuiltinPolicy::Constant(unescape(text))))
                } else if let Some(file) = spec.strip_prefix("replay:") {
                    if file.is_empty() {
                        return Some(Err(PolicyError::Spec {
                            spec: spec.into(),
                            reason: "expected replay:FILE".into(),
                        }));
                    }
                    Some(
                        ReplayBook::load(Path::new(file))
                            .map(|b| BuiltinPolicy::Replay(Arc::new(b))),
                    )
                } else {
                    None
                }
            }
        }
    }

    /// `reference`, `random`, `constant`, `replay`.
    pub fn kind(&self) -> &'static str {
        match self {
            BuiltinPolicy::Reference => "reference",
            BuiltinPolicy::Random => "random",
            BuiltinPolicy::Constant(_) => "constant",
            BuiltinPolicy::Replay(_) => "replay",
        }
    }

    /// The assistant message this policy answers `task` with. Multi-turn environments
    /// get the answer straight away (built-in policies call no tools).
    pub fn respond(
        &self,
        env: &dyn Environment,
        task: &Task,
        rollout: u32,
        seed: u64,
    ) -> Result<Message, PolicyError> {
        match self {
            BuiltinPolicy::Reference => env
                .reference_completion(task)
                .map(Message::assistant)
                .ok_or_else(|| PolicyError::NoReference {
                    task_id: task.id.clone(),
                }),
            BuiltinPolicy::Random => Ok(Message::assistant(
                env.random_completion(task, rollout_seed(seed, &task.id, rollout)),
            )),
            BuiltinPolicy::Constant(text) => Ok(Message::assistant(text.clone())),
            BuiltinPolicy::Replay(book) => {
                let entry = book
                    .entries
                    .get(&(task.id.clone(), rollout))
                    .ok_or_else(|| PolicyError::NotInReplay {
                        task_id: task.id.clone(),
                        rollout,
                    })?;
                match (&entry.completion, &entry.error) {
                    (Some(c), _) => Ok(Message {
                        reasoning: entry.reasoning.clone(),
                        ..Message::assistant(c.clone())
                    }),
                    (None, Some(e)) => Err(PolicyError::ReplayedError {
                        task_id: task.id.clone(),
                        rollout,
                        error: e.clone(),
                    }),
                    (None, None) => Err(PolicyError::NotInReplay {
                        task_id: task.id.clone(),
                        rollout,
                    }),
                }
            }
        }
    }
}

/// `\n`, `\t` and `\\` escapes in `constant:` text, so a shell argument can hold a
/// multi-line completion.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert!(matches!(
            BuiltinPolicy::parse("reference"),
            Some(Ok(BuiltinPolicy::Reference))
        ));
        assert!(matches!(
            BuiltinPolicy::parse("random"),
            Some(Ok(BuiltinPolicy::Random))
        ));
        match BuiltinPolicy::parse("constant:a\\nb\\\\n\\x") {
            Some(Ok(BuiltinPolicy::Constant(t))) => assert_eq!(t, "a\nb\\n\\x"),
            other => panic!("{other:?}"),
        }
        assert!(BuiltinPolicy::parse("embedded").is_none());
        assert!(matches!(
            BuiltinPolicy::parse("replay:"),
            Some(Err(PolicyError::Spec { .. }))
        ));
        assert!(matches!(
            BuiltinPolicy::parse("replay:/nonexistent/x.jsonl"),
            Some(Err(PolicyError::ReplayFile { .. }))
        ));
    }

    #[test]
    fn replay_book_reads_results_rows_and_skips_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.jsonl");
        std::fs::write(
            &f,
            concat!(
                "{\"task_id\":\"t1\",\"rollout\":0,\"completion\":\"a\",\"reward\":1.0}\n",
                "{\"task_id\":\"t1\",\"rollout\":1,\"completion\":null,\"error\":\"HTTP 500\"}\n",
                "{\"task_id\":\"t0\",\"completion\":\"b\",\"reasoning\":\"r\"}\n",
                "{\"task_id\":\"t2\",\"compl"
            ),
        )
        .unwrap();
        let book = ReplayBook::load(&f).unwrap();
        assert_eq!(book.task_order, ["t1", "t0"]);
        assert_eq!(book.rollouts(), 2);
        assert_eq!(
            book.entries[&("t0".to_string(), 0)].reasoning.as_deref(),
            Some("r")
        );
        // A bad line that is not the torn tail is an error.
        std::fs::write(
            &f,
            "{\"task_id\":\"t2\",\"compl\n{\"task_id\":\"t1\",\"completion\":\"a\"}\n",
        )
        .unwrap();
        let e = ReplayBook::load(&f).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        std::fs::write(
            &f,
            "{\"task_id\":\"t\",\"completion\":\"a\"}\n{\"task_id\":\"t\",\"completion\":\"b\"}\n",
        )
        .unwrap();
        let e = ReplayBook::load(&f).unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
    }
}
