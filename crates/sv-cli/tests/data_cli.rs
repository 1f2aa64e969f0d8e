//! `sv data pull` end to end: the binary against a loopback mirror of the shared data.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sv_data::manifest::Manifest;

fn shared() -> PathBuf {
    sv_data::DataDir::resolve(None).expect("shared data").root
}

/// Serves the files of `sets` under `/m/<mirror path>`; returns the base URL and a request counter.
fn mirror(sets: &[&str]) -> (String, Arc<AtomicUsize>) {
    let m = Manifest::builtin();
    let root = shared();
    let mut files = HashMap::new();
    for s in sets {
        for f in &m.dataset(s).unwrap().files {
            files.insert(m.mirror_path(f), root.join(f.data_path()));
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/m", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            c2.fetch_add(1, Ordering::SeqCst);
            let files = files.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let key = path.strip_prefix("/m/").unwrap_or("");
                match files.get(key) {
                    Some(p) => {
                        let body = std::fs::read(p).unwrap();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(&body);
                    }
                    None => {
                        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    (base, count)
}

fn sv() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sv"));
    c.env_remove("SV_DATA_MIRROR");
    c
}

#[test]
fn pull_through_a_mirror_then_rerun_is_a_no_op() {
    let (base, count) = mirror(&["kb"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = sv()
        .args(["data", "pull", "kb", "--dest"])
        .arg(tmp.path())
        .env("SV_DATA_MIRROR", &base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("LICENCE kb        [ATTRIBUTION]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 files already present and verified, 6 downloaded (5.0 MB), 0 failed."),
        "{stdout}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 6);
    for f in [
        "attack-techniques.jsonl",
        "events.jsonl",
        "LICENSE.mitre-attack.txt",
    ] {
        assert_eq!(
            std::fs::read(tmp.path().join("kb").join(f)).unwrap(),
            std::fs::read(shared().join("kb").join(f)).unwrap()
        );
    }
    let lic = std::fs::read_to_string(tmp.path().join("LICENSES/kb.md")).unwrap();
    assert!(lic.starts_with("# kb\n\nFlags: ATTRIBUTION\n"), "{lic}");

    let out = sv()
        .args(["data", "pull", "kb", "--mirror", &base, "--dest"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("6 files already present and verified, 0 downloaded (0.0 MB), 0 failed."),
        "{stdout}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 6, "the re-run made requests");
}

#[test]
fn derived_files_without_a_mirror_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = sv()
        .args(["data", "pull", "kb", "--retries", "0", "--dest"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kb/events.jsonl: derived by this project and not published by any upstream; pass --mirror URL"), "{stderr}");
    assert!(!tmp.path().join("kb/events.jsonl").exists());
}

#[test]
fn existing_data_folder_is_verified_in_place() {
    let out = sv()
        .args(["data", "pull", "redteam", "kb", "--data"])
        .arg(shared())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("14 files verified, 0 problems."),
        "{stdout}"
    );
}

#[test]
fn unknown_names_and_dry_run() {
    let out = sv().args(["data", "pull", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown data set or environment \"nope\"")
    );

    let tmp = tempfile::tempdir().unwrap();
    let out = sv()
        .args(["data", "pull", "redteam", "--dry-run", "--dest"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains(
        "redteam/xstest_prompts.csv\t38719\thttps://raw.githubusercontent.com/paul-rottger/exaggerated-safety/d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d/xstest_prompts.csv"
    ), "{stdout}");
    assert!(
        stdout.contains("redteam/jbb_behaviors.jsonl\t71235\t(mirror only)"),
        "{stdout}"
    );
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "dry run wrote files"
    );
}
