//! Cost from a price table (`prices.toml`, shipped in the crate, overridable by a file).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::types::{ModelError, Usage};

const SHIPPED: &str = include_str!("prices.toml");

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PriceTable {
    #[serde(default)]
    pub models: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The shipped table, with the entries of `override_file` replacing or adding to it.
    pub fn load(override_file: Option<&Path>) -> Result<PriceTable, ModelError> {
        let mut table: PriceTable = toml::from_str(SHIPPED).map_err(|e| ModelError::Prices {
            path: "prices.toml (shipped)".into(),
            reason: e.to_string(),
        })?;
        if let Some(path) = override_file {
            let err = |reason: String| ModelError::Prices {
                path: path.to_path_buf(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            let extra: PriceTable = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
            for (name, price) in extra.models {
                if !(price.input >= 0.0 && price.output >= 0.0) {
                    return Err(err(format!("negative or NaN price for {name}")));
                }
                table.models.insert(name, price);
            }
        }
        Ok(table)
    }

    /// The entry for `model`: exact name, else the longest entry that prefixes it.
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.models.get(model) {
            return Some(*p);
        }
        self.models
            .iter()
            .filter(|(name, _)| model.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| *p)
    }

    /// Cost of `usage` for `model`, or `None` when the table has no entry.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let p = self.price(model)?;
        Some(
            (usage.prompt_tokens as f64 * p.input + usage.completion_tokens as f64 * p.output)
                / 1_000_000.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_prefix() {
        let t = PriceTable::load(None).unwrap();
        assert_eq!(t.price("gpt-4o-mini").unwrap().input, 0.15);
        assert_eq!(t.price("gpt-4o-mini-2024-07-18").unwrap().output, 0.60);
        assert_eq!(t.price("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert!(t.price("Qwen/Qwen3-8B").is_none());
        let u = Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 500_000,
            reasoning_tokens: 100_000,
        };
        // 1M input at $0.15 + 0.5M output at $0.60.
        assert!((t.cost("gpt-4o-mini", &u).unwrap() - 0.45).abs() < 1e-12);
        assert_eq!(t.cost("unknown", &u), None);
    }

    #[test]
    fn override_file_adds_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.toml");
        std::fs::write(
            &f,
            "[models.\"Qwen/Qwen3-8B\"]\ninput = 0.05\noutput = 0.2\n[models.\"gpt-4o\"]\ninput = 1.0\noutput = 2.0\n",
        )
        .unwrap();
        let t = PriceTable::load(Some(&f)).unwrap();
        assert_eq!(t.price("Qwen/Qwen3-8B").unwrap().output, 0.2);
        assert_eq!(t.price("gpt-4o").unwrap().input, 1.0);
        std::fs::write(&f, "[models.x]\ninput = -1.0\noutput = 0.0\n").unwrap();
        assert!(PriceTable::load(Some(&f)).is_err());
        std::fs::write(&f, "not toml [").unwrap();
        let e = PriceTable::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("p.toml"), "{e}");
    }
}
