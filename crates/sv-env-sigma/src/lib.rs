//! SigmaForge: the environment where a model writes a Sigma rule from an analyst's
//! request, the rule runs over real Windows event logs, and the reward compares what it
//! fires on with what the reference SigmaHQ rule fires on.
//!
//! This crate owns the parts specific to that task: reading rule metadata, writing
//! leak-free analyst questions, grouping rules into leakage-free splits, building the
//! versioned dataset, and (with `sv-sigma` and `sv-env`) the prompt, reward and tools.

pub mod adversarial;
pub mod attack;
pub mod bench;
pub mod build;
pub mod config;
pub mod corpus;
pub mod dataset;
pub mod env;
pub mod hashing;
pub mod leakage;
pub mod meta;
pub mod prompt;
pub mod questions;
pub mod split;
pub mod tools;

pub use env::{default_dataset_dir, register, SigmaForge};
