//! `sv_sigma::lint`: exact diagnostics (severity, line, column, message) on a real SigmaHQ
//! rule and on broken ones, with the field table of `../shared/data/sigma/reference/logsource.json`.

use std::sync::OnceLock;
use sv_sigma::lint::{lint, Diagnostic, LogsourceFields, Severity};
use sv_sigma::{Engine, EngineConfig};

fn data() -> std::path::PathBuf {
    sv_data::DataDir::resolve(None).expect("data folder").root
}

fn fields() -> &'static LogsourceFields {
    static F: OnceLock<LogsourceFields> = OnceLock::new();
    F.get_or_init(|| LogsourceFields::from_data_dir(&data()).expect("logsource.json"))
}

fn run(yaml: &str) -> Vec<(Severity, Option<usize>, Option<usize>, String)> {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    lint(&engine, yaml, "t.yml", Some(fields()))
        .into_iter()
        .map(|d: Diagnostic| (d.severity, d.line, d.col, d.message))
        .collect()
}

fn show(v: &[(Severity, Option<usize>, Option<usize>, String)]) {
    for d in v {
        eprintln!("{d:?}");
    }
}

const HEAD: &str = "title: t\nid: 5f6b1c2a-0000-4000-8000-000000000001\nlevel: high\nlogsource:\n    category: process_creation\n    product: windows\n";

#[test]
fn real_rule_is_clean() {
    let p = data().join(
        "sigma/rules/windows/process_creation/proc_creation_win_7zip_password_compression.yml",
    );
    let y = std::fs::read_to_string(p).unwrap();
    let d = run(&y);
    show(&d);
    assert_eq!(d, vec![]);
}

#[test]
fn unknown_field_for_logsource() {
    let y = format!("{HEAD}detection:\n    sel:\n        CommandLine|contains: 'x'\n        ProcessCommandLine: 'y'\n    condition: sel\n");
    let d = run(&y);
    show(&d);
    assert_eq!(
        d,
        vec![(
            Severity::Warning,
            Some(10),
            Some(9),
            "field 'ProcessCommandLine' is not a known field of logsource product=windows category=process_creation".to_string()
        )]
    );
    // Without the field table there is nothing to check the field against.
    let engine = Engine::new(EngineConfig::default()).unwrap();
    assert_eq!(lint(&engine, &y, "t.yml", None), vec![]);
}

#[test]
fn unknown_modifier() {
    let y = format!(
        "{HEAD}detection:\n    sel:\n        CommandLine|contians: 'x'\n    condition: sel\n"
    );
    let d = run(&y);
    show(&d);
    assert_eq!(
        d,
        vec![(
            Severity::Error,
            Some(9),
            Some(9),
            "modifier: 'CommandLine|contians': unknown modifier 'contians'".to_string()
        )]
    );
}

#[test]
fn unused_selection_and_missing_attributes() {
    let y = "title: t\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n    filter:\n        User: 'SYSTEM'\n    condition: sel\n";
    let d = run(y);
    show(&d);
    assert_eq!(
        d,
        vec![
            (
                Severity::Warning,
                Some(1),
                Some(1),
                "rule has no 'id'".to_string()
            ),
            (
                Severity::Warning,
                Some(1),
                Some(1),
                "rule has no 'level'".to_string()
            ),
            (
                Severity::Warning,
                Some(8),
                Some(5),
                "search identifier 'filter' is not used by the condition".to_string()
            ),
        ]
    );
}

#[test]
fn yaml_error_position() {
    let y = format!("{HEAD}detection:\n    sel:\n        Image: [a, b\n    condition: sel\n");
    let d = run(&y);
    show(&d);
    assert_eq!(
        d,
        vec![(
            Severity::Error,
            Some(10),
            Some(14),
            "yaml: invalid YAML: did not find expected ',' or ']' at line 10 column 14, while parsing a flow sequence at line 9 column 16".to_string()
        )]
    );
}

#[test]
fn all_on_single_value() {
    let y = format!(
        "{HEAD}detection:\n    sel:\n        CommandLine|contains|all: 'x'\n    condition: sel\n"
    );
    let d = run(&y);
    show(&d);
    assert_eq!(
        d,
        vec![(
            Severity::Warning,
            Some(9),
            Some(9),
            "'CommandLine|contains|all': 'all' on a single value (the spec forbids it)".to_string()
        )]
    );
}
