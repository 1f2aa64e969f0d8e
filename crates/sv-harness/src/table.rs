//! The final table, in the columns of the SigmaForge report: average score, valid %,
//! the environment's component means, latency, tool calls, cost and tokens.

use crate::summary::Summary;

/// Renders one line per summary, with a column per reward component found in any of them.
pub fn render(summaries: &[Summary]) -> String {
    let mut comps: Vec<&str> = Vec::new();
    for s in summaries {
        for k in s.components.keys() {
            if !comps.contains(&k.as_str()) {
                comps.push(k);
            }
        }
    }
    let mut header: Vec<String> = vec!["Model".into(), "Avg score".into(), "Valid %".into()];
    header.extend(comps.iter().map(|c| c.to_string()));
    header.extend(
        [
            "Latency (s)",
            "Tool calls",
            "Cost ($/rollout)",
            "Tokens in/out",
            "Rollouts",
            "Errors",
        ]
        .map(String::from),
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in summaries {
        let mut r = vec![
            s.model.clone(),
            format!("{:.4}", s.mean_reward),
            format!("{:.1}", 100.0 * s.valid_rate),
        ];
        for c in &comps {
            r.push(
                s.components
                    .get(*c)
                    .map_or("-".into(), |v| format!("{v:.4}")),
            );
        }
        r.push(format!("{:.2}", s.latency_ms.mean / 1000.0));
        r.push(format!("{:.2}", s.tool_calls_mean));
        r.push(s.cost_usd_mean.map_or("-".into(), |c| format!("{c:.5}")));
        r.push(format!(
            "{:.0}/{:.0}",
            s.tokens_mean.prompt, s.tokens_mean.completion
        ));
        r.push(s.rollouts.to_string());
        r.push(s.errors.to_string());
        rows.push(r);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(header[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        format!("| {} |\n", parts.join(" | "))
    };
    let mut out = line(&header);
    let sep: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("|-{}-|\n", sep.join("-|-")));
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}
