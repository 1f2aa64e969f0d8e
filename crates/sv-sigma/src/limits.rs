//! Bounds on rule size and evaluation cost. Every limit turns a hostile or broken rule
//! into a [`crate::RuleError`] / [`crate::EvalError`] instead of a hang, an OOM or a panic.

/// Configurable limits; [`Limits::default`] documents the defaults (also in docs/sigma.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest rule file accepted, in bytes (default 1 MiB; SigmaHQ's largest windows rule is ~40 KiB).
    pub max_rule_bytes: usize,
    /// Deepest YAML nesting accepted (default 64; also bounded by serde_yaml's own 128).
    pub max_yaml_depth: usize,
    /// Most YAML nodes in one document after alias expansion (default 200,000). Stops
    /// billion-laughs style alias bombs.
    pub max_yaml_nodes: usize,
    /// Most YAML documents in one file (default 1,000).
    pub max_documents: usize,
    /// Most search identifiers in one detection (default 1,000).
    pub max_searches: usize,
    /// Most values in one rule after modifier expansion (windash, base64offset, placeholders)
    /// (default 100,000).
    pub max_values: usize,
    /// Longest single value or pattern, in bytes (default 64 KiB).
    pub max_value_bytes: usize,
    /// Longest condition string, in bytes (default 16 KiB).
    pub max_condition_bytes: usize,
    /// Deepest condition nesting (parentheses / not chains) (default 64).
    pub max_condition_depth: usize,
    /// Compiled size limit for one regex, in bytes (default 10 MiB, the `regex` crate's own
    /// default; Unicode classes such as `\w{1,64}` need several MiB).
    pub max_regex_size: usize,
    /// Backtracking limit for regexes that need `fancy-regex` (look-around, back-references)
    /// (default 100,000 steps per match attempt).
    pub regex_backtrack_limit: usize,
    /// Field values longer than this are tested only on their first `max_match_bytes` bytes
    /// by `re` matchers (default 1 MiB) so a huge value cannot stall a regex.
    pub max_match_bytes: usize,
    /// Most distinct value tests (matcher × distinct value) per rule evaluation
    /// (default 50,000,000).
    pub max_eval_steps: u64,
    /// Wall-clock budget per rule evaluation, in milliseconds (default 5,000).
    pub max_eval_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rule_bytes: 1 << 20,
            max_yaml_depth: 64,
            max_yaml_nodes: 200_000,
            max_documents: 1_000,
            max_searches: 1_000,
            max_values: 100_000,
            max_value_bytes: 64 << 10,
            max_condition_bytes: 16 << 10,
            max_condition_depth: 64,
            max_regex_size: 10 << 20,
            regex_backtrack_limit: 100_000,
            max_match_bytes: 1 << 20,
            max_eval_steps: 50_000_000,
            max_eval_ms: 5_000,
        }
    }
}
