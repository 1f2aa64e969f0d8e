//! The multi-turn episode loop, independent of how the model is called.
//!
//! The caller asks for the model's next message however it likes (async HTTP, an
//! in-process model, a trainer's rollout engine) and feeds it to [`Episode::step`],
//! which executes tool calls against the environment and says whether to go on.
//! Single-turn environments end after the first step.

use sv_chat::{Message, ToolSpec};

use crate::env::{Environment, StopReason, Task, ToolOutput, Trajectory};

/// What to do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ask the model again with [`Episode::messages`].
    Continue,
    /// The episode is over; call [`Episode::finish`].
    Done(StopReason),
}

/// One episode in progress.
pub struct Episode<'a> {
    env: &'a dyn Environment,
    task: &'a Task,
    tools: Vec<ToolSpec>,
    max_turns: u32,
    max_tool_calls: u32,
    trajectory: Trajectory,
}

impl<'a> Episode<'a> {
    /// Starts an episode: initial messages, and the tools the config leaves on.
    pub fn new(env: &'a dyn Environment, task: &'a Task) -> Self {
        let config = env.config();
        let tools: Vec<ToolSpec> = env
            .tools(task)
            .into_iter()
            .filter(|t| config.tool_enabled(&t.function.name))
            .collect();
        Episode {
            env,
            task,
            tools,
            max_turns: config.max_turns.max(1),
            max_tool_calls: config.max_tool_calls,
            trajectory: Trajectory {
                prompt: env.initial_messages(task),
                transcript: Vec::new(),
                turns: 0,
                tool_calls: 0,
                tool_errors: 0,
                stop: StopReason::Answered,
            },
        }
    }

    /// The tools to offer the model (empty for single-turn environments).
    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// The conversation so far: prompt then transcript.
    pub fn messages(&self) -> Vec<Message> {
        let t = &self.trajectory;
        let mut m = Vec::with_capacity(t.prompt.len() + t.transcript.len());
        m.extend(t.prompt.iter().cloned());
        m.extend(t.transcript.iter().cloned());
        m
    }

    pub fn trajectory(&self) -> &Trajectory {
        &self.trajectory
    }

    /// Records the model's message and runs any tool calls it makes.
    ///
    /// Tool calls are answered in order: invalid JSON arguments, unknown or disabled
    /// tools, and calls past `max_tool_calls` get an error reply (counted in
    /// `tool_errors`); the model sees every reply on its next turn. The episode ends
    /// when the message calls no tool, when `max_turns` messages have been produced, or
    /// when the environment says so.
    pub fn step(&mut self, mut assistant: Message) -> Step {
        assistant.role = sv_chat::Role::Assistant;
        let calls = assistant.tool_calls.clone();
        self.trajectory.transcript.push(assistant);
        self.trajectory.turns += 1;
        // Tools offered to a single-turn env are none, so any call there is refused too.
        for call in &calls {
            self.trajectory.tool_calls += 1;
            let name = call.function.name.as_str();
            let output = if self.trajectory.tool_calls > self.max_tool_calls {
                ToolOutput::error(format!(
                    "tool-call limit reached ({} per episode): answer without tools",
                    self.max_tool_calls
                ))
            } else if !self.tools.iter().any(|t| t.function.name == name) {
                ToolOutput::error(format!(
                    "unknown or disabled tool `{name}`; available: {}",
                    if self.tools.is_empty() {
                        "none".to_string()
                    } else {
                        self.tools
                            .iter()
                            .map(|t| t.function.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))
            } else {
                match call.parsed_arguments() {
                    Ok(args) => self.env.call_tool(self.task, name, &args),
                    Err(e) => ToolOutput::error(e),
                }
            };
            if output.is_error {
                self.trajectory.tool_errors += 1;
            }
            self.trajectory
                .transcript
                .push(Message::tool(call.id.clone(), name, output.content));
        }
        let stop = if calls.is_empty() {
            Some(StopReason::Answered)
        } else if self.env.episode_done(self.task, &self.trajectory) {
            Some(StopReason::EnvDone)
        } else if self.trajectory.turns >= self.max_turns {
            Some(StopReason::MaxTurns)
        } else {
            None
        };
        match stop {
            Some(s) => {
                self.trajectory.stop = s;
                Step::Done(s)
            }
            None => Step::Continue,
        }
    }

    /// The finished trajectory, ready for [`Environment::score`].
    pub fn finish(self) -> Trajectory {
        self.trajectory
    }
}
