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

/// From this many literals of at most [`MAX_SET_LENGTHS`] distinct lengths (hash lists such
/// as SigmaHQ's 4,400 vulnerable-driver hashes), a hashed window set replaces the
/// automaton: building Aho-Corasick over 4,400 × 40 bytes took ~12 ms of a 25 ms compile,
/// the set takes ~0.5 ms; its scan is slower (one hash per window and length), which
/// matters little on the short values such lists are matched against.
const MIN_SET_LITERALS: usize = 1024;
const MAX_SET_LENGTHS: usize = 4;

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
    if p.len() >= MIN_SET_LITERALS {
        if let Some(set) = WindowSet::new(&p, MAX_SET_LENGTHS) {
            return vec![Test::LiteralSet {
                set: Box::new(set),
                cased,
            }];
        }
    }
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

/// Literals grouped by length, each group a sorted table of (xxh3 hash, literal index).
/// `contains any` = some window of the value, of one of the lengths, hashes to a literal
/// of that length and equals it.
#[derive(Debug, Clone)]
pub struct WindowSet {
    literals: Vec<Vec<u8>>,
    /// (length, sorted (hash, index)) per distinct length.
    by_len: Vec<(usize, Vec<(u64, u32)>)>,
}

impl WindowSet {
    /// `None` when the literals have more than `max_lengths` distinct lengths, or one is
    /// empty.
    pub fn new(literals: &[Vec<u8>], max_lengths: usize) -> Option<WindowSet> {
        let mut lens: Vec<usize> = literals.iter().map(Vec::len).collect();
        lens.sort_unstable();
        lens.dedup();
        if lens.len() > max_lengths || lens.first() == Some(&0) {
            return None;
        }
        let by_len = lens
            .into_iter()
            .map(|n| {
                let mut t: Vec<(u64, u32)> = literals
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.len() == n)
                    .map(|(i, l)| (xxhash_rust::xxh3::xxh3_64(l), i as u32))
                    .collect();
                t.sort_unstable();
                (n, t)
            })
            .collect();
        Some(WindowSet {
            literals: literals.to_vec(),
            by_len,
        })
    }

    pub fn is_match(&self, hay: &[u8]) -> bool {
        self.by_len.iter().any(|(n, table)| {
            hay.len() >= *n
                && hay.windows(*n).any(|w| {
                    let h = xxhash_rust::xxh3::xxh3_64(w);
                    let from = table.partition_point(|e| e.0 < h);
                    table[from..]
                        .iter()
                        .take_while(|e| e.0 == h)
                        .any(|e| self.literals[e.1 as usize] == w)
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_set_matches_like_contains() {
        let lits: Vec<Vec<u8>> = ["md5=abc", "sha1=0123", "md5=zzz", "x"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let set = WindowSet::new(&lits, 4).unwrap();
        for hay in [
            "",
            "x",
            "md5=ab",
            "sha1=0123,md5=abd",
            "a md5=zzz b",
            "md5=abc",
            "y",
        ] {
            let want = lits
                .iter()
                .any(|l| hay.as_bytes().windows(l.len()).any(|w| w == l.as_slice()));
            assert_eq!(set.is_match(hay.as_bytes()), want, "{hay}");
        }
        assert!(WindowSet::new(&lits, 2).is_none(), "three lengths > 2");
        assert!(WindowSet::new(&[Vec::new()], 4).is_none(), "empty literal");
    }
}
