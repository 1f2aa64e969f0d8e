//! Plain-text rendering of hits and records, for tool answers and the CLI. Anything
//! built from ATT&CK ends with MITRE's copyright designation, as its licence requires.

use std::fmt::Write;

use tantivy::snippet::SnippetGenerator;

use crate::model::{Event, Technique};
use crate::{Hit, HitKind, OSSEM_NOTICE};

/// The best passage of `text` for the query, or its beginning when no term occurs in it.
pub(crate) fn snippet(gen: &SnippetGenerator, text: &str, max_chars: usize) -> String {
    let s = gen.snippet(text);
    let frag = s.fragment().trim();
    if !frag.is_empty() {
        return frag.to_string();
    }
    truncate_chars(text.trim(), max_chars)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => {
            let cut = &text[..end];
            let cut = cut.rfind(' ').map(|i| &cut[..i]).unwrap_or(cut);
            format!("{cut}…")
        }
    }
}

/// Hits as a numbered list: id, title, snippet, and for events the logsource and fields.
/// Ends with the ATT&CK notice when any hit comes from ATT&CK, and the OSSEM-DD notice
/// when any hit is an event.
pub fn render_hits(hits: &[Hit], attack_notice: &str) -> String {
    let mut out = String::new();
    if hits.is_empty() {
        out.push_str("No results.\n");
        return out;
    }
    for (i, h) in hits.iter().enumerate() {
        let kind = match h.kind {
            HitKind::Technique => "technique",
            HitKind::Tactic => "tactic",
            HitKind::Event => "event",
        };
        let _ = writeln!(out, "{}. [{kind}] {} — {}", i + 1, h.id, h.title);
        if let Some(ls) = &h.logsource {
            let _ = writeln!(out, "   logsource: {ls}");
        }
        if !h.fields.is_empty() {
            let _ = writeln!(out, "   fields: {}", h.fields.join(", "));
        }
        if !h.snippet.is_empty() {
            let _ = writeln!(out, "   {}", h.snippet.replace('\n', " "));
        }
        if let Some(u) = &h.url {
            let _ = writeln!(out, "   {u}");
        }
    }
    let attack = hits
        .iter()
        .any(|h| matches!(h.kind, HitKind::Technique | HitKind::Tactic));
    let events = hits.iter().any(|h| h.kind == HitKind::Event);
    if attack {
        let _ = writeln!(out, "\nMITRE ATT&CK®: {attack_notice}");
    }
    if events {
        let _ = writeln!(out, "{}{OSSEM_NOTICE}", if attack { "" } else { "\n" });
    }
    out
}

/// A technique in full: tactics, platforms, description, detection, data and log sources.
pub fn render_technique(t: &Technique, attack_notice: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", t.id, t.name);
    let _ = writeln!(out, "tactics: {}", t.tactics.join(", "));
    let _ = writeln!(out, "platforms: {}", t.platforms.join(", "));
    if let Some(u) = &t.url {
        let _ = writeln!(out, "url: {u}");
    }
    let _ = writeln!(out, "\n{}", crate::load::strip_citations(&t.description));
    if let Some(d) = &t.detection {
        let _ = writeln!(out, "\nDetection: {}", crate::load::strip_citations(d));
    }
    if !t.data_sources.is_empty() {
        let _ = writeln!(out, "\ndata sources: {}", t.data_sources.join(", "));
    }
    if !t.log_sources.is_empty() {
        let _ = writeln!(out, "log sources: {}", t.log_sources.join(", "));
    }
    for s in &t.detection_strategies {
        let _ = writeln!(out, "\n{} {}", s.id, s.name);
        for a in &s.analytics {
            let _ = writeln!(
                out,
                "  {} [{}] {}",
                a.id,
                a.platforms.join(", "),
                a.description
            );
        }
    }
    let _ = writeln!(out, "\nMITRE ATT&CK®: {attack_notice}");
    out
}

/// An event in full: channel, provider, logsource and each field with its description.
pub fn render_event(e: &Event) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", e.key(), e.display_title());
    let _ = writeln!(out, "channel: {}\nprovider: {}", e.channel, e.provider);
    if let Some(ls) = e.logsource_text() {
        let _ = writeln!(out, "logsource: {ls}");
    }
    if let Some(d) = &e.description {
        let _ = writeln!(out, "\n{d}");
    }
    if !e.fields.is_empty() {
        let _ = writeln!(out, "\nfields:");
        for f in &e.fields {
            match &f.description {
                Some(d) if !d.is_empty() => {
                    let _ = writeln!(out, "  {}: {}", f.name, d.replace('\n', " "));
                }
                _ => {
                    let _ = writeln!(out, "  {}", f.name);
                }
            }
        }
    }
    let _ = writeln!(out, "\n{OSSEM_NOTICE}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_cuts_at_a_word() {
        assert_eq!(truncate_chars("alpha beta gamma", 12), "alpha beta…");
        assert_eq!(truncate_chars("short", 12), "short");
        assert_eq!(truncate_chars("ééééé", 3), "ééé…");
    }

    #[test]
    fn empty_hits_say_so() {
        assert_eq!(render_hits(&[], "n"), "No results.\n");
    }
}
