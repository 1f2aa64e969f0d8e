//! The adversarial suite: reward-hacking attempts and hostile input, expanded per task
//! into replay files so `sv eval sigma --model replay:FILE` scores them like any model.
//! The entries and their expected bounds live in `suites/adversarial.yaml`.

use serde::{Deserialize, Serialize};

use crate::meta::LogSource;

const SUITE_YAML: &str = include_str!("../suites/adversarial.yaml");

/// What an entry's reward must stay within.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every task's reward ≤ this.
    pub reward_max: Option<f64>,
    /// Every task's reward ≤ this (alias kept for entries whose mean is bounded separately).
    pub reward_max_per_task: Option<f64>,
    /// The mean IoU over the tasks ≤ this.
    pub iou_mean_max: Option<f64>,
}

/// One adversarial completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub what: String,
    #[serde(default)]
    pub expect: Expect,
    /// Template with `{question}` / `{logsource}` placeholders.
    #[serde(default)]
    pub completion: Option<String>,
    /// A built-in generator for completions too large to write out.
    #[serde(default)]
    pub generator: Option<String>,
}

/// The suite shipped with the crate (`suites/adversarial.yaml`, checked by a unit test).
pub fn suite() -> Result<Vec<Entry>, String> {
    serde_yaml::from_str(SUITE_YAML).map_err(|e| format!("suites/adversarial.yaml: {e}"))
}

/// The reference logsource as a YAML flow mapping (`{product: windows, category: x}`).
pub fn logsource_flow(ls: &LogSource) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &ls.product {
        parts.push(format!("product: {p}"));
    }
    if let Some(c) = &ls.category {
        parts.push(format!("category: {c}"));
    }
    if let Some(s) = &ls.service {
        parts.push(format!("service: {s}"));
    }
    format!("{{{}}}", parts.join(", "))
}

/// The completion of `entry` for a task with this question and reference logsource.
pub fn completion(entry: &Entry, question: &str, logsource: &LogSource) -> String {
    if let Some(g) = &entry.generator {
        return generate(g);
    }
    entry
        .completion
        .as_deref()
        .unwrap_or("")
        .replace("{logsource}", &logsource_flow(logsource))
        .replace("{question}", question)
}

fn fence(body: &str) -> String {
    format!("```yaml\n{body}\n```")
}

fn generate(name: &str) -> String {
    match name {
        "giant_keywords" => {
            let stems = [
                "exe", "dll", "cmd", "powershell", "system32", "windows", "user", "admin", "temp", "http", "tmp",
                "svchost", "explorer", "rundll32", "reg", "net", "sc", "task", "service", "log", "key", "run",
                "\\", "/", ".", "-", "c:", "0", "1", "a", "e", "i", "o", "s", "t",
            ];
            let mut body = String::from("logsource:\n  product: windows\ndetection:\n  keywords:\n");
            for i in 0..2000 {
                let s = stems[i % stems.len()];
                let word = if i < stems.len() { s.to_string() } else { format!("{s}{}", i / stems.len()) };
                body.push_str(&format!("    - '{}'\n", word.replace('\'', "''")));
            }
            body.push_str("  condition: keywords");
            fence(&body)
        }
        "yaml_bomb" => fence(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n\
             b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
             c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
             d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
             e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n\
             f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
             g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n\
             h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n\
             i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n\
             logsource: {product: windows}\n\
             detection:\n  s:\n    CommandLine: *i\n  condition: s",
        ),
        "deep_nesting" => fence(&format!(
            "logsource: {{product: windows}}\ndetection:\n  s:\n    CommandLine: {}x{}\n  condition: s",
            "[".repeat(10_000),
            "]".repeat(10_000)
        )),
        "enormous" => {
            let mut body = String::from("logsource: {product: windows}\ndetection:\n  s:\n    CommandLine|contains:\n");
            while body.len() < 2_000_000 {
                body.push_str("      - 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'\n");
            }
            body.push_str("  condition: s");
            fence(&body)
        }
        "binary" => {
            // Bytes 0x00–0xFF that are valid in a JSON string once decoded as UTF-8 lossily.
            let junk: String = (0u32..4096)
                .map(|i| char::from_u32(i.wrapping_mul(2_654_435_761).wrapping_add(i) % 0xD7FF).unwrap_or('\u{FFFD}'))
                .collect();
            fence(&junk)
        }
        "ten_k_selections" => {
            let mut body = String::from("logsource: {product: windows}\ndetection:\n");
            for i in 0..10_000 {
                body.push_str(&format!("  s{i}:\n    CommandLine|contains: 'x{i}'\n"));
            }
            body.push_str("  condition: 1 of s*");
            fence(&body)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_parses_and_expands() {
        let s = suite().unwrap();
        assert_eq!(s.len(), 18);
        let ls = LogSource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            service: None,
        };
        for e in &s {
            assert!(
                e.completion.is_some() != e.generator.is_some(),
                "{}",
                e.name
            );
            let c = completion(e, "Alert me on X?", &ls);
            if e.name != "empty" {
                assert!(!c.is_empty(), "{}", e.name);
            }
        }
        let by = |n: &str| s.iter().find(|e| e.name == n).unwrap();
        assert_eq!(completion(by("question_copy"), "Q?", &ls), "Q?");
        assert_eq!(
            completion(by("trivial_never"), "Q", &ls),
            "```yaml\nlogsource: {product: windows, category: process_creation}\ndetection:\n  selection:\n    EventID: -1\n  condition: selection\n```"
        );
        assert!(completion(by("enormous"), "", &ls).len() > 2_000_000);
        assert_eq!(
            completion(by("ten_k_selections"), "", &ls)
                .matches("CommandLine")
                .count(),
            10_000
        );
    }
}
