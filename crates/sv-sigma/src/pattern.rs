//! Sigma string values: wildcards (`*`, `?`), the spec's backslash escaping, and the
//! compiled string matchers built from them.
//!
//! Escaping (spec §Escape Character, as pySigma implements it): a backslash escapes the
//! next character when that is `*`, `?` or `\`; any other backslash is a plain backslash.
//! So `\*` is a literal star, `\\*` a backslash then a wildcard, `\\\*` a backslash then a
//! literal star, and `\\` or `\\\\` give one or two plain backslashes.

use crate::error::{ErrorKind, RuleError};
use crate::glob::{Anchor, Glob};

/// One piece of a Sigma string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    /// `*`: any run of characters (also none).
    Star,
    /// `?`: exactly one character.
    One,
    /// A `windash` position: one of `-`, `/`, `–`, `—`, `―`.
    Dash,
}

/// The characters `windash` makes interchangeable (modifier appendix).
pub const WINDASH_CHARS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// A Sigma string: a sequence of pieces, adjacent literals merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SigStr(pub Vec<Piece>);

impl SigStr {
    /// Parses a rule value with wildcard and escape handling.
    pub fn parse(s: &str) -> SigStr {
        let mut out = SigStr::default();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => out.push(Piece::Star),
                '?' => out.push(Piece::One),
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        out.push_char(n);
                    }
                    _ => out.push_char('\\'),
                },
                c => out.push_char(c),
            }
        }
        out
    }

    /// A string taken literally (no wildcard processing): regex-free modifiers' output.
    pub fn literal(s: &str) -> SigStr {
        let mut out = SigStr::default();
        if !s.is_empty() {
            out.0.push(Piece::Lit(s.to_string()));
        }
        out
    }

    pub fn push(&mut self, p: Piece) {
        if let (Piece::Lit(new), Some(Piece::Lit(last))) = (&p, self.0.last_mut()) {
            last.push_str(new);
            return;
        }
        if let Piece::Lit(s) = &p {
            if s.is_empty() {
                return;
            }
        }
        self.0.push(p);
    }

    pub fn push_char(&mut self, c: char) {
        if let Some(Piece::Lit(last)) = self.0.last_mut() {
            last.push(c);
        } else {
            self.0.push(Piece::Lit(c.to_string()));
        }
    }

    /// True when the string holds no wildcard (and no windash class).
    pub fn is_plain(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Piece::Lit(_)))
    }

    /// The literal text of a plain string.
    pub fn plain_text(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(l) => s.push_str(l),
                _ => return None,
            }
        }
        Some(s)
    }

    pub fn starts_with_star(&self) -> bool {
        matches!(self.0.first(), Some(Piece::Star))
    }
    pub fn ends_with_star(&self) -> bool {
        matches!(self.0.last(), Some(Piece::Star))
    }

    /// Length in bytes of the literal parts (for limits).
    pub fn byte_len(&self) -> usize {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => s.len(),
                _ => 1,
            })
            .sum()
    }

    /// `contains`: wildcards on both sides (not doubled when already there).
    pub fn contains(mut self) -> SigStr {
        if !self.starts_with_star() {
            self.0.insert(0, Piece::Star);
        }
        if !self.ends_with_star() {
            self.0.push(Piece::Star);
        }
        self
    }
    pub fn startswith(mut self) -> SigStr {
        if !self.ends_with_star() {
            self.0.push(Piece::Star);
        }
        self
    }
    pub fn endswith(mut self) -> SigStr {
        if !self.starts_with_star() {
            self.0.insert(0, Piece::Star);
        }
        self
    }

    /// `windash`: every `-` or `/` that starts a word-like flag (pySigma's `\B[-/]\b`:
    /// not preceded by a word character, followed by one) becomes a dash class.
    pub fn windash(self) -> SigStr {
        let mut out = SigStr::default();
        // Flatten to a char stream with markers to evaluate the context of each dash.
        let mut flat: Vec<Option<char>> = Vec::new(); // None = non-literal piece
        let mut pieces: Vec<Piece> = Vec::new();
        for p in self.0 {
            match p {
                Piece::Lit(s) => {
                    for c in s.chars() {
                        flat.push(Some(c));
                        pieces.push(Piece::Lit(c.to_string()));
                    }
                }
                other => {
                    flat.push(None);
                    pieces.push(other);
                }
            }
        }
        let is_word = |c: Option<&Option<char>>| matches!(c, Some(Some(ch)) if ch.is_alphanumeric() || *ch == '_');
        for (i, p) in pieces.into_iter().enumerate() {
            let dash = matches!(flat[i], Some('-') | Some('/'));
            let prev_word = i > 0 && is_word(flat.get(i - 1));
            let next_word = is_word(flat.get(i + 1));
            if dash && !prev_word && next_word {
                out.push(Piece::Dash);
            } else {
                out.push(p);
            }
        }
        out
    }

    /// Case folding of the literal parts (default case-insensitive matching).
    pub fn folded(&self) -> SigStr {
        SigStr(
            self.0
                .iter()
                .map(|p| match p {
                    Piece::Lit(s) => Piece::Lit(fold(s)),
                    o => o.clone(),
                })
                .collect(),
        )
    }
}

/// The case folding used for case-insensitive comparison. It must equal the store's
/// folded column: full Unicode lowercase.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// A compiled matcher for one Sigma string, tested against a (possibly folded) value.
#[derive(Debug, Clone)]
pub enum StrMatch {
    Eq(String),
    Starts(String),
    Ends(String),
    Contains(Box<memchr::memmem::Finder<'static>>),
    Any,
    /// `?` or windash positions, no inner `*` (see [`crate::glob`]).
    Glob(Box<Glob>),
    Regex(regex::Regex),
}

impl StrMatch {
    /// Compiles a (folded when case-insensitive) Sigma string.
    pub fn compile(s: &SigStr, regex_size: usize) -> Result<StrMatch, RuleError> {
        let p = &s.0;
        let lit = |x: &Piece| match x {
            Piece::Lit(l) => Some(l.clone()),
            _ => None,
        };
        match p.as_slice() {
            [] => return Ok(StrMatch::Eq(String::new())),
            [Piece::Lit(l)] => return Ok(StrMatch::Eq(l.clone())),
            [Piece::Star] => return Ok(StrMatch::Any),
            [Piece::Lit(l), Piece::Star] => return Ok(StrMatch::Starts(l.clone())),
            [Piece::Star, Piece::Lit(l)] => return Ok(StrMatch::Ends(l.clone())),
            [Piece::Star, x @ Piece::Lit(_), Piece::Star] => {
                let l = lit(x).unwrap_or_default();
                return Ok(StrMatch::Contains(Box::new(
                    memchr::memmem::Finder::new(l.as_bytes()).into_owned(),
                )));
            }
            _ => {}
        }
        let star_first = matches!(p.first(), Some(Piece::Star));
        let star_last = p.len() > 1 && matches!(p.last(), Some(Piece::Star));
        let inner = &p[star_first as usize..p.len() - star_last as usize];
        let anchor = match (star_first, star_last) {
            (false, false) => Anchor::Exact,
            (false, true) => Anchor::Start,
            (true, false) => Anchor::End,
            (true, true) => Anchor::Anywhere,
        };
        if let Some(g) = Glob::new(inner, anchor) {
            return Ok(StrMatch::Glob(Box::new(g)));
        }
        // Unanchored at an edge that is a `*`: `^.*x` forces the engine to scan from
        // the start of every value, while a bare `x` lets it jump to literal candidates.
        let (head, p): (&str, &[Piece]) = match p.split_first() {
            Some((Piece::Star, rest)) => ("", rest),
            _ => ("^", p.as_slice()),
        };
        let (tail, p): (&str, &[Piece]) = match p.split_last() {
            Some((Piece::Star, rest)) => ("", rest),
            _ => ("$", p),
        };
        let mut re = format!("(?s){head}");
        for piece in p {
            match piece {
                Piece::Lit(l) => re.push_str(&regex::escape(l)),
                Piece::Star => re.push_str(".*"),
                Piece::One => re.push('.'),
                Piece::Dash => re.push_str("[-/\u{2013}\u{2014}\u{2015}]"),
            }
        }
        re.push_str(tail);
        regex::RegexBuilder::new(&re)
            .size_limit(regex_size)
            .build()
            .map(StrMatch::Regex)
            .map_err(|e| {
                RuleError::new(ErrorKind::Limit, format!("wildcard pattern too large: {e}"))
            })
    }

    #[inline]
    pub fn is_match(&self, v: &str) -> bool {
        match self {
            StrMatch::Eq(s) => v == s,
            StrMatch::Starts(s) => v.starts_with(s.as_str()),
            StrMatch::Ends(s) => v.ends_with(s.as_str()),
            StrMatch::Contains(f) => f.find(v.as_bytes()).is_some(),
            StrMatch::Any => true,
            StrMatch::Glob(g) => g.is_match(v),
            StrMatch::Regex(r) => r.is_match(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Piece {
        Piece::Lit(s.into())
    }

    #[test]
    fn escaping_per_spec() {
        assert_eq!(
            SigStr::parse(r"a*b?c").0,
            vec![lit("a"), Piece::Star, lit("b"), Piece::One, lit("c")]
        );
        // `\*` literal star, `\?` literal question mark.
        assert_eq!(SigStr::parse(r"a\*b\?").0, vec![lit("a*b?")]);
        // plain backslash not followed by a wildcard: `\` or `\\`.
        assert_eq!(SigStr::parse(r"C:\Windows").0, vec![lit(r"C:\Windows")]);
        assert_eq!(SigStr::parse(r"C:\\Windows").0, vec![lit(r"C:\Windows")]);
        // `\\*`: backslash then wildcard.
        assert_eq!(SigStr::parse(r"dir\\*").0, vec![lit(r"dir\"), Piece::Star]);
        // `\\\*`: backslash then literal star.
        assert_eq!(SigStr::parse(r"dir\\\*").0, vec![lit(r"dir\*")]);
        // three or four backslashes: a double backslash.
        assert_eq!(SigStr::parse(r"\\\").0, vec![lit(r"\\")]);
        assert_eq!(SigStr::parse(r"\\\\").0, vec![lit(r"\\")]);
        // trailing single backslash stays.
        assert_eq!(SigStr::parse(r"end\").0, vec![lit(r"end\")]);
    }

    #[test]
    fn windash_positions() {
        let w = SigStr::parse("cmd -enc /c a-b x /").windash();
        assert_eq!(
            w.0,
            vec![
                lit("cmd "),
                Piece::Dash,
                lit("enc "),
                Piece::Dash,
                lit("c a-b x /")
            ]
        );
        let m = StrMatch::compile(&w.contains(), 1 << 20).unwrap();
        for v in [
            "cmd -enc /c a-b x /",
            "cmd /enc -c a-b x /",
            "cmd \u{2013}enc \u{2015}c a-b x /",
        ] {
            assert!(m.is_match(v), "{v}");
        }
        assert!(!m.is_match("cmd -enc /c a/b x /"));
    }

    #[test]
    fn matcher_shapes() {
        let c = |s: &str| StrMatch::compile(&SigStr::parse(s), 1 << 20).unwrap();
        assert!(matches!(c("abc"), StrMatch::Eq(_)));
        assert!(matches!(c("abc*"), StrMatch::Starts(_)));
        assert!(matches!(c("*abc"), StrMatch::Ends(_)));
        assert!(matches!(c("*abc*"), StrMatch::Contains(_)));
        assert!(matches!(c("*"), StrMatch::Any));
        let r = c("a?c*d");
        assert!(
            r.is_match("abcd")
                && r.is_match("aXcYYd")
                && !r.is_match("acd")
                && !r.is_match("abcde")
        );
        // `?` is one character, also a multi-byte one, and a newline.
        assert!(r.is_match("a\u{e9}cd") && r.is_match("a\ncd"));
        let e = c("");
        assert!(e.is_match("") && !e.is_match("x"));
        // regex metacharacters in literals are literal.
        let m = c("a.b(c)*");
        assert!(m.is_match("a.b(c)zz") && !m.is_match("aXb(c)"));
    }
}
