//! Rewrites a regular expression into a smaller one with the same `is_match` answer.
//!
//! Sigma's `re` is an unanchored search, and the engine only asks *whether* a value
//! matches, never where. So the edges of a pattern can shrink: a trailing `\w{1,64}`
//! needs only its first `\w` (any longer match has that as a prefix), an optional
//! trailing group can go, and `.{1000,}` needs exactly 1000 characters. SigmaHQ rules use
//! such bounds often, and a Unicode class repeated 64 times is a large automaton:
//! `-k\s\w{1,64}(?:\s?(?:-p|-s))?` took ~20 ms to compile and becomes `-k\s\w`.
//!
//! Soundness: for `P·X{m,n}` with no end anchor, a match `P·Xᵏ` (m ≤ k ≤ n) has the
//! prefix `P·Xᵐ`, itself a match; the converse is immediate. An element that can match
//! the empty string can be dropped from an edge for the same reason. The start edge is
//! symmetric. Elements holding look-around assertions (`^`, `$`, `\b`, …) are never
//! touched: their truth depends on where the match ends. The equivalence tests in
//! `tests/regex_min.rs` check the rewrite against the original pattern on many inputs.

use regex_syntax::hir::{Capture, Class, Hir, HirKind, Repetition};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Start,
    End,
}

/// The smallest equivalent (for `is_match`) of `h`, trimmed at both edges.
pub fn for_is_match(h: Hir) -> Hir {
    trim(trim(h, Edge::End), Edge::Start)
}

/// A pattern whose only job is to find a run of characters: `.{m}` (no newline inside
/// unless `(?s)`), after [`for_is_match`]. Checked without an automaton, since `.`
/// repeated a thousand times is a thousand-state NFA and a slow lazy DFA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyRun {
    pub min: usize,
    /// The run may cross `\n` (`(?s)`).
    pub newline: bool,
}

impl AnyRun {
    /// Recognises `.{m}` / `(?s).{m}` with `m ≥ 1`.
    pub fn recognise(h: &Hir) -> Option<AnyRun> {
        let HirKind::Repetition(rep) = h.kind() else {
            return None;
        };
        if rep.max != Some(rep.min) || rep.min == 0 {
            return None;
        }
        let HirKind::Class(Class::Unicode(cls)) = rep.sub.kind() else {
            return None;
        };
        let ranges: Vec<(char, char)> = cls.ranges().iter().map(|r| (r.start(), r.end())).collect();
        let newline = match ranges.as_slice() {
            [('\0', '\u{10FFFF}')] => true,
            [('\0', '\t'), ('\u{0B}', '\u{10FFFF}')] => false,
            _ => return None,
        };
        Some(AnyRun {
            min: rep.min as usize,
            newline,
        })
    }

    /// True when `s` holds a run of `min` characters (within one line unless `newline`).
    pub fn is_match(&self, s: &str) -> bool {
        let long_enough = |t: &str| t.len() >= self.min && t.chars().count() >= self.min;
        if self.newline {
            long_enough(s)
        } else {
            s.split('\n').any(long_enough)
        }
    }
}

/// True when the element can vanish from an edge: it matches the empty string and
/// asserts nothing about its position.
fn removable(h: &Hir) -> bool {
    h.properties().minimum_len() == Some(0) && h.properties().look_set().is_empty()
}

fn trim(h: Hir, edge: Edge) -> Hir {
    match h.into_kind() {
        HirKind::Concat(mut parts) => {
            loop {
                let at = match edge {
                    Edge::End => parts.len().checked_sub(1),
                    Edge::Start => (!parts.is_empty()).then_some(0),
                };
                let Some(i) = at else { break };
                let e = parts.remove(i);
                if removable(&e) {
                    continue;
                }
                parts.insert(i, trim(e, edge));
                break;
            }
            Hir::concat(parts)
        }
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(trim(*c.sub, edge)),
            ..c
        }),
        HirKind::Alternation(alts) => {
            Hir::alternation(alts.into_iter().map(|a| trim(a, edge)).collect())
        }
        HirKind::Repetition(rep) if rep.sub.properties().look_set().is_empty() => {
            Hir::repetition(Repetition {
                max: Some(rep.min),
                ..rep
            })
        }
        other => from_kind(other),
    }
}

/// Rebuilds a node from its parts (the smart constructors re-derive its properties).
fn from_kind(k: HirKind) -> Hir {
    match k {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(c),
        HirKind::Look(l) => Hir::look(l),
        HirKind::Repetition(r) => Hir::repetition(r),
        HirKind::Capture(c) => Hir::capture(c),
        HirKind::Concat(v) => Hir::concat(v),
        HirKind::Alternation(v) => Hir::alternation(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(p: &str) -> String {
        for_is_match(regex_syntax::parse(p).unwrap()).to_string()
    }

    #[test]
    fn trims_edges() {
        assert_eq!(
            min(r"-k\s\w{1,64}(?:\s?(?:-p|-s))?"),
            min(r"-k\s\w"),
            "svchost flag pattern"
        );
        assert_eq!(min(r"https?://0[0-9]{3,11}"), min(r"https?://0[0-9]{3}"));
        assert_eq!(min(r"a+"), min(r"a"));
        assert_eq!(min(r"x*abc"), min(r"abc"));
        assert_eq!(min(r"(?:ab){2,}c?"), min(r"(?:ab){2}"));
    }

    #[test]
    fn keeps_anchors_and_interior() {
        assert_eq!(min(r"\d{1,7}$"), min(r"\d{1,7}$"));
        assert_eq!(min(r"^a{2,5}"), min(r"^a{2,5}"));
        assert_eq!(min(r"a{2,5}\b"), min(r"a{2,5}\b"));
        assert_eq!(min(r"a.{1,64}-Path"), min(r"a.{1,64}-Path"));
    }

    #[test]
    fn all_optional_matches_everything() {
        let h = for_is_match(regex_syntax::parse(r"(?:abc)?x*").unwrap());
        assert_eq!(h.properties().minimum_len(), Some(0));
    }

    #[test]
    fn any_run() {
        let h = for_is_match(regex_syntax::parse(r".{3,}").unwrap());
        let run = AnyRun::recognise(&h).unwrap();
        assert_eq!(
            run,
            AnyRun {
                min: 3,
                newline: false
            }
        );
        assert!(run.is_match("abc"));
        assert!(!run.is_match("ab\ncd"));
        assert!(run.is_match("ab\ncdé"));
        assert!(!run.is_match("éé"));
        let s = for_is_match(regex_syntax::parse(r"(?s).{3}").unwrap());
        assert!(AnyRun::recognise(&s).unwrap().is_match("a\nb"));
        assert!(AnyRun::recognise(&regex_syntax::parse(r"\w{3}").unwrap()).is_none());
    }
}
