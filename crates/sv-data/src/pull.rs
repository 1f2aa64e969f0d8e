//! `sv data pull`: fetch data set files, verify each against the manifest's sha256, and
//! move it into place only once verified.
//!
//! Per file: a final file whose size and sha256 match is skipped (idempotent); otherwise
//! bytes go to `<file>.part`, continuing an existing `.part` with an HTTP `Range`
//! request (resumable, also across runs); the `.part` is hashed and renamed onto the final
//! name only when it matches, and deleted when it does not. A connection that drops
//! mid-body is retried with a Range request from where it stopped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::manifest::{Dataset, FileEntry, Manifest};

/// Options of a pull. Defaults documented per field.
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// Data directory to fill (`<dest>/<data set>/…`).
    pub dest: PathBuf,
    /// Base URL replacing the upstream hosts (`<mirror>/raw.githubusercontent.com/…`,
    /// `<mirror>/sv-data/<set>/…`). Default `None` (public upstreams).
    pub mirror: Option<String>,
    /// Attempts per file after the first when the transfer fails. Default 3.
    pub retries: u32,
    /// Timeout for connecting and for each read. Default 30 s.
    pub timeout: Duration,
    /// Files fetched in parallel. Default 8.
    pub parallel: usize,
    /// Pause before a retry, doubled each time. Default 500 ms.
    pub backoff: Duration,
}

impl PullConfig {
    pub fn new(dest: PathBuf) -> Self {
        PullConfig {
            dest,
            mirror: None,
            retries: 3,
            timeout: Duration::from_secs(30),
            parallel: 8,
            backoff: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {message}")]
    Transfer { url: String, message: String },
    #[error(
        "{path}: sha256 mismatch (expected {expected}, got {actual}) for the bytes from {url}; the file was not kept"
    )]
    Hash {
        path: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: size mismatch (expected {expected} bytes, got {actual}) from {url}; the file was not kept")]
    Size {
        path: String,
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "{0}: derived by this project and not published by any upstream; pass --mirror URL (or set SV_DATA_MIRROR) to a mirror of the sv data"
    )]
    NoUpstream(String),
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already present and verified: nothing fetched.
    Verified,
    /// Fetched (possibly resuming a `.part`) and verified.
    Downloaded { bytes: u64, resumed_from: u64 },
}

/// Counts of a finished pull plus each failure.
#[derive(Debug, Default)]
pub struct PullReport {
    pub verified: usize,
    pub downloaded: usize,
    pub bytes: u64,
    pub failed: Vec<(String, PullError)>,
}

/// Per-file progress callback: `(data path, result)`.
pub type Progress<'a> = &'a (dyn Fn(&str, &Result<Outcome, PullError>) + Sync);

/// Writes `<dest>/LICENSES/<set>.md` for each data set: flags, licence summary, and each
/// upstream with its licence. Called before any download so the terms travel with the data.
pub fn write_licences(m: &Manifest, sets: &[&Dataset], dest: &Path) -> Result<(), PullError> {
    let dir = dest.join("LICENSES");
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    for d in sets {
        let mut text = format!(
            "# {}\n\nFlags: {}\n\n{}\n\nSources (files copied byte for byte):\n\n",
            d.name,
            if d.flags.is_empty() {
                "none".to_string()
            } else {
                d.flags.join(", ")
            },
            d.licence
        );
        let mut derived = 0;
        let mut used: Vec<usize> = Vec::new();
        for f in &d.files {
            match f.source {
                Some(i) if !used.contains(&i) => used.push(i),
                Some(_) => {}
                None => derived += 1,
            }
        }
        for i in used {
            if let Some(s) = m.sources.get(i) {
                text.push_str(&format!(
                    "- {} ({}): {}\n",
                    s.local_prefix, s.licence, s.url_prefix
                ));
            }
        }
        text.push_str(&format!(
            "\n{derived} files were derived by the sv data collectors from the sources named in {}/PROVENANCE.md and carry those sources' terms.\n",
            d.name
        ));
        let path = dir.join(format!("{}.md", d.name));
        fs::write(&path, text).map_err(|e| io_err(&path, e))?;
    }
    Ok(())
}

/// Pulls every file of `files` into `cfg.dest`, `cfg.parallel` at a time.
pub fn pull_files(
    m: &Manifest,
    files: &[&FileEntry],
    cfg: &PullConfig,
    progress: Progress<'_>,
) -> PullReport {
    let agent = agent(cfg);
    let next = AtomicUsize::new(0);
    let report = Mutex::new(PullReport::default());
    std::thread::scope(|s| {
        for _ in 0..cfg.parallel.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(f) = files.get(i) else { break };
                let r = pull_one(m, f, cfg, &agent);
                progress(&f.data_path(), &r);
                let mut rep = report.lock().unwrap_or_else(|p| p.into_inner());
                match r {
                    Ok(Outcome::Verified) => rep.verified += 1,
                    Ok(Outcome::Downloaded { bytes, .. }) => {
                        rep.downloaded += 1;
                        rep.bytes += bytes;
                    }
                    Err(e) => rep.failed.push((f.data_path(), e)),
                }
            });
        }
    });
    let mut rep = report.into_inner().unwrap_or_else(|p| p.into_inner());
    rep.failed.sort_by(|a, b| a.0.cmp(&b.0));
    rep
}

/// Checks files already in `root` without fetching anything: `(verified, problems)`.
pub fn verify_files(files: &[&FileEntry], root: &Path) -> (usize, Vec<String>) {
    let mut ok = 0;
    let mut bad = Vec::new();
    for f in files {
        let p = root.join(f.data_path());
        match file_matches(&p, f) {
            Ok(true) => ok += 1,
            Ok(false) => bad.push(format!(
                "{}: size or sha256 differs from the manifest",
                f.data_path()
            )),
            Err(e) => bad.push(format!("{}: {e}", f.data_path())),
        }
    }
    (ok, bad)
}

fn agent(cfg: &PullConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(cfg.timeout))
        .timeout_recv_response(Some(cfg.timeout))
        .timeout_recv_body(None)
        .user_agent(concat!("sv-data/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn io_err(path: &Path, source: io::Error) -> PullError {
    PullError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn part_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_os_string();
    s.push(".part");
    PathBuf::from(s)
}

/// True when `path` exists with the entry's size and sha256.
fn file_matches(path: &Path, f: &FileEntry) -> io::Result<bool> {
    match fs::metadata(path) {
        Ok(m) if m.len() == f.size => Ok(sha256_file(path)? == f.sha256),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fetches one file (see the module docs for the steps).
pub fn pull_one(
    m: &Manifest,
    f: &FileEntry,
    cfg: &PullConfig,
    agent: &ureq::Agent,
) -> Result<Outcome, PullError> {
    let final_path = cfg.dest.join(f.data_path());
    if file_matches(&final_path, f).map_err(|e| io_err(&final_path, e))? {
        return Ok(Outcome::Verified);
    }
    let url = m
        .fetch_url(f, cfg.mirror.as_deref())
        .ok_or_else(|| PullError::NoUpstream(f.data_path()))?;
    if let Some(parent) = final_path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    let part = part_path(&final_path);
    let resumed_from = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut attempt = 0;
    loop {
        match transfer(agent, &url, &part, f.size) {
            Ok(()) => break,
            Err(e) => {
                let retryable = matches!(e, PullError::Transfer { .. })
                    || matches!(e, PullError::Status { status, .. } if status >= 500 || status == 429);
                if !retryable || attempt >= cfg.retries {
                    return Err(e);
                }
                std::thread::sleep(cfg.backoff * 2u32.saturating_pow(attempt));
                attempt += 1;
            }
        }
    }
    let got = fs::metadata(&part).map_err(|e| io_err(&part, e))?.len();
    if got != f.size {
        let _ = fs::remove_file(&part);
        return Err(PullError::Size {
            path: f.data_path(),
            url,
            expected: f.size,
            actual: got,
        });
    }
    let actual = sha256_file(&part).map_err(|e| io_err(&part, e))?;
    if actual != f.sha256 {
        let _ = fs::remove_file(&part);
        return Err(PullError::Hash {
            path: f.data_path(),
            url,
            expected: f.sha256.clone(),
            actual,
        });
    }
    fs::rename(&part, &final_path).map_err(|e| io_err(&final_path, e))?;
    Ok(Outcome::Downloaded {
        bytes: f.size - resumed_from.min(f.size),
        resumed_from: resumed_from.min(f.size),
    })
}

/// One HTTP request appending to `part` (Range from its current length). Errors while
/// reading the body are `Transfer` errors (retried, resuming from the bytes kept).
fn transfer(agent: &ureq::Agent, url: &str, part: &Path, size: u64) -> Result<(), PullError> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > size {
        // Longer than the file can be: start over.
        fs::remove_file(part).map_err(|e| io_err(part, e))?;
        return transfer(agent, url, part, size);
    }
    if have == size && size > 0 {
        return Ok(());
    }
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let resp = req.call().map_err(|e| PullError::Transfer {
        url: url.into(),
        message: e.to_string(),
    })?;
    let status = resp.status().as_u16();
    let append = match status {
        206 if have > 0 => true,
        200 => false,
        416 if have > 0 => {
            // The server says the range is past the end: restart from scratch.
            fs::remove_file(part).map_err(|e| io_err(part, e))?;
            return Err(PullError::Transfer {
                url: url.into(),
                message: "range not satisfiable; restarting the file".into(),
            });
        }
        _ => {
            return Err(PullError::Status {
                url: url.into(),
                status,
            })
        }
    };
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .map_err(|e| io_err(part, e))?;
    let limit = size - if append { have } else { 0 };
    // Read at most one byte past the expected size: a longer body is a size error later,
    // never an unbounded write.
    let mut body = resp.into_body().into_reader().take(limit + 1);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = out.flush();
                return Err(PullError::Transfer {
                    url: url.into(),
                    message: format!("connection lost mid-body: {e}"),
                });
            }
        };
        out.write_all(&buf[..n]).map_err(|e| io_err(part, e))?;
    }
    out.flush().map_err(|e| io_err(part, e))?;
    Ok(())
}
