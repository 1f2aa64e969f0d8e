//! Inline SVG charts (no scripts, no external resources): histograms, horizontal bars with
//! confidence whiskers, and reliability diagrams. Every label goes through [`escape_html`].

use std::fmt::Write;

use crate::sanitize::escape_html;
use crate::stats::{Calibration, Histogram, MeanCi};

/// Colours for runs, in order (colour-blind-safe Okabe–Ito palette).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];

pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A short number: 3 significant decimals for small magnitudes, fewer for large ones.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// Reward histogram, 360×170.
pub fn histogram(h: &Histogram, fill: &str, title: &str) -> String {
    let (w, hgt) = (360.0, 170.0);
    let (l, r, t, b) = (36.0, 10.0, 22.0, 28.0);
    let pw = w - l - r;
    let ph = hgt - t - b;
    let max = h.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = h.counts.len().max(1) as f64;
    let bw = pw / n;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {w} {hgt}" width="{w}" height="{hgt}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape_html(title)
    );
    let _ = write!(
        s,
        r#"<text x="{l}" y="14" class="ct">{}</text>"#,
        escape_html(title)
    );
    for (i, &c) in h.counts.iter().enumerate() {
        let bh = c as f64 / max * ph;
        let x = l + i as f64 * bw;
        let y = t + ph - bh;
        let (lo, hi) = h.bin_edges(i);
        let _ = write!(
            s,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{bh:.2}" fill="{fill}"><title>[{}, {}): {c}</title></rect>"#,
            (bw - 1.0).max(0.5),
            fmt_num(lo),
            fmt_num(hi)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{0}" x2="{1}" y2="{0}" stroke="#555"/><line x1="{l}" y1="{t}" x2="{l}" y2="{0}" stroke="#555"/>"##,
        t + ph,
        l + pw
    );
    let _ = write!(
        s,
        r#"<text x="{l}" y="{0}" class="ax">{1}</text><text x="{2}" y="{0}" class="ax" text-anchor="end">{3}</text><text x="{4}" y="{0}" class="ax" text-anchor="middle">reward</text>"#,
        t + ph + 14.0,
        fmt_num(h.lo),
        l + pw,
        fmt_num(h.hi),
        l + pw / 2.0
    );
    let _ = write!(
        s,
        r#"<text x="{0}" y="{t}" class="ax" text-anchor="end" dy="8">{1}</text><text x="{0}" y="{2}" class="ax" text-anchor="end">0</text></svg>"#,
        l - 4.0,
        max as u64,
        t + ph
    );
    s
}

/// One bar of [`bars`].
pub struct Bar<'a> {
    pub label: &'a str,
    pub ci: MeanCi,
    pub fill: &'a str,
}

/// Horizontal bars with confidence whiskers over `[lo, hi]`.
pub fn bars(items: &[Bar<'_>], lo: f64, hi: f64, title: &str) -> String {
    let row = 22.0;
    let (l, r, t, b) = (230.0, 70.0, 24.0, 22.0);
    let w = 720.0;
    let pw = w - l - r;
    let hgt = t + b + row * items.len().max(1) as f64;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let xs = |v: f64| l + ((v - lo) / span).clamp(0.0, 1.0) * pw;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {w} {hgt}" width="{w}" height="{hgt}" xmlns="http://www.w3.org/2000/svg"><title>{0}</title><text x="4" y="14" class="ct">{0}</text>"#,
        escape_html(title)
    );
    for (i, it) in items.iter().enumerate() {
        let y = t + i as f64 * row;
        let label: String = it.label.chars().take(34).collect();
        let _ = write!(
            s,
            r#"<text x="{0}" y="{1}" class="ax" text-anchor="end">{2}</text>"#,
            l - 6.0,
            y + 14.0,
            escape_html(&label)
        );
        let x0 = xs(lo.max(0.0).min(hi));
        let xm = xs(it.ci.mean);
        let (bx, bw) = if xm >= x0 {
            (x0, xm - x0)
        } else {
            (xm, x0 - xm)
        };
        let _ = write!(
            s,
            r#"<rect x="{bx:.2}" y="{0:.2}" width="{bw:.2}" height="14" fill="{1}" opacity="0.85"><title>{2}: {3} [{4}, {5}] n={6}</title></rect>"#,
            y + 3.0,
            it.fill,
            escape_html(it.label),
            fmt_num(it.ci.mean),
            fmt_num(it.ci.lo),
            fmt_num(it.ci.hi),
            it.ci.n
        );
        let (a, z) = (xs(it.ci.lo), xs(it.ci.hi));
        let ym = y + 10.0;
        let _ = write!(
            s,
            r##"<line x1="{a:.2}" y1="{ym}" x2="{z:.2}" y2="{ym}" stroke="#222" stroke-width="1.5"/><line x1="{a:.2}" y1="{0}" x2="{a:.2}" y2="{1}" stroke="#222"/><line x1="{z:.2}" y1="{0}" x2="{z:.2}" y2="{1}" stroke="#222"/>"##,
            ym - 4.0,
            ym + 4.0
        );
        let _ = write!(
            s,
            r#"<text x="{0}" y="{1}" class="ax">{2}</text>"#,
            l + pw + 6.0,
            y + 14.0,
            fmt_num(it.ci.mean)
        );
    }
    let yb = hgt - b;
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{yb}" x2="{0}" y2="{yb}" stroke="#555"/><text x="{l}" y="{1}" class="ax">{2}</text><text x="{0}" y="{1}" class="ax" text-anchor="end">{3}</text></svg>"##,
        l + pw,
        yb + 14.0,
        fmt_num(lo),
        fmt_num(hi)
    );
    s
}

/// Reliability diagram (accuracy against confidence per bin, with the diagonal), 280×280.
pub fn reliability(c: &Calibration, fill: &str, title: &str) -> String {
    let (w, h) = (280.0, 280.0);
    let (l, r, t, b) = (36.0, 10.0, 22.0, 34.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg"><title>{0}</title><text x="{l}" y="14" class="ct">{0}</text>"#,
        escape_html(title)
    );
    let max_count = c.bins.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    for bin in &c.bins {
        if bin.count == 0 {
            continue;
        }
        let x = l + bin.lo * pw;
        let bw = (bin.hi - bin.lo) * pw;
        let bh = bin.accuracy.clamp(0.0, 1.0) * ph;
        // Opacity shows how many rollouts a bin holds.
        let op = 0.35 + 0.6 * (bin.count as f64 / max_count);
        let _ = write!(
            s,
            r##"<rect x="{x:.2}" y="{0:.2}" width="{1:.2}" height="{bh:.2}" fill="{fill}" opacity="{op:.2}" stroke="#fff"><title>confidence [{2}, {3}): n={4}, mean confidence {5}, accuracy {6}</title></rect>"##,
            t + ph - bh,
            bw,
            fmt_num(bin.lo),
            fmt_num(bin.hi),
            bin.count,
            fmt_num(bin.confidence),
            fmt_num(bin.accuracy)
        );
        let cx = l + bin.confidence.clamp(0.0, 1.0) * pw;
        let cy = t + ph - bin.accuracy.clamp(0.0, 1.0) * ph;
        let _ = write!(
            s,
            r##"<circle cx="{cx:.2}" cy="{cy:.2}" r="2.5" fill="#222"/>"##
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{0}" x2="{1}" y2="{t}" stroke="#999" stroke-dasharray="4 3"/><rect x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none" stroke="#555"/>"##,
        t + ph,
        l + pw
    );
    let _ = write!(
        s,
        r#"<text x="{l}" y="{0}" class="ax">0</text><text x="{1}" y="{0}" class="ax" text-anchor="end">1</text><text x="{2}" y="{3}" class="ax" text-anchor="middle">stated confidence</text><text x="{4}" y="{5}" class="ax" text-anchor="end">1</text><text x="12" y="{6}" class="ax" transform="rotate(-90 12 {6})" text-anchor="middle">accuracy</text></svg>"#,
        t + ph + 12.0,
        l + pw,
        l + pw / 2.0,
        t + ph + 26.0,
        l - 4.0,
        t + 8.0,
        t + ph / 2.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let h = Histogram::new(&[0.5], 0.0, 1.0, 4);
        let s = histogram(&h, "#000", "<b>x</b>");
        assert!(s.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!s.contains("<b>"));
        let ci = MeanCi {
            n: 1,
            mean: 0.5,
            lo: 0.4,
            hi: 0.6,
        };
        let s = bars(
            &[Bar {
                label: "<script>",
                ci,
                fill: "#000",
            }],
            0.0,
            1.0,
            "t",
        );
        assert!(!s.contains("<script>"));
        assert_eq!(fmt_num(0.12345), "0.123");
        assert_eq!(fmt_num(f64::NAN), "–");
    }
}
