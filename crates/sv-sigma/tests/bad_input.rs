//! Hostile and broken rules: clear errors within bounded time and memory, never a panic.

use std::time::{Duration, Instant};
use sv_sigma::{Engine, EngineConfig, ErrorKind};

fn engine() -> Engine {
    Engine::new(EngineConfig::default()).unwrap()
}

fn quick<T>(f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    r
}

const HEAD: &str = "title: t\nlogsource: {product: windows, category: process_creation}\n";

#[test]
fn billion_laughs() {
    let mut y = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let prev = (b'a' + i - 1) as char;
        let cur = (b'a' + i) as char;
        y.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let e = quick(|| engine().compile_str(&y, "bomb.yml")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Limit | ErrorKind::Yaml), "{e}");
}

#[test]
fn deep_nesting() {
    let y = format!(
        "{HEAD}detection:\n  s: {}x{}\n  condition: s\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let e = quick(|| engine().compile_str(&y, "deep.yml")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Limit | ErrorKind::Yaml), "{e}");
}

#[test]
fn ten_megabyte_rule() {
    let y = format!(
        "{HEAD}detection:\n  s:\n    CommandLine: '{}'\n  condition: s\n",
        "a".repeat(10 << 20)
    );
    let e = quick(|| engine().compile_str(&y, "big.yml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
}

#[test]
fn thousands_of_selections() {
    let mut y = format!("{HEAD}detection:\n");
    for i in 0..5000 {
        y.push_str(&format!("  s{i}:\n    CommandLine: x{i}\n"));
    }
    y.push_str("  condition: 1 of s*\n");
    let e = quick(|| engine().compile_str(&y, "many.yml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("1000"), "{e}");
}

#[test]
fn catastrophic_regex_is_bounded() {
    // Nested quantifiers: linear in the regex crate; with a back-reference (fancy-regex)
    // the backtrack limit stops it.
    let y = format!("{HEAD}detection:\n  s:\n    CommandLine|re: '^(a+)+\\1$'\n  condition: s\n");
    let r = quick(|| engine().compile_str(&y, "re.yml")).unwrap();
    let store = sv_events::EventStore::from_json_events([serde_json::json!({"Event": {"System": {
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"},
        "EventData": {"CommandLine": format!("{}b", "a".repeat(5000))}}})])
    .unwrap();
    let hits = quick(|| r[0].evaluate(&store)).unwrap();
    assert!(hits.is_empty());
    let huge = format!(
        "{HEAD}detection:\n  s:\n    CommandLine|re: '(a{{1000}}){{1000}}'\n  condition: s\n"
    );
    let e = quick(|| engine().compile_str(&huge, "huge.yml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
}

#[test]
fn regex_on_huge_values() {
    let y = format!("{HEAD}detection:\n  s:\n    CommandLine|re: '.*x.*y.*z'\n  condition: s\n");
    let r = engine().compile_str(&y, "re.yml").unwrap();
    let store = sv_events::EventStore::from_json_events([serde_json::json!({"Event": {"System": {
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"},
        "EventData": {"CommandLine": "x".repeat(4 << 20)}}})])
    .unwrap();
    assert!(quick(|| r[0].evaluate(&store)).unwrap().is_empty());
}

#[test]
fn binary_junk_and_odd_shapes() {
    let e = engine();
    let junk: String = (0..4096u32)
        .map(|i| char::from_u32((i * 7919) % 0xD7FF + 1).unwrap_or('x'))
        .collect();
    assert!(quick(|| e.compile_str(&junk, "junk.yml")).is_err());
    for bad in [
        "",
        "---\n",
        "[]",
        "title: x",
        "title: t\nlogsource: 3\n",
        &format!("{HEAD}detection: 3\n"),
        &format!("{HEAD}detection:\n  s: null\n  condition: s\n"),
        &format!("{HEAD}detection:\n  s: {{A: [[1]]}}\n  condition: s\n"),
        &format!(
            "{HEAD}detection:\n  s: {{A: 1}}\n  condition: '{}'\n",
            "(".repeat(500)
        ),
    ] {
        assert!(quick(|| e.compile_str(bad, "bad.yml")).is_err(), "{bad:?}");
    }
    // not UTF-8 on disk
    let dir = std::env::temp_dir().join(format!("sv-sigma-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bin.yml"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let set = e.load_dirs(std::slice::from_ref(&dir));
    assert_eq!(set.rejected.len(), 1);
    assert_eq!(set.rejected[0].1.kind, ErrorKind::Yaml);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_eq!(e.load_dirs(&[empty]).files, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
