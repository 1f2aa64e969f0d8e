//! What every `sv sigma` subcommand shares: data folder, engine, event store, progress.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sv_data::DataDir;
use sv_events::{CacheOutcome, EventStore, LoadOptions, LoadReport};
use sv_sigma::{Engine, EngineConfig, Semantics};

/// `--data`, `--semantics` and `--placeholders`.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// Data folder (default: $SV_DATA, else ../shared/data beside the repository).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// `sigma` (the specification) or `chainsaw` (reproduce Chainsaw 2.16.4).
    #[arg(long, default_value = "sigma", value_name = "sigma|chainsaw")]
    pub semantics: Semantics,
    /// YAML file of `%placeholder%` values for the `expand` modifier (without it, rules
    /// using `expand` are rejected, as the specification requires).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
}

impl EngineArgs {
    pub fn data_dir(&self) -> Result<DataDir> {
        Ok(DataDir::resolve(self.data.as_deref())?)
    }

    pub fn engine(&self) -> Result<Engine> {
        self.engine_with(self.semantics)
    }

    pub fn engine_with(&self, semantics: Semantics) -> Result<Engine> {
        let data = self.data_dir()?;
        let placeholders = match &self.placeholders {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading placeholders {}", p.display()))?;
                Some(
                    sv_sigma::load_placeholders(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                )
            }
        };
        let config = EngineConfig {
            semantics,
            placeholders,
            data_dir: Some(data.root),
            ..EngineConfig::default()
        };
        Engine::new(config).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// `<data>/sigma/rules*` (sorted): SigmaHQ's rule folders.
pub fn default_rule_dirs(data: &DataDir) -> Result<Vec<PathBuf>> {
    Ok(data.sigma_rule_dirs()?)
}

/// Loads the event store with a progress bar, through the snapshot cache unless `no_cache`.
pub fn load_store(paths: &[PathBuf], no_cache: bool) -> Result<(EventStore, LoadReport)> {
    for p in paths {
        anyhow::ensure!(p.exists(), "{} does not exist", p.display());
    }
    let bar = progress_bar(0, "parsing EVTX");
    let progress_bar = bar.clone();
    let opts = LoadOptions {
        cache_dir: (!no_cache).then(|| sv_data::cache_dir().join("events")),
        progress: Some(Box::new(move |done, total| {
            progress_bar.set_length(total as u64);
            progress_bar.set_position(done as u64);
        })),
        ..LoadOptions::default()
    };
    let out = EventStore::load(paths, &opts).context("loading EVTX");
    bar.finish_and_clear();
    out
}

/// The EVTX paths: as given, else `<data>/evtx`.
pub fn evtx_paths(given: &[PathBuf], data: &EngineArgs) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    Ok(vec![data.data_dir()?.evtx()?])
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, what: &'static str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) = ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// One line on how the store was loaded.
pub fn describe_load(r: &LoadReport) -> String {
    let cache = match &r.cache {
        CacheOutcome::Hit => "snapshot cache hit".to_string(),
        CacheOutcome::Built => "parsed, snapshot saved".to_string(),
        CacheOutcome::Rebuilt { reason } => format!("parsed, stale snapshot replaced: {reason}"),
        CacheOutcome::Disabled => "parsed, no cache".to_string(),
    };
    format!(
        "{} events ({} records, {} duplicates) from {} of {} files in {} ({cache})",
        r.events,
        r.records,
        r.duplicate_records,
        r.files_ok,
        r.files_total,
        secs(r.elapsed)
    )
}

/// Lines about files skipped or partly read.
pub fn file_problems(r: &LoadReport) -> Vec<String> {
    let mut out = Vec::new();
    for (f, why) in &r.files_skipped {
        out.push(format!("skipped {}: {why}", f.display()));
    }
    for (f, why) in &r.files_partial {
        out.push(format!("partly read {}: {why}", f.display()));
    }
    out
}

/// Shows a rule file relative to the folder it was found under, prefixed by that folder's
/// name (`rules/windows/.../x.yml`), so output does not depend on where the data lives.
/// Files given directly are shown as given.
pub struct RulePaths {
    roots: Vec<(String, String)>,
}

impl RulePaths {
    pub fn new(roots: &[PathBuf]) -> RulePaths {
        let mut roots: Vec<(String, String)> = roots
            .iter()
            .filter(|r| r.is_dir())
            .map(|r| {
                let name = r
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut prefix = r.display().to_string();
                if !prefix.ends_with(std::path::MAIN_SEPARATOR) {
                    prefix.push(std::path::MAIN_SEPARATOR);
                }
                (prefix, name)
            })
            .collect();
        // Longest prefix first, so nested roots resolve to the innermost.
        roots.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        RulePaths { roots }
    }

    pub fn show(&self, path: &str) -> String {
        for (prefix, name) in &self.roots {
            if let Some(rest) = path.strip_prefix(prefix.as_str()) {
                let rest = rest.replace(std::path::MAIN_SEPARATOR, "/");
                return if name.is_empty() {
                    rest
                } else {
                    format!("{name}/{rest}")
                };
            }
        }
        path.to_string()
    }
}
