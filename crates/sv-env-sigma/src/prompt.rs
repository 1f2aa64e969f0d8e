//! The prompt: the analyst's question plus what their environment tells them (which log
//! sources exist with their event ids and volumes, the field names of each Sigma
//! logsource from SigmaHQ's `reference/logsource.json`), and the answer format.
//!
//! The context is the same for every task (it describes the corpus, not the answer), so
//! it is rendered once when the environment is built.

use std::collections::BTreeMap;
use std::path::Path;

use crate::dataset::PartitionCount;

/// Field names per logsource, from SigmaHQ's `tests/logsource.json` (windows part).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsourceFields {
    pub common: Vec<String>,
    pub category: BTreeMap<String, Vec<String>>,
    pub service: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FieldsError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: {1}")]
    Format(String, String),
}

impl LogsourceFields {
    /// Reads `logsource.json` (the `legit.windows` part).
    pub fn load(path: &Path) -> Result<LogsourceFields, FieldsError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FieldsError::Io(name.clone(), e))?;
        Self::parse(&text).map_err(|e| FieldsError::Format(name, e))
    }

    pub fn parse(text: &str) -> Result<LogsourceFields, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let w = v
            .pointer("/legit/windows")
            .ok_or("no legit.windows table")?;
        let list = |v: Option<&serde_json::Value>| -> Vec<String> {
            v.and_then(|x| x.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let table = |key: &str| -> BTreeMap<String, Vec<String>> {
            w.get(key)
                .and_then(|t| t.as_object())
                .map(|m| m.iter().map(|(k, v)| (k.clone(), list(Some(v)))).collect())
                .unwrap_or_default()
        };
        Ok(LogsourceFields {
            common: list(w.get("common")),
            category: table("category"),
            service: table("service"),
        })
    }

    /// Fields of a logsource (its category, else its service), without the common ones.
    pub fn for_logsource(
        &self,
        category: Option<&str>,
        service: Option<&str>,
    ) -> Option<&[String]> {
        match (category, service) {
            (Some(c), _) => self.category.get(c).map(Vec::as_slice),
            (None, Some(s)) => self.service.get(s).map(Vec::as_slice),
            _ => None,
        }
    }
}

/// How much of the environment [`environment_context`] renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every channel with its event ids and counts; the fields of every logsource.
    Full,
    /// Channel totals only; the fields of categories, service names only. The event-id
    /// lists are most of the full context's tokens (tokenizers such as SmolLM2's split
    /// numbers into single digits): ~11,000 characters become ~3,000.
    Compact,
}

/// Renders the environment context: log sources with event ids and counts, then fields.
pub fn environment_context(
    partitions: &[PartitionCount],
    fields: &LogsourceFields,
    detail: Detail,
) -> String {
    let mut by_channel: BTreeMap<&str, Vec<(Option<u32>, u64)>> = BTreeMap::new();
    for p in partitions {
        by_channel
            .entry(p.channel.as_str())
            .or_default()
            .push((p.event_id, p.count));
    }
    let mut s = match detail {
        Detail::Full => {
            String::from("## Log sources in this environment (channel: event id ×count)\n")
        }
        Detail::Compact => String::from("## Log sources in this environment (channel: events)\n"),
    };
    for (ch, mut ids) in by_channel {
        ids.sort();
        let total: u64 = ids.iter().map(|x| x.1).sum();
        let ch = if ch.is_empty() { "(no channel)" } else { ch };
        if detail == Detail::Compact {
            s.push_str(&format!("- {ch}: {total}\n"));
            continue;
        }
        let list = ids
            .iter()
            .map(|(id, n)| match id {
                Some(id) => format!("{id}×{n}"),
                None => format!("?×{n}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!("- {ch} ({total} events): {list}\n"));
    }
    s.push_str("\n## Sigma field names per logsource (product: windows)\n");
    s.push_str(&format!("- common to all: {}\n", fields.common.join(", ")));
    for (c, f) in &fields.category {
        if detail == Detail::Full || !f.is_empty() {
            s.push_str(&format!("- category {c}: {}\n", f.join(", ")));
        }
    }
    match detail {
        Detail::Full => {
            for (c, f) in &fields.service {
                if !f.is_empty() {
                    s.push_str(&format!("- service {c}: {}\n", f.join(", ")));
                }
            }
        }
        Detail::Compact => {
            let names: Vec<&str> = fields.service.keys().map(String::as_str).collect();
            s.push_str(&format!("- services: {}\n", names.join(", ")));
        }
    }
    s
}

/// The system message: the role, the answer format, the context.
pub fn system_message(context: &str, with_tools: bool) -> String {
    let tools = if with_tools {
        "\nBefore answering you may call the tools: `test_rule` runs a draft rule on this environment's logs and \
         tells you what it matches, `list_fields` shows the fields and sample values of a logsource, `search` looks \
         up ATT&CK techniques and Windows/Sysmon event documentation. Tool calls are limited; answer when ready.\n"
    } else {
        ""
    };
    format!(
        "You are a detection engineer. An analyst asks for a detection; write one Sigma rule that fires on exactly \
         the activity they describe in this environment's Windows event logs.\n\
         Answer with exactly one fenced YAML block (```yaml … ```) holding one Sigma rule with `logsource` and \
         `detection` (with a `condition`). Metadata such as title, id, level or tags is optional. Prose around the \
         block is ignored; if you write several blocks, the last one counts.\n{tools}\n{context}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_context() {
        let f = LogsourceFields::parse(
            r#"{"legit":{"windows":{"common":["EventID","Channel"],"category":{"process_creation":["CommandLine","Image"]},"service":{"security":["SubjectUserName"],"empty":[]}}}}"#,
        )
        .unwrap();
        let p = vec![
            PartitionCount {
                channel: "Security".into(),
                event_id: Some(4688),
                count: 7,
            },
            PartitionCount {
                channel: "Security".into(),
                event_id: Some(4624),
                count: 3,
            },
        ];
        assert_eq!(
            environment_context(&p, &f, Detail::Compact),
            "## Log sources in this environment (channel: events)\n\
             - Security: 10\n\n\
             ## Sigma field names per logsource (product: windows)\n\
             - common to all: EventID, Channel\n\
             - category process_creation: CommandLine, Image\n\
             - services: empty, security\n"
        );
        assert_eq!(
            environment_context(&p, &f, Detail::Full),
            "## Log sources in this environment (channel: event id ×count)\n\
             - Security (10 events): 4624×3, 4688×7\n\n\
             ## Sigma field names per logsource (product: windows)\n\
             - common to all: EventID, Channel\n\
             - category process_creation: CommandLine, Image\n\
             - service security: SubjectUserName\n"
        );
        assert_eq!(
            f.for_logsource(None, Some("security")).unwrap(),
            &["SubjectUserName".to_string()]
        );
    }
}
