//! `sv model` through the real binary with the embedded SmolLM2: exact greedy answers
//! from `sv model chat` (default and f32 reference decode agree), and argument errors.
//!
//! Needs the weights (`scripts/setup` installs them; CI runs it); without them the
//! model tests print why they skipped and pass.

use std::process::{Command, Output};

fn sv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sv"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sv")
}

fn weights_present() -> bool {
    let p = sv_models::embedded::weights::default_weights_path();
    if !p.is_file() {
        eprintln!(
            "SKIPPED: embedded model weights not found at {} (run scripts/setup)",
            p.display()
        );
        return false;
    }
    true
}

#[test]
fn chat_prints_the_exact_greedy_answer() {
    if !weights_present() {
        return;
    }
    let out = sv(&[
        "model",
        "chat",
        "What is the capital of France?",
        "--max-tokens",
        "24",
        "--no-cache",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "The capital of France is Paris.\n"
    );
    // The usage line goes to stderr: 37 prompt tokens, 7 generated.
    assert!(
        stderr.contains("model smollm2-135m-instruct-q4_1 · 37 prompt + 7 completion tokens"),
        "{stderr}"
    );
}

#[test]
fn chat_with_a_system_prompt() {
    if !weights_present() {
        return;
    }
    let out = sv(&[
        "model",
        "chat",
        "What is 2 + 2?",
        "--system",
        "Answer with a single number.",
        "--max-tokens",
        "8",
        "--no-cache",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 8 tokens: the model starts to reason instead of obeying; greedy, so exact.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "To solve this problem, we need to\n"
    );
}

#[test]
fn bad_arguments_are_explained() {
    let out = sv(&["bench", "model", "--precision", "q2"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown precision \"q2\" (expected q4_1 or f32)"),
        "{stderr}"
    );
    let out = sv(&["model", "serve", "--host", "0.0.0.0", "--port", "0"]);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}
