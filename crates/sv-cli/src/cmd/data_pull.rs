//! `sv data pull [ENV...]`: fetch data sets from their public upstreams (or a mirror) into
//! the user's data directory, verified against the manifest compiled into `sv`.

use std::path::PathBuf;
use std::process::ExitCode;

use sv_data::manifest::{FileEntry, Manifest};
use sv_data::pull::{self, Outcome, PullConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Data sets or environments (`sigma`, `sigma-tools`, `kb`, `evtx`, …); all when omitted.
    envs: Vec<String>,
    /// Where to put the data (default: the user data directory, e.g. ~/.local/share/sv/data).
    #[arg(long)]
    dest: Option<PathBuf>,
    /// Base URL of a mirror that replaces the upstream hosts (layout in docs/data.md).
    #[arg(long, env = "SV_DATA_MIRROR")]
    mirror: Option<String>,
    /// Files fetched in parallel.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Attempts per file after the first.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Only list what would be fetched and from where.
    #[arg(long)]
    dry_run: bool,
    /// Data folder to check instead of pulling (`--data` of other commands); with neither
    /// this nor --dest, an existing SV_DATA or ../shared/data is checked, not re-downloaded.
    #[arg(long)]
    data: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let m = Manifest::builtin();
    let sets = m.select(&args.envs)?;
    let files: Vec<&FileEntry> = sets.iter().flat_map(|d| d.files.iter()).collect();
    let total: u64 = files.iter().map(|f| f.size).sum();

    println!(
        "Data sets: {} ({} files, {:.1} MB)",
        names(&sets),
        files.len(),
        total as f64 / 1e6
    );
    for d in &sets {
        if !d.flags.is_empty() {
            println!(
                "  LICENCE {:<9} [{}] {}",
                d.name,
                d.flags.join(", "),
                d.licence
            );
        }
    }

    // An existing data folder (--data, SV_DATA, ../shared/data) wins: check it in place.
    if args.dest.is_none() {
        let existing = match &args.data {
            Some(d) => Some(sv_data::DataDir::resolve(Some(d.as_path()))?),
            None => sv_data::DataDir::resolve(None)
                .ok()
                .filter(|d| d.source != "user data directory"),
        };
        if let Some(dir) = existing {
            println!(
                "Using the data at {} (from {}); checking it against the manifest.",
                dir.root.display(),
                dir.source
            );
            let (ok, bad) = pull::verify_files(&files, &dir.root);
            for b in &bad {
                eprintln!("  {b}");
            }
            println!(
                "{ok} files verified, {} problems. Pass --dest DIR to pull a fresh copy.",
                bad.len()
            );
            return Ok(if bad.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    }

    let dest = args.dest.clone().unwrap_or_else(sv_data::user_data_dir);
    let mut cfg = PullConfig::new(dest.clone());
    cfg.mirror = args.mirror.clone().filter(|s| !s.is_empty());
    cfg.parallel = args.parallel.max(1);
    cfg.retries = args.retries;

    let no_source: Vec<&&FileEntry> = files.iter().filter(|f| f.source.is_none()).collect();
    if cfg.mirror.is_none() && !no_source.is_empty() {
        println!(
            "Note: {} of these files were derived by this project (converted/sampled from the upstreams in each PROVENANCE.md) and have no public upstream; without --mirror they fail.",
            no_source.len()
        );
    }
    if args.dry_run {
        for f in &files {
            let url = m
                .fetch_url(f, cfg.mirror.as_deref())
                .unwrap_or_else(|| "(mirror only)".into());
            println!("{}\t{}\t{url}", f.data_path(), f.size);
        }
        return Ok(ExitCode::SUCCESS);
    }

    pull::write_licences(&m, &sets, &dest)?;
    println!(
        "Pulling into {} (licence terms written to {}/LICENSES/)",
        dest.display(),
        dest.display()
    );
    let progress = |path: &str, r: &Result<Outcome, pull::PullError>| match r {
        Ok(Outcome::Downloaded {
            bytes,
            resumed_from,
        }) if *resumed_from > 0 => {
            eprintln!("  fetched {path} ({bytes} bytes, resumed at {resumed_from})")
        }
        Ok(Outcome::Downloaded { bytes, .. }) => eprintln!("  fetched {path} ({bytes} bytes)"),
        Ok(Outcome::Verified) => {}
        Err(e) => eprintln!("  FAILED {e}"),
    };
    let rep = pull::pull_files(&m, &files, &cfg, &progress);
    println!(
        "{} files already present and verified, {} downloaded ({:.1} MB), {} failed.",
        rep.verified,
        rep.downloaded,
        rep.bytes as f64 / 1e6,
        rep.failed.len()
    );
    if rep.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "Re-run the same command to retry; verified files are kept and partial ones resume."
        );
        Ok(ExitCode::FAILURE)
    }
}

fn names(sets: &[&sv_data::manifest::Dataset]) -> String {
    sets.iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
