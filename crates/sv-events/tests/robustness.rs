//! Bad input and cache invalidation, on small sets of real files copied to temp dirs.

use std::path::{Path, PathBuf};

use sv_events::{CacheOutcome, EventStore, EventsError, LoadOptions};

fn corpus() -> PathBuf {
    sv_data::DataDir::resolve(None)
        .and_then(|d| d.evtx())
        .expect("the shared EVTX corpus (run ../shared/data/unpack)")
}

const BITS: &str = "EVTX-ATTACK-SAMPLES/Command and Control/bits_openvpn.evtx";
const MSSQL: &str =
    "EVTX-ATTACK-SAMPLES/Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx";
const TASK: &str = "EVTX-ATTACK-SAMPLES/Execution/temp_scheduled_task_4698_4699.evtx";

fn copy(name: &str, dir: &Path, as_name: &str) -> PathBuf {
    let to = dir.join(as_name);
    std::fs::copy(corpus().join(name), &to).unwrap();
    to
}

fn no_cache() -> LoadOptions {
    LoadOptions::default()
}

#[test]
fn truncated_junk_and_empty_files_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(corpus().join(BITS)).unwrap();
    // Header + three whole 64 KiB chunks + part of the fourth.
    std::fs::write(
        dir.path().join("a_truncated.evtx"),
        &bytes[..4096 + 3 * 65536 + 30_000],
    )
    .unwrap();
    // Cut inside the file header: nothing usable.
    std::fs::write(dir.path().join("b_header_cut.evtx"), &bytes[..2000]).unwrap();
    std::fs::write(
        dir.path().join("c_junk.evtx"),
        b"this is not an event log\n".repeat(500),
    )
    .unwrap();
    std::fs::write(dir.path().join("d_empty.evtx"), b"").unwrap();
    copy(MSSQL, dir.path(), "e_good.evtx");
    std::fs::write(
        dir.path().join("f_not_evtx.txt"),
        b"ignored: wrong extension",
    )
    .unwrap();

    let (store, r) = EventStore::load(&[dir.path().to_path_buf()], &no_cache()).unwrap();
    assert_eq!(r.files_total, 5);
    let skipped: Vec<_> = r
        .files_skipped
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        skipped,
        ["b_header_cut.evtx", "c_junk.evtx", "d_empty.evtx"]
    );
    for (p, why) in &r.files_skipped {
        assert!(
            why.contains("not a valid EVTX file"),
            "{}: {why}",
            p.display()
        );
    }
    assert_eq!(r.files_ok, 2);
    assert_eq!(r.files_partial.len(), 1, "{:?}", r.files_partial);
    assert_eq!(r.files_partial[0].0, Path::new("a_truncated.evtx"));
    assert_eq!(
        r.files_partial[0].1,
        "file is truncated: its header declares 16 chunks, it holds 3 whole chunk(s) and part of another"
    );
    // As the Python binding of the same parser reads the same bytes.
    let expected_truncated = 287;
    assert_eq!(
        r.records,
        expected_truncated + 10,
        "records of the partial file + MSSQL's 10"
    );
    assert_eq!(store.len(), r.events);
}

#[test]
fn empty_dir_and_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let (store, r) = EventStore::load(&[dir.path().to_path_buf()], &no_cache()).unwrap();
    assert_eq!((store.len(), r.files_total, r.records), (0, 0, 0));
    assert_eq!(store.partitions().count(), 0);
    let err = EventStore::load(&[dir.path().join("absent")], &no_cache()).unwrap_err();
    assert!(matches!(err, EventsError::Io { .. }), "{err}");
}

#[test]
fn a_file_given_directly_is_loaded_whatever_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy(MSSQL, dir.path(), "log.bin");
    let (store, r) = EventStore::load(std::slice::from_ref(&f), &no_cache()).unwrap();
    assert_eq!((r.files_total, r.records, store.len()), (1, 10, 10));
    assert_eq!(
        store.file_path(store.origins(sv_events::EventIdx(0))[0].file),
        f.as_path()
    );
}

#[test]
fn stale_and_corrupt_snapshots_are_rebuilt() {
    let data = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    copy(MSSQL, data.path(), "one.evtx");
    copy(TASK, data.path(), "two.evtx");
    let roots = [data.path().to_path_buf()];
    let opts = LoadOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let (fresh, r) = EventStore::load(&roots, &opts).unwrap();
    assert_eq!(r.cache, CacheOutcome::Built);
    assert_eq!(r.records, 12);
    let snap = r.cache_path.clone().unwrap();
    assert_eq!(snap, sv_events::snapshot_path(cache.path(), &roots));

    let (_, r) = EventStore::load(&roots, &opts).unwrap();
    assert_eq!(r.cache, CacheOutcome::Hit);
    assert_eq!(r.records, 12);

    // One flipped payload byte.
    let mut bytes = std::fs::read(&snap).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x40;
    std::fs::write(&snap, &bytes).unwrap();
    let (again, r) = EventStore::load(&roots, &opts).unwrap();
    assert_eq!(
        r.cache,
        CacheOutcome::Rebuilt {
            reason: "snapshot checksum mismatch (corrupt file)".into()
        }
    );
    assert_eq!(again.len(), fresh.len());
    assert_eq!(
        EventStore::load(&roots, &opts).unwrap().1.cache,
        CacheOutcome::Hit
    );

    // Truncated snapshot.
    let bytes = std::fs::read(&snap).unwrap();
    std::fs::write(&snap, &bytes[..bytes.len() / 2]).unwrap();
    let r = EventStore::load(&roots, &opts).unwrap().1;
    assert_eq!(
        r.cache,
        CacheOutcome::Rebuilt {
            reason: "snapshot truncated".into()
        }
    );

    // Junk in place of the snapshot.
    std::fs::write(&snap, b"garbage").unwrap();
    let r = EventStore::load(&roots, &opts).unwrap().1;
    assert_eq!(
        r.cache,
        CacheOutcome::Rebuilt {
            reason: "snapshot truncated".into()
        }
    );
    std::fs::write(&snap, b"garbage garbage garbage").unwrap();
    let r = EventStore::load(&roots, &opts).unwrap().1;
    assert_eq!(
        r.cache,
        CacheOutcome::Rebuilt {
            reason: "not a snapshot file (bad magic)".into()
        }
    );

    // An input file replaced by another of the same name.
    copy(BITS, data.path(), "two.evtx");
    let (changed, r) = EventStore::load(&roots, &opts).unwrap();
    assert_eq!(
        r.cache,
        CacheOutcome::Rebuilt {
            reason: "input files changed since the snapshot was made".into()
        }
    );
    assert_eq!(r.records, 10 + 1537);
    assert_eq!(changed.len(), r.events);
}

#[test]
fn regression_json_shapes() {
    let data = sv_data::DataDir::resolve(None).unwrap();
    let base = data.part("sigma").unwrap().join("regression");
    let read = |rel: &str| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(base.join(rel)).unwrap();
        serde_json::Deserializer::from_str(&text)
            .into_iter::<serde_json::Value>()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let evs = read("rules/windows/builtin/wmi/win_wmi_activity_nteventlogfile_cleareventlog/d4f1a2b3-7c8e-4d5f-b6a9-1e0c2d3f4e5b.json");
    let store = EventStore::from_json_events(evs.clone()).unwrap();
    assert_eq!(store.len(), evs.len());
    let ev = sv_events::EventIdx(0);
    let sys = store.system(ev);
    assert!(sys.event_id.is_some());
    assert!(sys.channel.is_some());
    assert_eq!(
        store.file_path(store.origins(ev)[0].file),
        Path::new("<json>")
    );

    // The flat shape: every key a field.
    let flat =
        serde_json::json!({"EventID": 4688, "Channel": "Security", "NewProcessName": "C:\\x.exe"});
    let store = EventStore::from_json_events([flat]).unwrap();
    let sys = store.system(sv_events::EventIdx(0));
    assert_eq!(sys.event_id, Some(4688));
    assert_eq!(store.partition("Security", 4688).unwrap().len(), 1);
    assert!(EventStore::from_json_events([serde_json::json!([1, 2])]).is_err());
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let root = corpus().join("hayabusa-sample-evtx/DeepBlueCLI");
    let load = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| EventStore::load(std::slice::from_ref(&root), &no_cache()).unwrap())
    };
    let (a, ra) = load(1);
    let (b, rb) = load(3);
    assert_eq!(
        (ra.files_total, ra.records, ra.events),
        (rb.files_total, rb.records, rb.events)
    );
    assert!(ra.records > 5000, "{}", ra.records);
    assert_eq!(a.len(), b.len());
    for i in 0..a.len() as u32 {
        let e = sv_events::EventIdx(i);
        let fa: Vec<_> = a
            .fields(e)
            .iter()
            .map(|(k, v)| (a.strings().get(*k), a.strings().get(v.sym), v.kind))
            .collect();
        let fb: Vec<_> = b
            .fields(e)
            .iter()
            .map(|(k, v)| (b.strings().get(*k), b.strings().get(v.sym), v.kind))
            .collect();
        assert_eq!(fa, fb);
        assert_eq!(a.origins(e), b.origins(e));
    }
}

/// A deterministic mutation smoke test (the fuzzing a CI run can afford): random byte
/// flips, overwrites and cuts of a real file never make a load fail or panic, and each
/// mutant is handled in bounded time.
#[test]
fn mutated_files_never_break_a_load() {
    let original = std::fs::read(corpus().join(MSSQL)).unwrap();
    let used = 4096 + 65536; // header + the one chunk that holds records
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mutants = 500;
    for m in 0..mutants {
        let mut bytes = original[..used].to_vec();
        let flips = 1 + (next() % 16) as usize;
        for _ in 0..flips {
            let at = (next() as usize) % bytes.len();
            bytes[at] = match next() % 3 {
                0 => bytes[at] ^ (1 << (next() % 8)),
                1 => 0xFF,
                _ => next() as u8,
            };
        }
        if m % 10 == 0 {
            let cut = (next() as usize) % bytes.len();
            bytes.truncate(cut);
        }
        std::fs::write(dir.path().join(format!("m{m:03}.evtx")), &bytes).unwrap();
    }
    let t = std::time::Instant::now();
    let (store, r) = EventStore::load(&[dir.path().to_path_buf()], &no_cache()).unwrap();
    // Exact, since the mutations are seeded and the parser pinned.
    assert_eq!(
        (r.files_skipped.len(), r.files_partial.len(), r.records),
        (38, 84, 4079)
    );
    // At least one mutant makes the parser itself panic: contained, reported as a skip.
    let panics = r
        .files_skipped
        .iter()
        .filter(|(_, why)| why.starts_with("the EVTX parser failed"))
        .count();
    assert!(panics >= 1, "{:?}", r.files_skipped);
    assert_eq!(r.files_total, mutants);
    assert_eq!(r.files_ok + r.files_skipped.len(), mutants);
    assert_eq!(store.len(), r.events);
    assert!(
        r.records <= mutants * 10,
        "{} records from mutants of a 10-record file",
        r.records
    );
    // Generous bound for a 2-core CI machine: ~8 MB of input.
    assert!(
        t.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        t.elapsed()
    );
}
