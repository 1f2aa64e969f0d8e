//! A report over one or more runs: the summaries, then HTML / Markdown / JSON renderings.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compare::{compare_metric, MetricComparison};
use crate::error::ReportError;
use crate::metric::Metric;
use crate::run::{Row, Run};
use crate::sanitize::Treatment;
use crate::summary::{RunSummary, SummaryOptions};

/// Settings of `sv report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    pub summary: SummaryOptions,
    /// Longest completion / reasoning shown per worst task, in characters (default 4,000).
    pub max_completion_chars: usize,
    /// Defang URLs, IPs and e-mail addresses in every completion shown, whatever the env says
    /// (default false: only rows with `info.defang: true` or runs whose metadata asks).
    pub defang: bool,
    /// Page title (default "sv evaluation report").
    pub title: String,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            summary: SummaryOptions::default(),
            max_completion_chars: 4_000,
            defang: false,
            title: "sv evaluation report".into(),
        }
    }
}

/// Runs with their summaries, ready to render.
pub struct Report<'a> {
    pub runs: &'a [Run],
    pub summaries: Vec<RunSummary>,
    /// Each later run against the first, paired over shared tasks (reward), where they
    /// share tasks of the same environment.
    pub paired: Vec<PairedToFirst>,
    pub options: ReportOptions,
}

/// A run compared with the report's first run (the baseline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedToFirst {
    pub baseline: String,
    pub candidate: String,
    /// Index of the candidate in [`Report::summaries`].
    pub index: usize,
    pub reward: MetricComparison,
}

/// The files [`Report::write`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub json: PathBuf,
}

/// A row's text as it may be shown: redacted, defanged and truncated per the env's wishes.
pub(crate) struct Shown {
    pub prompt: Option<String>,
    pub completion: String,
    pub reasoning: Option<String>,
    pub info: Option<String>,
    pub error: Option<String>,
}

impl<'a> Report<'a> {
    pub fn new(runs: &'a [Run], options: ReportOptions) -> Report<'a> {
        let summaries = runs
            .iter()
            .map(|r| RunSummary::of(r, &options.summary))
            .collect();
        let mut paired = Vec::new();
        if let Some((first, rest)) = runs.split_first() {
            for (i, r) in rest.iter().enumerate() {
                if r.meta.env != first.meta.env {
                    continue;
                }
                let cfg = &options.summary.bootstrap;
                if let Ok(c) = compare_metric(first, r, &Metric::Reward, cfg) {
                    paired.push(PairedToFirst {
                        baseline: first.label(),
                        candidate: r.label(),
                        index: i + 1,
                        reward: c,
                    });
                }
            }
        }
        Report {
            runs,
            summaries,
            paired,
            options,
        }
    }

    pub(crate) fn shown(&self, run: &Run, row: &Row) -> Shown {
        let t = Treatment::for_info(&row.info, self.options.defang || run.wants_defang());
        let max = self.options.max_completion_chars;
        // Info is shown for diagnosis; it never hides, but is defanged like the text.
        let info = match &row.info {
            serde_json::Value::Null => None,
            serde_json::Value::Object(m) if m.is_empty() => None,
            v => {
                let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
                let info_t = Treatment {
                    redact: false,
                    defang: t.defang,
                };
                Some(info_t.apply(&pretty, max))
            }
        };
        let plain = Treatment {
            redact: false,
            defang: t.defang,
        };
        Shown {
            prompt: row.prompt.as_deref().map(|p| t.apply(p, max)),
            completion: t.apply(&row.completion, max),
            reasoning: row.reasoning.as_deref().map(|r| t.apply(r, max)),
            info,
            error: row.error.as_deref().map(|e| plain.apply(e, max)),
        }
    }

    /// The machine-readable form (`report.json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "generated_by": format!("sv-report {}", env!("CARGO_PKG_VERSION")),
            "options": self.options,
            "runs": self.summaries,
            "paired_to_first": self.paired,
        })
    }

    /// Writes `report.html`, `report.md` and `report.json` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<Written, ReportError> {
        std::fs::create_dir_all(dir).map_err(|e| ReportError::Io(dir.to_path_buf(), e))?;
        let w = Written {
            html: dir.join("report.html"),
            markdown: dir.join("report.md"),
            json: dir.join("report.json"),
        };
        let put = |p: &Path, s: &str| {
            std::fs::write(p, s).map_err(|e| ReportError::Io(p.to_path_buf(), e))
        };
        put(&w.html, &self.html())?;
        put(&w.markdown, &self.markdown())?;
        let json = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        put(&w.json, &json)?;
        Ok(w)
    }
}
