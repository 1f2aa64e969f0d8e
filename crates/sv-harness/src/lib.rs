//! The evaluation harness behind `sv eval`.
//!
//! It runs rollouts of an agent (a chat model from `sv-models` or a built-in policy from
//! `sv-env`) on an environment's tasks with bounded concurrency, appends one JSON row per
//! finished rollout to the run directory, and can resume a run killed at any point with
//! no duplicated and no lost rows. The run-directory format (`sv-run/1`) is the contract
//! with `sv report`; it is specified in `docs/harness.md` and implemented in [`rundir`].

pub mod agent;
pub mod bench;
pub mod error;
pub mod progress;
pub mod rundir;
pub mod runner;
pub mod summary;
pub mod table;

pub use agent::{build_agent, Agent, AgentTurn, BuiltinAgent, ModelAgent, TurnRequest};
pub use error::HarnessError;
pub use progress::{Bar, Progress, Silent};
pub use rundir::{Metadata, Row, Tokens};
pub use runner::{
    resume_eval, resume_with, resume_with_options, run_eval, select_tasks, EvalSpec, ResumeOptions,
    ResumeSources, RunOutcome,
};
pub use summary::{summarize, Summary};
