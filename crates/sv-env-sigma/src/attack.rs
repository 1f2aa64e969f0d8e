//! ATT&CK names for the technique and tactic tags of a rule, read from the offline
//! knowledge base (`kb/attack-techniques.jsonl`, `kb/attack-tactics.jsonl`), so questions
//! can say "LSASS memory dumping" instead of `attack.t1003.001`.

use std::collections::BTreeMap;
use std::path::Path;

/// Technique and tactic names by id / short name.
#[derive(Debug, Clone, Default)]
pub struct AttackNames {
    techniques: BTreeMap<String, String>,
    tactics: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{file} line {line}: {msg}")]
    Bad {
        file: String,
        line: usize,
        msg: String,
    },
}

#[derive(serde::Deserialize)]
struct Row {
    id: String,
    name: String,
    #[serde(default)]
    shortname: Option<String>,
}

impl AttackNames {
    /// Loads `attack-techniques.jsonl` and `attack-tactics.jsonl` from the kb folder.
    pub fn load(kb: &Path) -> Result<AttackNames, AttackError> {
        let mut names = AttackNames::default();
        for row in read_rows(&kb.join("attack-techniques.jsonl"))? {
            names.techniques.insert(row.id, row.name);
        }
        for row in read_rows(&kb.join("attack-tactics.jsonl"))? {
            if let Some(short) = row.shortname {
                names.tactics.insert(short, row.name);
            }
        }
        Ok(names)
    }

    /// From explicit pairs (tests, callers without a kb).
    pub fn from_pairs(techniques: &[(&str, &str)], tactics: &[(&str, &str)]) -> AttackNames {
        AttackNames {
            techniques: techniques
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            tactics: tactics
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    /// "OS Credential Dumping: LSASS Memory" for `T1003.001`; the bare name for techniques.
    pub fn technique(&self, id: &str) -> Option<String> {
        let name = self.techniques.get(id)?;
        match id.split_once('.') {
            Some((parent, _)) => match self.techniques.get(parent) {
                Some(p) => Some(format!("{p}: {name}")),
                None => Some(name.clone()),
            },
            None => Some(name.clone()),
        }
    }

    /// "Credential Access" for `credential-access`; unknown short names are title-cased
    /// (`defense-impairment` → "Defense Impairment", ATT&CK v18's split of Defense Evasion).
    pub fn tactic(&self, short: &str) -> String {
        self.tactics.get(short).cloned().unwrap_or_else(|| {
            short
                .split('-')
                .map(|w| {
                    let mut c = w.chars();
                    match c.next() {
                        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                        None => String::new(),
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}

fn read_rows(path: &Path) -> Result<Vec<Row>, AttackError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| AttackError::Io(file.clone(), e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Row>(l).map_err(|e| AttackError::Bad {
                file: file.clone(),
                line: i + 1,
                msg: e.to_string(),
            })
        })
        .collect()
}
