//! `--retry-errors` on resume: rows that ended in an error run again and are replaced,
//! the good rows stay byte for byte, and every rollout ends with exactly one row.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{arith, expected_reward, spec, task_index, Scripted};
use sv_harness::rundir::{read_metadata, read_rows, RESULTS};
use sv_harness::{ResumeOptions, Silent};

const TASKS: usize = 30;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn resume_with_retry_errors_replaces_only_the_error_rows() {
    let out = tempfile::tempdir().unwrap();
    let rt = rt();
    // Every third task fails (HTTP 500 from the "server").
    let mut flaky = Scripted::new("scripted");
    flaky.fail_every = Some(3);
    let mut s = spec(arith(TASKS), Arc::new(flaky), out.path());
    s.rollouts = Some(2);
    let first = rt.block_on(sv_harness::run_eval(s, &Silent)).unwrap();
    let run_dir = first.run_dir.clone();
    let results = run_dir.join(RESULTS);
    let before = read_rows(&results, false).unwrap().rows;
    let planned = TASKS * 2;
    assert_eq!(before.len(), planned);
    let failed: Vec<_> = before.iter().filter(|r| r.error.is_some()).collect();
    let expected_failures = 2 * (0..TASKS).filter(|i| i.is_multiple_of(3)).count();
    assert_eq!(failed.len(), expected_failures);
    let good_bytes: Vec<u8> = std::fs::read(&results)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !std::str::from_utf8(l).unwrap().contains("HTTP 500"))
        .flatten()
        .copied()
        .collect();

    // A plain resume of a complete run changes nothing: errors are rows like any other.
    let plain = rt
        .block_on(sv_harness::resume_with(
            &run_dir,
            arith(TASKS),
            Arc::new(Scripted::new("scripted")),
            None,
            &Silent,
        ))
        .unwrap();
    assert_eq!(plain.summary.rollouts, planned);
    assert_eq!(read_rows(&results, false).unwrap().rows, before);

    // With retry_errors the failed rollouts run again (now the server is healthy).
    let options = ResumeOptions {
        concurrency: Some(3),
        retry_errors: true,
    };
    let o = rt
        .block_on(sv_harness::resume_with_options(
            &run_dir,
            arith(TASKS),
            Arc::new(Scripted::new("scripted")),
            &options,
            &Silent,
        ))
        .unwrap();
    assert_eq!(o.status, "complete");
    let after = read_rows(&results, false).unwrap().rows;
    assert_eq!(after.len(), planned, "no duplicated and no lost rows");
    let keys: HashSet<(String, u32)> = after
        .iter()
        .map(|r| (r.task_id.clone(), r.rollout))
        .collect();
    assert_eq!(keys.len(), planned);
    for r in &after {
        assert_eq!(r.error, None, "{}", r.task_id);
        assert_eq!(r.reward, expected_reward(&r.task_id), "{}", r.task_id);
    }
    // The good rows come first, unchanged; the retried ones follow.
    let bytes = std::fs::read(&results).unwrap();
    assert_eq!(&bytes[..good_bytes.len()], &good_bytes[..]);
    assert!(after[..planned - expected_failures]
        .iter()
        .all(|r| !task_index(&r.task_id).is_multiple_of(3)));
    let meta = read_metadata(&run_dir).unwrap();
    assert_eq!(meta.resumes.len(), 2);
    assert_eq!(meta.resumes[0].errors_retried, 0);
    assert_eq!(meta.resumes[1].errors_retried, expected_failures);
    assert_eq!(meta.resumes[1].rows_kept, planned - expected_failures);
    assert_eq!((meta.counts.done, meta.counts.errors), (planned, 0));
    assert_eq!(o.summary.rollouts, planned);

    // Nothing left to retry: a second retry resume is a no-op.
    let again = rt
        .block_on(sv_harness::resume_with_options(
            &run_dir,
            arith(TASKS),
            Arc::new(Scripted::new("scripted")),
            &options,
            &Silent,
        ))
        .unwrap();
    assert_eq!(again.summary.rollouts, planned);
    assert_eq!(std::fs::read(&results).unwrap(), bytes);
}
