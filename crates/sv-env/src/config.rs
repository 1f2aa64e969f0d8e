//! Environment configuration as data: reward weights, episode limits, tool toggles and
//! environment-specific parameters, read from a TOML, YAML or JSON file, merged over the
//! environment's defaults, validated, and recorded with every run.
//!
//! A file only lists what it changes:
//!
//! ```toml
//! max_turns = 4
//! max_tool_calls = 3
//! [reward_weights]
//! iou = 0.7
//! [tools]
//! search = false
//! [params]
//! score_timeout_ms = 2000
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::EnvError;

/// The effective configuration of an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Most assistant messages per episode (1 = single turn). Default 1.
    #[serde(default = "one")]
    pub max_turns: u32,
    /// Most tool calls per episode; calls past it get an error reply. Default 0.
    #[serde(default)]
    pub max_tool_calls: u32,
    /// Weight of each reward component. Keys are the environment's component names.
    #[serde(default)]
    pub reward_weights: BTreeMap<String, f64>,
    /// Tool toggles: a tool set to `false` is neither offered nor executed. Tools not
    /// listed are on.
    #[serde(default)]
    pub tools: BTreeMap<String, bool>,
    /// Environment-specific parameters (limits, thresholds, prompt options).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

fn one() -> u32 {
    1
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            max_turns: 1,
            max_tool_calls: 0,
            reward_weights: BTreeMap::new(),
            tools: BTreeMap::new(),
            params: serde_json::Map::new(),
        }
    }
}

impl EnvConfig {
    /// Reads `path` (by extension: `.toml`, `.yaml`/`.yml`, `.json`) and merges it over
    /// `defaults`: tables merge key by key, everything else replaces.
    pub fn load_over(defaults: &EnvConfig, path: &Path) -> Result<EnvConfig, EnvError> {
        let text = std::fs::read_to_string(path).map_err(|e| EnvError::Config {
            source_name: path.display().to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Self::parse_over(defaults, &text, &ext, &path.display().to_string())
    }

    /// Like [`EnvConfig::load_over`] for text in `format` (`toml`, `yaml`, `yml`, `json`).
    pub fn parse_over(
        defaults: &EnvConfig,
        text: &str,
        format: &str,
        source_name: &str,
    ) -> Result<EnvConfig, EnvError> {
        let err = |reason: String| EnvError::Config {
            source_name: source_name.to_string(),
            reason,
        };
        let overlay: serde_json::Value = match format {
            "toml" => toml::from_str::<serde_json::Value>(text).map_err(|e| err(e.to_string()))?,
            "yaml" | "yml" => {
                serde_yaml::from_str::<serde_json::Value>(text).map_err(|e| err(e.to_string()))?
            }
            "json" => serde_json::from_str(text).map_err(|e| err(e.to_string()))?,
            other => {
                return Err(err(format!(
                    "unknown config format {other:?}: use .toml, .yaml, .yml or .json"
                )))
            }
        };
        let overlay = match overlay {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            v @ serde_json::Value::Object(_) => v,
            _ => return Err(err("the top level must be a table/mapping".into())),
        };
        let mut merged = serde_json::to_value(defaults).map_err(|e| err(e.to_string()))?;
        merge(&mut merged, overlay);
        let config: EnvConfig = serde_json::from_value(merged).map_err(|e| err(e.to_string()))?;
        config.validate_common().map_err(err)?;
        Ok(config)
    }

    /// Checks what holds for every environment: at least one turn, finite non-negative
    /// weights.
    pub fn validate_common(&self) -> Result<(), String> {
        if self.max_turns == 0 {
            return Err("max_turns must be at least 1".into());
        }
        for (k, w) in &self.reward_weights {
            if !w.is_finite() || *w < 0.0 {
                return Err(format!("reward weight {k} = {w} must be finite and >= 0"));
            }
        }
        Ok(())
    }

    /// Checks that the weights name exactly the environment's `components`.
    pub fn check_weights(&self, components: &[&str]) -> Result<(), String> {
        for k in self.reward_weights.keys() {
            if !components.contains(&k.as_str()) {
                return Err(format!(
                    "unknown reward component `{k}`; this environment has: {}",
                    components.join(", ")
                ));
            }
        }
        for c in components {
            if !self.reward_weights.contains_key(*c) {
                return Err(format!("reward weight for `{c}` is missing"));
            }
        }
        Ok(())
    }

    /// Checks that every toggled tool exists.
    pub fn check_tools(&self, tools: &[&str]) -> Result<(), String> {
        for k in self.tools.keys() {
            if !tools.contains(&k.as_str()) {
                return Err(format!(
                    "unknown tool `{k}` in [tools]; this environment has: {}",
                    if tools.is_empty() {
                        "none".to_string()
                    } else {
                        tools.join(", ")
                    }
                ));
            }
        }
        Ok(())
    }

    /// Checks that `params` only has keys from `known`.
    pub fn check_params(&self, known: &[&str]) -> Result<(), String> {
        for k in self.params.keys() {
            if !known.contains(&k.as_str()) {
                return Err(format!(
                    "unknown parameter `{k}` in [params]; known: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether tool `name` is switched on.
    pub fn tool_enabled(&self, name: &str) -> bool {
        self.tools.get(name).copied().unwrap_or(true)
    }

    /// Weight of component `name` (0 when absent).
    pub fn weight(&self, name: &str) -> f64 {
        self.reward_weights.get(name).copied().unwrap_or(0.0)
    }

    /// A typed parameter: `default` when absent, an error when present with the wrong type.
    pub fn param<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, String> {
        match self.params.get(key) {
            None => Ok(default),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| format!("parameter `{key}` = {v}: {e}")),
        }
    }

    /// sha256 of the canonical JSON (keys sorted), recorded with runs.
    pub fn sha256(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let text = canonical_json(&value);
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

fn merge(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// JSON with object keys sorted at every level (serde_json's map is a BTreeMap unless
/// `preserve_order` is on; this makes the order explicit either way).
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<&String, serde_json::Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> EnvConfig {
        EnvConfig {
            max_turns: 1,
            max_tool_calls: 0,
            reward_weights: [("a".to_string(), 0.3), ("b".to_string(), 0.7)].into(),
            tools: BTreeMap::new(),
            params: serde_json::json!({"limit": 5, "nested": {"x": 1, "y": 2}})
                .as_object()
                .cloned()
                .unwrap(),
        }
    }

    #[test]
    fn toml_overlay_merges_tables() {
        let c = EnvConfig::parse_over(
            &defaults(),
            "max_turns = 3\n[reward_weights]\nb = 0.5\n[params.nested]\ny = 9\n",
            "toml",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.max_turns, 3);
        assert_eq!(c.weight("a"), 0.3);
        assert_eq!(c.weight("b"), 0.5);
        assert_eq!(c.params["limit"], 5);
        assert_eq!(c.params["nested"], serde_json::json!({"x": 1, "y": 9}));
    }

    #[test]
    fn yaml_and_json_read_the_same() {
        let y = EnvConfig::parse_over(
            &defaults(),
            "max_tool_calls: 2\ntools: {search: false}\n",
            "yml",
            "c",
        )
        .unwrap();
        let j = EnvConfig::parse_over(
            &defaults(),
            r#"{"max_tool_calls":2,"tools":{"search":false}}"#,
            "json",
            "c",
        )
        .unwrap();
        assert_eq!(y, j);
        assert!(!y.tool_enabled("search"));
        assert!(y.tool_enabled("other"));
        assert_eq!(y.sha256(), j.sha256());
        assert_ne!(y.sha256(), defaults().sha256());
    }

    #[test]
    fn bad_configs_are_precise_errors() {
        let cases = [
            ("max_turn = 3", "toml", "unknown field `max_turn`"),
            ("max_turns = 0", "toml", "max_turns must be at least 1"),
            (
                "[reward_weights]\na = -1.0",
                "toml",
                "must be finite and >= 0",
            ),
            ("max_turns = \"x\"", "toml", "invalid type"),
            ("- 1\n- 2", "yaml", "top level must be a table"),
            ("{", "json", "EOF"),
            ("a=1", "ini", "unknown config format"),
        ];
        for (text, fmt, want) in cases {
            let e = EnvConfig::parse_over(&defaults(), text, fmt, "f")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn weight_and_tool_checks() {
        let c = defaults();
        assert!(c.check_weights(&["a", "b"]).is_ok());
        assert!(c
            .check_weights(&["a"])
            .unwrap_err()
            .contains("unknown reward component `b`"));
        assert!(c
            .check_weights(&["a", "b", "c"])
            .unwrap_err()
            .contains("`c` is missing"));
        let mut t = c.clone();
        t.tools.insert("nope".into(), true);
        assert!(t
            .check_tools(&["search"])
            .unwrap_err()
            .contains("unknown tool `nope`"));
        assert!(c.check_params(&["limit"]).unwrap_err().contains("`nested`"));
        assert_eq!(c.param::<u32>("limit", 1).unwrap(), 5);
        assert_eq!(c.param::<u32>("absent", 7).unwrap(), 7);
        assert!(c.param::<String>("limit", String::new()).is_err());
    }
}
