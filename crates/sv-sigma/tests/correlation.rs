//! Correlation rules end to end: multi-document YAML with references by name and id,
//! group-by, timespan, and each correlation type.

use serde_json::json;
use sv_events::EventStore;
use sv_sigma::correlation::evaluate_correlation;
use sv_sigma::{Engine, EngineConfig, ErrorKind};

fn logon(t: u32, user: &str, ok: bool, ip: &str) -> serde_json::Value {
    json!({"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
        "EventID": if ok { 4624 } else { 4625 }, "Channel": "Security", "EventRecordID": t,
        "TimeCreated": {"#attributes": {"SystemTime": format!("2024-01-01T00:{:02}:{:02}Z", t / 60, t % 60)}}},
        "EventData": {"TargetUserName": user, "IpAddress": ip}}})
}

const RULES: &str = r#"
title: Failed logon
name: failed_logon
id: 00000000-0000-0000-0000-000000000001
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4625}
    condition: selection
---
title: Successful logon
name: successful_logon
id: 00000000-0000-0000-0000-000000000002
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4624}
    condition: selection
"#;

fn corr(body: &str) -> String {
    format!("{RULES}---\ntitle: c\nid: 00000000-0000-0000-0000-0000000000ff\ncorrelation:\n{body}")
}

fn run(body: &str, events: &[serde_json::Value]) -> Vec<(Vec<String>, usize)> {
    let e = Engine::new(EngineConfig::default()).unwrap();
    let c = e.compile_file(&corr(body), "c.yml").unwrap();
    assert_eq!(c.rules.len(), 2);
    let store = EventStore::from_json_events(events.iter().cloned()).unwrap();
    evaluate_correlation(&c.correlations[0], &c.rules, &store)
        .unwrap()
        .into_iter()
        .map(|m| (m.group, m.events.len()))
        .collect()
}

fn events() -> Vec<serde_json::Value> {
    vec![
        logon(0, "bob", false, "10.0.0.1"),
        logon(10, "bob", false, "10.0.0.2"),
        logon(20, "bob", false, "10.0.0.3"),
        logon(30, "bob", true, "10.0.0.3"),
        logon(40, "eve", false, "10.0.0.9"),
        logon(500, "bob", false, "10.0.0.1"),
    ]
}

#[test]
fn event_count() {
    let body = "    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 1m\n    condition: {gte: 3}\n";
    assert_eq!(run(body, &events()), vec![(vec!["bob".to_string()], 3)]);
    let body = "    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 10m\n    condition: {gte: 4}\n";
    assert_eq!(run(body, &events()), vec![(vec!["bob".to_string()], 4)]);
}

#[test]
fn value_count() {
    let body = "    type: value_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 1m\n    condition: {field: IpAddress, gte: 3}\n";
    assert_eq!(run(body, &events()), vec![(vec!["bob".to_string()], 3)]);
    let body = "    type: value_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 1m\n    condition: {field: IpAddress, gte: 4}\n";
    assert!(run(body, &events()).is_empty());
}

#[test]
fn temporal_and_ordered() {
    let body = "    type: temporal\n    rules: [failed_logon, 00000000-0000-0000-0000-000000000002]\n    group-by: [TargetUserName]\n    timespan: 15s\n";
    assert_eq!(run(body, &events()), vec![(vec!["bob".to_string()], 2)]);
    let ordered = "    type: temporal_ordered\n    rules: [successful_logon, failed_logon]\n    group-by: [TargetUserName]\n    timespan: 15s\n";
    assert!(
        run(ordered, &events()).is_empty(),
        "success never precedes a failure within 15 s"
    );
    let ordered = "    type: temporal_ordered\n    rules: [failed_logon, successful_logon]\n    group-by: [TargetUserName]\n    timespan: 15s\n";
    assert_eq!(run(ordered, &events()), vec![(vec!["bob".to_string()], 2)]);
}

#[test]
fn malformed_correlations_are_rejected() {
    let e = Engine::new(EngineConfig::default()).unwrap();
    for (body, kind) in [
        (
            "    type: nope\n    rules: [a]\n    timespan: 1m\n",
            ErrorKind::Correlation,
        ),
        (
            "    type: event_count\n    rules: [a]\n    timespan: 1x\n    condition: {gte: 1}\n",
            ErrorKind::Correlation,
        ),
        (
            "    type: event_count\n    rules: [a]\n    timespan: 1m\n",
            ErrorKind::Correlation,
        ),
        (
            "    type: value_count\n    rules: [a]\n    timespan: 1m\n    condition: {gte: 1}\n",
            ErrorKind::Correlation,
        ),
        (
            "    type: value_sum\n    rules: [a]\n    timespan: 1m\n    condition: {gte: 1}\n",
            ErrorKind::Unsupported,
        ),
    ] {
        assert_eq!(
            e.compile_file(&corr(body), "c.yml").unwrap_err().kind,
            kind,
            "{body}"
        );
    }
    // a reference to a rule that is not loaded is an evaluation error
    let c = e.compile_file(&corr("    type: event_count\n    rules: [missing]\n    timespan: 1m\n    condition: {gte: 1}\n"), "c").unwrap();
    let store = EventStore::from_json_events(events()).unwrap();
    assert!(evaluate_correlation(&c.correlations[0], &c.rules, &store).is_err());
}
