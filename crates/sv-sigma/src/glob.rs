//! Wildcard patterns without an inner `*`: `8???` (endswith), `*-s cmd*` with a windash
//! position, `a?c`. They are matched directly instead of through a regex.
//!
//! Why: building a regex costs ~80 µs of fixed setup (more with Unicode `.`), and the
//! reward path compiles every candidate rule once and runs it once. A rule with 48
//! `endswith: 8???` values spent 4 ms compiling. The direct matcher costs nothing to
//! build and runs in O(value × pattern) at worst — bounded because only patterns of at
//! most [`MAX_TOKENS`] characters take this path (longer ones keep the regex).
//!
//! Semantics equal the regex form in [`crate::pattern::StrMatch::compile`]: `?` is one
//! Unicode scalar (newline included), a windash position is one of the five dash
//! characters, everything else is a literal character.

use crate::pattern::{Piece, WINDASH_CHARS};

/// Longest pattern (in characters) matched directly.
pub const MAX_TOKENS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// `?`
    Any,
    /// a windash position
    Dash,
}

impl Tok {
    #[inline]
    fn accepts(self, c: char) -> bool {
        match self {
            Tok::Char(x) => x == c,
            Tok::Any => true,
            Tok::Dash => WINDASH_CHARS.contains(&c),
        }
    }
}

/// Where the pattern must sit in the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The whole value.
    Exact,
    /// A prefix (`abc*`).
    Start,
    /// A suffix (`*abc`).
    End,
    /// Anywhere (`*abc*`).
    Anywhere,
}

/// A compiled wildcard pattern with no inner `*`.
#[derive(Debug, Clone)]
pub struct Glob {
    toks: Vec<Tok>,
    anchor: Anchor,
    /// The longest literal run and its offset in tokens: candidates for `Anywhere`.
    needle: Option<(usize, Box<memchr::memmem::Finder<'static>>)>,
}

impl Glob {
    /// Builds the matcher for `pieces` (edge stars already removed and given as `anchor`),
    /// or `None` when the pattern has an inner `*` or is longer than [`MAX_TOKENS`].
    pub fn new(pieces: &[Piece], anchor: Anchor) -> Option<Glob> {
        let mut toks = Vec::new();
        for p in pieces {
            match p {
                Piece::Lit(s) => toks.extend(s.chars().map(Tok::Char)),
                Piece::One => toks.push(Tok::Any),
                Piece::Dash => toks.push(Tok::Dash),
                Piece::Star => return None,
            }
            if toks.len() > MAX_TOKENS {
                return None;
            }
        }
        let needle = longest_run(&toks).map(|(at, text)| {
            (
                at,
                Box::new(memchr::memmem::Finder::new(text.as_bytes()).into_owned()),
            )
        });
        Some(Glob {
            toks,
            anchor,
            needle,
        })
    }

    pub fn is_match(&self, v: &str) -> bool {
        let n = self.toks.len();
        match self.anchor {
            Anchor::Exact => self.prefix_at(v) == Some(v.len()),
            Anchor::Start => self.prefix_at(v).is_some(),
            Anchor::End => match nth_char_from_end(v, n) {
                Some(start) => self.prefix_at(&v[start..]) == Some(v.len() - start),
                None => false,
            },
            Anchor::Anywhere => match &self.needle {
                Some((at, finder)) => finder.find_iter(v.as_bytes()).any(|pos| {
                    // The match would start `at` characters before the literal run.
                    back_chars(v, pos, *at).is_some_and(|s| self.prefix_at(&v[s..]).is_some())
                }),
                None => {
                    v.char_indices()
                        .any(|(s, _)| self.prefix_at(&v[s..]).is_some())
                        || n == 0
                }
            },
        }
    }

    /// Matches the tokens at the start of `v`; the byte length matched.
    #[inline]
    fn prefix_at(&self, v: &str) -> Option<usize> {
        let mut chars = v.char_indices();
        for t in &self.toks {
            let (_, c) = chars.next()?;
            if !t.accepts(c) {
                return None;
            }
        }
        Some(chars.next().map_or(v.len(), |(i, _)| i))
    }
}

/// The longest run of literal characters: (token offset, text).
fn longest_run(toks: &[Tok]) -> Option<(usize, String)> {
    let mut best: Option<(usize, String)> = None;
    let mut i = 0;
    while i < toks.len() {
        let start = i;
        let mut s = String::new();
        while let Some(Tok::Char(c)) = toks.get(i) {
            s.push(*c);
            i += 1;
        }
        if !s.is_empty() && best.as_ref().is_none_or(|(_, b)| s.len() > b.len()) {
            best = Some((start, s));
        }
        i = i.max(start + 1);
    }
    best
}

/// The byte offset of the `n`-th character counted from the end (`n` = 0: the end).
fn nth_char_from_end(v: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(v.len());
    }
    v.char_indices().rev().nth(n - 1).map(|(i, _)| i)
}

/// The byte offset `n` characters before byte `pos` of `v`.
fn back_chars(v: &str, pos: usize, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(pos);
    }
    v[..pos].char_indices().rev().nth(n - 1).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::SigStr;

    /// The regex form of the same pattern (what the engine used before).
    fn regex_of(pieces: &[Piece], anchor: Anchor) -> regex::Regex {
        let mut re = String::from("(?s)");
        if matches!(anchor, Anchor::Exact | Anchor::Start) {
            re.push('^');
        }
        for p in pieces {
            match p {
                Piece::Lit(l) => re.push_str(&regex::escape(l)),
                Piece::One => re.push('.'),
                Piece::Dash => re.push_str("[-/\u{2013}\u{2014}\u{2015}]"),
                Piece::Star => re.push_str(".*"),
            }
        }
        if matches!(anchor, Anchor::Exact | Anchor::End) {
            re.push('$');
        }
        regex::Regex::new(&re).unwrap()
    }

    #[test]
    fn agrees_with_the_regex_form() {
        let patterns = [
            "8???", "a?c", "?", "??", "ab", "é?x", "x-y", "-s cmd", "/c ?", "a?a", "aa?aa", "",
        ];
        let values = [
            "",
            "a",
            "8abc",
            "18abc",
            "8ab",
            "abc",
            "aXc",
            "a\ncd",
            "éZx",
            "aéx",
            "x/y",
            "cmd -s cmd",
            "cmd /s cmd",
            "cmd \u{2013}s cmd",
            "/c z",
            "aaaa",
            "aabaa",
            "aaxaaa",
            "zzaa?aazz",
            "8\u{e9}\u{e9}\u{e9}",
        ];
        for p in patterns {
            let mut s = SigStr::parse(p);
            if p.contains('-') {
                s = s.windash();
            }
            for anchor in [Anchor::Exact, Anchor::Start, Anchor::End, Anchor::Anywhere] {
                let g = Glob::new(&s.0, anchor).unwrap();
                let r = regex_of(&s.0, anchor);
                for v in values {
                    assert_eq!(g.is_match(v), r.is_match(v), "{p:?} {anchor:?} on {v:?}");
                }
            }
        }
    }

    #[test]
    fn refuses_inner_star_and_long_patterns() {
        assert!(Glob::new(&SigStr::parse("a*b").0, Anchor::Exact).is_none());
        assert!(Glob::new(&SigStr::parse(&"?".repeat(MAX_TOKENS + 1)).0, Anchor::Exact).is_none());
        assert!(Glob::new(&SigStr::parse(&"?".repeat(MAX_TOKENS)).0, Anchor::Exact).is_some());
    }
}
