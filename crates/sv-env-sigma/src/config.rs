//! SigmaForge's configuration: the reward weights, episode and tool limits, and the
//! scoring bounds, as an [`sv_env::EnvConfig`] with documented defaults (see
//! `docs/sigmaforge.md`, which shows the same values as a TOML file).

use serde::{Deserialize, Serialize};
use sv_env::EnvConfig;

/// The reward components, in the order they are reported.
pub const COMPONENTS: [&str; 3] = ["yaml_valid", "logsource_correct", "iou"];
/// The tools of `sigma-tools`.
pub const TOOLS: [&str; 3] = ["test_rule", "list_fields", "search"];

/// Environment-specific parameters (`[params]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigmaParams {
    /// Folder of the data set (`manifest.json` + `tasks.jsonl`); default
    /// `<cache>/datasets/sigma`, where `sv data build sigma` writes.
    pub dataset: Option<String>,
    /// Report `alert_volume` (the candidate's hunt rows on the whole corpus); costs a
    /// second evaluation of rules that fire (default true).
    pub alert_volume: bool,
    /// Divide the reward by the sum of the weights so it lies in [0, 1]. Default false:
    /// the seed's formula verbatim (0.1 + 0.3 + 0.7 = 1.1 at best), so averages compare
    /// with the seed's published scores.
    pub normalize: bool,
    /// Credit the logsource only when the candidate fires on at least one event: a rule
    /// that detects nothing has an unverified logsource claim (default true; this is
    /// what makes an empty or trivial rule score no more than the format part).
    pub logsource_requires_match: bool,
    /// Which question a task's prompt uses: `primary` (one per rule, chosen by the rule
    /// id's hash) or a persona name (`soc_analyst`, `threat_hunter`,
    /// `incident_responder`, `detection_engineer`, `ciso`).
    pub question: String,
    /// How much of the environment the prompt describes: `full` (default: every channel
    /// with its event ids and counts, the field names of every logsource) or `compact`
    /// (channel totals, the field names of categories only; ~4x fewer tokens, for
    /// small-context models such as the embedded one).
    pub context: String,
    /// Longest completion read, in bytes (default 1 MiB); larger ones score 0.
    pub max_completion_bytes: usize,
    /// Longest rule (the fenced YAML) compiled, in bytes (default 512 KiB: SigmaHQ's
    /// largest reference, the vulnerable-driver hash list, is 295 KB).
    pub max_rule_bytes: usize,
    /// Most search identifiers (selections) in a candidate's detection (default 256).
    pub max_selections: usize,
    /// Most values in a candidate after modifier expansion (default 20,000).
    pub max_values: usize,
    /// Wall-clock budget of one candidate's evaluation, in milliseconds (default 2,000).
    pub eval_timeout_ms: u64,
    /// Value tests per candidate evaluation (default 20,000,000).
    pub max_eval_steps: u64,
    /// Sample events `test_rule` returns (default 3).
    pub test_rule_samples: usize,
    /// Sample values per field `list_fields` returns (default 3).
    pub list_fields_samples: usize,
    /// Hits `search` returns (default 5).
    pub search_hits: usize,
    /// Longest tool answer, in bytes; longer ones are cut (default 6,000).
    pub max_tool_output_bytes: usize,
}

impl Default for SigmaParams {
    fn default() -> Self {
        SigmaParams {
            dataset: None,
            alert_volume: true,
            normalize: false,
            logsource_requires_match: true,
            question: "primary".into(),
            context: "full".into(),
            max_completion_bytes: 1 << 20,
            max_rule_bytes: 512 << 10,
            max_selections: 256,
            max_values: 20_000,
            eval_timeout_ms: 2_000,
            max_eval_steps: 20_000_000,
            test_rule_samples: 3,
            list_fields_samples: 3,
            search_hits: 5,
            max_tool_output_bytes: 6_000,
        }
    }
}

impl SigmaParams {
    /// Reads `[params]` of a config (unknown keys are an error that lists the known ones).
    pub fn from_config(c: &EnvConfig) -> Result<SigmaParams, String> {
        let v = serde_json::Value::Object(c.params.clone());
        let p: SigmaParams = serde_json::from_value(v).map_err(|e| format!("[params]: {e}"))?;
        let personas = [
            "primary",
            "soc_analyst",
            "threat_hunter",
            "incident_responder",
            "detection_engineer",
            "ciso",
        ];
        if !personas.contains(&p.question.as_str()) {
            return Err(format!(
                "[params] question = {:?}: use one of {}",
                p.question,
                personas.join(", ")
            ));
        }
        if !["full", "compact"].contains(&p.context.as_str()) {
            return Err(format!(
                "[params] context = {:?}: use full or compact",
                p.context
            ));
        }
        if p.max_completion_bytes == 0 || p.max_rule_bytes == 0 || p.eval_timeout_ms == 0 {
            return Err("[params] limits must be positive".into());
        }
        Ok(p)
    }

    fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                // `null` would not survive a TOML round trip; absent means default.
                m.retain(|_, v| !v.is_null());
                m
            }
            _ => serde_json::Map::new(),
        }
    }
}

/// The seed's weights: `0.1·yaml_valid + 0.3·logsource_correct + 0.7·iou`.
fn seed_weights() -> std::collections::BTreeMap<String, f64> {
    [
        ("yaml_valid", 0.1),
        ("logsource_correct", 0.3),
        ("iou", 0.7),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Defaults of `sigma` (single turn, no tools).
pub fn default_config() -> EnvConfig {
    EnvConfig {
        max_turns: 1,
        max_tool_calls: 0,
        reward_weights: seed_weights(),
        tools: Default::default(),
        params: SigmaParams::default().to_map(),
    }
}

/// Defaults of `sigma-tools`: up to 6 turns and 5 tool calls (the seed allowed one search).
pub fn default_tools_config() -> EnvConfig {
    EnvConfig {
        max_turns: 6,
        max_tool_calls: 5,
        reward_weights: seed_weights(),
        tools: TOOLS.iter().map(|t| (t.to_string(), true)).collect(),
        params: SigmaParams::default().to_map(),
    }
}

/// Validates a merged config for SigmaForge and returns its parameters.
pub fn validate(c: &EnvConfig, with_tools: bool) -> Result<SigmaParams, String> {
    c.check_weights(&COMPONENTS)?;
    c.check_tools(if with_tools { &TOOLS } else { &[] })?;
    SigmaParams::from_config(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_overlay() {
        assert_eq!(
            validate(&default_config(), false).unwrap(),
            SigmaParams::default()
        );
        assert_eq!(default_config().weight("iou"), 0.7);
        let c = EnvConfig::parse_over(
            &default_config(),
            "[reward_weights]\niou = 0.6\n[params]\nnormalize = true\n",
            "toml",
            "t",
        )
        .unwrap();
        let p = validate(&c, false).unwrap();
        assert!(p.normalize);
        assert_eq!(c.weight("iou"), 0.6);
        let bad = EnvConfig::parse_over(&default_config(), "[params]\nquestoin = 1\n", "toml", "t")
            .unwrap();
        assert!(validate(&bad, false)
            .unwrap_err()
            .contains("unknown field `questoin`"));
        let bad = EnvConfig::parse_over(&default_config(), "[tools]\nsearch = true\n", "toml", "t")
            .unwrap();
        assert!(validate(&bad, false)
            .unwrap_err()
            .contains("unknown tool `search`"));
        assert!(validate(&default_tools_config(), true).is_ok());
    }
}
