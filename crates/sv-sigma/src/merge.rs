//! Merging the tests of one OR list (`field: [v1, v2, …]`) into fewer, larger ones.
//!
//! A list of `n` values compiles to `n` tests, and both compiling and evaluating them
//! cost per test: every regex build has a fixed setup cost (~80 µs), and every call has
//! a per-value overhead. The reward path compiles each candidate rule once and runs it
//! once, so a rule with 48 `endswith: 8???`-style wildcards spent 4 ms building regexes.
//! Merged, the list is one automaton per kind, with the same set of matching values:
//! - plain `contains` literals (8 or more) → one Aho-Corasick automaton;
//! - wildcard patterns (2 or more) → one regex, an alternation of their patterns.
//!
//! Only tests whose answer is a pure function of the (folded or raw) text are merged:
//! no numeric reading (`num`), no type restriction (`typed`), same case mode.

use crate::limits::Limits;
use crate::matcher::Test;
use crate::pattern::StrMatch;

/// Largest total pattern size for which a many-pattern OR list gets a DFA.
const DFA_MAX_PATTERN_BYTES: usize = 16 << 10;

/// Fewest `contains` literals worth an automaton (below, memchr's searchers are as fast).
const MIN_LITERALS: usize = 8;

/// What a test contributes to a merge, if anything.
enum Part {
    Literal(Vec<u8>),
    Pattern(String),
}

fn mergeable(t: &Test) -> Option<(bool, Part)> {
    match t {
        Test::Str {
            m,
            cased,
            num: None,
            typed: None,
        } => match m {
            StrMatch::Contains(f) => Some((*cased, Part::Literal(f.needle().to_vec()))),
            StrMatch::Regex(r) => Some((*cased, Part::Pattern(r.as_str().to_string()))),
            _ => None,
        },
        _ => None,
    }
}

/// Merges the OR list `groups` (any test of any group matching is a match).
pub(crate) fn merge_or_list(groups: Vec<Vec<Test>>, limits: &Limits) -> Vec<Vec<Test>> {
    // [cased] → count of literals / patterns.
    let mut literals = [0usize; 2];
    let mut patterns = [0usize; 2];
    for t in groups.iter().flatten() {
        match mergeable(t) {
            Some((c, Part::Literal(_))) => literals[c as usize] += 1,
            Some((c, Part::Pattern(_))) => patterns[c as usize] += 1,
            None => {}
        }
    }
    let merge_lit = |c: bool| literals[c as usize] >= MIN_LITERALS;
    let merge_pat = |c: bool| patterns[c as usize] >= 2;
    if !(merge_lit(false) || merge_lit(true) || merge_pat(false) || merge_pat(true)) {
        return groups;
    }
    let mut lits: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    let mut pats: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    // Originals of merged tests, kept in case a merged build fails.
    let mut taken: [Vec<Test>; 2] = [Vec::new(), Vec::new()];
    let mut rest = Vec::new();
    for g in groups {
        let mut keep = Vec::new();
        for t in g {
            match mergeable(&t) {
                Some((c, Part::Literal(l))) if merge_lit(c) => lits[c as usize].push(l),
                Some((c, Part::Pattern(p))) if merge_pat(c) => {
                    pats[c as usize].push(p);
                    taken[c as usize].push(t);
                }
                _ => keep.push(t),
            }
        }
        if !keep.is_empty() {
            rest.push(keep);
        }
    }
    for cased in [false, true] {
        let i = cased as usize;
        let l = std::mem::take(&mut lits[i]);
        if !l.is_empty() {
            rest.push(literal_set(l, cased));
        }
        let p = std::mem::take(&mut pats[i]);
        if !p.is_empty() {
            match alternation(&p, limits) {
                Some(re) => rest.push(vec![Test::Str {
                    m: StrMatch::Regex(re),
                    cased,
                    num: None,
                    typed: None,
                }]),
                None => rest.extend(std::mem::take(&mut taken[i]).into_iter().map(|t| vec![t])),
            }
        }
    }
    rest
}

/// One Aho-Corasick automaton over the literals; one test per literal if it cannot be
/// built (not expected within the value limits).
fn literal_set(p: Vec<Vec<u8>>, cased: bool) -> Vec<Test> {
    // Leftmost-first: the same `is_match` answers as standard semantics, but it lets the
    // crate use its SIMD (Teddy) prefilter for up to 64 patterns. Past 64 patterns there
    // is no such prefilter and the scan speed is the automaton's: a DFA is ~2x faster
    // than the default NFA there, and cheap to build while the patterns are small
    // (SigmaHQ's 179-cmdlet list: ~2,700 states).
    let bytes: usize = p.iter().map(Vec::len).sum();
    let kind = (p.len() > 64 && bytes <= DFA_MAX_PATTERN_BYTES)
        .then_some(aho_corasick::AhoCorasickKind::DFA);
    match aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .kind(kind)
        .build(&p)
    {
        Ok(ac) => vec![Test::ContainsAny {
            ac: Box::new(ac),
            cased,
        }],
        Err(_) => p
            .into_iter()
            .map(|needle| Test::Str {
                m: StrMatch::Contains(Box::new(memchr::memmem::Finder::new(&needle).into_owned())),
                cased,
                num: None,
                typed: None,
            })
            .collect(),
    }
}

/// One regex matching where any of `patterns` (complete regexes with their own inline
/// flags and anchors) matches; `None` when it would exceed the size limit.
fn alternation(patterns: &[String], limits: &Limits) -> Option<regex::Regex> {
    let joined = patterns
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|");
    regex::RegexBuilder::new(&joined)
        .size_limit(limits.max_regex_size)
        .dfa_size_limit(limits.max_regex_size)
        .build()
        .ok()
}
