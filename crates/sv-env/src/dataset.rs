//! Dataset manifests: what a task file is, where it came from, and its sha256, so a run
//! records exactly which data it was scored on and a stale file is caught before use.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::env::Task;
use crate::error::EnvError;

/// One upstream a data set was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSource {
    /// Short name, e.g. `SigmaHQ rules`.
    pub name: String,
    /// Where it lives: `owner/repo@commit:path`, `package@version`, or a URL.
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// SPDX identifier or a short text (e.g. `DRL-1.1`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

/// The manifest that sits next to a task file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// Data set name (usually the environment name).
    pub name: String,
    /// Data set version (bumped when the builder changes its output).
    pub version: String,
    /// File name of the task file, relative to the manifest.
    pub task_file: String,
    /// sha256 (lowercase hex) of the task file's bytes.
    pub sha256: String,
    /// Number of tasks.
    pub tasks: usize,
    /// Tasks per split.
    #[serde(default)]
    pub splits: BTreeMap<String, usize>,
    #[serde(default)]
    pub sources: Vec<DataSource>,
    /// Versions of what built it (builder, engine, corpus hash, …).
    #[serde(default)]
    pub generator: BTreeMap<String, String>,
}

impl DatasetManifest {
    /// Reads a manifest (JSON).
    pub fn load(path: &Path) -> Result<DatasetManifest, EnvError> {
        let text = std::fs::read_to_string(path).map_err(|e| EnvError::file(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| EnvError::file(path, format!("not a dataset manifest: {e}")))
    }

    /// Checks that `task_file` hashes to the manifest's sha256; `hint` says how to rebuild.
    pub fn verify(&self, task_file: &Path, hint: &str) -> Result<(), EnvError> {
        let actual = sha256_file(task_file).map_err(|e| EnvError::Data {
            what: format!("cannot read task file {}: {e}", task_file.display()),
            hint: hint.to_string(),
        })?;
        if actual != self.sha256 {
            return Err(EnvError::DatasetHash {
                path: task_file.to_path_buf(),
                expected: self.sha256.clone(),
                actual,
                hint: hint.to_string(),
            });
        }
        Ok(())
    }
}

/// sha256 of a file, lowercase hex, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// sha256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a JSONL task file (one [`Task`] per line; blank lines skipped). Errors name the
/// line. Duplicate ids are an error.
pub fn load_tasks_jsonl(path: &Path) -> Result<Vec<Task>, EnvError> {
    let file = std::fs::File::open(path).map_err(|e| EnvError::file(path, e))?;
    let mut tasks = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| EnvError::file(path, format!("line {}: {e}", i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let task: Task = serde_json::from_str(&line)
            .map_err(|e| EnvError::file(path, format!("line {}: not a task: {e}", i + 1)))?;
        if !seen.insert(task.id.clone()) {
            return Err(EnvError::file(
                path,
                format!("line {}: duplicate task id {}", i + 1, task.id),
            ));
        }
        tasks.push(task);
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_detects_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tasks.jsonl");
        std::fs::write(&f, "{\"id\":\"a\",\"split\":\"test\",\"prompt\":\"q\"}\n").unwrap();
        let mut m = DatasetManifest {
            name: "x".into(),
            version: "1".into(),
            task_file: "tasks.jsonl".into(),
            sha256: sha256_file(&f).unwrap(),
            tasks: 1,
            splits: [("test".to_string(), 1)].into(),
            sources: vec![],
            generator: BTreeMap::new(),
        };
        m.verify(&f, "run `sv data build x`").unwrap();
        assert_eq!(load_tasks_jsonl(&f).unwrap()[0].id, "a");
        m.sha256 = "00".into();
        let e = m
            .verify(&f, "run `sv data build x`")
            .unwrap_err()
            .to_string();
        assert!(e.contains("run `sv data build x`"), "{e}");
    }

    #[test]
    fn task_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.jsonl");
        std::fs::write(&f, "{\"id\":\"a\",\"split\":\"s\",\"prompt\":1}\n\n{\"id\":\"a\",\"split\":\"s\",\"prompt\":1}\n").unwrap();
        let e = load_tasks_jsonl(&f).unwrap_err().to_string();
        assert!(e.contains("line 3: duplicate task id a"), "{e}");
        std::fs::write(&f, "{\"id\":1}\n").unwrap();
        let e = load_tasks_jsonl(&f).unwrap_err().to_string();
        assert!(e.contains("line 1: not a task"), "{e}");
    }
}
