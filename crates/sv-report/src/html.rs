//! The self-contained HTML page: inline CSS, inline SVG, one small inline script (table
//! sorting) allowed by hash in the page's Content-Security-Policy, nothing fetched.

use std::collections::BTreeSet;
use std::fmt::Write;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::report::Report;
use crate::sanitize::escape_html as esc;
use crate::stats::MeanCi;
use crate::summary::{RunSummary, Spread};
use crate::svg::{self, fmt_num, Bar};

const CSS: &str = r#"
:root{--fg:#1d232a;--mut:#5b6670;--bg:#fff;--line:#dde2e6;--soft:#f5f7f9;--bad:#b3261e}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}
header{padding:18px 28px;border-bottom:1px solid var(--line);background:var(--soft)}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:var(--mut)}
nav{padding:8px 28px;border-bottom:1px solid var(--line);font-size:13px}
nav a{margin-right:14px;color:#0b5cad;text-decoration:none}
main{padding:8px 28px 40px;max-width:1400px}
section{margin-top:26px}
h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.tw{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \25B2";font-size:10px}
table.sortable th[aria-sort=descending]::after{content:" \25BC";font-size:10px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ci{color:var(--mut);font-size:12px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:middle}
.charts{display:flex;flex-wrap:wrap;gap:14px}
.chart{background:#fff;border:1px solid var(--line);border-radius:4px}
.chart .ct{font-size:12px;font-weight:600;fill:var(--fg)}
.chart .ax{font-size:10px;fill:var(--mut)}
.note{color:var(--mut);font-size:12px}
.warn{color:var(--bad)}
details{border:1px solid var(--line);border-radius:4px;margin:6px 0;background:#fff}
details>summary{padding:6px 10px;cursor:pointer;background:var(--soft)}
details>div{padding:6px 10px}
pre{white-space:pre-wrap;word-break:break-word;background:var(--soft);border:1px solid var(--line);border-radius:3px;padding:8px;margin:4px 0 8px;max-height:420px;overflow:auto;font-size:12px}
code{font-size:12px}
.err{color:var(--bad);font-weight:600}
"#;

/// Sorts tables whose header is clicked; records script errors on the root element so a
/// headless check can see them, and marks the page ready when it has run.
const JS: &str = r#"
(function(){
  window.addEventListener('error', function(e){
    document.documentElement.setAttribute('data-js-error', String(e.message));
  });
  function key(cell){
    var v = cell.getAttribute('data-v');
    return v === null ? cell.textContent.trim() : v;
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function(t){
    if (!t.tHead || !t.tBodies.length) { return; }
    var ths = t.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function(th, i){
      th.addEventListener('click', function(){
        var body = t.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(ths, function(h){ h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        rows.sort(function(a, b){
          var x = key(a.cells[i]), y = key(b.cells[i]);
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function(r){ body.appendChild(r); });
      });
    });
  });
  document.documentElement.setAttribute('data-ready', String(tables.length));
})();
"#;

fn csp_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn ci_cell(ci: Option<&MeanCi>) -> String {
    match ci {
        None => r#"<td class="num" data-v="">–</td>"#.into(),
        Some(c) => format!(
            r#"<td class="num" data-v="{}">{} <span class="ci">[{}, {}]</span></td>"#,
            c.mean,
            fmt_num(c.mean),
            fmt_num(c.lo),
            fmt_num(c.hi)
        ),
    }
}

fn pct_cell(ci: Option<&MeanCi>) -> String {
    match ci {
        None => r#"<td class="num" data-v="">–</td>"#.into(),
        Some(c) => format!(
            r#"<td class="num" data-v="{}">{:.1}% <span class="ci">[{:.1}, {:.1}]</span></td>"#,
            c.mean,
            c.mean * 100.0,
            c.lo * 100.0,
            c.hi * 100.0
        ),
    }
}

fn num_cell(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!(r#"<td class="num" data-v="{x}">{x:.digits$}</td>"#),
        _ => r#"<td class="num" data-v="">–</td>"#.into(),
    }
}

fn swatch(i: usize) -> String {
    format!(
        r#"<span class="sw" style="background:{}"></span>"#,
        svg::color(i)
    )
}

fn run_head(out: &mut String, sums: &[RunSummary], names: &[String]) {
    for (i, (s, n)) in sums.iter().zip(names).enumerate() {
        let _ = write!(
            out,
            r#"<th title="{}">{}{}</th>"#,
            esc(&s.label),
            swatch(i),
            esc(&short(n))
        );
    }
}

/// Short names for charts and column heads: the model when models differ, else
/// `model/run_id`, else the full label.
pub(crate) fn display_names(sums: &[RunSummary]) -> Vec<String> {
    let unique = |v: &Vec<String>| {
        let set: BTreeSet<&String> = v.iter().collect();
        set.len() == v.len()
    };
    let models: Vec<String> = sums.iter().map(|s| s.model.clone()).collect();
    if unique(&models) {
        return models;
    }
    let with_run: Vec<String> = sums
        .iter()
        .map(|s| format!("{}/{}", s.model, s.run_id))
        .collect();
    if unique(&with_run) {
        return with_run;
    }
    sums.iter().map(|s| s.label.clone()).collect()
}

fn short(label: &str) -> String {
    let mut s: String = label.chars().take(48).collect();
    if label.chars().count() > 48 {
        s.push('…');
    }
    s
}

impl Report<'_> {
    /// "95%" for the configured confidence level.
    pub(crate) fn level_label(&self) -> String {
        let pct = self.options.summary.bootstrap.level * 100.0;
        if (pct - pct.round()).abs() < 1e-9 {
            format!("{pct:.0}%")
        } else {
            format!("{pct}%")
        }
    }

    /// The whole page.
    pub fn html(&self) -> String {
        let mut b = String::with_capacity(64 << 10);
        let sums = &self.summaries;
        let _ = write!(
            b,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src {}; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="sv-report {}">
<title>{}</title><style>{CSS}</style></head><body>
"#,
            csp_hash(JS),
            env!("CARGO_PKG_VERSION"),
            esc(&self.options.title)
        );
        let total: usize = sums.iter().map(|s| s.rollouts).sum();
        let _ = write!(
            b,
            r##"<header><h1>{}</h1><p>{} run(s), {} rollouts. Means are over tasks (rollouts of a task averaged first); intervals are {:.0}% percentile-bootstrap CIs over tasks ({} resamples, seed {}).</p></header>
<nav><a href="#runs">Runs</a><a href="#components">Components</a><a href="#distributions">Reward distributions</a><a href="#categories">Categories</a><a href="#calibration">Calibration</a><a href="#cost">Latency &amp; cost</a><a href="#worst">Worst tasks</a></nav><main>
"##,
            esc(&self.options.title),
            sums.len(),
            total,
            self.options.summary.bootstrap.level * 100.0,
            self.options.summary.bootstrap.resamples,
            self.options.summary.bootstrap.seed
        );
        self.section_runs(&mut b);
        self.section_components(&mut b);
        self.section_distributions(&mut b);
        self.section_categories(&mut b);
        self.section_calibration(&mut b);
        self.section_cost(&mut b);
        self.section_worst(&mut b);
        self.section_warnings(&mut b);
        let _ = writeln!(b, "</main><script>{JS}</script></body></html>");
        b
    }

    fn section_runs(&self, b: &mut String) {
        let names = display_names(&self.summaries);
        let sums = &self.summaries;
        let lv = self.level_label();
        let _ = write!(
            b,
            r#"<section id="runs"><h2>Runs</h2><div class="tw"><table class="sortable" id="runs-table"><thead><tr><th>run</th><th>model</th><th>env</th><th>tasks</th><th>rollouts</th><th>mean reward [{lv} CI]</th><th>valid</th><th>errors</th><th>latency p50 / p95 (ms)</th><th>total cost (USD)</th><th>tokens / rollout</th></tr></thead><tbody>"#
        );
        for (i, s) in sums.iter().enumerate() {
            let env = match &s.env_version {
                Some(v) => format!("{}@{}", s.env, v),
                None => s.env.clone(),
            };
            let lat = match &s.latency_ms {
                Some(l) => format!(
                    r#"<td class="num" data-v="{}">{} / {}</td>"#,
                    l.p50,
                    fmt_num(l.p50),
                    fmt_num(l.p95)
                ),
                None => r#"<td class="num" data-v="">–</td>"#.into(),
            };
            let _ = write!(
                b,
                r#"<tr><td title="{}">{}{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td>{}{}<td class="num">{}</td>{}{}{}</tr>"#,
                esc(&s.dir),
                swatch(i),
                esc(&s.run_id),
                esc(&s.model),
                esc(&env),
                s.tasks,
                s.rollouts,
                ci_cell(s.reward.as_ref()),
                pct_cell(s.valid.as_ref()),
                s.errors,
                lat,
                num_cell(s.cost_usd.map(|c| c.sum), 4),
                num_cell(s.total_tokens.map(|t| t.mean), 1),
            );
        }
        b.push_str("</tbody></table></div>");
        b.push_str(r#"<details><summary>Run details (status, provenance, sampling)</summary><div><div class="tw"><table><thead><tr><th>run</th><th>status</th><th>planned</th><th>started</th><th>finished</th><th>git commit</th><th>dataset sha256</th><th>sampling</th><th>directory</th></tr></thead><tbody>"#);
        for (i, s) in sums.iter().enumerate() {
            let o = |v: &Option<String>| esc(v.as_deref().unwrap_or("–"));
            let sha: Option<String> = s
                .dataset_sha256
                .as_ref()
                .map(|h| h.chars().take(16).collect());
            let _ = write!(
                b,
                "<tr><td>{}{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                swatch(i),
                esc(&s.run_id),
                o(&s.status),
                s.planned.map_or("–".to_string(), |p| p.to_string()),
                o(&s.started),
                o(&s.finished),
                o(&s.git_commit),
                o(&sha),
                o(&s.sampling),
                esc(&s.dir)
            );
        }
        b.push_str("</tbody></table></div></div></details>");
        if !self.paired.is_empty() {
            let _ = write!(
                b,
                r#"<h3>Paired difference in reward against {}{}</h3><p class="note">Over the tasks both runs share; p: two-sided paired-bootstrap p-value of no difference.</p><div class="tw"><table class="sortable"><thead><tr><th>run</th><th>shared tasks</th><th>baseline</th><th>run</th><th>difference [{} CI]</th><th>p</th></tr></thead><tbody>"#,
                swatch(0),
                esc(&names[0]),
                lv
            );
            for p in &self.paired {
                let c = &p.reward.paired;
                let _ = write!(
                    b,
                    r#"<tr><td>{}{}</td><td class="num">{}</td>{}{}<td class="num" data-v="{}">{:+.3} <span class="ci">[{:+.3}, {:+.3}]</span></td>{}</tr>"#,
                    swatch(p.index),
                    esc(names
                        .get(p.index)
                        .map_or(p.candidate.as_str(), String::as_str)),
                    c.n,
                    num_cell(Some(c.mean_a), 3),
                    num_cell(Some(c.mean_b), 3),
                    c.delta,
                    c.delta,
                    c.lo,
                    c.hi,
                    num_cell(Some(c.p_value), 4)
                );
            }
            b.push_str("</tbody></table></div>");
        }
        let bars: Vec<Bar> = sums
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                Some(Bar {
                    label: &names[i],
                    ci: s.reward?,
                    fill: svg::color(i),
                })
            })
            .collect();
        if !bars.is_empty() {
            let (lo, hi) = range(bars.iter().map(|x| x.ci));
            b.push_str(&svg::bars(
                &bars,
                lo,
                hi,
                &format!("Mean reward with {lv} CI"),
            ));
        }
        b.push_str("</section>\n");
    }

    fn section_components(&self, b: &mut String) {
        let names = display_names(&self.summaries);
        let sums = &self.summaries;
        let comps: BTreeSet<&String> = sums.iter().flat_map(|s| s.components.keys()).collect();
        let mets: BTreeSet<&String> = sums.iter().flat_map(|s| s.metrics.keys()).collect();
        b.push_str(r#"<section id="components"><h2>Reward components</h2>"#);
        if comps.is_empty() {
            b.push_str(r#"<p class="note">No run reports reward components.</p>"#);
        }
        for (title, keys, is_comp) in [("Components", &comps, true), ("Metrics", &mets, false)] {
            if keys.is_empty() {
                continue;
            }
            let _ = write!(
                b,
                r#"<h3>{title}</h3><div class="tw"><table class="sortable"><thead><tr><th>name</th>"#
            );
            run_head(b, sums, &names);
            b.push_str("</tr></thead><tbody>");
            for n in keys {
                let _ = write!(b, "<tr><td>{}</td>", esc(n));
                for s in sums {
                    let m = if is_comp { &s.components } else { &s.metrics };
                    b.push_str(&ci_cell(m.get(*n)));
                }
                b.push_str("</tr>");
            }
            b.push_str("</tbody></table></div>");
        }
        if !comps.is_empty() {
            b.push_str(r#"<div class="charts">"#);
            for c in &comps {
                let bars: Vec<Bar> = sums
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        Some(Bar {
                            label: &names[i],
                            ci: *s.components.get(*c)?,
                            fill: svg::color(i),
                        })
                    })
                    .collect();
                let (lo, hi) = range(bars.iter().map(|x| x.ci));
                b.push_str(&svg::bars(&bars, lo, hi, &format!("component: {c}")));
            }
            b.push_str("</div>");
        }
        b.push_str("</section>\n");
    }

    fn section_distributions(&self, b: &mut String) {
        let names = display_names(&self.summaries);
        b.push_str(
            r#"<section id="distributions"><h2>Reward distributions</h2><div class="charts">"#,
        );
        for (i, s) in self.summaries.iter().enumerate() {
            b.push_str(&svg::histogram(
                &s.reward_histogram,
                svg::color(i),
                &short(&names[i]),
            ));
        }
        b.push_str("</div></section>\n");
    }

    fn section_categories(&self, b: &mut String) {
        let names = display_names(&self.summaries);
        let sums = &self.summaries;
        let cats: BTreeSet<&String> = sums
            .iter()
            .flat_map(|s| s.categories.iter().map(|c| &c.category))
            .collect();
        b.push_str(r#"<section id="categories"><h2>Per-category reward</h2>"#);
        if cats.is_empty() {
            b.push_str(r#"<p class="note">No rows carry a category.</p></section>"#);
            return;
        }
        b.push_str(r#"<div class="tw"><table class="sortable"><thead><tr><th>category</th>"#);
        run_head(b, sums, &names);
        b.push_str("</tr></thead><tbody>");
        for c in &cats {
            let _ = write!(b, "<tr><td>{}</td>", esc(c));
            for s in sums {
                match s.categories.iter().find(|x| &&x.category == c) {
                    Some(cs) => {
                        let cell = ci_cell(cs.reward.as_ref());
                        // Append the rollout count inside the cell.
                        let cell = cell.replacen(
                            "</td>",
                            &format!(r#" <span class="ci">n={}</span></td>"#, cs.rollouts),
                            1,
                        );
                        b.push_str(&cell);
                    }
                    None => b.push_str(r#"<td class="num" data-v="">–</td>"#),
                }
            }
            b.push_str("</tr>");
        }
        b.push_str("</tbody></table></div>");
        if sums.len() == 1 {
            let s = &sums[0];
            let bars: Vec<Bar> = s
                .categories
                .iter()
                .filter_map(|c| {
                    Some(Bar {
                        label: &c.category,
                        ci: c.reward?,
                        fill: svg::color(0),
                    })
                })
                .collect();
            let (lo, hi) = range(bars.iter().map(|x| x.ci));
            b.push_str(&svg::bars(&bars, lo, hi, "Mean reward per category"));
        }
        b.push_str("</section>\n");
    }

    fn section_calibration(&self, b: &mut String) {
        let names = display_names(&self.summaries);
        b.push_str(r#"<section id="calibration"><h2>Calibration</h2>"#);
        let with: Vec<(usize, &RunSummary)> = self
            .summaries
            .iter()
            .enumerate()
            .filter(|(_, s)| s.calibration.is_some())
            .collect();
        if with.is_empty() {
            b.push_str(r#"<p class="note">No rollout states a confidence, so there is nothing to calibrate.</p></section>"#);
            return;
        }
        b.push_str(r#"<p class="note">Outcome: the row's <code>correct</code> when present, otherwise its reward (in [0, 1]). ECE = Σ |bin|/n · |accuracy − confidence| over 10 equal-width bins.</p><div class="tw"><table class="sortable"><thead><tr><th>run</th><th>n</th><th>ECE</th><th>MCE</th><th>Brier</th></tr></thead><tbody>"#);
        for (i, s) in &with {
            if let Some(c) = &s.calibration {
                let _ = write!(
                    b,
                    r#"<tr><td>{}{}</td><td class="num">{}</td>{}{}{}</tr>"#,
                    swatch(*i),
                    esc(&s.label),
                    c.n,
                    num_cell(Some(c.ece), 4),
                    num_cell(Some(c.mce), 4),
                    num_cell(Some(c.brier), 4)
                );
            }
        }
        b.push_str(r#"</tbody></table></div><div class="charts">"#);
        for (i, s) in &with {
            if let Some(c) = &s.calibration {
                let title = format!("{} (ECE {:.3})", short(&names[*i]), c.ece);
                b.push_str(&svg::reliability(c, svg::color(*i), &title));
            }
        }
        b.push_str("</div></section>\n");
    }

    fn section_cost(&self, b: &mut String) {
        b.push_str(r#"<section id="cost"><h2>Latency &amp; cost per model</h2><div class="tw"><table class="sortable"><thead><tr><th>run</th><th>model</th><th>latency mean (ms)</th><th>p50</th><th>p95</th><th>cost / rollout (USD)</th><th>total cost (USD)</th><th>prompt tokens / rollout</th><th>completion tokens / rollout</th><th>total tokens</th></tr></thead><tbody>"#);
        let f = |s: Option<Spread>, g: fn(&Spread) -> f64, d: usize| num_cell(s.as_ref().map(g), d);
        for (i, s) in self.summaries.iter().enumerate() {
            let _ = write!(
                b,
                r#"<tr><td>{}{}</td><td>{}</td>{}{}{}{}{}{}{}{}</tr>"#,
                swatch(i),
                esc(&s.run_id),
                esc(&s.model),
                f(s.latency_ms, |x| x.mean, 1),
                f(s.latency_ms, |x| x.p50, 1),
                f(s.latency_ms, |x| x.p95, 1),
                f(s.cost_usd, |x| x.mean, 6),
                f(s.cost_usd, |x| x.sum, 4),
                f(s.prompt_tokens, |x| x.mean, 1),
                f(s.completion_tokens, |x| x.mean, 1),
                f(s.total_tokens, |x| x.sum, 0),
            );
        }
        b.push_str("</tbody></table></div></section>\n");
    }

    fn section_worst(&self, b: &mut String) {
        let _ = write!(
            b,
            r#"<section id="worst"><h2>Worst tasks</h2><p class="note">The {} lowest-reward rollouts of each run (failed calls first). Text is shown as plain text; rows whose env asks for it are redacted or defanged.</p>"#,
            self.options.summary.worst
        );
        for (ri, (run, s)) in self.runs.iter().zip(&self.summaries).enumerate() {
            let _ = write!(b, "<h3>{}{}</h3>", swatch(ri), esc(&s.label));
            if s.worst.is_empty() {
                b.push_str(r#"<p class="note">No rollouts.</p>"#);
            }
            for (k, &idx) in s.worst.iter().enumerate() {
                let Some(row) = run.rows.get(idx) else {
                    continue;
                };
                let shown = self.shown(run, row);
                let reward = row.reward.map_or("no reward".to_string(), fmt_num);
                let cat = row
                    .category
                    .as_deref()
                    .map(|c| format!(" · {}", esc(c)))
                    .unwrap_or_default();
                let err = if row.error.is_some() {
                    r#" · <span class="err">error</span>"#
                } else if !row.valid {
                    r#" · <span class="err">invalid</span>"#
                } else {
                    ""
                };
                let tools = if row.tool_calls > 0 {
                    format!(" · {} tool call(s)", row.tool_calls)
                } else {
                    String::new()
                };
                let _ = write!(
                    b,
                    r#"<details class="worst"{}><summary><code>{}</code> #{}{} · reward <b>{}</b>{}{}</summary><div>"#,
                    if k == 0 { " open" } else { "" },
                    esc(&row.task_id),
                    row.rollout,
                    cat,
                    esc(&reward),
                    tools,
                    err
                );
                if let Some(e) = &shown.error {
                    let _ = write!(b, r#"<p class="err">{}</p>"#, esc(e));
                }
                if !row.components.is_empty() {
                    b.push_str("<p>");
                    for (name, v) in &row.components {
                        let _ = write!(b, "<code>{}</code> = {} &nbsp; ", esc(name), fmt_num(*v));
                    }
                    b.push_str("</p>");
                }
                if let Some(p) = &shown.prompt {
                    let _ = write!(
                        b,
                        "<details><summary>task prompt (last user message)</summary><div><pre>{}</pre></div></details>",
                        esc(p)
                    );
                }
                if let Some(r) = &shown.reasoning {
                    let _ = write!(b, "<h4>reasoning</h4><pre>{}</pre>", esc(r));
                }
                let _ = write!(
                    b,
                    r#"<h4>completion</h4><pre class="completion">{}</pre>"#,
                    esc(&shown.completion)
                );
                if let Some(i) = &shown.info {
                    let _ = write!(b, "<h4>info</h4><pre>{}</pre>", esc(i));
                }
                b.push_str("</div></details>");
            }
        }
        b.push_str("</section>\n");
    }

    fn section_warnings(&self, b: &mut String) {
        let any = self.summaries.iter().any(|s| !s.warnings.is_empty());
        if !any {
            return;
        }
        b.push_str(r#"<section id="warnings"><h2>Warnings</h2><ul>"#);
        for s in &self.summaries {
            for w in &s.warnings {
                let _ = write!(b, r#"<li class="warn">{}: {}</li>"#, esc(&s.label), esc(w));
            }
        }
        b.push_str("</ul></section>\n");
    }
}

/// A chart range covering every interval: [0, 1] when they fit there.
fn range(cis: impl Iterator<Item = MeanCi>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for c in cis {
        lo = lo.min(c.lo).min(c.mean);
        hi = hi.max(c.hi).max(c.mean);
    }
    (lo, hi)
}
