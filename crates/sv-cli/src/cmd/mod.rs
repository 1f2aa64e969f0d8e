//! One module per command group; each exposes clap `Args` and `run`.

pub mod bench;
pub mod data;
pub mod eval;
pub mod model;
pub mod report;
pub mod sigma;
