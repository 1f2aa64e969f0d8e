//! Turning matched deduplicated events into output rows, one per (rule, file, record),
//! the way Chainsaw reports a detection in every file that holds the event.

use std::cmp::Ordering;

use roaring::RoaringBitmap;
use serde::Serialize;
use sv_events::{EventIdx, EventStore};

/// What a hunt row says about its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// `id`, or empty when the rule has none.
    pub id: String,
    pub title: String,
    pub path: String,
    /// `level`, or empty.
    pub level: String,
}

/// One detection as printed: a rule, one file holding the matched event, and the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HuntRow {
    pub rule_id: String,
    pub rule_title: String,
    pub rule_path: String,
    pub rule_level: String,
    /// The file, relative to the `--evtx` root it was found under.
    pub evtx_file: String,
    pub event_record_id: u64,
    pub channel: String,
    /// `EventID` as a number; `None` where the record has none or it is not a number.
    pub event_id: Option<u32>,
    pub computer: String,
    /// `System/TimeCreated/@SystemTime` as stored (RFC 3339, UTC).
    pub timestamp: String,
    /// The deduplicated event (index into the store; not serialised for users).
    #[serde(skip)]
    pub event: u32,
}

impl HuntRow {
    /// The deterministic output order: rule id, rule path, file, record.
    pub fn order(a: &HuntRow, b: &HuntRow) -> Ordering {
        (&a.rule_id, &a.rule_path, &a.evtx_file, a.event_record_id).cmp(&(
            &b.rule_id,
            &b.rule_path,
            &b.evtx_file,
            b.event_record_id,
        ))
    }
}

/// Expands one rule's matches into rows (unsorted): one per origin of each event.
pub fn expand(
    store: &EventStore,
    rule: &RuleInfo,
    matches: &RoaringBitmap,
    out: &mut Vec<HuntRow>,
) {
    for ev in matches.iter() {
        let idx = EventIdx(ev);
        let sys = store.system(idx);
        let text = |s: Option<sv_events::Sym>| {
            s.map(|s| store.strings().get(s).to_string())
                .unwrap_or_default()
        };
        let channel = text(sys.channel);
        let computer = text(sys.computer);
        let timestamp = text(sys.time_created);
        for o in store.origins(idx) {
            out.push(HuntRow {
                rule_id: rule.id.clone(),
                rule_title: rule.title.clone(),
                rule_path: rule.path.clone(),
                rule_level: rule.level.clone(),
                evtx_file: path_text(store.file_path(o.file)),
                event_record_id: o.record_id,
                channel: channel.clone(),
                event_id: sys.event_id,
                computer: computer.clone(),
                timestamp: timestamp.clone(),
                event: ev,
            });
        }
    }
}

/// A path as `/`-separated text, the same on every platform.
pub fn path_text(p: &std::path::Path) -> String {
    let s = p.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        s.into_owned()
    } else {
        s.replace(std::path::MAIN_SEPARATOR, "/")
    }
}
