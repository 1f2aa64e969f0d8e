//! `sv eval` through the real binary: argument errors say what to do.

use std::process::Command;

fn sv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sv"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sv");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn list_shows_registered_environments() {
    let (code, stdout, _) = sv(&["eval", "--list"]);
    assert_eq!(code, 0);
    assert!(!stdout.trim().is_empty());
    assert!(
        !stdout.contains("arith"),
        "the test environment is never registered: {stdout}"
    );
}

#[test]
fn unknown_environment_lists_the_known_ones() {
    let (code, _, stderr) = sv(&["eval", "nosuch", "--model", "reference"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown environment `nosuch`; available:"),
        "{stderr}"
    );
}

#[test]
fn missing_model_and_bad_specs_are_explained() {
    let (code, _, stderr) = sv(&["eval", "nosuch"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("give at least one --model"), "{stderr}");
    let (code, _, stderr) = sv(&["eval", "--resume", "/nonexistent/run"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("/nonexistent/run/metadata.json"),
        "{stderr}"
    );
    let (code, _, stderr) = sv(&["eval", "--resume", "/x", "--model", "reference"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
