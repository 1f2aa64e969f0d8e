//! Any bytes as a rule file: compile must return Ok or a RuleError, never panic, and a
//! compiled rule must evaluate without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn engine() -> &'static sv_sigma::Engine {
    static E: OnceLock<sv_sigma::Engine> = OnceLock::new();
    E.get_or_init(|| {
        sv_sigma::Engine::new(sv_sigma::EngineConfig::default())
            .expect("data folder with sigma/reference/thor.yml")
    })
}

fn store() -> &'static sv_events::EventStore {
    static S: OnceLock<sv_events::EventStore> = OnceLock::new();
    S.get_or_init(|| {
        sv_events::EventStore::from_json_events([serde_json::json!({"Event": {"System": {"EventID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational"}, "EventData": {"CommandLine": "cmd /c whoami", "Image": "C:\\x.exe"}}})])
        .expect("store")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rules) = engine().compile_str(text, "fuzz.yml") {
            for r in rules {
                let _ = r.evaluate(store());
            }
        }
    }
});
