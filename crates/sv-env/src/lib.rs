//! The environment frame every `sv` environment plugs into.
//!
//! An environment is a versioned data set of [`Task`]s, the prompt built for each, optional
//! tools the model may call over several turns, and a reward that turns a finished
//! [`Trajectory`] into a [`Score`] with named components. Keeping this contract in one
//! crate lets the harness, trainers and servers run any environment the same way, and
//! lets each environment crate depend on nothing but this and its own engine.
//!
//! - [`Environment`]: the trait (sync, `Send + Sync`; see its docs for why).
//! - [`Episode`]: the multi-turn loop, independent of how the model is called.
//! - [`parse`]: completion parsing shared by all environments (think tags, last fence).
//! - [`EnvConfig`]: reward weights, turn limits, tool toggles, parameters — from a file.
//! - [`DatasetManifest`]: task-file hash and provenance.
//! - [`Registry`]: environments by `name@version`.
//! - [`BuiltinPolicy`]: `reference`, `random`, `constant:TEXT`, `replay:FILE`.

pub mod config;
pub mod dataset;
pub mod env;
pub mod episode;
pub mod error;
pub mod parse;
pub mod policy;
pub mod registry;
pub mod rng;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::EnvConfig;
pub use dataset::{load_tasks_jsonl, sha256_file, sha256_hex, DataSource, DatasetManifest};
pub use env::{EnvId, Environment, Score, StopReason, Task, ToolOutput, Trajectory};
pub use episode::{Episode, Step};
pub use error::EnvError;
pub use parse::{parse_completion, split_reasoning, FenceSpec, ParseError, Parsed};
pub use policy::{BuiltinPolicy, PolicyError, ReplayBook};
pub use registry::{EnvBuild, EnvEntry, LoadedEnv, Registry};
