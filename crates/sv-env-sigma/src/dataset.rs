//! The SigmaForge data set: one task per SigmaHQ rule that fires on the corpus, written as
//! a JSONL task file (the `sv-env` task shape) plus a manifest and a build report.
//!
//! This module is the pure part of `sv data build sigma`: it receives rules already
//! evaluated on the event store ([`RuleRecord`]) and decides everything else (questions,
//! groups, splits, weights, statistics). Output order and content depend only on the
//! inputs, so the same inputs give byte-identical files.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::attack::AttackNames;
use crate::leakage::{check, LeakPolicy};
use crate::meta::{LogSource, RuleMeta};
use crate::questions::{generate, primary, Question};
use crate::split::{assign, jaccard, Split, SplitInput, SplitPolicy};

/// Version of the task-file layout and generator; bumped when either changes output.
pub const DATASET_VERSION: &str = "1";

/// Events of one (Channel, EventID) partition that a rule matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionCount {
    pub channel: String,
    pub event_id: Option<u32>,
    pub count: u64,
}

/// A rule and what it matched on the corpus.
#[derive(Debug, Clone)]
pub struct RuleRecord {
    /// Path relative to the sigma data folder (`rules/windows/…/x.yml`), `/`-separated.
    pub path: String,
    pub yaml: String,
    pub meta: RuleMeta,
    /// Stable event keys of the deduplicated matched events, sorted, unique.
    pub events: Vec<String>,
    pub partitions: Vec<PartitionCount>,
    /// The (Channel, EventID) partitions of the corpus its logsource selects (the
    /// reference of `logsource_correct`).
    pub logsource_partitions: Vec<sv_sigma::score::PartitionKey>,
}

/// Choices of the builder (recorded in the manifest's generator map).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildOptions {
    /// Rules matching fewer deduplicated events are left out (default 1: every rule that fires).
    pub min_matches: u64,
    /// Rules matching more are left out (default: no limit).
    pub max_matches: Option<u64>,
    pub split: SplitPolicy,
    pub leak: LeakPolicy,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            min_matches: 1,
            max_matches: None,
            split: SplitPolicy::default(),
            leak: LeakPolicy::default(),
        }
    }
}

/// What the build is made from (all recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub sigmahq_commit: String,
    pub corpus_hash: String,
    pub engine_version: String,
    pub semantics: String,
    /// `model@base_url` when questions were paraphrased by a model.
    pub rewrite_with: Option<String>,
}

/// The matched-count buckets used for the skew report and the inverse-frequency weights.
pub const BUCKETS: [(u64, u64, &str); 6] = [
    (1, 1, "1"),
    (2, 2, "2"),
    (3, 5, "3-5"),
    (6, 20, "6-20"),
    (21, 100, "21-100"),
    (101, u64::MAX, ">100"),
];

/// The bucket label of a matched count.
pub fn bucket_of(n: u64) -> &'static str {
    BUCKETS
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&n))
        .map_or("0", |b| b.2)
}

/// Summary of a build: what was kept, split sizes, leakage checks, skew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    pub rules_in: usize,
    pub tasks: usize,
    pub left_out: BTreeMap<String, usize>,
    pub splits: BTreeMap<String, SplitSize>,
    pub leakage: LeakageCheck,
    pub skew: Skew,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitSize {
    pub tasks: usize,
    pub groups: usize,
    pub events: u64,
}

/// Checks that the questions and the splits do not give the answer away.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeakageCheck {
    pub questions: usize,
    /// Questions that fail [`crate::leakage::check`] (must be 0).
    pub leaking_questions: usize,
    /// `technique@logsource` anchors whose rules fall in more than one split (must be 0).
    pub anchors_across_splits: usize,
    /// Pairs of tasks in different splits with reference Jaccard ≥ the threshold (must be 0).
    pub near_duplicates_across_splits: usize,
    /// Pairs in different splits with identical reference event sets (must be 0).
    pub identical_across_splits: usize,
}

/// The distribution of matched counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Skew {
    pub by_bucket: BTreeMap<String, usize>,
    pub min: u64,
    pub median: u64,
    pub p90: u64,
    pub max: u64,
    /// Share of tasks whose reference has 1 or 2 events.
    pub share_1_2: f64,
}

/// The files of a build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The task file's bytes (JSONL, one task per line, sorted by rule path).
    pub tasks_jsonl: String,
    pub report: BuildReport,
    /// Tasks per split, for the manifest.
    pub split_counts: BTreeMap<String, usize>,
}

/// Builds the task file and report from evaluated rules.
pub fn build(records: &[RuleRecord], attack: &AttackNames, opts: &BuildOptions) -> Built {
    let mut left_out: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_ids = BTreeSet::new();
    let mut kept: Vec<&RuleRecord> = Vec::new();
    let mut sorted: Vec<&RuleRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for r in sorted {
        let n = r.events.len() as u64;
        let reason = if n == 0 {
            Some("no match on the corpus")
        } else if n < opts.min_matches {
            Some("below --min-matches")
        } else if opts.max_matches.is_some_and(|m| n > m) {
            Some("above --max-matches")
        } else if !seen_ids.insert(r.meta.id.clone()) {
            Some("duplicate rule id")
        } else {
            None
        };
        match reason {
            Some(why) => *left_out.entry(why.to_string()).or_insert(0) += 1,
            None => kept.push(r),
        }
    }
    let inputs: Vec<SplitInput> = kept
        .iter()
        .map(|r| SplitInput {
            rule_id: r.meta.id.clone(),
            techniques: r.meta.techniques(),
            logsource_key: r.meta.logsource.key(),
            events: r.events.clone(),
        })
        .collect();
    let assignments = assign(&inputs, &opts.split);

    // Inverse-frequency weights over matched-count buckets, normalised to mean 1.
    let mut bucket_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &kept {
        *bucket_sizes
            .entry(bucket_of(r.events.len() as u64))
            .or_insert(0) += 1;
    }
    let n_buckets = bucket_sizes.len().max(1) as f64;
    let total = kept.len().max(1) as f64;

    let mut lines = String::new();
    let mut leak = LeakageCheck::default();
    let mut splits: BTreeMap<String, SplitSize> = BTreeMap::new();
    let mut groups_per_split: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (r, a) in kept.iter().zip(&assignments) {
        let questions = generate(&r.meta, attack, &opts.leak);
        leak.questions += questions.len();
        leak.leaking_questions += questions
            .iter()
            .filter(|q| !check(&q.text, &r.meta, &opts.leak).is_empty())
            .count();
        let n = r.events.len() as u64;
        let bucket = bucket_of(n);
        let weight = total / (n_buckets * bucket_sizes[bucket] as f64);
        let task = task_json(r, a.split, &a.group, &questions, bucket, weight);
        lines.push_str(&task.to_string());
        lines.push('\n');
        let s = splits.entry(a.split.as_str().to_string()).or_default();
        s.tasks += 1;
        s.events += n;
        groups_per_split
            .entry(a.split.as_str().to_string())
            .or_default()
            .insert(a.group.clone());
    }
    for (k, g) in groups_per_split {
        splits.entry(k).or_default().groups = g.len();
    }

    // Cross-split leakage, checked on the result rather than trusted from construction.
    let mut anchor_splits: BTreeMap<String, BTreeSet<Split>> = BTreeMap::new();
    for (inp, a) in inputs.iter().zip(&assignments) {
        for t in &inp.techniques {
            anchor_splits
                .entry(format!("{t}@{}", inp.logsource_key))
                .or_default()
                .insert(a.split);
        }
    }
    leak.anchors_across_splits = anchor_splits.values().filter(|s| s.len() > 1).count();
    for i in 0..inputs.len() {
        for j in i + 1..inputs.len() {
            if assignments[i].split == assignments[j].split {
                continue;
            }
            let jac = jaccard(&inputs[i].events, &inputs[j].events);
            if jac >= opts.split.jaccard {
                leak.near_duplicates_across_splits += 1;
            }
            if inputs[i].events == inputs[j].events {
                leak.identical_across_splits += 1;
            }
        }
    }

    let skew = skew(kept.iter().map(|r| r.events.len() as u64).collect());
    let split_counts = splits.iter().map(|(k, v)| (k.clone(), v.tasks)).collect();
    Built {
        tasks_jsonl: lines,
        report: BuildReport {
            rules_in: records.len(),
            tasks: kept.len(),
            left_out,
            splits,
            leakage: leak,
            skew,
        },
        split_counts,
    }
}

fn task_json(
    r: &RuleRecord,
    split: Split,
    group: &str,
    questions: &[Question],
    bucket: &str,
    weight: f64,
) -> serde_json::Value {
    let p = primary(&r.meta.id, questions);
    let question = p.map(|i| questions[i].text.clone()).unwrap_or_default();
    let persona = p.map(|i| questions[i].persona);
    json!({
        "id": r.meta.id,
        "split": split.as_str(),
        "prompt": {
            "question": question,
            "persona": persona,
            "questions": questions,
        },
        "answer": {
            "rule": r.yaml,
            "logsource": r.meta.logsource,
            "logsource_partitions": r.logsource_partitions,
            "events": r.events,
        },
        "category": category(&r.meta.logsource),
        "metadata": {
            "rule_id": r.meta.id,
            "path": r.path,
            "title": r.meta.title,
            "level": r.meta.level,
            "status": r.meta.status,
            "author": r.meta.author,
            "logsource": r.meta.logsource,
            "attack": r.meta.techniques(),
            "tactics": r.meta.tactics(),
            "matched": r.events.len(),
            "matched_bucket": bucket,
            "weight": (weight * 1e6).round() / 1e6,
            "partitions": r.partitions,
            "group": group,
        },
    })
}

/// The report category of a task: the logsource category, else its service.
pub fn category(ls: &LogSource) -> String {
    ls.category
        .clone()
        .or_else(|| ls.service.clone())
        .unwrap_or_else(|| "other".into())
}

fn skew(mut counts: Vec<u64>) -> Skew {
    counts.sort_unstable();
    let mut by_bucket: BTreeMap<String, usize> =
        BUCKETS.iter().map(|b| (b.2.to_string(), 0)).collect();
    for c in &counts {
        *by_bucket.entry(bucket_of(*c).to_string()).or_insert(0) += 1;
    }
    let q = |f: f64| -> u64 {
        if counts.is_empty() {
            0
        } else {
            counts[((counts.len() - 1) as f64 * f).round() as usize]
        }
    };
    let small = counts.iter().filter(|c| **c <= 2).count();
    Skew {
        by_bucket,
        min: counts.first().copied().unwrap_or(0),
        median: q(0.5),
        p90: q(0.9),
        max: counts.last().copied().unwrap_or(0),
        share_1_2: if counts.is_empty() {
            0.0
        } else {
            (small as f64 / counts.len() as f64 * 1e4).round() / 1e4
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, id: &str, tech: &str, events: &[&str]) -> RuleRecord {
        let yaml = format!(
            "title: Rule {id}\nid: {id}\ntags: [attack.{tech}]\nlogsource: {{product: windows, category: process_creation}}\ndetection:\n  sel:\n    CommandLine|contains: 'x'\n  condition: sel\nlevel: high\n"
        );
        RuleRecord {
            path: path.into(),
            meta: RuleMeta::parse(&yaml).unwrap(),
            yaml,
            events: events.iter().map(|s| s.to_string()).collect(),
            partitions: vec![PartitionCount {
                channel: "Microsoft-Windows-Sysmon/Operational".into(),
                event_id: Some(1),
                count: events.len() as u64,
            }],
            logsource_partitions: vec![],
        }
    }

    #[test]
    fn builds_deterministically_with_checks() {
        let rs = vec![
            rec("b.yml", "id-b", "t1003", &["e1", "e2"]),
            rec("a.yml", "id-a", "t1003", &["e1"]),
            rec("c.yml", "id-c", "t1059", &[]),
            rec("d.yml", "id-a", "t1059", &["e9"]),
            rec("e.yml", "id-e", "t1105", &["e3", "e4", "e5"]),
        ];
        let names = AttackNames::default();
        let a = build(&rs, &names, &BuildOptions::default());
        let mut reversed = rs.clone();
        reversed.reverse();
        let b = build(&reversed, &names, &BuildOptions::default());
        assert_eq!(a.tasks_jsonl, b.tasks_jsonl);
        assert_eq!(a.report.tasks, 3);
        assert_eq!(a.report.left_out["no match on the corpus"], 1);
        assert_eq!(a.report.left_out["duplicate rule id"], 1);
        assert_eq!(a.report.leakage.leaking_questions, 0);
        assert_eq!(a.report.leakage.questions, 45);
        assert_eq!(a.report.leakage.anchors_across_splits, 0);
        assert_eq!(a.report.skew.by_bucket["1"], 1);
        assert_eq!(a.report.skew.by_bucket["2"], 1);
        assert_eq!(a.report.skew.by_bucket["3-5"], 1);
        assert_eq!(a.report.skew.median, 2);
        assert_eq!(a.report.skew.share_1_2, 0.6667);
        let first: serde_json::Value =
            serde_json::from_str(a.tasks_jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(first["id"], "id-a");
        assert_eq!(first["metadata"]["matched"], 1);
        assert_eq!(first["metadata"]["weight"], 1.0);
        assert_eq!(first["answer"]["events"], json!(["e1"]));
        assert_eq!(first["prompt"]["questions"].as_array().unwrap().len(), 15);
        // a and b share T1003@process_creation: same group and split.
        let second: serde_json::Value =
            serde_json::from_str(a.tasks_jsonl.lines().nth(1).unwrap()).unwrap();
        assert_eq!(first["metadata"]["group"], second["metadata"]["group"]);
        assert_eq!(first["split"], second["split"]);
    }

    #[test]
    fn min_matches_filters() {
        let rs = vec![
            rec("a.yml", "a", "t1", &["e1"]),
            rec("b.yml", "b", "t2", &["e1", "e2", "e3"]),
        ];
        let opts = BuildOptions {
            min_matches: 2,
            ..Default::default()
        };
        let a = build(&rs, &AttackNames::default(), &opts);
        assert_eq!(a.report.tasks, 1);
        assert_eq!(a.report.left_out["below --min-matches"], 1);
    }
}
