//! The Markdown summary (`report.md`): the same tables as the page, for pull requests and
//! terminals. Cell text is escaped so a hostile completion or task id cannot break the table
//! or inject HTML into a Markdown renderer.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::report::Report;
use crate::stats::MeanCi;
use crate::svg::fmt_num;

/// Escapes text for a Markdown table cell (pipes, markup, line breaks).
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            '*' | '_' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn ci(c: Option<&MeanCi>) -> String {
    match c {
        Some(c) => format!("{} [{}, {}]", fmt_num(c.mean), fmt_num(c.lo), fmt_num(c.hi)),
        None => "–".into(),
    }
}

fn pct(c: Option<&MeanCi>) -> String {
    match c {
        Some(c) => format!("{:.1}%", c.mean * 100.0),
        None => "–".into(),
    }
}

/// A fence longer than any backtick run in `s`, so the block cannot be closed from inside.
fn fence(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in s.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

impl Report<'_> {
    /// The Markdown summary.
    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let sums = &self.summaries;
        let names = crate::html::display_names(sums);
        let bs = &self.options.summary.bootstrap;
        let _ = writeln!(m, "# {}\n", cell(&self.options.title));
        let _ = writeln!(
            m,
            "Means over tasks (rollouts of a task averaged first) with {:.0}% percentile-bootstrap CIs over tasks ({} resamples, seed {}).\n",
            bs.level * 100.0,
            bs.resamples,
            bs.seed
        );
        let lv = self.level_label();
        let _ = writeln!(m, "| run | model | env | tasks | rollouts | mean reward [{lv} CI] | valid | errors | latency p50 / p95 (ms) | total cost (USD) | tokens / rollout |");
        m.push_str("|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
        for s in sums {
            let env = match &s.env_version {
                Some(v) => format!("{}@{}", s.env, v),
                None => s.env.clone(),
            };
            let lat = s.latency_ms.map_or("–".into(), |l| {
                format!("{} / {}", fmt_num(l.p50), fmt_num(l.p95))
            });
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&s.run_id),
                cell(&s.model),
                cell(&env),
                s.tasks,
                s.rollouts,
                ci(s.reward.as_ref()),
                pct(s.valid.as_ref()),
                s.errors,
                lat,
                s.cost_usd.map_or("–".into(), |c| format!("{:.4}", c.sum)),
                s.total_tokens
                    .map_or("–".into(), |t| format!("{:.1}", t.mean)),
            );
        }

        if let Some(first) = self.paired.first() {
            let _ = writeln!(
                m,
                "\n## Paired difference in reward against {}\n\n| run | shared tasks | baseline | run | difference [{lv} CI] | p |\n|---|---:|---:|---:|---|---:|",
                cell(&first.baseline)
            );
            for p in &self.paired {
                let c = &p.reward.paired;
                let _ = writeln!(
                    m,
                    "| {} | {} | {:.3} | {:.3} | {:+.3} [{:+.3}, {:+.3}] | {:.4} |",
                    cell(&p.candidate),
                    c.n,
                    c.mean_a,
                    c.mean_b,
                    c.delta,
                    c.lo,
                    c.hi,
                    c.p_value
                );
            }
        }

        let comps: BTreeSet<&String> = sums.iter().flat_map(|s| s.components.keys()).collect();
        let mets: BTreeSet<&String> = sums.iter().flat_map(|s| s.metrics.keys()).collect();
        for (title, keys, is_comp) in [("Components", comps, true), ("Metrics", mets, false)] {
            if keys.is_empty() {
                continue;
            }
            let _ = writeln!(m, "\n## {title}\n");
            // One row per component/metric, one column per run.
            m.push_str("| name |");
            for name in &names {
                let _ = write!(m, " {} |", cell(name));
            }
            m.push_str("\n|---|");
            m.push_str(&"---|".repeat(sums.len()));
            m.push('\n');
            for n in keys {
                let _ = write!(m, "| {} |", cell(n));
                for s in sums {
                    let map = if is_comp { &s.components } else { &s.metrics };
                    let _ = write!(m, " {} |", ci(map.get(n)));
                }
                m.push('\n');
            }
        }

        let cats: BTreeSet<&String> = sums
            .iter()
            .flat_map(|s| s.categories.iter().map(|c| &c.category))
            .collect();
        if !cats.is_empty() {
            m.push_str("\n## Per-category reward\n\n| category |");
            for name in &names {
                let _ = write!(m, " {} |", cell(name));
            }
            m.push_str("\n|---|");
            m.push_str(&"---|".repeat(sums.len()));
            m.push('\n');
            for c in cats {
                let _ = write!(m, "| {} |", cell(c));
                for s in sums {
                    match s.categories.iter().find(|x| &x.category == c) {
                        Some(cs) => {
                            let _ = write!(m, " {} (n={}) |", ci(cs.reward.as_ref()), cs.rollouts);
                        }
                        None => m.push_str(" – |"),
                    }
                }
                m.push('\n');
            }
        }

        if sums.iter().any(|s| s.calibration.is_some()) {
            m.push_str(
                "\n## Calibration\n\n| run | n | ECE | MCE | Brier |\n|---|---:|---:|---:|---:|\n",
            );
            for s in sums {
                if let Some(c) = &s.calibration {
                    let _ = writeln!(
                        m,
                        "| {} | {} | {:.4} | {:.4} | {:.4} |",
                        cell(&s.label),
                        c.n,
                        c.ece,
                        c.mce,
                        c.brier
                    );
                }
            }
        }

        m.push_str("\n## Worst tasks\n");
        let preview = 600.min(self.options.max_completion_chars);
        for (run, s) in self.runs.iter().zip(sums) {
            let _ = writeln!(m, "\n### {}\n", cell(&s.label));
            for &idx in &s.worst {
                let Some(row) = run.rows.get(idx) else {
                    continue;
                };
                let shown = self.shown(run, row);
                let reward = row.reward.map_or("no reward".to_string(), fmt_num);
                let _ = writeln!(
                    m,
                    "- task {} #{}{}: reward {}{}",
                    cell(&row.task_id),
                    row.rollout,
                    row.category
                        .as_deref()
                        .map(|c| format!(" ({})", cell(c)))
                        .unwrap_or_default(),
                    reward,
                    shown
                        .error
                        .as_deref()
                        .map(|e| format!(", error: {}", cell(e)))
                        .unwrap_or_default()
                );
                let text = crate::sanitize::truncate(&shown.completion, preview);
                if !text.is_empty() {
                    let f = fence(&text);
                    let _ = writeln!(m, "\n  {f}text");
                    for line in text.lines() {
                        let _ = writeln!(m, "  {line}");
                    }
                    let _ = writeln!(m, "  {f}\n");
                }
            }
        }

        let warnings: Vec<String> = sums
            .iter()
            .flat_map(|s| {
                s.warnings
                    .iter()
                    .map(move |w| format!("- {}: {}", cell(&s.label), cell(w)))
            })
            .collect();
        if !warnings.is_empty() {
            m.push_str("\n## Warnings\n\n");
            m.push_str(&warnings.join("\n"));
            m.push('\n');
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_fences_are_safe() {
        assert_eq!(cell("a|b<script>\nc"), "a\\|b&lt;script&gt; c");
        assert_eq!(fence("no ticks"), "```");
        assert_eq!(fence("x ```` y"), "`````");
    }
}
