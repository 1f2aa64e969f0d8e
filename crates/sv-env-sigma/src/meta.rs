//! What a SigmaHQ rule says about itself: the metadata the questions are written from,
//! and the detection vocabulary (field names, values) that a question must never reveal.
//!
//! The engine (`sv-sigma`) owns compiling and running a rule; this module only reads the
//! descriptive parts and collects the detection's words for the leakage check, so it
//! walks the YAML tree without interpreting modifiers or conditions.

use serde_yaml::Value;
use std::collections::BTreeSet;

/// The `logsource` block of a rule (only the keys that select events).
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct LogSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl LogSource {
    /// `product/category/service` with `-` for missing parts: a stable key for grouping.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.product.as_deref().unwrap_or("-"),
            self.category.as_deref().unwrap_or("-"),
            self.service.as_deref().unwrap_or("-")
        )
    }
}

/// Metadata and detection vocabulary of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: Option<String>,
    pub level: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub logsource: LogSource,
    /// Field names used in the detection (modifiers stripped), e.g. `CommandLine`.
    pub detection_fields: BTreeSet<String>,
    /// Every string value in the detection (selection values and keywords), as written.
    pub detection_values: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetaError {
    #[error("rule is not valid YAML: {0}")]
    Yaml(String),
    #[error("rule is not a YAML mapping")]
    NotMapping,
    #[error("rule has no `{0}`")]
    Missing(&'static str),
}

impl RuleMeta {
    /// Reads the metadata of one rule document.
    pub fn parse(yaml: &str) -> Result<RuleMeta, MetaError> {
        let doc: Value = serde_yaml::from_str(yaml).map_err(|e| MetaError::Yaml(e.to_string()))?;
        let map = doc.as_mapping().ok_or(MetaError::NotMapping)?;
        let get = |k: &str| map.get(Value::String(k.to_string()));
        let text = |k: &str| get(k).and_then(scalar_text);
        let list = |k: &str| match get(k) {
            Some(Value::Sequence(items)) => items.iter().filter_map(scalar_text).collect(),
            Some(v) => scalar_text(v).into_iter().collect(),
            None => Vec::new(),
        };
        let id = text("id").ok_or(MetaError::Missing("id"))?;
        let title = text("title").ok_or(MetaError::Missing("title"))?;
        let logsource = match get("logsource") {
            Some(Value::Mapping(ls)) => {
                let f = |k: &str| ls.get(Value::String(k.to_string())).and_then(scalar_text);
                LogSource {
                    product: f("product"),
                    category: f("category"),
                    service: f("service"),
                }
            }
            _ => return Err(MetaError::Missing("logsource")),
        };
        let detection = get("detection").ok_or(MetaError::Missing("detection"))?;
        let mut detection_fields = BTreeSet::new();
        let mut detection_values = BTreeSet::new();
        if let Value::Mapping(d) = detection {
            for (name, body) in d {
                if name.as_str() == Some("condition") || name.as_str() == Some("timeframe") {
                    continue;
                }
                collect_detection(body, &mut detection_fields, &mut detection_values, 0);
            }
        }
        Ok(RuleMeta {
            id,
            title,
            description: text("description").unwrap_or_default(),
            status: text("status"),
            level: text("level"),
            author: text("author"),
            tags: list("tags"),
            falsepositives: list("falsepositives"),
            logsource,
            detection_fields,
            detection_values,
        })
    }

    /// ATT&CK technique ids from the tags (`attack.t1003.001` → `T1003.001`), in tag order.
    pub fn techniques(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack.t"))
            .filter(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(|rest| format!("T{}", rest))
            .collect()
    }

    /// ATT&CK tactic short names from the tags (`attack.credential-access`).
    pub fn tactics(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack."))
            .filter(|rest| {
                !rest.starts_with('t') || !rest[1..].starts_with(|c: char| c.is_ascii_digit())
            })
            .filter(|rest| {
                !rest.starts_with('g') || !rest[1..].starts_with(|c: char| c.is_ascii_digit())
            })
            .filter(|rest| {
                !rest.starts_with('s') || !rest[1..].starts_with(|c: char| c.is_ascii_digit())
            })
            .map(str::to_string)
            .collect()
    }
}

/// Nesting deeper than this is not a Sigma detection; stop walking (bounded work).
const MAX_DEPTH: usize = 16;

fn collect_detection(
    v: &Value,
    fields: &mut BTreeSet<String>,
    values: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Mapping(m) => {
            for (k, body) in m {
                if let Some(k) = k.as_str() {
                    let field = k.split('|').next().unwrap_or(k).trim();
                    if !field.is_empty() {
                        fields.insert(field.to_string());
                    }
                }
                collect_detection(body, fields, values, depth + 1);
            }
        }
        Value::Sequence(items) => {
            for item in items {
                collect_detection(item, fields, values, depth + 1);
            }
        }
        Value::Tagged(t) => collect_detection(&t.value, fields, values, depth + 1),
        other => {
            if let Some(s) = scalar_text(other) {
                values.insert(s);
            }
        }
    }
}

/// A scalar as text (numbers and booleans as YAML writes them); `None` for null/collections.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCDUMP: &str = r#"
title: Potential LSASS Process Dump Via Procdump
id: 5afee48e-67dd-4e03-a783-f74259dcf998
description: |
    Detects potential credential harvesting.
tags:
    - attack.stealth
    - attack.t1036
    - attack.credential-access
    - attack.t1003.001
    - car.2013-05-009
logsource:
    category: process_creation
    product: windows
detection:
    selection_flags:
        CommandLine|contains|windash:
            - ' -ma '
    selection_process:
        CommandLine|contains:
            - ' ls'
        EventID: 1
    condition: all of selection_*
falsepositives:
    - Unlikely
level: high
"#;

    #[test]
    fn reads_metadata_and_detection_vocabulary() {
        let m = RuleMeta::parse(PROCDUMP).unwrap();
        assert_eq!(m.id, "5afee48e-67dd-4e03-a783-f74259dcf998");
        assert_eq!(m.techniques(), vec!["T1036", "T1003.001"]);
        assert_eq!(m.tactics(), vec!["stealth", "credential-access"]);
        assert_eq!(m.logsource.key(), "windows/process_creation/-");
        assert_eq!(
            m.detection_fields.iter().collect::<Vec<_>>(),
            vec!["CommandLine", "EventID"]
        );
        assert_eq!(
            m.detection_values.iter().collect::<Vec<_>>(),
            vec!["-ma", "1", "ls"]
        );
    }

    #[test]
    fn rejects_non_rules() {
        assert!(matches!(
            RuleMeta::parse("- a\n- b"),
            Err(MetaError::NotMapping)
        ));
        assert!(matches!(
            RuleMeta::parse("title: x\nid: y\n"),
            Err(MetaError::Missing("logsource"))
        ));
        assert!(matches!(RuleMeta::parse("a: [b"), Err(MetaError::Yaml(_))));
    }
}
