//! The no-leakage contract of the questions: a question says what an analyst would say,
//! never the answer. A question leaks when it contains
//!
//! - a detection value of the rule (case-insensitive substring, after trimming spaces
//!   and Sigma wildcards) that is at least [`LeakPolicy::min_value_len`] characters long,
//!   or one that looks like syntax rather than a word (contains `\`, `/`, `=`, `:`, or is
//!   a `-flag`) and is at least [`LeakPolicy::min_syntax_len`] long. Tool, file and
//!   product names (`PowerShell`, `driverquery.exe`, `ScreenConnect`) and event ids
//!   (`4688`) are what analysts say, so they pass when shorter than the plain limit;
//! - a detection field name that is a schema identifier (`CommandLine`, `TargetObject`,
//!   `Provider_Name`: internal capitals, digits, `_`, `.` or `-`) as a whole word,
//!   case-insensitively. Field names that are plain English words (`Image`, `User`,
//!   `Data`) are not leaks: "the user" or "Data Destruction" reveal no schema;
//! - Sigma or regex syntax: `*`, `|`, `\`, `^`, `$`, braces, brackets, backticks, a `?`
//!   inside a word, or the words `condition:`/`selection`/`logsource:`/`detection:`.

use crate::meta::RuleMeta;

/// Thresholds of the leakage check (documented defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeakPolicy {
    /// Plain detection values this long or longer must not appear (default 16).
    pub min_value_len: usize,
    /// Values that look like syntax (paths, flags, `k=v`) this long or longer must not appear (default 3).
    pub min_syntax_len: usize,
}

impl Default for LeakPolicy {
    fn default() -> Self {
        LeakPolicy {
            min_value_len: 16,
            min_syntax_len: 3,
        }
    }
}

/// One reason a text leaks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", content = "what", rename_all = "snake_case")]
pub enum Leak {
    Value(String),
    Field(String),
    Syntax(String),
}

const SYNTAX_CHARS: &[char] = &['*', '|', '\\', '^', '$', '{', '}', '[', ']', '`', '<', '>'];
const SYNTAX_WORDS: &[&str] = &[
    "condition:",
    "selection",
    "logsource:",
    "detection:",
    "|contains",
    "|endswith",
];

/// Every leak of `text` against `rule`, sorted and deduplicated.
pub fn check(text: &str, rule: &RuleMeta, policy: &LeakPolicy) -> Vec<Leak> {
    let mut leaks = Vec::new();
    let lower = text.to_lowercase();
    for v in &rule.detection_values {
        let core = v.trim_matches(|c: char| c == '*' || c.is_whitespace());
        let n = core.chars().count();
        let syntax_like =
            core.contains(['\\', '/', '=', ':']) || v.contains(" -") || v.starts_with('-');
        let long_enough = n >= policy.min_value_len || (syntax_like && n >= policy.min_syntax_len);
        if long_enough && lower.contains(&core.to_lowercase()) {
            leaks.push(Leak::Value(v.clone()));
        }
    }
    for f in rule.detection_fields.iter().filter(|f| is_identifier(f)) {
        if contains_word(&lower, &f.to_lowercase()) {
            leaks.push(Leak::Field(f.clone()));
        }
    }
    if let Some(c) = text.chars().find(|c| SYNTAX_CHARS.contains(c)) {
        leaks.push(Leak::Syntax(c.to_string()));
    }
    for w in SYNTAX_WORDS {
        if lower.contains(w) {
            leaks.push(Leak::Syntax((*w).to_string()));
        }
    }
    // A `?` is punctuation at the end of a sentence; inside a token it is a wildcard.
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == '?'
            && chars
                .get(i + 1)
                .is_some_and(|n| !n.is_whitespace() && !"\"')".contains(*n))
        {
            leaks.push(Leak::Syntax("?".into()));
            break;
        }
    }
    leaks.sort();
    leaks.dedup();
    leaks
}

/// A schema identifier rather than an English word: `CommandLine`, `Provider_Name`, `Hash.MD5`.
pub fn is_identifier(field: &str) -> bool {
    field
        .chars()
        .skip(1)
        .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        || field.contains(['_', '.', '-'])
}

/// Rewrites the rule's identifier field names in `text` as the words an analyst says
/// (`CommandLine` → "command line", `Provider_Name` → "provider name").
pub fn soften_fields(text: &str, rule: &RuleMeta) -> String {
    let mut out = text.to_string();
    for f in rule.detection_fields.iter().filter(|f| is_identifier(f)) {
        let words = spaced(f);
        // ASCII lower-casing keeps byte offsets, so indices into `lower` are valid in `out`.
        let lower_f = f.to_ascii_lowercase();
        let mut result = String::with_capacity(out.len());
        let lower = out.to_ascii_lowercase();
        let mut last = 0;
        let is_ident = |c: char| c.is_alphanumeric() || c == '_';
        for (i, _) in lower.match_indices(&lower_f) {
            let before = lower[..i].chars().next_back();
            let after = lower[i + lower_f.len()..].chars().next();
            if i < last {
                continue;
            }
            if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
                continue;
            }
            result.push_str(&out[last..i]);
            result.push_str(&words);
            last = i + lower_f.len();
        }
        result.push_str(&out[last..]);
        out = result;
    }
    out
}

/// `CommandLine` → "command line", `Provider_Name` → "provider name".
fn spaced(field: &str) -> String {
    let mut s = String::new();
    let mut prev_lower = false;
    for c in field.chars() {
        if c == '_' || c == '.' || c == '-' {
            s.push(' ');
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            s.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        s.extend(c.to_lowercase());
    }
    s
}

/// Whether `word` occurs in `text` delimited by non-identifier characters.
fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> RuleMeta {
        RuleMeta::parse(
            r#"
title: t
id: i
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\procdump.exe'
        CommandLine|contains: ['sekurlsa::logonpasswords', ' -ma ', 'whoami']
        User: 'SYSTEM'
    condition: selection
"#,
        )
        .unwrap()
    }

    #[test]
    fn analyst_language_passes() {
        let q = "Alert me when someone dumps LSASS memory with procdump or runs whoami as the SYSTEM User?";
        assert_eq!(check(q, &rule(), &LeakPolicy::default()), vec![]);
    }

    #[test]
    fn copied_values_fields_and_syntax_leak() {
        let p = LeakPolicy::default();
        let r = rule();
        assert_eq!(
            check("flag SEKURLSA::LogonPasswords usage", &r, &p),
            vec![Leak::Value("sekurlsa::logonpasswords".into())]
        );
        assert_eq!(
            check("look for procdump -ma lsass", &r, &p),
            vec![Leak::Value("-ma".into())]
        );
        assert_eq!(
            check("ends with \\procdump.exe", &r, &p),
            vec![
                Leak::Value("\\procdump.exe".into()),
                Leak::Syntax("\\".into())
            ]
        );
        assert_eq!(
            check("match on the commandline", &r, &p),
            vec![Leak::Field("CommandLine".into())]
        );
        assert_eq!(check("check the Image", &r, &p), vec![]);
        assert_eq!(
            soften_fields("Base64 in CommandLine, commandline.", &r),
            "Base64 in command line, command line."
        );
        assert_eq!(
            check("run proc*.exe", &r, &p),
            vec![Leak::Syntax("*".into())]
        );
        assert_eq!(
            check("run proc?.exe", &r, &p),
            vec![Leak::Syntax("?".into())]
        );
        assert_eq!(
            check("use a selection", &r, &p),
            vec![Leak::Syntax("selection".into())]
        );
    }
}
