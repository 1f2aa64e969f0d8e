//! Unit tests of every modifier, escaping rule and condition form, evaluated end to end
//! over small stores built from JSON events (plus the spec's examples).

use serde_json::json;
use sv_events::EventStore;
use sv_sigma::{Engine, EngineConfig, ErrorKind, Semantics};

fn engine(sem: Semantics) -> Engine {
    Engine::new(EngineConfig {
        semantics: sem,
        ..Default::default()
    })
    .unwrap()
}

/// Sysmon process-creation events with the given EventData.
fn store(events: &[serde_json::Value]) -> EventStore {
    EventStore::from_json_events(events.iter().enumerate().map(|(i, d)| {
        json!({"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "EventRecordID": i + 1,
            "Computer": "pc", "TimeCreated": {"#attributes": {"SystemTime": format!("2024-01-01T00:00:{:02}Z", i)}}},
            "EventData": d}})
    }))
    .unwrap()
}

fn rule(det: &str) -> String {
    format!("title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n{det}\nlevel: high\n")
}

/// Matching records (1-based EventRecordIDs) of a detection over events.
fn hits_sem(sem: Semantics, det: &str, events: &[serde_json::Value]) -> Vec<u64> {
    let s = store(events);
    let r = engine(sem)
        .compile_str(&rule(det), "t.yml")
        .unwrap_or_else(|e| panic!("{e}\n{det}"));
    let mut out: Vec<u64> = r[0]
        .evaluate(&s)
        .unwrap()
        .iter()
        .map(|e| s.origins(sv_events::EventIdx(e))[0].record_id)
        .collect();
    out.sort();
    out
}
fn hits(det: &str, events: &[serde_json::Value]) -> Vec<u64> {
    hits_sem(Semantics::Sigma, det, events)
}
fn err(det: &str) -> ErrorKind {
    engine(Semantics::Sigma)
        .compile_str(&rule(det), "t.yml")
        .unwrap_err()
        .kind
}

fn cmd(c: &str) -> serde_json::Value {
    json!({"CommandLine": c, "Image": "C:\\Windows\\System32\\cmd.exe"})
}

#[test]
fn plain_is_case_insensitive_equality() {
    let ev = [cmd("whoami /all"), cmd("WHOAMI /ALL"), cmd("whoami /all x")];
    assert_eq!(
        hits("  s:\n    CommandLine: 'Whoami /All'\n  condition: s", &ev),
        [1, 2]
    );
}

#[test]
fn contains_startswith_endswith() {
    let ev = [cmd("a b c"), cmd("b c"), cmd("a b")];
    assert_eq!(
        hits("  s:\n    CommandLine|contains: ' b '\n  condition: s", &ev),
        [1]
    );
    assert_eq!(
        hits("  s:\n    CommandLine|startswith: 'B'\n  condition: s", &ev),
        [2]
    );
    assert_eq!(
        hits("  s:\n    CommandLine|endswith: 'b'\n  condition: s", &ev),
        [3]
    );
    assert_eq!(
        hits("  s:\n    Image|endswith: '\\cmd.exe'\n  condition: s", &ev),
        [1, 2, 3]
    );
}

#[test]
fn lists_or_and_all() {
    let ev = [cmd("x -a -b"), cmd("x -a"), cmd("x -b")];
    assert_eq!(
        hits(
            "  s:\n    CommandLine|contains:\n      - '-a'\n      - '-b'\n  condition: s",
            &ev
        ),
        [1, 2, 3]
    );
    assert_eq!(
        hits(
            "  s:\n    CommandLine|contains|all:\n      - '-a'\n      - '-b'\n  condition: s",
            &ev
        ),
        [1]
    );
}

#[test]
fn maps_and_list_of_maps() {
    let ev = [
        json!({"A": "1", "B": "2"}),
        json!({"A": "1", "B": "3"}),
        json!({"A": "9", "B": "2"}),
    ];
    assert_eq!(hits("  s:\n    A: 1\n    B: 2\n  condition: s", &ev), [1]);
    assert_eq!(
        hits("  s:\n    - A: 9\n    - B: 3\n  condition: s", &ev),
        [2, 3]
    );
}

#[test]
fn wildcards_and_escapes() {
    let ev = [
        cmd("a*b"),
        cmd("aXb"),
        cmd("a?b"),
        cmd("a\\b"),
        cmd("a\\Xb"),
    ];
    assert_eq!(
        hits("  s:\n    CommandLine: 'a*b'\n  condition: s", &ev),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        hits("  s:\n    CommandLine: 'a?b'\n  condition: s", &ev),
        [1, 2, 3, 4]
    );
    assert_eq!(
        hits("  s:\n    CommandLine: 'a\\*b'\n  condition: s", &ev),
        [1]
    );
    assert_eq!(
        hits("  s:\n    CommandLine: 'a\\?b'\n  condition: s", &ev),
        [3]
    );
    // `\\*`: a backslash then a wildcard
    assert_eq!(
        hits("  s:\n    CommandLine: 'a\\\\*'\n  condition: s", &ev),
        [4, 5]
    );
    // plain backslash
    assert_eq!(
        hits("  s:\n    CommandLine: 'a\\b'\n  condition: s", &ev),
        [4]
    );
}

#[test]
fn null_empty_exists() {
    let ev = [json!({"A": "x"}), json!({"A": ""}), json!({"B": "y"})];
    assert_eq!(hits("  s:\n    A: ''\n  condition: s", &ev), [2]);
    assert_eq!(hits("  s:\n    A: null\n  condition: s", &ev), [2, 3]);
    assert_eq!(
        hits("  s:\n    A|exists: true\n  condition: s", &ev),
        [1, 2]
    );
    assert_eq!(hits("  s:\n    A|exists: false\n  condition: s", &ev), [3]);
}

#[test]
fn numbers_compare_by_value_in_sigma() {
    let ev = [
        json!({"N": 4688}),
        json!({"N": "4688"}),
        json!({"N": "04688"}),
        json!({"N": "4689"}),
    ];
    assert_eq!(hits("  s:\n    N: 4688\n  condition: s", &ev), [1, 2, 3]);
    assert_eq!(hits("  s:\n    N: '4688'\n  condition: s", &ev), [1, 2, 3]);
    // Chainsaw is type-strict: an integer pattern matches only numeric values.
    let ev: Vec<_> = ev.iter().map(|e| json!({"ProcessId": e["N"]})).collect();
    assert_eq!(
        hits_sem(
            Semantics::Chainsaw,
            "  s:\n    ProcessId: 4688\n  condition: s",
            &ev
        ),
        [1]
    );
    // ...and only fields in Chainsaw's mapping resolve at all.
    assert_eq!(
        hits_sem(
            Semantics::Chainsaw,
            "  s:\n    N: 4688\n  condition: s",
            &[json!({"N": 4688})]
        ),
        Vec::<u64>::new()
    );
}

#[test]
fn numeric_comparisons() {
    let ev = [
        json!({"N": "5"}),
        json!({"N": 10}),
        json!({"N": "0x10"}),
        json!({"N": "abc"}),
    ];
    assert_eq!(hits("  s:\n    N|lt: 10\n  condition: s", &ev), [1]);
    assert_eq!(hits("  s:\n    N|lte: 10\n  condition: s", &ev), [1, 2]);
    assert_eq!(hits("  s:\n    N|gt: 5\n  condition: s", &ev), [2, 3]);
    assert_eq!(hits("  s:\n    N|gte: 16\n  condition: s", &ev), [3]);
    assert_eq!(err("  s:\n    N|lt: abc\n  condition: s"), ErrorKind::Value);
}

#[test]
fn regex_and_flags() {
    let ev = [
        cmd("net user admin"),
        cmd("NET USER x"),
        cmd("line1\nnet"),
        cmd("aXXb"),
    ];
    assert_eq!(
        hits(
            "  s:\n    CommandLine|re: 'net\\s+user'\n  condition: s",
            &ev
        ),
        [1]
    );
    assert_eq!(
        hits(
            "  s:\n    CommandLine|re|i: 'net\\s+user'\n  condition: s",
            &ev
        ),
        [1, 2]
    );
    assert_eq!(
        hits("  s:\n    CommandLine|re|m: '^net$'\n  condition: s", &ev),
        [3]
    );
    assert_eq!(
        hits("  s:\n    CommandLine|re: 'line1.net'\n  condition: s", &ev),
        Vec::<u64>::new()
    );
    assert_eq!(
        hits(
            "  s:\n    CommandLine|re|s: 'line1.net'\n  condition: s",
            &ev
        ),
        [3]
    );
    // back-reference: needs fancy-regex
    assert_eq!(
        hits("  s:\n    CommandLine|re: 'a(X)\\1b'\n  condition: s", &ev),
        [4]
    );
    // look-ahead
    assert_eq!(
        hits(
            "  s:\n    CommandLine|re: 'net(?= user)'\n  condition: s",
            &ev
        ),
        [1]
    );
    assert_eq!(
        err("  s:\n    CommandLine|re: 'a(b'\n  condition: s"),
        ErrorKind::Value
    );
    assert_eq!(
        err("  s:\n    CommandLine|i: 'x'\n  condition: s"),
        ErrorKind::Modifier
    );
}

#[test]
fn cidr_v4_v6() {
    let ev = [
        json!({"Ip": "10.1.2.3"}),
        json!({"Ip": "192.168.1.1"}),
        json!({"Ip": "fe80::1"}),
        json!({"Ip": "nope"}),
    ];
    assert_eq!(
        hits("  s:\n    Ip|cidr: 10.0.0.0/8\n  condition: s", &ev),
        [1]
    );
    assert_eq!(
        hits(
            "  s:\n    Ip|cidr:\n      - 192.168.0.0/16\n      - fe80::/10\n  condition: s",
            &ev
        ),
        [2, 3]
    );
    assert_eq!(
        err("  s:\n    Ip|cidr: 10.0.0.0/99\n  condition: s"),
        ErrorKind::Value
    );
}

#[test]
fn base64_and_offsets() {
    // "ping" base64 = cGluZw==
    let ev = [cmd("cGluZw=="), cmd("xx cGluZw== yy"), cmd("nothing")];
    assert_eq!(
        hits("  s:\n    CommandLine|base64: ping\n  condition: s", &ev),
        [1]
    );
    assert_eq!(
        hits(
            "  s:\n    CommandLine|base64|contains: ping\n  condition: s",
            &ev
        ),
        [1, 2]
    );
    // base64offset|contains finds the value at any offset inside an encoded string.
    use base64::Engine as _;
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let ev2 = [
        cmd(&enc("Invoke-Mimikatz")),
        cmd(&enc("xInvoke-Mimikatz")),
        cmd(&enc("xyInvoke-Mimikatz")),
        cmd(&enc("other")),
    ];
    assert_eq!(
        hits(
            "  s:\n    CommandLine|base64offset|contains: Invoke-Mimikatz\n  condition: s",
            &ev2
        ),
        [1, 2, 3]
    );
}

#[test]
fn utf16_variants() {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let le: Vec<u8> = "cmd".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let be: Vec<u8> = "cmd".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let mut bom = vec![0xFF, 0xFE];
    bom.extend(&le);
    let ev = [cmd(&b64(&le)), cmd(&b64(&be)), cmd(&b64(&bom))];
    assert_eq!(
        hits(
            "  s:\n    CommandLine|utf16le|base64: cmd\n  condition: s",
            &ev
        ),
        [1]
    );
    assert_eq!(
        hits(
            "  s:\n    CommandLine|wide|base64: cmd\n  condition: s",
            &ev
        ),
        [1]
    );
    assert_eq!(
        hits(
            "  s:\n    CommandLine|utf16be|base64: cmd\n  condition: s",
            &ev
        ),
        [2]
    );
    assert_eq!(
        hits(
            "  s:\n    CommandLine|utf16|base64: cmd\n  condition: s",
            &ev
        ),
        [3]
    );
}

#[test]
fn windash_all_dash_variants() {
    let ev = [
        cmd("x -enc"),
        cmd("x /enc"),
        cmd("x \u{2013}enc"),
        cmd("x \u{2014}enc"),
        cmd("x \u{2015}enc"),
        cmd("x enc"),
    ];
    assert_eq!(
        hits(
            "  s:\n    CommandLine|windash|contains: ' -enc'\n  condition: s",
            &ev
        ),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn cased_and_neq() {
    let ev = [cmd("Abc"), cmd("abc")];
    assert_eq!(
        hits("  s:\n    CommandLine|cased: Abc\n  condition: s", &ev),
        [1]
    );
    assert_eq!(
        hits("  s:\n    CommandLine|neq: abc\n  condition: s", &ev),
        Vec::<u64>::new()
    );
    assert_eq!(
        hits("  s:\n    CommandLine|neq: xyz\n  condition: s", &ev),
        [1, 2]
    );
}

#[test]
fn fieldref() {
    let ev = [
        json!({"A": "same", "B": "SAME"}),
        json!({"A": "x", "B": "y"}),
        json!({"A": "abc", "B": "b"}),
    ];
    assert_eq!(hits("  s:\n    A|fieldref: B\n  condition: s", &ev), [1]);
    assert_eq!(
        hits("  s:\n    A|fieldref|contains: B\n  condition: s", &ev),
        [1, 3]
    );
}

#[test]
fn expand_placeholders() {
    let ev = [json!({"User": "admin1"}), json!({"User": "bob"})];
    let det = "  s:\n    User|expand: '%Administrators%'\n  condition: s";
    assert_eq!(err(det), ErrorKind::Placeholder);
    let ph = sv_sigma::load_placeholders("Administrators:\n  - 'admin*'\n").unwrap();
    let e = Engine::new(EngineConfig {
        placeholders: Some(ph),
        ..Default::default()
    })
    .unwrap();
    let r = e.compile_str(&rule(det), "t.yml").unwrap();
    let s = store(&ev);
    assert_eq!(r[0].evaluate(&s).unwrap().len(), 1);
}

#[test]
fn keywords() {
    let ev = [
        cmd("run mimikatz now"),
        cmd("other"),
        json!({"X": "sekurlsa::logonpasswords"}),
    ];
    assert_eq!(
        hits(
            "  k:\n    - mimikatz\n    - 'sekurlsa::'\n  condition: k",
            &ev
        ),
        [1, 3]
    );
    assert_eq!(
        hits(
            "  k:\n    '|all':\n      - run\n      - now\n  condition: k",
            &ev
        ),
        [1]
    );
    assert_eq!(
        engine(Semantics::Chainsaw)
            .compile_str(&rule("  k:\n    - mimikatz\n  condition: k"), "t")
            .unwrap_err()
            .kind,
        ErrorKind::Unsupported
    );
}

#[test]
fn conditions() {
    let ev = [
        json!({"A": "1"}),
        json!({"A": "1", "B": "1"}),
        json!({"B": "1"}),
        json!({"C": "1"}),
    ];
    let d = |c: &str| {
        format!("  sel_a:\n    A: 1\n  sel_b:\n    B: 1\n  _f:\n    C: 1\n  condition: {c}")
    };
    assert_eq!(hits(&d("sel_a and not sel_b"), &ev), [1]);
    assert_eq!(hits(&d("sel_a or sel_b and _f"), &ev), [1, 2]);
    assert_eq!(hits(&d("(sel_a or sel_b) and not _f"), &ev), [1, 2, 3]);
    assert_eq!(hits(&d("1 of sel_*"), &ev), [1, 2, 3]);
    assert_eq!(hits(&d("all of sel_*"), &ev), [2]);
    assert_eq!(hits(&d("1 of them"), &ev), [1, 2, 3]); // `_f` excluded
    assert_eq!(hits(&d("all of them"), &ev), [2]);
    assert_eq!(hits(&d("not 1 of sel_*"), &ev), [4]);
    // condition list: OR
    assert_eq!(
        hits(
            "  a:\n    A: 1\n  c:\n    C: 1\n  condition:\n    - a\n    - c",
            &ev
        ),
        [1, 2, 4]
    );
    assert_eq!(err(&d("sel_x")), ErrorKind::Condition);
    assert_eq!(err(&d("1 of nope*")), ErrorKind::Condition);
}

#[test]
fn not_over_missing_field_per_semantics() {
    let ev = [json!({"A": "1"}), json!({"B": "2"})];
    let det = "  s:\n    B: 1\n  condition: not s";
    // Sigma: the missing field makes `s` false, so `not s` is true for event 1 (and 2).
    assert_eq!(hits(det, &ev), [1, 2]);
    // Chainsaw: a missing field stays false under `not`.
    assert_eq!(
        hits_sem(
            Semantics::Chainsaw,
            "  s:\n    Image: 1\n  condition: not s",
            &ev
        ),
        Vec::<u64>::new()
    );
}

#[test]
fn process_creation_security_4688_renames() {
    let s = EventStore::from_json_events([json!({"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
        "EventID": 4688, "Channel": "Security", "EventRecordID": 7},
        "EventData": {"NewProcessName": "C:\\x\\evil.exe", "ParentProcessName": "C:\\p.exe"}}})])
    .unwrap();
    let r = engine(Semantics::Sigma)
        .compile_str(&rule("  s:\n    Image|endswith: '\\evil.exe'\n    ParentImage: 'C:\\p.exe'\n  condition: s"), "t")
        .unwrap();
    assert_eq!(r[0].evaluate(&s).unwrap().len(), 1);
    assert_eq!(r[0].partitions(&s).len(), 1);
}

#[test]
fn errors_carry_positions() {
    let e = engine(Semantics::Sigma)
        .compile_str(&rule("  s:\n    Image|nosuch: x\n  condition: s"), "t")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Modifier);
    assert_eq!((e.line, e.col), (Some(8), Some(5)));
    assert!(e.message.contains("nosuch"));
    let e = engine(Semantics::Sigma)
        .compile_str("title: [unclosed\n", "t")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Yaml);
    assert!(e.line.is_some());
}

#[test]
fn long_contains_lists_use_one_automaton_with_same_results() {
    let ev = [
        cmd("AAA needle7 zzz"),
        cmd("nothing"),
        cmd("x NEEDLE0"),
        cmd("needle99"),
    ];
    let list: String = (0..12).map(|i| format!("      - 'needle{i}'\n")).collect();
    assert_eq!(
        hits(
            &format!("  s:\n    CommandLine|contains:\n{list}  condition: s"),
            &ev
        ),
        [1, 3, 4]
    );
    assert_eq!(
        hits(
            &format!("  s:\n    CommandLine|contains|cased:\n{list}  condition: s"),
            &ev
        ),
        [1, 4]
    );
}
