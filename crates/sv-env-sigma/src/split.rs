//! Train/dev/test splits without leakage between them.
//!
//! Rules that detect the same thing must land in the same split, or a model trained on
//! one is tested on its twin. Two rules are linked when they share an *anchor* (an ATT&CK
//! technique together with the logsource, `T1003.001@windows/process_creation/-`) or
//! when their reference event sets are near-identical (Jaccard ≥ [`SplitPolicy::jaccard`]).
//! Links are closed with union-find; each group is named by its smallest anchor (or its
//! smallest rule id when no member has a technique tag) and assigned to a split by a
//! SHA-256 bucket of that name. A group's split therefore depends only on its own name:
//! adding rules moves nothing, unless a new rule bridges two existing groups (the merged
//! group takes the smaller name), which is the price of keeping twins together.

use crate::hashing::stable_u64;
use std::collections::{BTreeMap, BTreeSet};

/// Which part of the data set a task belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
    pub fn parse(s: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Proportions (percent of the hash space, summing to 100) and the twin threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitPolicy {
    pub train: u32,
    pub dev: u32,
    pub test: u32,
    /// Rules whose reference event sets have at least this Jaccard similarity are grouped.
    pub jaccard: f64,
    /// Salt of the bucket hash; changing it reshuffles every group.
    pub salt: String,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        SplitPolicy {
            train: 70,
            dev: 10,
            test: 20,
            jaccard: 0.8,
            salt: "sigmaforge-split/1".into(),
        }
    }
}

/// What the split needs to know about one rule.
#[derive(Debug, Clone)]
pub struct SplitInput {
    pub rule_id: String,
    pub techniques: Vec<String>,
    pub logsource_key: String,
    /// Stable ids of the reference events, sorted ascending, no duplicates.
    pub events: Vec<String>,
}

/// The group and split of one rule (same order as the inputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub group: String,
    pub split: Split,
}

/// Groups the rules and assigns each group a split.
pub fn assign(inputs: &[SplitInput], policy: &SplitPolicy) -> Vec<Assignment> {
    let n = inputs.len();
    let mut uf = UnionFind::new(n);
    let anchors: Vec<BTreeSet<String>> = inputs.iter().map(anchors_of).collect();
    let mut by_anchor: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, set) in anchors.iter().enumerate() {
        for a in set {
            match by_anchor.get(a.as_str()) {
                Some(&j) => uf.union(i, j),
                None => {
                    by_anchor.insert(a, i);
                }
            }
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            if uf.find(i) != uf.find(j)
                && jaccard(&inputs[i].events, &inputs[j].events) >= policy.jaccard
            {
                uf.union(i, j);
            }
        }
    }
    let mut name: BTreeMap<usize, String> = BTreeMap::new();
    for (i, set) in anchors.iter().enumerate() {
        let root = uf.find(i);
        let candidate = set.iter().next().cloned().unwrap_or_default();
        let e = name.entry(root).or_insert_with(|| candidate.clone());
        if candidate < *e {
            *e = candidate;
        }
    }
    (0..n)
        .map(|i| {
            let group = name[&uf.find(i)].clone();
            let split = bucket(&group, policy);
            Assignment { group, split }
        })
        .collect()
}

/// `technique@logsource` for each technique, or `rule:<id>` when there is none.
fn anchors_of(r: &SplitInput) -> BTreeSet<String> {
    let set: BTreeSet<String> = r
        .techniques
        .iter()
        .map(|t| format!("{}@{}", t, r.logsource_key))
        .collect();
    if set.is_empty() {
        [format!("rule:{}", r.rule_id)].into_iter().collect()
    } else {
        set
    }
}

fn bucket(group: &str, p: &SplitPolicy) -> Split {
    let total = (p.train + p.dev + p.test).max(1) as u64;
    let b = stable_u64(&[&p.salt, group]) % total;
    if b < p.train as u64 {
        Split::Train
    } else if b < (p.train + p.dev) as u64 {
        Split::Dev
    } else {
        Split::Test
    }
}

/// Jaccard similarity of two sorted, deduplicated id lists (0 when both are empty).
pub fn jaccard(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index becomes the root: deterministic for a given input order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: &str, techs: &[&str], ls: &str, events: &[&str]) -> SplitInput {
        let mut ev: Vec<String> = events.iter().map(|s| s.to_string()).collect();
        ev.sort();
        SplitInput {
            rule_id: id.into(),
            techniques: techs.iter().map(|s| s.to_string()).collect(),
            logsource_key: ls.into(),
            events: ev,
        }
    }

    #[test]
    fn twins_share_a_group_and_split() {
        let rules = vec![
            input("a", &["T1003.001"], "w/pc/-", &["1"]),
            input("b", &["T1003.001", "T1036"], "w/pc/-", &["2"]),
            input("c", &["T1036"], "w/pc/-", &["3"]),
            input("d", &["T1003.001"], "w/ps/-", &["9"]),
            input("e", &[], "w/-/security", &["4", "5", "6", "7", "8"]),
            input("f", &[], "w/-/system", &["4", "5", "6", "7"]),
            input("g", &[], "w/-/system", &["10"]),
        ];
        let a = assign(&rules, &SplitPolicy::default());
        // a–b share T1003.001@pc, b–c share T1036@pc: one group named by the smallest anchor.
        assert_eq!(a[0].group, "T1003.001@w/pc/-");
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], a[0]);
        // Same technique, other logsource: its own group.
        assert_eq!(a[3].group, "T1003.001@w/ps/-");
        // Jaccard 4/5 = 0.8 links e and f.
        assert_eq!(a[4].group, "rule:e");
        assert_eq!(a[5], a[4]);
        assert_eq!(a[6].group, "rule:g");
    }

    #[test]
    fn adding_an_unrelated_rule_moves_nothing() {
        let mut rules: Vec<SplitInput> = (0..200)
            .map(|i| {
                input(
                    &format!("r{i}"),
                    &[&format!("T{}", 1000 + i % 50)],
                    "w/pc/-",
                    &[&format!("e{i}")],
                )
            })
            .collect();
        let before = assign(&rules, &SplitPolicy::default());
        rules.insert(17, input("new", &["T9999"], "w/pc/-", &["x"]));
        let mut after = assign(&rules, &SplitPolicy::default());
        after.remove(17);
        assert_eq!(before, after);
        // The buckets cover all three splits in roughly the 70/10/20 proportions of 50 groups.
        let count = |s: Split| before.iter().filter(|a| a.split == s).count();
        assert_eq!(
            count(Split::Train) + count(Split::Dev) + count(Split::Test),
            200
        );
        assert!(
            count(Split::Test) > 0
                && count(Split::Dev) > 0
                && count(Split::Train) > count(Split::Test)
        );
    }

    #[test]
    fn jaccard_values() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(jaccard(&s(&["a", "b"]), &s(&["b", "c"])), 1.0 / 3.0);
        assert_eq!(jaccard(&s(&[]), &s(&[])), 0.0);
        assert_eq!(jaccard(&s(&["a"]), &s(&["a"])), 1.0);
    }
}
