//! `sv-report`: what an evaluation run means, with error bars.
//!
//! Evaluations of language models are noisy: a few points of mean reward between two models
//! or two checkpoints is often sampling noise. This crate reads run directories written by
//! `sv eval` (`metadata.json`, `results.jsonl`, `summary.json`; it knows nothing of how they
//! were produced and tolerates fields it does not know) and turns them into
//!
//! * statistics ([`stats`]): means with seeded percentile-bootstrap CIs, a paired bootstrap
//!   over shared task ids (delta, CI, two-sided p-value), calibration (ECE, reliability bins,
//!   Brier), quantiles and histograms;
//! * reports ([`Report`]): one self-contained HTML page (inline CSS/SVG, a hash-pinned inline
//!   script, a Content-Security-Policy that forbids any network access), a Markdown summary
//!   and a JSON dump of the same numbers; hostile completions are escaped and, where the env
//!   asks, redacted or defanged ([`sanitize`]);
//! * [`compare()`]: a paired comparison of two runs per metric;
//! * [`gate()`]: a pass/fail verdict for CI when a candidate drops below a baseline.
//!
//! Means are over tasks (a task's rollouts are averaged first) and bootstrap resamples tasks,
//! so `--rollouts K` does not shrink intervals by pretending the K samples are independent
//! tasks.

pub mod compare;
pub mod error;
pub mod gate;
mod html;
mod markdown;
pub mod metric;
pub mod report;
pub mod run;
pub mod sanitize;
pub mod stats;
pub mod summary;
pub mod svg;

pub use compare::{compare, Comparison, MetricComparison};
pub use error::ReportError;
pub use gate::{gate, DropKind, GateCheck, GateReport};
pub use markdown::cell as markdown_cell;
pub use metric::Metric;
pub use report::{PairedToFirst, Report, ReportOptions, Written};
pub use run::{discover, load_runs, ReadLimits, Row, Run, RunMeta};
pub use stats::{Bootstrap, Calibration, Histogram, MeanCi, Paired};
pub use summary::{RunSummary, SummaryOptions};
