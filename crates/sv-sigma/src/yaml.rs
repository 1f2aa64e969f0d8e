//! Reading rule files: size limits, multi-document YAML, bomb protection, and locating a
//! key in the source text so semantic errors can carry a line and column.

use crate::error::{ErrorKind, RuleError};
use crate::limits::Limits;
use serde::Deserialize;
use serde_yaml::Value;

/// Parses every YAML document of `text` under `limits`.
pub fn load_documents(text: &str, limits: &Limits) -> Result<Vec<Value>, RuleError> {
    if text.len() > limits.max_rule_bytes {
        return Err(RuleError::new(
            ErrorKind::Limit,
            format!(
                "rule file is {} bytes, the limit is {}",
                text.len(),
                limits.max_rule_bytes
            ),
        ));
    }
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        if docs.len() >= limits.max_documents {
            return Err(RuleError::new(
                ErrorKind::Limit,
                format!(
                    "more than {} YAML documents in one file",
                    limits.max_documents
                ),
            ));
        }
        let v = Value::deserialize(de).map_err(yaml_error)?;
        let mut nodes = 0usize;
        check_shape(&v, 0, &mut nodes, limits)?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn yaml_error(e: serde_yaml::Error) -> RuleError {
    let pos = e.location().map(|l| (l.line(), l.column()));
    let msg = e.to_string();
    let kind = if msg.contains("recursion limit") || msg.contains("repetition limit") {
        ErrorKind::Limit
    } else {
        ErrorKind::Yaml
    };
    RuleError::new(kind, format!("invalid YAML: {msg}")).at(pos)
}

fn check_shape(
    v: &Value,
    depth: usize,
    nodes: &mut usize,
    limits: &Limits,
) -> Result<(), RuleError> {
    *nodes += 1;
    if *nodes > limits.max_yaml_nodes {
        return Err(RuleError::new(
            ErrorKind::Limit,
            format!(
                "YAML document has more than {} nodes",
                limits.max_yaml_nodes
            ),
        ));
    }
    if depth > limits.max_yaml_depth {
        return Err(RuleError::new(
            ErrorKind::Limit,
            format!("YAML nesting deeper than {}", limits.max_yaml_depth),
        ));
    }
    match v {
        Value::Sequence(s) => s
            .iter()
            .try_for_each(|x| check_shape(x, depth + 1, nodes, limits)),
        Value::Mapping(m) => m.iter().try_for_each(|(k, x)| {
            check_shape(k, depth + 1, nodes, limits)?;
            check_shape(x, depth + 1, nodes, limits)
        }),
        Value::Tagged(t) => check_shape(&t.value, depth + 1, nodes, limits),
        _ => Ok(()),
    }
}

/// Finds where `key` is defined as a mapping key in `text` (first occurrence at or after
/// `after_line`), as a 1-based (line, column). Used to place semantic errors.
pub fn locate_key(text: &str, key: &str, after_line: usize) -> Option<(usize, usize)> {
    for (i, line) in text.lines().enumerate() {
        if i + 1 < after_line {
            continue;
        }
        let t = line.trim_start();
        let t2 = t.strip_prefix("- ").unwrap_or(t).trim_start();
        for cand in [key.to_string(), format!("'{key}'"), format!("\"{key}\"")] {
            if let Some(rest) = t2.strip_prefix(cand.as_str()) {
                if rest.trim_start().starts_with(':') {
                    let col = line.len() - t2.len() + 1;
                    return Some((i + 1, col));
                }
            }
        }
    }
    None
}

/// Finds the first line containing `needle` at or after `after_line`.
pub fn locate_text(text: &str, needle: &str, after_line: usize) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    for (i, line) in text.lines().enumerate() {
        if i + 1 < after_line {
            continue;
        }
        if let Some(c) = line.find(needle) {
            return Some((i + 1, c + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate() {
        let t = "title: x\ndetection:\n    sel:\n        Image|foo: a\n    condition: sel\n";
        assert_eq!(locate_key(t, "Image|foo", 1), Some((4, 9)));
        assert_eq!(locate_key(t, "condition", 1), Some((5, 5)));
        assert_eq!(locate_key(t, "nothing", 1), None);
    }

    #[test]
    fn syntax_error_has_position() {
        let e = load_documents("title: x\n  bad: [\n", &Limits::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Yaml);
        assert!(e.line.is_some());
    }

    #[test]
    fn multi_documents() {
        let d = load_documents("a: 1\n---\nb: 2\n", &Limits::default()).unwrap();
        assert_eq!(d.len(), 2);
    }
}
