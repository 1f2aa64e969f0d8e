//! Exact figures on the shared EVTX corpus (`../shared/data/evtx`). The expected numbers
//! were established independently with the same parser through its Python binding
//! (`evtx` 0.8.9 on PyPI, which embeds the `evtx` crate 0.8.5): records, distinct records
//! by their full JSON text, per-channel counts and field values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use sv_events::{CacheOutcome, EventIdx, EventStore, LoadOptions, LoadReport, ValueKind};

static PROGRESS_CALLS: AtomicUsize = AtomicUsize::new(0);
static PROGRESS_LAST: AtomicUsize = AtomicUsize::new(0);

struct Shared {
    root: PathBuf,
    cache: tempfile::TempDir,
    store: EventStore,
    report: LoadReport,
}

/// One load of the whole corpus per test binary, with a snapshot cache in a temp dir.
fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let root = sv_data::DataDir::resolve(None)
            .and_then(|d| d.evtx())
            .expect("the shared EVTX corpus (run ../shared/data/unpack)");
        let cache = tempfile::tempdir().unwrap();
        let opts = LoadOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            progress: Some(Box::new(|done, total| {
                PROGRESS_CALLS.fetch_add(1, Ordering::SeqCst);
                PROGRESS_LAST.store(done * 100_000 + total, Ordering::SeqCst);
            })),
            ..LoadOptions::default()
        };
        let (store, report) = EventStore::load(std::slice::from_ref(&root), &opts).unwrap();
        Shared {
            root,
            cache,
            store,
            report,
        }
    })
}

fn find(store: &EventStore, channel: &str, event_id: u32, record_id: u64) -> EventIdx {
    let p = store.partition(channel, event_id).expect("partition");
    let hits: Vec<_> = p
        .row_ids()
        .iter()
        .copied()
        .filter(|&e| store.system(e).record_id == Some(record_id))
        .collect();
    assert_eq!(hits.len(), 1, "{channel}/{event_id}/{record_id}");
    hits[0]
}

fn text(store: &EventStore, ev: EventIdx, key: &str) -> String {
    let k = store.key(key).unwrap_or_else(|| panic!("key {key}"));
    let v = store
        .value(ev, k)
        .unwrap_or_else(|| panic!("{key} missing"));
    store.strings().get(v.sym).to_string()
}

#[test]
fn corpus_totals() {
    let s = shared();
    let r = &s.report;
    assert_eq!(r.files_total, 590);
    assert_eq!(r.files_ok, 590);
    assert!(r.files_skipped.is_empty(), "{:?}", r.files_skipped);
    assert!(r.files_partial.is_empty(), "{:?}", r.files_partial);
    assert_eq!(r.records, 25_062);
    assert_eq!(r.records_failed, 0);
    assert_eq!(r.events, 24_962);
    assert_eq!(r.duplicate_records, 100);
    assert_eq!(s.store.len(), 24_962);
    assert_eq!(s.store.all_rows().len(), 24_962);
    assert_eq!(r.values_truncated, 0);
    assert_eq!(r.fields_dropped, 0);
    assert_eq!(r.cache, CacheOutcome::Built);
    let origins: usize = (0..s.store.len())
        .map(|i| s.store.origins(EventIdx(i as u32)).len())
        .sum();
    assert_eq!(origins, 25_062);
    // One progress call per file, the last one saying all are done.
    assert_eq!(PROGRESS_CALLS.load(Ordering::SeqCst), 590);
    assert_eq!(PROGRESS_LAST.load(Ordering::SeqCst), 590 * 100_000 + 590);
}

#[test]
fn channel_counts_records_and_events() {
    let s = &shared().store;
    let mut records: BTreeMap<String, usize> = BTreeMap::new();
    let mut events: BTreeMap<String, usize> = BTreeMap::new();
    for p in s.partitions() {
        let ch = p
            .channel
            .map(|c| s.strings().get(c).to_string())
            .unwrap_or_default();
        *events.entry(ch.clone()).or_default() += p.len();
        *records.entry(ch).or_default() += p
            .row_ids()
            .iter()
            .map(|&e| s.origins(e).len())
            .sum::<usize>();
    }
    let expect = [
        ("Security", 13_252, 13_156),
        ("Microsoft-Windows-Sysmon/Operational", 3_414, 3_414),
        ("Application", 2_755, 2_751),
        ("Microsoft-Windows-Bits-Client/Operational", 1_566, 1_566),
        (
            "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational",
            948,
            948,
        ),
        ("System", 885, 885),
        ("Microsoft-Windows-PowerShell/Operational", 708, 708),
        ("Microsoft-Windows-Windows Defender/Operational", 476, 476),
        ("", 416, 416),
        ("Windows PowerShell", 227, 227),
        ("Key Management Service", 1, 1),
    ];
    for (ch, r, e) in expect {
        assert_eq!(records.get(ch), Some(&r), "records of {ch:?}");
        assert_eq!(events.get(ch), Some(&e), "events of {ch:?}");
    }
    assert_eq!(records.len(), 28, "distinct channels (with the empty one)");
    assert_eq!(s.partition("Security", 4688).unwrap().len(), 1_306);
    assert_eq!(
        s.partition("Microsoft-Windows-Sysmon/Operational", 1)
            .unwrap()
            .len(),
        1_519
    );
    assert_eq!(
        s.partition("Microsoft-Windows-PowerShell/Operational", 4104)
            .unwrap()
            .len(),
        495
    );
    assert_eq!(s.partition("Windows PowerShell", 400).unwrap().len(), 6);
    assert!(s.partition("Security", 999_999).is_none());
}

#[test]
fn known_record_fields() {
    let s = &shared().store;
    // MSSQL failed logon: EventID with Qualifiers, three unnamed Data elements, Binary.
    let ev = find(s, "Application", 18456, 13026);
    assert_eq!(s.raw_fields(ev), s.fields(ev));
    let sys = s.system(ev);
    assert_eq!(s.strings().get(sys.provider.unwrap()), "MSSQLSERVER");
    assert_eq!(s.strings().get(sys.computer.unwrap()), "MSEDGEWIN10");
    assert_eq!(
        s.strings().get(sys.time_created.unwrap()),
        "2019-11-04T13:46:01.171339Z"
    );
    assert_eq!(s.strings().get(sys.event_id_raw.unwrap()), "18456");
    assert_eq!(text(s, ev, "EventID_Qualifiers"), "49152");
    assert_eq!(text(s, ev, "Keywords"), "0x90000000000000");
    let data: Vec<_> = s
        .values(ev, s.key("Data").unwrap())
        .map(|v| s.strings().get(v.sym))
        .collect();
    assert_eq!(
        data,
        [
            "sa",
            " Reason: Password did not match that for the login provided.",
            " [CLIENT: 10.0.2.17]"
        ]
    );
    let bin = s.value(ev, s.key("Binary").unwrap()).unwrap();
    assert_eq!(bin.kind, ValueKind::Binary);
    assert!(s.strings().get(bin.sym).starts_with("184800000E00"));
    let level = s.value(ev, s.key("Level").unwrap()).unwrap();
    assert_eq!(
        (level.kind, s.strings().number(level.sym)),
        (ValueKind::Int, Some(0.0))
    );
    let p = s.partition("Application", 18456).unwrap();
    assert!(p.is_multi_valued(s.key("Data").unwrap()));
    let json = s.to_json(ev);
    assert_eq!(json["EventID"], 18456);
    assert_eq!(json["Data"][2], " [CLIENT: 10.0.2.17]");
    assert_eq!(json["Channel"], "Application");
}

#[test]
fn security_log_cleared_userdata() {
    let s = &shared().store;
    let ev = find(s, "Security", 1102, 227693);
    assert_eq!(text(s, ev, "SubjectUserName"), "admin01");
    assert_eq!(text(s, ev, "SubjectLogonId"), "0xaf855");
    assert_eq!(
        text(s, ev, "Provider_Guid"),
        "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}"
    );
    assert_eq!(text(s, ev, "Execution_ProcessID"), "820");
    let o = s.origins(ev);
    assert_eq!(
        s.file_path(o[0].file),
        Path::new("EVTX-ATTACK-SAMPLES/Command and Control/DE_RDP_Tunnel_5156.evtx")
    );
}

#[test]
fn powershell_classic_fields() {
    let s = &shared().store;
    let ev = find(s, "Windows PowerShell", 400, 1016);
    assert_eq!(text(s, ev, "HostName"), "ConsoleHost");
    assert_eq!(text(s, ev, "HostVersion"), "5.1.19041.906");
    assert_eq!(text(s, ev, "NewEngineState"), "Available");
    assert!(text(s, ev, "HostApplication")
        .starts_with("powershell.exe -exec bypass -noni -nop -w 1 -C & ( $PshOMe[4]"));
    // The raw Data elements stay as they were.
    assert_eq!(s.values(ev, s.key("Data").unwrap()).count(), 3);
    // The parsed fields are marked as derived; the record's own fields are all there.
    assert!(s.is_derived(ev, s.key("HostApplication").unwrap()));
    assert!(!s.is_derived(ev, s.key("Data").unwrap()));
    let raw = s.raw_fields(ev);
    let derived = &s.fields(ev)[raw.len()..];
    let names: Vec<_> = derived.iter().map(|(k, _)| s.strings().get(*k)).collect();
    assert_eq!(
        names,
        [
            "NewEngineState",
            "PreviousEngineState",
            "SequenceNumber",
            "HostName",
            "HostVersion",
            "HostId",
            "HostApplication",
            "EngineVersion",
            "RunspaceId",
            "PipelineId",
            "CommandName",
            "CommandType",
            "ScriptName",
            "CommandPath",
            "CommandLine"
        ]
    );
    assert!(raw.iter().all(|(k, _)| s.strings().get(*k) != "HostName"));
}

#[test]
fn provenance_of_a_duplicated_event() {
    let s = &shared().store;
    // The same 4699 record is in two files; the second is a filtered export whose record
    // headers are renumbered from 1.
    let ev = find(s, "Security", 4699, 566_840);
    let o = s.origins(ev);
    let got: Vec<_> = o
        .iter()
        .map(|o| {
            (
                s.file_path(o.file).to_string_lossy().into_owned(),
                o.record_id,
                o.header_id,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "EVTX-ATTACK-SAMPLES/Execution/temp_scheduled_task_4698_4699.evtx".to_string(),
                566_840,
                2
            ),
            (
                "EVTX-ATTACK-SAMPLES/Lateral Movement/LM_ScheduledTask_ATSVC_target_host.evtx"
                    .to_string(),
                566_840,
                18
            ),
        ]
    );
}

#[test]
fn columns_align_with_rows() {
    let s = &shared().store;
    let p = s
        .partition("Microsoft-Windows-Sysmon/Operational", 1)
        .unwrap();
    let image = s.key("Image").unwrap();
    let col = p.column(image).unwrap();
    assert_eq!(col.len(), p.len());
    assert_eq!(p.rows.len() as usize, p.len());
    for (i, &ev) in p.row_ids().iter().enumerate() {
        assert_eq!(col[i], s.value(ev, image));
        assert!(p.rows.contains(ev.0));
    }
    assert!(col.iter().all(Option::is_some));
    assert!(p.column(s.key("SubjectUserName").unwrap()).is_none());
}

#[test]
fn cache_round_trip_equals_fresh_build() {
    let sh = shared();
    let opts = LoadOptions {
        cache_dir: Some(sh.cache.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let (again, report) = EventStore::load(std::slice::from_ref(&sh.root), &opts).unwrap();
    assert_eq!(report.cache, CacheOutcome::Hit);
    assert_eq!(report.records, 25_062);
    assert_eq!(report.events, 24_962);
    let a = &sh.store;
    assert_eq!(again.len(), a.len());
    assert_eq!(again.strings().len(), a.strings().len());
    for i in 0..a.len() as u32 {
        let e = EventIdx(i);
        assert_eq!(again.fields(e), a.fields(e));
        assert_eq!(again.raw_fields(e), a.raw_fields(e));
        assert_eq!(again.origins(e), a.origins(e));
        assert_eq!(again.system(e), a.system(e));
    }
    for i in 0..a.strings().len() as u32 {
        let s = sv_events::Sym(i);
        assert_eq!(again.strings().get(s), a.strings().get(s));
        assert_eq!(again.strings().folded(s), a.strings().folded(s));
    }
    let pa: Vec<_> = a
        .partitions()
        .map(|p| (p.channel, p.event_id, p.row_ids().to_vec()))
        .collect();
    let pb: Vec<_> = again
        .partitions()
        .map(|p| (p.channel, p.event_id, p.row_ids().to_vec()))
        .collect();
    assert_eq!(pa, pb);
    assert_eq!(pa.len(), 363);
}
