//! Finding the data sets.
//!
//! Every command that reads data takes `--data DIR`; without it `SV_DATA` is used, then
//! `../shared/data` beside the repository (the layout of this project's workplace and
//! CI), then the user's data directory that `sv data pull` fills. Data is always read in
//! place: nothing here copies it.
//!
//! [`manifest`] is the list of every data set file with its sha256 and public upstream,
//! kept in the repository; [`pull`] fetches and verifies files for `sv data pull`.

pub mod manifest;
#[cfg(feature = "pull")]
pub mod pull;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("data folder {0} does not exist (from {1})")]
    Missing(PathBuf, &'static str),
    #[error(
        "no data folder found: pass --data DIR, set SV_DATA, place the data at ../shared/data beside the repository, or run `sv data pull`"
    )]
    NotFound,
    #[error("{what} is missing under {dir}: {hint}")]
    MissingPart {
        what: String,
        dir: PathBuf,
        hint: String,
    },
}

/// The resolved data folder and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub root: PathBuf,
    pub source: &'static str,
}

impl DataDir {
    /// Resolves the data folder: `explicit` (the `--data` flag), else `SV_DATA`, else
    /// `../shared/data` relative to the repository, else the user data directory.
    pub fn resolve(explicit: Option<&Path>) -> Result<DataDir, DataError> {
        if let Some(dir) = explicit {
            return Self::existing(dir.to_path_buf(), "--data");
        }
        if let Some(dir) = std::env::var_os("SV_DATA").filter(|v| !v.is_empty()) {
            return Self::existing(PathBuf::from(dir), "SV_DATA");
        }
        if let Some(dir) = shared_beside_repo() {
            return Ok(DataDir {
                root: dir,
                source: "../shared/data",
            });
        }
        let user = user_data_dir();
        if user.is_dir() {
            return Ok(DataDir {
                root: user,
                source: "user data directory",
            });
        }
        Err(DataError::NotFound)
    }

    fn existing(root: PathBuf, source: &'static str) -> Result<DataDir, DataError> {
        if root.is_dir() {
            Ok(DataDir { root, source })
        } else {
            Err(DataError::Missing(root, source))
        }
    }

    /// `<root>/evtx`, checked to be unpacked (it ships as `corpus.tar.xz`).
    pub fn evtx(&self) -> Result<PathBuf, DataError> {
        let dir = self.root.join("evtx");
        let unpacked = dir.is_dir()
            && std::fs::read_dir(&dir)
                .map(|mut it| it.any(|e| e.map(|e| e.path().is_dir()).unwrap_or(false)))
                .unwrap_or(false);
        if unpacked {
            Ok(dir)
        } else {
            Err(DataError::MissingPart {
                what: "the unpacked EVTX corpus".into(),
                dir: self.root.clone(),
                hint: format!("run `{}/unpack` (or `scripts/setup`)", self.root.display()),
            })
        }
    }

    /// SigmaHQ's rule folders, `<root>/sigma/rules*` (`rules`, `rules-emerging-threats`,
    /// `rules-placeholder`, `rules-threat-hunting`), sorted; an error when there is none.
    pub fn sigma_rule_dirs(&self) -> Result<Vec<PathBuf>, DataError> {
        let sigma = self.part("sigma")?;
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&sigma)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        dirs.retain(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rules"))
        });
        dirs.sort();
        if dirs.is_empty() {
            return Err(DataError::MissingPart {
                what: "SigmaHQ rules (sigma/rules*)".into(),
                dir: self.root.clone(),
                hint: "run `sv data pull sigma` or point --data at a folder holding sigma/rules*/"
                    .into(),
            });
        }
        Ok(dirs)
    }

    /// A sub-folder of the data root, with an error naming what to run when absent.
    pub fn part(&self, name: &str) -> Result<PathBuf, DataError> {
        let dir = self.root.join(name);
        if dir.exists() {
            Ok(dir)
        } else {
            Err(DataError::MissingPart {
                what: name.to_string(),
                dir: self.root.clone(),
                hint: format!("run `sv data pull` or point --data at a folder holding {name}/"),
            })
        }
    }
}

/// `../shared/data` seen from the current directory or any of its ancestors, then from
/// the source tree this binary was built from.
fn shared_beside_repo() -> Option<PathBuf> {
    let from_cwd = std::env::current_dir().ok().and_then(|cwd| {
        cwd.ancestors()
            .map(|a| a.join("../shared/data"))
            .find(|p| p.is_dir())
    });
    from_cwd.or_else(|| {
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        built.is_dir().then_some(built)
    })
}

/// Where `sv data pull` keeps data: `$XDG_DATA_HOME/sv/data` or `~/.local/share/sv/data`.
pub fn user_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("sv/data");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/sv/data")
}

/// Where derived caches (event-store snapshots, compiled datasets, model weights) live:
/// `$SV_CACHE`, else `$XDG_CACHE_HOME/sv`, else `~/.cache/sv`.
pub fn cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("SV_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(x);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("sv");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/sv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dir_must_exist() {
        let err = DataDir::resolve(Some(Path::new("/definitely/not/here"))).unwrap_err();
        assert!(matches!(err, DataError::Missing(_, "--data")));
    }

    #[test]
    fn explicit_dir_wins() {
        let tmp = std::env::temp_dir();
        let d = DataDir::resolve(Some(&tmp)).unwrap();
        assert_eq!(d.root, tmp);
        assert_eq!(d.source, "--data");
    }
}
