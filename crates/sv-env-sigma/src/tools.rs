//! The tools of `sigma-tools`. None of them sees the task's reference: `test_rule` runs
//! the model's draft over the whole corpus exactly as any analyst could.
//!
//! - `test_rule {rule}`: compiles the draft (same limits as scoring) and reports its
//!   match count per (Channel, EventID) partition, its alert volume and a few sample
//!   events (values cut to 200 characters);
//! - `list_fields {category | service}`: the Sigma field names of that logsource
//!   (SigmaHQ's table) and the fields actually present in the partitions it selects,
//!   with a few sample values each;
//! - `search {query}`: the offline knowledge base (`sv-kb`: ATT&CK techniques, Windows
//!   and Sysmon event documentation).
//!
//! Answers are JSON (search: text), cut to `max_tool_output_bytes`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sv_chat::ToolSpec;
use sv_env::ToolOutput;
use sv_events::EventIdx;

use crate::env::SigmaForge;

/// The tool specs in OpenAI format.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec::function(
            "test_rule",
            "Run a draft Sigma rule (YAML text) over this environment's Windows event logs. Returns how many events it \
             matches per channel/event id and a few sample events.",
            json!({"type":"object","properties":{"rule":{"type":"string","description":"the Sigma rule as YAML"}},"required":["rule"]}),
        ),
        ToolSpec::function(
            "list_fields",
            "List the field names of a Sigma logsource (by category, e.g. process_creation, or service, e.g. security) \
             with sample values seen in this environment.",
            json!({"type":"object","properties":{"category":{"type":"string"},"service":{"type":"string"}}}),
        ),
        ToolSpec::function(
            "search",
            "Search the offline knowledge base: MITRE ATT&CK techniques and Windows/Sysmon event documentation.",
            json!({"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}),
        ),
    ]
}

/// Runs one tool call.
pub fn call(env: &SigmaForge, name: &str, args: &Value) -> ToolOutput {
    let out = match name {
        "test_rule" => test_rule(env, args),
        "list_fields" => list_fields(env, args),
        "search" => search(env, args),
        other => Err(format!(
            "unknown tool `{other}`; tools: test_rule, list_fields, search"
        )),
    };
    match out {
        Ok(text) => ToolOutput::ok(cut(text, env.params.max_tool_output_bytes)),
        Err(e) => ToolOutput::error(cut(e, env.params.max_tool_output_bytes)),
    }
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut i = max;
        while i > 0 && !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
        s.push_str(" …[cut]");
    }
    s
}

fn arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn test_rule(env: &SigmaForge, args: &Value) -> Result<String, String> {
    let rule = arg(args, "rule").ok_or("`rule` (the YAML text) is required")?;
    if rule.len() > env.params.max_rule_bytes {
        return Err(format!(
            "the rule has {} bytes, more than {}",
            rule.len(),
            env.params.max_rule_bytes
        ));
    }
    // Accept a fenced rule too.
    let body = sv_env::parse_completion(rule, None, &sv_env::FenceSpec::yaml())
        .map(|p| p.body)
        .unwrap_or_else(|_| rule.to_string());
    let rules = env
        .engine
        .compile_str(&body, "draft.yml")
        .map_err(|e| format!("invalid rule: {e}"))?;
    if rules.is_empty() {
        return Err("the YAML holds no detection rule".into());
    }
    let store = &env.corpus.store;
    let mut set = sv_events::RoaringBitmap::new();
    for r in &rules {
        set |= r
            .evaluate(store)
            .map_err(|e| format!("evaluation stopped: {e}"))?;
    }
    let selected: u64 = rules
        .iter()
        .flat_map(|r| r.partitions(store))
        .map(|p| p.len() as u64)
        .sum();
    let per_partition: Vec<Value> = env
        .corpus
        .partition_counts_of(&set)
        .into_iter()
        .map(|p| json!({"channel": p.channel, "event_id": p.event_id, "matches": p.count}))
        .collect();
    let samples: Vec<Value> = set
        .iter()
        .take(env.params.test_rule_samples)
        .map(|i| short_event(store.to_json(EventIdx(i))))
        .collect();
    Ok(json!({
        "matches": set.len(),
        "alert_volume": env.corpus.alert_volume(&set),
        "events_in_logsource": selected,
        "per_partition": per_partition,
        "samples": samples,
    })
    .to_string())
}

fn short_event(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if s.chars().count() > 200 => {
                            Value::String(s.chars().take(200).collect::<String>() + "…")
                        }
                        other => other,
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn list_fields(env: &SigmaForge, args: &Value) -> Result<String, String> {
    let category = arg(args, "category");
    let service = arg(args, "service");
    if category.is_none() && service.is_none() {
        return Err(format!(
            "give `category` or `service`; categories: {}; services: {}",
            env.fields
                .category
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            env.fields
                .service
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut ls = String::from("product: windows");
    for (k, v) in [("category", category), ("service", service)] {
        if let Some(v) = v {
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("bad {k} {v:?}"));
            }
            ls.push_str(&format!(", {k}: {v}"));
        }
    }
    let probe = format!(
        "logsource: {{{ls}}}\ndetection:\n  s:\n    EventID|exists: true\n  condition: s\n"
    );
    let documented = env
        .fields
        .for_logsource(category, service)
        .map(<[String]>::to_vec);
    let store = &env.corpus.store;
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut partitions = Vec::new();
    if let Ok(rules) = env.engine.compile_str(&probe, "probe.yml") {
        for r in &rules {
            for p in r.partitions(store) {
                partitions.push(json!({
                    "channel": p.channel.map(|c| store.strings().get(c).to_string()),
                    "event_id": p.event_id,
                    "events": p.len(),
                }));
                for &row in p.row_ids().iter().take(200) {
                    for (k, v) in store.fields(row) {
                        let name = store.strings().get(*k).to_string();
                        let vals = seen.entry(name).or_default();
                        let text: String = store.strings().get(v.sym).chars().take(80).collect();
                        if vals.len() < env.params.list_fields_samples && !vals.contains(&text) {
                            vals.push(text);
                        }
                    }
                }
            }
        }
    }
    if documented.is_none() && partitions.is_empty() {
        return Err(format!("unknown logsource ({ls})"));
    }
    Ok(json!({
        "logsource": ls,
        "documented_fields": documented.unwrap_or_default(),
        "partitions": partitions,
        "fields_seen": seen,
    })
    .to_string())
}

fn search(env: &SigmaForge, args: &Value) -> Result<String, String> {
    let q = arg(args, "query").ok_or("`query` is required")?;
    let kb = env.kb.as_ref().ok_or("search is unavailable")?;
    let hits = kb
        .search(q, env.params.search_hits)
        .map_err(|e| e.to_string())?;
    Ok(sv_kb::render_hits(&hits, kb.attack_notice()))
}
