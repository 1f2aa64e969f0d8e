//! Keyword (keyless) searches answered by one pass over the store's string arena.
//!
//! A keyword search tests every value of every selected event. The per-value path
//! memoises by symbol, but when a rule's logsource selects most of the store that is
//! ~100k automaton calls on mostly short strings, and the per-call setup dominates
//! (~10 ms for `win_alert_mimikatz_keywords`). Running each searcher once over the arena
//! (every string back to back, ~7.5 MB for the shared corpus) and mapping match offsets
//! back to symbols gives the same answer for case-insensitive substring tests at memory
//! speed (~3 ms).
//!
//! A match that crosses from one string into the next is not a match. When the search
//! reports one, starting at `s` in string `A`, the rest of `A` (from `s`, bounded to `A`)
//! is searched again: with leftmost semantics no match of any kind starts between the
//! search position and `s`, so a match inside `A` exists exactly when the bounded search
//! finds one (with standard, earliest-end semantics none can exist, and the bounded search
//! agrees). The scan then continues at the next string; one match per string is enough.

use crate::matcher::{FieldMatcher, Test};
use crate::pattern::StrMatch;

/// A bitset over all interned symbols.
pub(crate) struct SymSet(Vec<u64>);

impl SymSet {
    #[inline]
    pub(crate) fn contains(&self, sym: u32) -> bool {
        let i = sym as usize;
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
}

/// The symbols whose text contains a match of any of `m`'s tests, or `None` when `m` is
/// not a plain OR of case-insensitive, non-empty substring tests (the caller then uses
/// the per-value path). Callers test the *folded* symbol of a value and apply `neq`.
pub(crate) fn folded_substring_hits(arena: (&str, &[u32]), m: &FieldMatcher) -> Option<SymSet> {
    if m.all {
        return None;
    }
    let tests: Vec<&Test> = m.groups.iter().flatten().collect();
    let plain = tests.iter().all(|t| match t {
        Test::ContainsAny { ac, cased: false } => ac.min_pattern_len() > 0,
        Test::Str {
            m: StrMatch::Contains(f),
            cased: false,
            num: None,
            typed: None,
        } => !f.needle().is_empty(),
        _ => false,
    });
    if !plain || tests.is_empty() {
        return None;
    }
    let (text, ends) = arena;
    let text = text.as_bytes();
    let mut hits = SymSet(vec![0; ends.len().div_ceil(64)]);
    for t in tests {
        match t {
            Test::ContainsAny { ac, .. } => scan(text, ends, &mut hits, |from, to| {
                ac.find(aho_corasick::Input::new(text).span(from..to))
                    .map(|x| (x.start(), x.end()))
            }),
            Test::Str {
                m: StrMatch::Contains(f),
                ..
            } => {
                let len = f.needle().len();
                scan(text, ends, &mut hits, |from, to| {
                    f.find(&text[from..to]).map(|s| (from + s, from + s + len))
                })
            }
            _ => return None,
        }
    }
    Some(hits)
}

/// Runs `find(from, to)` (the next match within `from..to`) over the arena, marking
/// each string that holds a match.
fn scan(
    text: &[u8],
    ends: &[u32],
    hits: &mut SymSet,
    find: impl Fn(usize, usize) -> Option<(usize, usize)>,
) {
    let mut pos = 0;
    while pos < text.len() {
        let Some((start, end)) = find(pos, text.len()) else {
            break;
        };
        // The string holding byte `start` (empty strings share their end with the
        // previous one, so the first end beyond `start` is the right one).
        let i = ends.partition_point(|&e| (e as usize) <= start);
        let Some(&string_end) = ends.get(i) else {
            break;
        };
        let string_end = string_end as usize;
        if end <= string_end || find(start, string_end).is_some() {
            hits.insert(i);
        }
        pos = string_end.max(pos + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(strings: &[&str]) -> (String, Vec<u32>) {
        let mut text = String::new();
        let mut ends = Vec::new();
        for s in strings {
            text.push_str(s);
            ends.push(text.len() as u32);
        }
        (text, ends)
    }

    fn hits_of(strings: &[&str], needles: &[&str]) -> Vec<usize> {
        let (text, ends) = arena(strings);
        let ac = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(needles)
            .unwrap();
        let mut hits = SymSet(vec![0; ends.len().div_ceil(64)]);
        let t = text.as_bytes();
        scan(t, &ends, &mut hits, |from, to| {
            ac.find(aho_corasick::Input::new(t).span(from..to))
                .map(|x| (x.start(), x.end()))
        });
        let mut one = SymSet(vec![0; ends.len().div_ceil(64)]);
        if needles.len() == 1 {
            let f = memchr::memmem::Finder::new(needles[0]);
            let len = needles[0].len();
            scan(t, &ends, &mut one, |from, to| {
                f.find(&t[from..to]).map(|s| (from + s, from + s + len))
            });
        }
        let out: Vec<usize> = (0..strings.len())
            .filter(|&i| hits.contains(i as u32))
            .collect();
        let brute: Vec<usize> = (0..strings.len())
            .filter(|&i| needles.iter().any(|n| strings[i].contains(n)))
            .collect();
        assert_eq!(out, brute, "automaton vs brute force");
        if needles.len() == 1 {
            let o: Vec<usize> = (0..strings.len())
                .filter(|&i| one.contains(i as u32))
                .collect();
            assert_eq!(o, brute, "single needle vs brute force");
        }
        out
    }

    #[test]
    fn crossing_matches_do_not_hide_real_ones() {
        assert_eq!(hits_of(&["xa", "aa", "", "a"], &["aa"]), vec![1]);
        assert_eq!(hits_of(&["ab", "c", "abc"], &["abc"]), vec![2]);
        assert_eq!(
            hits_of(&["sekur", "lsa::", "sekurlsa::x"], &["sekurlsa::"]),
            vec![2]
        );
        assert_eq!(
            hits_of(
                &["lsadump:", ":x", "", "kiwi", "a lsadump::"],
                &["lsadump::", "kiwi"]
            ),
            vec![3, 4]
        );
        assert_eq!(hits_of(&["aaa", "aaaa", "a"], &["aaaa"]), vec![1]);
        // Leftmost-first prefers the crossing "abcd"; "ab" inside the first string counts.
        assert_eq!(hits_of(&["abc", "d", "x"], &["abcd", "ab"]), vec![0]);
        assert_eq!(hits_of(&["abc", "d", "x"], &["abcd", "c"]), vec![0]);
        assert_eq!(hits_of(&[], &["x"]), Vec::<usize>::new());
    }
}
