//! Environments by name and version. Each environment crate exposes a
//! `register(&mut Registry)`; the CLI builds one registry with all of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::EnvConfig;
use crate::env::Environment;
use crate::error::EnvError;

/// What an environment factory receives.
#[derive(Debug, Clone)]
pub struct EnvBuild {
    /// The effective config: defaults merged with the user's file.
    pub config: EnvConfig,
    /// `--data DIR` when given; environments resolve the data folder from it (see
    /// `sv_data::DataDir::resolve`).
    pub data_dir: Option<PathBuf>,
}

/// Builds an environment. Missing data is an [`EnvError::Data`] whose hint says what to run.
pub type BuildFn = fn(&EnvBuild) -> Result<Arc<dyn Environment>, EnvError>;

/// One registered environment version.
#[derive(Clone)]
pub struct EnvEntry {
    pub name: &'static str,
    pub version: u32,
    pub description: &'static str,
    pub default_config: fn() -> EnvConfig,
    pub build: BuildFn,
}

impl std::fmt::Debug for EnvEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// A loaded environment and where its config came from.
pub struct LoadedEnv {
    pub env: Arc<dyn Environment>,
    /// The config file, when one was given.
    pub config_source: Option<PathBuf>,
}

/// All known environments.
#[derive(Default, Debug)]
pub struct Registry {
    entries: Vec<EnvEntry>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, entry: EnvEntry) -> Result<(), EnvError> {
        if self
            .entries
            .iter()
            .any(|e| e.name == entry.name && e.version == entry.version)
        {
            return Err(EnvError::Duplicate {
                name: format!("{}@{}", entry.name, entry.version),
            });
        }
        self.entries.push(entry);
        self.entries
            .sort_by(|a, b| (a.name, a.version).cmp(&(b.name, b.version)));
        Ok(())
    }

    /// Every entry, sorted by name then version.
    pub fn entries(&self) -> &[EnvEntry] {
        &self.entries
    }

    /// `name` (the highest version) or `name@N`.
    pub fn get(&self, reference: &str) -> Result<&EnvEntry, EnvError> {
        let (name, version) = crate::env::EnvId::parse_ref(reference)?;
        self.entries
            .iter()
            .rev()
            .find(|e| e.name == name && version.is_none_or(|v| v == e.version))
            .ok_or_else(|| EnvError::UnknownEnv {
                name: reference.to_string(),
                available: if self.entries.is_empty() {
                    "none".to_string()
                } else {
                    self.entries
                        .iter()
                        .map(|e| format!("{}@{}", e.name, e.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    /// Resolves `reference`, merges `config_file` over its defaults, and builds it.
    pub fn load(
        &self,
        reference: &str,
        config_file: Option<&Path>,
        data_dir: Option<&Path>,
    ) -> Result<LoadedEnv, EnvError> {
        let entry = self.get(reference)?;
        let defaults = (entry.default_config)();
        let config = match config_file {
            Some(p) => EnvConfig::load_over(&defaults, p)?,
            None => defaults,
        };
        self.build_with(entry, config, config_file, data_dir)
    }

    /// Builds `entry` with an exact config (what a resumed run recorded).
    pub fn build_with(
        &self,
        entry: &EnvEntry,
        config: EnvConfig,
        config_source: Option<&Path>,
        data_dir: Option<&Path>,
    ) -> Result<LoadedEnv, EnvError> {
        config
            .validate_common()
            .map_err(|reason| EnvError::Config {
                source_name: config_source.map_or("defaults".into(), |p| p.display().to_string()),
                reason,
            })?;
        let env = (entry.build)(&EnvBuild {
            config,
            data_dir: data_dir.map(Path::to_path_buf),
        })?;
        Ok(LoadedEnv {
            env,
            config_source: config_source.map(Path::to_path_buf),
        })
    }
}
