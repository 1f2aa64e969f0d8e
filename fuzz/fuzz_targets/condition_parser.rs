//! Any string as a condition: parse returns Ok or a RuleError, never panics or recurses
//! without bound.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = sv_sigma::condition::parse_condition(s, 16 << 10, 64);
    }
});
