//! Reading the JSONL files of the knowledge base, bounded in size, and hashing them
//! (the hash keys the on-disk index cache).

use std::path::Path;

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::KbError;

/// The three data files, in the order they are hashed.
pub(crate) const TECHNIQUES: &str = "attack-techniques.jsonl";
pub(crate) const TACTICS: &str = "attack-tactics.jsonl";
pub(crate) const EVENTS: &str = "events.jsonl";

/// Reads `dir/name`, refusing files above `max_bytes`.
pub(crate) fn read_bounded(dir: &Path, name: &str, max_bytes: u64) -> Result<Vec<u8>, KbError> {
    let path = dir.join(name);
    let meta = std::fs::metadata(&path).map_err(|e| KbError::Io(path.clone(), e))?;
    if meta.len() > max_bytes {
        return Err(KbError::TooLarge {
            path,
            size: meta.len(),
            max: max_bytes,
        });
    }
    std::fs::read(&path).map_err(|e| KbError::Io(path, e))
}

/// Parses one JSON object per non-empty line; errors name the file and line.
pub(crate) fn parse_jsonl<T: DeserializeOwned>(
    name: &str,
    bytes: &[u8],
) -> Result<Vec<T>, KbError> {
    let text = std::str::from_utf8(bytes).map_err(|e| KbError::Parse {
        file: name.to_string(),
        line: 0,
        message: format!("not UTF-8: {e}"),
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(line).map_err(|e| KbError::Parse {
            file: name.to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(row);
    }
    Ok(out)
}

/// sha256 over `(name, length, bytes)` of each input, hex.
pub(crate) fn content_hash(parts: &[(&str, &[u8])]) -> String {
    let mut h = Sha256::new();
    for (name, bytes) in parts {
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Removes ATT&CK's `(Citation: …)` markers, which are noise in search text and snippets.
pub(crate) fn strip_citations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("(Citation:") {
        out.push_str(&rest[..pos]);
        match rest[pos..].find(')') {
            Some(end) => rest = &rest[pos + end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Collapse the doubled spaces the removal leaves behind.
    let mut collapsed = String::with_capacity(out.len());
    let mut prev_space = false;
    for c in out.chars() {
        if c == ' ' {
            if !prev_space {
                collapsed.push(c);
            }
            prev_space = true;
        } else {
            collapsed.push(c);
            prev_space = false;
        }
    }
    collapsed.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_are_removed() {
        assert_eq!(
            strip_citations("Adversaries may dump.(Citation: A B) Then (Citation: C) more."),
            "Adversaries may dump. Then more."
        );
        assert_eq!(strip_citations("x (Citation: never closed"), "x");
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        #[derive(Debug, serde::Deserialize)]
        struct R {
            #[allow(dead_code)]
            a: u32,
        }
        let err = parse_jsonl::<R>("f.jsonl", b"{\"a\":1}\n\n{\"a\":\"x\"}\n").unwrap_err();
        match err {
            KbError::Parse { file, line, .. } => assert_eq!((file.as_str(), line), ("f.jsonl", 3)),
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn hash_depends_on_boundaries() {
        assert_ne!(
            content_hash(&[("a", b"xy"), ("b", b"")]),
            content_hash(&[("a", b"x"), ("b", b"y")])
        );
    }
}
