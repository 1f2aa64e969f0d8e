//! Search and look-ups on the real `kb/` of the shared data, with exact expectations.

use std::sync::OnceLock;

use sv_kb::{render_hits, HitKind, Kb, KbConfig, KbError};

fn data() -> sv_data::DataDir {
    sv_data::DataDir::resolve(None).expect("shared data (../shared/data) or SV_DATA")
}

/// One RAM-built Kb (with the Sigma category mapping) shared by the tests of this binary.
fn kb() -> &'static Kb {
    static KB: OnceLock<Kb> = OnceLock::new();
    KB.get_or_init(|| Kb::open_data_dir(&data(), None).expect("kb opens"))
}

fn top_ids(q: &str, n: usize) -> Vec<String> {
    kb().search(q, n)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn record_counts_match_provenance() {
    let kb = kb();
    assert_eq!(kb.techniques().len(), 691);
    assert_eq!(
        kb.techniques().iter().filter(|t| t.is_subtechnique).count(),
        475
    );
    assert_eq!(kb.tactics().len(), 14);
    assert_eq!(kb.events().len(), 2332);
}

#[test]
fn lsass_dump_finds_t1003_001_first() {
    let hits = kb().search("lsass memory dump", 5).unwrap();
    assert_eq!(hits[0].id, "T1003.001");
    assert_eq!(hits[0].kind, HitKind::Technique);
    assert_eq!(hits[0].title, "LSASS Memory");
    assert_eq!(
        hits[0].url.as_deref(),
        Some("https://attack.mitre.org/techniques/T1003/001")
    );
    assert!(
        hits[0].snippet.to_lowercase().contains("lsass"),
        "{}",
        hits[0].snippet
    );
    assert!(!hits[0].snippet.contains("(Citation:"));
    // Analyst phrasing with stop words and a tool name.
    assert_eq!(
        top_ids("alert me when someone dumps LSASS memory with procdump", 2),
        ["T1003.001", "T1003"]
    );
}

#[test]
fn sysmon_process_creation_is_event_1_with_its_fields() {
    let hits = kb().search("sysmon process creation", 3).unwrap();
    let h = &hits[0];
    assert_eq!(h.kind, HitKind::Event);
    assert_eq!(h.id, "Microsoft-Windows-Sysmon/Operational:1");
    assert_eq!(h.title, "Event ID 1: Process creation");
    assert_eq!(
        h.logsource.as_deref(),
        Some("product: windows, service: sysmon, category: process_creation")
    );
    assert_eq!(
        h.fields,
        [
            "RuleName",
            "UtcTime",
            "ProcessGuid",
            "ProcessId",
            "Image",
            "FileVersion",
            "Description",
            "Product",
            "Company",
            "OriginalFileName",
            "CommandLine",
            "CurrentDirectory",
            "User",
            "LogonGuid",
            "LogonId",
            "TerminalSessionId",
            "IntegrityLevel",
            "Hashes",
            "ParentProcessGuid",
            "ParentProcessId",
            "ParentImage",
            "ParentCommandLine",
            "ParentUser"
        ]
    );
}

#[test]
fn detection_questions_rank_the_right_record_first() {
    let cases = [
        (
            "remote thread injection",
            "Microsoft-Windows-Sysmon/Operational:8",
        ),
        (
            "process access lsass granted access",
            "Microsoft-Windows-Sysmon/Operational:10",
        ),
        (
            "registry value set",
            "Microsoft-Windows-Sysmon/Operational:13",
        ),
        ("dns query", "Microsoft-Windows-Sysmon/Operational:22"),
        ("new service installed", "System:7045"),
        ("scheduled task creation", "T1053.005"),
        ("pass the hash", "T1550.002"),
        ("kerberoasting", "T1558.003"),
        ("credential access", "TA0006"),
    ];
    for (q, want) in cases {
        assert_eq!(top_ids(q, 1), [want], "query {q:?}");
    }
}

#[test]
fn ids_are_found_exactly() {
    assert_eq!(top_ids("T1003.001", 1), ["T1003.001"]);
    assert_eq!(top_ids("t1059.001", 1), ["T1059.001"]);
    assert_eq!(top_ids("TA0003", 1), ["TA0003"]);
    assert_eq!(top_ids("4688", 1), ["Security:4688"]);
    assert_eq!(
        top_ids("Sysmon 11", 1),
        ["Microsoft-Windows-Sysmon/Operational:11"]
    );
    assert_eq!(top_ids("security:4624", 1), ["Security:4624"]);
}

#[test]
fn kind_filter_restricts_hits() {
    let hits = kb()
        .search_kind("lsass memory dump", Some(HitKind::Event), 5)
        .unwrap();
    // Only four documented events mention any of these words.
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h.kind == HitKind::Event));
    let techs = kb()
        .search_kind("process creation", Some(HitKind::Technique), 10)
        .unwrap();
    assert!(techs.iter().all(|h| h.kind == HitKind::Technique));
}

#[test]
fn lookups() {
    let kb = kb();
    let t = kb.technique("t1003.001").unwrap();
    assert_eq!(t.name, "LSASS Memory");
    assert_eq!(t.tactics, ["Credential Access"]);
    assert_eq!(
        t.log_sources,
        ["WinEventLog:Security", "WinEventLog:Sysmon"]
    );
    assert!(kb.technique("T9999").is_none());
    assert_eq!(kb.subtechniques("T1003").len(), 8);
    assert_eq!(kb.tactic("credential-access").unwrap().id, "TA0006");
    assert_eq!(kb.tactic("TA0006").unwrap().name, "Credential Access");

    let by_name = [
        "Sysmon",
        "sysmon",
        "Microsoft-Windows-Sysmon",
        "Microsoft-Windows-Sysmon/Operational",
    ];
    for s in by_name {
        let e = kb.event(s, 1).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(e.title.as_deref(), Some("Event ID 1: Process creation"));
        assert_eq!(e.sigma_categories, ["process_creation"]);
    }
    let e = kb.event("Security", 4688).unwrap();
    assert_eq!(
        e.title.as_deref(),
        Some("Event ID 4688: A new process has been created")
    );
    assert_eq!(e.fields.len(), 15);
    assert_eq!(e.sigma_categories, ["process_creation"]);
    assert_eq!(
        kb.event("Microsoft-Windows-Security-Auditing", 4688),
        Some(e)
    );
    let e = kb.event("powershell", 4104).unwrap();
    assert_eq!(e.channel, "Microsoft-Windows-PowerShell/Operational");
    assert!(e.field_names().contains(&"ScriptBlockText"));
    assert_eq!(e.sigma_categories, ["ps_script"]);
    let svc = kb.event("system", 7045).unwrap();
    assert_eq!(
        svc.field_names(),
        [
            "ServiceName",
            "ImagePath",
            "ServiceType",
            "StartType",
            "AccountName"
        ]
    );
    assert!(kb.event("Sysmon", 4688).is_none());
    assert!(kb.event("nonsense", 1).is_none());
}

#[test]
fn rendering_carries_the_attributions() {
    let kb = kb();
    let notice = kb.attack_notice();
    assert_eq!(
        notice,
        "© 2025 The MITRE Corporation. This work is reproduced and distributed with the permission of The MITRE Corporation."
    );
    let text = render_hits(&kb.search("lsass memory dump", 3).unwrap(), notice);
    assert!(
        text.starts_with("1. [technique] T1003.001 — LSASS Memory\n"),
        "{text}"
    );
    assert!(text.contains(notice));
    let events = kb
        .search_kind("dns query", Some(HitKind::Event), 2)
        .unwrap();
    let text = render_hits(&events, notice);
    assert!(!text.contains("MITRE"), "{text}");
    assert!(text.contains("OSSEM"));
    assert!(
        text.contains("   fields: RuleName, UtcTime, ProcessGuid, ProcessId, QueryName"),
        "{text}"
    );
    let full = sv_kb::render_technique(kb.technique("T1003.001").unwrap(), notice);
    assert!(full.contains("DET0363"));
    assert!(full.trim_end().ends_with(notice));
}

#[test]
fn bad_queries_are_bounded() {
    let kb = kb();
    assert!(kb.search("", 10).unwrap().is_empty());
    assert!(kb.search("  ?!:() \"", 10).unwrap().is_empty());
    assert!(kb.search("the of and", 10).unwrap().is_empty());
    assert!(kb.search("lsass", 0).unwrap().is_empty());
    // Query-language syntax is plain text here, never a parse error.
    assert_eq!(top_ids("lsass AND (memory OR \"dump", 1), ["T1003.001"]);
    let long = "x".repeat(2001);
    assert!(matches!(
        kb.search(&long, 5),
        Err(KbError::QueryTooLong {
            len: 2001,
            max: 2000
        })
    ));
    // `limit` is capped by max_hits (100).
    assert_eq!(
        kb.search("windows event process file registry", 10_000)
            .unwrap()
            .len(),
        100
    );
}

#[test]
fn disk_cache_is_built_once_and_scores_like_ram() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data();
    let first = Kb::open_data_dir(&data, Some(tmp.path())).unwrap();
    assert!(!first.open_stats().cache_hit);
    let second = Kb::open_data_dir(&data, Some(tmp.path())).unwrap();
    assert!(second.open_stats().cache_hit);
    assert_eq!(first.content_hash(), kb().content_hash());
    let dirs: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(dirs, [std::ffi::OsString::from(first.content_hash())]);
    for q in ["lsass memory dump", "sysmon process creation", "4688"] {
        assert_eq!(
            second.search(q, 10).unwrap(),
            kb().search(q, 10).unwrap(),
            "{q}"
        );
    }
}

#[test]
fn broken_files_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let kb_dir = data().root.join("kb");
    for f in [
        "attack-techniques.jsonl",
        "attack-tactics.jsonl",
        "events.jsonl",
    ] {
        std::fs::copy(kb_dir.join(f), tmp.path().join(f)).unwrap();
    }
    let mut ev = std::fs::read_to_string(tmp.path().join("events.jsonl")).unwrap();
    ev.push_str("{\"channel\": \"x\", \"provider\": \"y\", \"event_id\": \"not a number\"}\n");
    std::fs::write(tmp.path().join("events.jsonl"), ev).unwrap();
    let err = Kb::open(tmp.path(), None).unwrap_err();
    assert!(
        matches!(&err, KbError::Parse { file, line: 2333, .. } if file == "events.jsonl"),
        "{err}"
    );

    let cfg = KbConfig {
        max_file_bytes: 1000,
        ..KbConfig::default()
    };
    let err = Kb::open_with(&kb_dir, cfg).unwrap_err();
    assert!(matches!(err, KbError::TooLarge { max: 1000, .. }), "{err}");

    let err = Kb::open(&tmp.path().join("missing"), None).unwrap_err();
    assert!(matches!(err, KbError::Io(..)), "{err}");

    // Without the licence file the built-in notice is used.
    std::fs::copy(kb_dir.join("events.jsonl"), tmp.path().join("events.jsonl")).unwrap();
    let kb = Kb::open(tmp.path(), None).unwrap();
    assert_eq!(kb.attack_notice(), sv_kb::ATTACK_NOTICE);
    assert!(kb.event("sysmon", 1).unwrap().sigma_categories.is_empty());
}
