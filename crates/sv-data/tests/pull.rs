//! The real download path against a loopback HTTP server serving the shared data in the
//! mirror layout: corrupted bytes, a wrong manifest hash, a connection dropped mid-body,
//! resume from a `.part`, and an idempotent re-run.
#![cfg(feature = "pull")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sv_data::manifest::{FileEntry, Manifest};
use sv_data::pull::{pull_files, Outcome, PullConfig, PullError};

/// What the server does wrong, per mirror path.
#[derive(Default)]
struct Faults {
    /// Serve these paths with one byte flipped.
    corrupt: Vec<String>,
    /// Close the connection after this many body bytes, on the first request only.
    drop_after: HashMap<String, usize>,
}

/// (path, Range header) of every request.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Server {
    base: String,
    log: RequestLog,
}

fn serve(files: HashMap<String, PathBuf>, faults: Faults) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/mirror", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let faults = Arc::new(Mutex::new(faults));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let files = files.clone();
            let log = log2.clone();
            let faults = faults.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut range = None;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h
                        .strip_prefix("Range: ")
                        .or_else(|| h.strip_prefix("range: "))
                    {
                        range = Some(v.trim().to_string());
                    }
                }
                let key = path.strip_prefix("/mirror/").unwrap_or("").to_string();
                log.lock().unwrap().push((key.clone(), range.clone()));
                let Some(file) = files.get(&key) else {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                };
                let mut body = std::fs::read(file).unwrap();
                let mut f = faults.lock().unwrap();
                if f.corrupt.contains(&key) {
                    body[0] ^= 0xff;
                }
                let start: usize = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.trim_end_matches('-').parse().ok())
                    .unwrap_or(0);
                let status = if range.is_some() {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let part = &body[start.min(body.len())..];
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                    part.len(),
                    body.len().saturating_sub(1),
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                if let Some(n) = f.drop_after.remove(&key) {
                    let _ = stream.write_all(&part[..n]);
                    let _ = stream.flush();
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
                drop(f);
                let _ = stream.write_all(part);
            });
        }
    });
    Server { base, log }
}

fn shared() -> PathBuf {
    sv_data::DataDir::resolve(None).expect("shared data").root
}

/// The files of `sets`, mapped from their mirror path to the shared-data file.
fn mirror_map(m: &Manifest, sets: &[&str]) -> (Vec<FileEntry>, HashMap<String, PathBuf>) {
    let root = shared();
    let mut files = Vec::new();
    let mut map = HashMap::new();
    for s in sets {
        for f in &m.dataset(s).unwrap().files {
            map.insert(m.mirror_path(f), root.join(f.data_path()));
            files.push(f.clone());
        }
    }
    (files, map)
}

fn config(dest: PathBuf, base: &str) -> PullConfig {
    let mut c = PullConfig::new(dest);
    c.mirror = Some(base.to_string());
    c.backoff = Duration::from_millis(10);
    c.parallel = 4;
    c
}

fn noop(_: &str, _: &Result<Outcome, PullError>) {}

#[test]
fn pulls_verifies_and_rerun_fetches_nothing() {
    let m = Manifest::builtin();
    let (files, map) = mirror_map(&m, &["kb", "redteam"]);
    let srv = serve(map, Faults::default());
    let tmp = tempfile::tempdir().unwrap();
    let refs: Vec<&FileEntry> = files.iter().collect();
    let cfg = config(tmp.path().to_path_buf(), &srv.base);

    let rep = pull_files(&m, &refs, &cfg, &noop);
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!((rep.downloaded, rep.verified), (14, 0));
    let expected: u64 = files.iter().map(|f| f.size).sum();
    assert_eq!(rep.bytes, expected);
    // Byte-identical to the shared data, no .part left.
    for f in &files {
        let got = std::fs::read(tmp.path().join(f.data_path())).unwrap();
        assert_eq!(
            got,
            std::fs::read(shared().join(f.data_path())).unwrap(),
            "{}",
            f.path
        );
        assert!(!tmp.path().join(format!("{}.part", f.data_path())).exists());
    }
    // The upstream-mapped file went through the raw.githubusercontent.com layout.
    let log = srv.log.lock().unwrap().clone();
    assert!(log.iter().any(|(p, _)| p
        == "raw.githubusercontent.com/paul-rottger/exaggerated-safety/d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d/xstest_prompts.csv"));
    assert_eq!(log.len(), 14);

    let rep = pull_files(&m, &refs, &cfg, &noop);
    assert_eq!((rep.downloaded, rep.verified, rep.failed.len()), (0, 14, 0));
    assert_eq!(srv.log.lock().unwrap().len(), 14, "re-run made requests");
}

#[test]
fn corrupted_bytes_and_wrong_hash_are_rejected_and_not_kept() {
    let m = Manifest::builtin();
    let (files, map) = mirror_map(&m, &["redteam"]);
    let jbb = files
        .iter()
        .find(|f| f.path == "jbb_behaviors.jsonl")
        .unwrap()
        .clone();
    let faults = Faults {
        corrupt: vec![m.mirror_path(&jbb)],
        ..Faults::default()
    };
    let srv = serve(map, faults);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path().to_path_buf(), &srv.base);

    // Corrupted on the wire.
    let rep = pull_files(&m, &[&jbb], &cfg, &noop);
    assert_eq!(rep.failed.len(), 1);
    let (path, err) = &rep.failed[0];
    assert_eq!(path, "redteam/jbb_behaviors.jsonl");
    match err {
        PullError::Hash { expected, .. } => assert_eq!(expected, &jbb.sha256),
        e => panic!("expected a hash error, got {e}"),
    }
    assert!(err.to_string().contains("sha256 mismatch") && err.to_string().contains("not kept"));
    assert!(!tmp.path().join("redteam/jbb_behaviors.jsonl").exists());
    assert!(!tmp.path().join("redteam/jbb_behaviors.jsonl.part").exists());

    // Right bytes, wrong hash in the manifest.
    let mut wrong = files
        .iter()
        .find(|f| f.path == "xstest_prompts.csv")
        .unwrap()
        .clone();
    wrong.sha256 = "0".repeat(64);
    let rep = pull_files(&m, &[&wrong], &cfg, &noop);
    assert!(
        matches!(rep.failed[0].1, PullError::Hash { .. }),
        "{:?}",
        rep.failed
    );
    assert!(!tmp.path().join("redteam/xstest_prompts.csv").exists());

    // A file the mirror does not have: a clear HTTP error.
    let mut missing = wrong.clone();
    missing.path = "not-there.csv".into();
    missing.source = None;
    let rep = pull_files(&m, &[&missing], &cfg, &noop);
    assert!(
        matches!(rep.failed[0].1, PullError::Status { status: 404, .. }),
        "{:?}",
        rep.failed
    );
}

#[test]
fn dropped_connection_resumes_with_range() {
    let m = Manifest::builtin();
    let (files, map) = mirror_map(&m, &["kb"]);
    let tech = files
        .iter()
        .find(|f| f.path == "attack-techniques.jsonl")
        .unwrap()
        .clone();
    let key = m.mirror_path(&tech);
    let faults = Faults {
        drop_after: HashMap::from([(key.clone(), 1_000_000)]),
        ..Faults::default()
    };
    let srv = serve(map, faults);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path().to_path_buf(), &srv.base);
    let rep = pull_files(&m, &[&tech], &cfg, &noop);
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(rep.downloaded, 1);
    let log = srv.log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            (key.clone(), None),
            (key, Some("bytes=1000000-".to_string()))
        ]
    );
    let got = std::fs::read(tmp.path().join("kb/attack-techniques.jsonl")).unwrap();
    assert_eq!(got.len() as u64, tech.size);
}

#[test]
fn part_file_from_an_earlier_run_is_resumed() {
    let m = Manifest::builtin();
    let (files, map) = mirror_map(&m, &["kb"]);
    let ev = files
        .iter()
        .find(|f| f.path == "events.jsonl")
        .unwrap()
        .clone();
    let srv = serve(map, Faults::default());
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("kb")).unwrap();
    let full = std::fs::read(shared().join("kb/events.jsonl")).unwrap();
    std::fs::write(tmp.path().join("kb/events.jsonl.part"), &full[..12345]).unwrap();
    let cfg = config(tmp.path().to_path_buf(), &srv.base);
    let seen = Mutex::new(None);
    let rep = pull_files(&m, &[&ev], &cfg, &|_, r| {
        *seen.lock().unwrap() = r.as_ref().ok().copied()
    });
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Outcome::Downloaded {
            bytes: ev.size - 12345,
            resumed_from: 12345
        })
    );
    assert_eq!(
        srv.log.lock().unwrap()[0].1.as_deref(),
        Some("bytes=12345-")
    );
    assert_eq!(
        std::fs::read(tmp.path().join("kb/events.jsonl")).unwrap(),
        full
    );
}

#[test]
fn derived_files_need_a_mirror() {
    let m = Manifest::builtin();
    let kb = m.dataset("kb").unwrap();
    let f = kb.files.iter().find(|f| f.path == "events.jsonl").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PullConfig::new(tmp.path().to_path_buf());
    let rep = pull_files(&m, &[f], &cfg, &noop);
    assert!(matches!(&rep.failed[0].1, PullError::NoUpstream(p) if p == "kb/events.jsonl"));
    assert!(rep.failed[0].1.to_string().contains("--mirror"));
}

#[test]
fn licences_are_written_before_download() {
    let m = Manifest::builtin();
    let tmp = tempfile::tempdir().unwrap();
    let sets = m.select(&["evtx".to_string()]).unwrap();
    sv_data::pull::write_licences(&m, &sets, tmp.path()).unwrap();
    let text = std::fs::read_to_string(tmp.path().join("LICENSES/evtx.md")).unwrap();
    assert!(
        text.starts_with("# evtx\n\nFlags: GPL, NO-LICENCE, RESEARCH-ONLY\n"),
        "{text}"
    );
    assert!(text.contains("- evtx/EVTX-ATTACK-SAMPLES/ (GPL-3.0): https://raw.githubusercontent.com/sbousseaden/EVTX-ATTACK-SAMPLES/4ceed2f4706daf601c212a8f91c113dd85349a2c/"));
    assert!(text.contains("\n2 files were derived"));
}

/// The manifest in the repository describes the shared data exactly (sizes and sha256).
#[test]
fn manifest_matches_shared_data() {
    let m = Manifest::builtin();
    let all: Vec<&FileEntry> = m.datasets.iter().flat_map(|d| d.files.iter()).collect();
    assert_eq!(all.len(), 6416);
    let (ok, bad) = sv_data::pull::verify_files(&all, &shared());
    assert!(bad.is_empty(), "{:?}", &bad[..bad.len().min(5)]);
    assert_eq!(ok, 6416);
}
