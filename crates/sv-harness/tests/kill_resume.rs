//! Resume after a real `kill -9`.
//!
//! The test re-runs its own binary as a child (`child_run`, active only when
//! `SV_KILL_CHILD_OUT` is set) that evaluates 600 slow rollouts; the parent waits until
//! some rows are on disk, sends SIGKILL (`Child::kill`), resumes the run in-process, and
//! checks that every planned rollout appears exactly once with the right reward.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{arith, expected_reward, spec, Scripted};
use sv_harness::rundir::{read_metadata, read_rows, RESULTS};
use sv_harness::Silent;

const TASKS: usize = 200;
const ROLLOUTS: u32 = 3;

fn agent() -> Arc<Scripted> {
    let mut a = Scripted::new("scripted-slow");
    a.delay = Duration::from_millis(30);
    Arc::new(a)
}

#[test]
fn child_run() {
    let Ok(out) = std::env::var("SV_KILL_CHILD_OUT") else {
        return; // only meaningful as the child of `resume_after_kill_9`
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut s = spec(arith(TASKS), agent(), Path::new(&out));
    s.rollouts = Some(ROLLOUTS);
    s.concurrency = 8;
    rt.block_on(sv_harness::run_eval(s, &Silent)).unwrap();
}

fn find_run_dir(out: &Path) -> Option<PathBuf> {
    let model_dir = out.join("arith--scripted-slow");
    std::fs::read_dir(model_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

fn line_count(p: &Path) -> usize {
    std::fs::read(p)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

#[test]
fn resume_after_kill_9() {
    if std::env::var("SV_KILL_CHILD_OUT").is_ok() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_run", "--nocapture", "--test-threads", "1"])
        .env("SV_KILL_CHILD_OUT", out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let run_dir = loop {
        if let Some(dir) = find_run_dir(out.path()) {
            if line_count(&dir.join(RESULTS)) >= 40 {
                break dir;
            }
        }
        assert!(Instant::now() < deadline, "child wrote no rows in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "child finished before it was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    let planned = TASKS * ROLLOUTS as usize;
    let before = read_rows(&run_dir.join(RESULTS), false).unwrap();
    assert!(
        before.rows.len() >= 40 && before.rows.len() < planned,
        "{}",
        before.rows.len()
    );
    let meta = read_metadata(&run_dir).unwrap();
    assert_eq!(meta.status, "running", "a killed run is left as running");
    assert!(!run_dir.join("summary.json").exists());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut fast = Scripted::new("scripted-slow");
    fast.delay = Duration::ZERO;
    let o = rt
        .block_on(sv_harness::resume_with(
            &run_dir,
            arith(TASKS),
            Arc::new(fast),
            None,
            &Silent,
        ))
        .unwrap();
    assert_eq!(o.status, "complete");
    assert_eq!(o.summary.rollouts, planned);
    let after = read_rows(&run_dir.join(RESULTS), false).unwrap();
    assert_eq!(after.torn_bytes, 0);
    assert_eq!(after.rows.len(), planned, "no duplicated and no lost rows");
    let keys: HashSet<(String, u32)> = after
        .rows
        .iter()
        .map(|r| (r.task_id.clone(), r.rollout))
        .collect();
    assert_eq!(keys.len(), planned);
    // Rows written before the kill survive unchanged.
    assert_eq!(&after.rows[..before.rows.len()], &before.rows[..]);
    for r in &after.rows {
        assert_eq!(r.error, None);
        assert_eq!(r.reward, expected_reward(&r.task_id));
    }
    let meta = read_metadata(&run_dir).unwrap();
    assert_eq!(meta.status, "complete");
    assert_eq!(meta.resumes.len(), 1);
    assert_eq!(meta.resumes[0].rows_kept, before.rows.len());
    assert_eq!(meta.counts.done, planned);
}
