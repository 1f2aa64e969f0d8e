//! `sv sigma check`: linting a rule like a detection engineer's linter would — YAML and
//! compile errors with positions, plus warnings: fields unknown for the logsource
//! (SigmaHQ's `reference/logsource.json`), unused search identifiers, `|all` on a single
//! value, missing recommended attributes.

use crate::condition::{pattern_matches, Cond};
use crate::engine::Engine;
use crate::error::RuleError;
use crate::rule::{parse_document, RuleDoc};
use crate::yaml::{load_documents, locate_key};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    fn from_error(e: &RuleError) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            line: e.line,
            col: e.col,
            message: format!("{}: {}", e.kind.as_str(), e.message),
        }
    }
}

/// Valid field names per Windows logsource (SigmaHQ `tests/logsource.json`).
#[derive(Debug, Clone, Default)]
pub struct LogsourceFields {
    common: BTreeSet<String>,
    category: BTreeMap<String, BTreeSet<String>>,
    service: BTreeMap<String, BTreeSet<String>>,
}

impl LogsourceFields {
    /// Parses `logsource.json` (`legit` and `addon` tables, product `windows`).
    pub fn from_json(text: &str) -> Result<LogsourceFields, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("logsource.json: {e}"))?;
        let mut out = LogsourceFields::default();
        for table in ["legit", "addon"] {
            let Some(w) = v.get(table).and_then(|t| t.get("windows")) else {
                continue;
            };
            if let Some(c) = w.get("common").and_then(|c| c.as_array()) {
                out.common
                    .extend(c.iter().filter_map(|x| x.as_str().map(String::from)));
            }
            for (kind, dst) in [
                ("category", &mut out.category),
                ("service", &mut out.service),
            ] {
                if let Some(m) = w.get(kind).and_then(|c| c.as_object()) {
                    for (k, list) in m {
                        let set = dst.entry(k.clone()).or_default();
                        if let Some(a) = list.as_array() {
                            set.extend(a.iter().filter_map(|x| x.as_str().map(String::from)));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Loads `sigma/reference/logsource.json` from a data folder.
    pub fn from_data_dir(root: &std::path::Path) -> Result<LogsourceFields, String> {
        let p = root.join("sigma").join("reference").join("logsource.json");
        let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        LogsourceFields::from_json(&t)
    }

    /// The known fields for a category or service, `None` when the logsource is not listed.
    pub fn fields_for(
        &self,
        category: Option<&str>,
        service: Option<&str>,
    ) -> Option<BTreeSet<&str>> {
        let set = match (category, service) {
            (Some(c), _) => self.category.get(c)?,
            (None, Some(s)) => self.service.get(s)?,
            _ => return None,
        };
        Some(
            set.iter()
                .chain(self.common.iter())
                .map(|s| s.as_str())
                .collect(),
        )
    }
}

/// Lints one rule file: compile errors as errors, then warnings.
pub fn lint(
    engine: &Engine,
    yaml: &str,
    path: &str,
    fields: Option<&LogsourceFields>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let limits = &engine.config.limits;
    let docs = match load_documents(yaml, limits) {
        Ok(d) => d,
        Err(e) => return vec![Diagnostic::from_error(&e)],
    };
    if let Err(e) = engine.compile_file(yaml, path) {
        out.push(Diagnostic::from_error(&e));
    }
    for doc in &docs {
        let Ok(RuleDoc::Detection(rule)) = parse_document(doc, path, yaml, limits) else {
            continue;
        };
        let warn = |msg: String, pos: Option<(usize, usize)>| Diagnostic {
            severity: Severity::Warning,
            line: pos.map(|p| p.0),
            col: pos.map(|p| p.1),
            message: msg,
        };
        if rule.id.is_none() {
            out.push(warn("rule has no 'id'".into(), Some((1, 1))));
        }
        if rule.level.is_none() {
            out.push(warn("rule has no 'level'".into(), Some((1, 1))));
        }
        // unused search identifiers
        let names: Vec<&str> = rule
            .detection
            .searches
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let mut used = BTreeSet::new();
        for (_, c) in &rule.detection.conditions {
            collect_used(c, &names, &mut used);
        }
        for s in &rule.detection.searches {
            if !used.contains(s.name.as_str()) {
                out.push(warn(
                    format!(
                        "search identifier '{}' is not used by the condition",
                        s.name
                    ),
                    s.pos,
                ));
            }
        }
        let known = fields.and_then(|f| {
            f.fields_for(
                rule.logsource.category.as_deref(),
                rule.logsource.service.as_deref(),
            )
        });
        for s in &rule.detection.searches {
            for g in &s.groups {
                for spec in g {
                    if spec.modifiers.iter().any(|m| m == "all") && spec.values.len() < 2 {
                        out.push(warn(
                            format!(
                                "'{}': 'all' on a single value (the spec forbids it)",
                                spec.key
                            ),
                            spec.pos,
                        ));
                    }
                    if let (Some(f), Some(known)) = (&spec.field, &known) {
                        if !known.contains(f.as_str()) {
                            out.push(warn(
                                format!(
                                    "field '{f}' is not a known field of logsource {}",
                                    rule.logsource
                                ),
                                spec.pos.or_else(|| locate_key(yaml, &spec.key, 1)),
                            ));
                        }
                    }
                }
            }
        }
    }
    out.sort_by_key(|d| (d.line.unwrap_or(0), d.severity));
    out
}

fn collect_used<'a>(c: &Cond, names: &[&'a str], used: &mut BTreeSet<&'a str>) {
    match c {
        Cond::And(v) | Cond::Or(v) => v.iter().for_each(|x| collect_used(x, names, used)),
        Cond::Not(x) => collect_used(x, names, used),
        Cond::Ident(n) => {
            if let Some(x) = names.iter().find(|x| *x == n) {
                used.insert(x);
            }
        }
        Cond::Of { pattern, .. } => {
            for n in names {
                if pattern_matches(pattern.as_deref(), n) {
                    used.insert(n);
                }
            }
        }
    }
}
