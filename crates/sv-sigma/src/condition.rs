//! The condition language: `and`/`or`/`not`, parentheses, `1 of`/`all of` over
//! `them` or a search-identifier pattern with `*` wildcards. Precedence (least to most
//! binding, spec §Condition): `or`, `and`, `not`, `x of`, `( )`.

use crate::error::{ErrorKind, RuleError};

/// A parsed condition before identifiers are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Ident(String),
    /// `1 of X` (`all == false`) or `all of X` (`all == true`); `None` = `them`.
    Of {
        all: bool,
        pattern: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    OneOf,
    AllOf,
    Them,
    Word(String),
    Pipe,
}

fn cond_err(msg: impl Into<String>) -> RuleError {
    RuleError::new(ErrorKind::Condition, msg)
}

fn tokenize(s: &str) -> Result<Vec<(Tok, usize)>, RuleError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        match c {
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b'|' => {
                out.push((Tok::Pipe, i));
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !b[i].is_ascii_whitespace()
                    && !matches!(b[i], b'(' | b')' | b'|')
                {
                    i += 1;
                }
                let w = &s[start..i];
                let tok = match w.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "them" => Tok::Them,
                    "1" | "all" | "any" => {
                        // `1 of` / `all of`: look ahead for `of`.
                        let mut j = i;
                        while j < b.len() && b[j].is_ascii_whitespace() {
                            j += 1;
                        }
                        let mut k = j;
                        while k < b.len() && b[k].is_ascii_alphabetic() {
                            k += 1;
                        }
                        if s[j..k].eq_ignore_ascii_case("of")
                            && (k == b.len() || !is_word_byte(b[k]))
                        {
                            i = k;
                            if w.eq_ignore_ascii_case("all") {
                                Tok::AllOf
                            } else if w == "1" {
                                Tok::OneOf
                            } else {
                                return Err(cond_err(format!(
                                    "'{w} of' is not Sigma: use '1 of' or 'all of' (at offset {start})"
                                )));
                            }
                        } else {
                            Tok::Word(w.to_string())
                        }
                    }
                    _ => {
                        if w.chars().next().is_some_and(|c| c.is_ascii_digit())
                            && w.chars().all(|c| c.is_ascii_digit())
                        {
                            return Err(cond_err(format!(
                                "'{w} of' is not supported: only '1 of' and 'all of' exist (at offset {start})"
                            )));
                        }
                        Tok::Word(w.to_string())
                    }
                };
                out.push((tok, start));
            }
        }
    }
    Ok(out)
}

fn is_word_byte(b: u8) -> bool {
    !b.is_ascii_whitespace() && !matches!(b, b'(' | b')' | b'|')
}

struct Parser<'a> {
    toks: &'a [(Tok, usize)],
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(usize::MAX)
    }
    fn enter(&mut self) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(RuleError::new(
                ErrorKind::Limit,
                format!("condition nests deeper than {} levels", self.max_depth),
            ));
        }
        Ok(())
    }
    fn or(&mut self) -> Result<Cond, RuleError> {
        self.enter()?;
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Cond::Or(vec![]))
        } else {
            Cond::Or(items)
        })
    }
    fn and(&mut self) -> Result<Cond, RuleError> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Cond::And(vec![]))
        } else {
            Cond::And(items)
        })
    }
    fn not(&mut self) -> Result<Cond, RuleError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Cond, RuleError> {
        let off = self.offset();
        let tok = self.peek().cloned();
        match tok {
            Some(Tok::LParen) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(cond_err(format!("missing ')' for '(' at offset {off}")));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::OneOf) | Some(Tok::AllOf) => {
                self.pos += 1;
                let all = tok == Some(Tok::AllOf);
                match self.peek().cloned() {
                    Some(Tok::Them) => {
                        self.pos += 1;
                        Ok(Cond::Of { all, pattern: None })
                    }
                    Some(Tok::Word(w)) => {
                        self.pos += 1;
                        Ok(Cond::Of { all, pattern: Some(w) })
                    }
                    _ => Err(cond_err(format!(
                        "'{} of' at offset {off} must be followed by 'them' or a search identifier pattern",
                        if all { "all" } else { "1" }
                    ))),
                }
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Ok(Cond::Ident(w))
            }
            Some(Tok::Pipe) => Err(cond_err(format!(
                "aggregation expressions ('| count() ...', offset {off}) are Sigma v1 and were replaced by correlation rules"
            ))),
            Some(t) => Err(cond_err(format!("unexpected {} at offset {off}", tok_name(&t)))),
            None => Err(cond_err("condition ends where an expression is expected")),
        }
    }
}

fn tok_name(t: &Tok) -> String {
    match t {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::And => "'and'".into(),
        Tok::Or => "'or'".into(),
        Tok::Not => "'not'".into(),
        Tok::OneOf => "'1 of'".into(),
        Tok::AllOf => "'all of'".into(),
        Tok::Them => "'them'".into(),
        Tok::Pipe => "'|'".into(),
        Tok::Word(w) => format!("'{w}'"),
    }
}

/// Parses one condition string.
pub fn parse_condition(s: &str, max_bytes: usize, max_depth: usize) -> Result<Cond, RuleError> {
    if s.len() > max_bytes {
        return Err(RuleError::new(
            ErrorKind::Limit,
            format!("condition is {} bytes, the limit is {max_bytes}", s.len()),
        ));
    }
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(cond_err("condition is empty"));
    }
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        depth: 0,
        max_depth,
    };
    let c = p.or()?;
    if p.pos < toks.len() {
        let (t, off) = &toks[p.pos];
        return Err(cond_err(format!(
            "unexpected {} at offset {off}: expected 'and', 'or' or the end",
            tok_name(t)
        )));
    }
    Ok(c)
}

/// Whether search identifier `name` matches a `1 of`/`all of` pattern (`*` = any run of
/// characters; `None` = `them`, which excludes identifiers starting with `_`).
pub fn pattern_matches(pattern: Option<&str>, name: &str) -> bool {
    match pattern {
        None => !name.starts_with('_'),
        Some(p) => glob_ident(p.as_bytes(), name.as_bytes()),
    }
}

fn glob_ident(p: &[u8], s: &[u8]) -> bool {
    // Iterative wildcard match with backtracking on the last '*'.
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Cond {
        parse_condition(s, 1 << 14, 64).unwrap()
    }
    fn id(s: &str) -> Cond {
        Cond::Ident(s.into())
    }

    #[test]
    fn precedence_or_and_not() {
        assert_eq!(
            p("a or b and not c"),
            Cond::Or(vec![
                id("a"),
                Cond::And(vec![id("b"), Cond::Not(Box::new(id("c")))])
            ])
        );
        assert_eq!(
            p("(a or b) and c"),
            Cond::And(vec![Cond::Or(vec![id("a"), id("b")]), id("c")])
        );
        assert_eq!(
            p("not not a"),
            Cond::Not(Box::new(Cond::Not(Box::new(id("a")))))
        );
    }

    #[test]
    fn of_forms() {
        assert_eq!(
            p("1 of them"),
            Cond::Of {
                all: false,
                pattern: None
            }
        );
        assert_eq!(
            p("all of them"),
            Cond::Of {
                all: true,
                pattern: None
            }
        );
        assert_eq!(
            p("1 of selection* and not 1 of filter*"),
            Cond::And(vec![
                Cond::Of {
                    all: false,
                    pattern: Some("selection*".into())
                },
                Cond::Not(Box::new(Cond::Of {
                    all: false,
                    pattern: Some("filter*".into())
                }))
            ])
        );
        assert_eq!(
            p("ALL OF sel_*"),
            Cond::Of {
                all: true,
                pattern: Some("sel_*".into())
            }
        );
        // `not` binds looser than `x of`.
        assert_eq!(
            p("not 1 of filter_*"),
            Cond::Not(Box::new(Cond::Of {
                all: false,
                pattern: Some("filter_*".into())
            }))
        );
        // identifiers that merely start with 'all'/'1'.
        assert_eq!(p("allowed"), id("allowed"));
        assert_eq!(p("all_of_it"), id("all_of_it"));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "a and",
            "(a or b",
            "a b",
            "2 of them",
            "a | count() > 5",
            "1 of",
            "and a",
            "a)",
        ] {
            assert!(
                parse_condition(bad, 1 << 14, 64).is_err(),
                "{bad:?} should fail"
            );
        }
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(
            parse_condition(&deep, 1 << 14, 64).unwrap_err().kind,
            ErrorKind::Limit
        );
        let nots = format!("{}a", "not ".repeat(100));
        assert_eq!(
            parse_condition(&nots, 1 << 14, 64).unwrap_err().kind,
            ErrorKind::Limit
        );
        assert_eq!(
            parse_condition(&"a or ".repeat(5000), 1 << 14, 64)
                .unwrap_err()
                .kind,
            ErrorKind::Limit
        );
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches(None, "selection"));
        assert!(!pattern_matches(None, "_filter"));
        assert!(pattern_matches(Some("sel*"), "selection_img"));
        assert!(pattern_matches(Some("*img"), "selection_img"));
        assert!(pattern_matches(Some("s*_*g"), "selection_img"));
        assert!(!pattern_matches(Some("filter*"), "selection"));
        assert!(pattern_matches(Some("exact"), "exact"));
        assert!(!pattern_matches(Some("exact"), "exactly"));
    }
}
