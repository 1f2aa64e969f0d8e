//! Sigma generic log-source categories per Windows event, read from SigmaHQ's
//! `thor.yml` (`../shared/data/sigma/reference/thor.yml`): a category entry names the
//! service it is rewritten to and the `EventID`s it covers; a service entry names its
//! event-log channels. Joining the two says e.g. that Sysmon/Operational event 1 is
//! `category: process_creation`, which is what a rule author needs to write.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::KbError;

/// `(lower-cased channel, event id)` → categories, sorted and deduplicated.
pub(crate) type CategoryMap = BTreeMap<(String, u32), BTreeSet<String>>;

pub(crate) fn parse(text: &str) -> Result<CategoryMap, KbError> {
    let doc: Value = serde_yaml::from_str(text)
        .map_err(|e| KbError::Mapping(format!("thor.yml is not valid YAML: {e}")))?;
    let sources = doc
        .get("logsources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| KbError::Mapping("thor.yml has no `logsources` mapping".into()))?;

    // service → channels
    let mut channels: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in sources.values() {
        let (Some(service), Some(srcs)) = (
            entry.get("service").and_then(Value::as_str),
            entry.get("sources").and_then(Value::as_sequence),
        ) else {
            continue;
        };
        if entry.get("category").is_some() {
            continue;
        }
        for s in srcs.iter().filter_map(Value::as_str) {
            if let Some(ch) = s.strip_prefix("WinEventLog:") {
                channels
                    .entry(service.to_string())
                    .or_default()
                    .push(ch.to_ascii_lowercase());
            }
        }
    }

    let mut map = CategoryMap::new();
    for entry in sources.values() {
        let Some(category) = entry.get("category").and_then(Value::as_str) else {
            continue;
        };
        let Some(service) = entry
            .get("rewrite")
            .and_then(|r| r.get("service"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let ids: Vec<u32> = match entry.get("conditions").and_then(|c| c.get("EventID")) {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .into_iter()
                .collect(),
            Some(Value::Sequence(seq)) => seq
                .iter()
                .filter_map(|v| v.as_u64().and_then(|v| u32::try_from(v).ok()))
                .collect(),
            _ => Vec::new(),
        };
        for ch in channels.get(service).into_iter().flatten() {
            for id in &ids {
                map.entry((ch.clone(), *id))
                    .or_default()
                    .insert(category.to_string());
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_category_and_service_entries() {
        let y = r#"
logsources:
    process_creation_1:
        category: process_creation
        product: windows
        conditions:
            EventID: 1
        rewrite:
            product: windows
            service: sysmon
    registry:
        category: registry_event
        product: windows
        conditions:
            EventID: [12, 13, 14]
        rewrite:
            product: windows
            service: sysmon
    windows-sysmon:
        product: windows
        service: sysmon
        sources:
            - "WinEventLog:Microsoft-Windows-Sysmon/Operational"
"#;
        let m = parse(y).unwrap();
        let ch = "microsoft-windows-sysmon/operational".to_string();
        assert_eq!(
            m.get(&(ch.clone(), 1)).unwrap().iter().collect::<Vec<_>>(),
            vec!["process_creation"]
        );
        assert_eq!(m.len(), 4);
        assert!(m.contains_key(&(ch, 13)));
    }

    #[test]
    fn rejects_non_yaml() {
        assert!(matches!(parse("a: [").unwrap_err(), KbError::Mapping(_)));
        assert!(matches!(parse("x: 1").unwrap_err(), KbError::Mapping(_)));
    }
}
