//! Parsing one EVTX file into locally interned, normalised records (runs in parallel).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use evtx::{EvtxParser, ParserSettings};
use hashbrown::HashTable;
use serde_json::Value as Json;
use xxhash_rust::xxh3::xxh3_64;

use crate::normalise::{FlattenLimits, FlattenStats, Flattener, Sink};
use crate::value::ValueKind;
use crate::Limits;

/// Strings interned within one file (merged into the store's interner afterwards): one
/// allocation per distinct string, found again by hash.
#[derive(Default)]
pub(crate) struct LocalStrings {
    pub list: Vec<Box<str>>,
    table: HashTable<u32>,
}

impl LocalStrings {
    fn intern(&mut self, s: &str) -> u32 {
        let h = xxh3_64(s.as_bytes());
        let list = &self.list;
        if let Some(&i) = self.table.find(h, |&i| &*list[i as usize] == s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s.into());
        let list = &self.list;
        self.table
            .insert_unique(h, i, |&j| xxh3_64(list[j as usize].as_bytes()));
        i
    }
}

/// Normalised records of one file: `(key, kind, value)` with local string ids.
#[derive(Default)]
pub(crate) struct ParsedRecords {
    pub strings: LocalStrings,
    pub fields: Vec<(u32, ValueKind, u32)>,
    /// Per record: its header id, the end of its fields in `fields`, and how many of its
    /// last fields are derived.
    pub records: Vec<(u64, u32, u16)>,
    pub stats: FlattenStats,
}

struct RecordSink<'a> {
    out: &'a mut ParsedRecords,
    start: usize,
}

impl Sink for RecordSink<'_> {
    fn emit(&mut self, key: &str, kind: ValueKind, text: &str) {
        let k = self.out.strings.intern(key);
        let v = self.out.strings.intern(text);
        self.out.fields.push((k, kind, v));
    }

    fn key_exists(&self, key: &str) -> bool {
        self.out.fields[self.start..]
            .iter()
            .any(|&(k, _, _)| &*self.out.strings.list[k as usize] == key)
    }
}

impl ParsedRecords {
    /// Flattens one record's JSON and appends it.
    pub fn push_json(&mut self, record_id: u64, json: &Json, limits: &Limits) {
        let start = self.fields.len();
        let mut sink = RecordSink { out: self, start };
        let mut f = Flattener::new(&mut sink, flatten_limits(limits));
        f.record(json);
        let stats = f.stats;
        let derived = u16::try_from(f.derived).unwrap_or(u16::MAX);
        self.stats.values_truncated += stats.values_truncated;
        self.stats.fields_dropped += stats.fields_dropped;
        self.records
            .push((record_id, self.fields.len() as u32, derived));
    }
}

pub(crate) fn flatten_limits(l: &Limits) -> FlattenLimits {
    FlattenLimits {
        max_value_bytes: l.max_value_bytes,
        max_fields: l.max_fields_per_record,
        max_depth: l.max_depth,
    }
}

/// What became of one file.
pub(crate) enum FileOutcome {
    /// Parsed; `problem` says why some records were lost (truncated file, record limit).
    Parsed {
        records: ParsedRecords,
        failed: usize,
        problem: Option<String>,
    },
    /// Nothing usable: the reason.
    Skipped(String),
}

/// Reads and parses one file, never panicking: a parser panic becomes a skip reason.
pub(crate) fn parse_file(path: &Path, limits: &Limits) -> FileOutcome {
    match std::fs::metadata(path) {
        Err(e) => return FileOutcome::Skipped(format!("cannot read: {e}")),
        Ok(m) if m.len() > limits.max_file_bytes => {
            return FileOutcome::Skipped(format!(
                "file is {} bytes, over the limit of {} (Limits::max_file_bytes)",
                m.len(),
                limits.max_file_bytes
            ))
        }
        Ok(_) => {}
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return FileOutcome::Skipped(format!("cannot read: {e}")),
    };
    match catch_unwind(AssertUnwindSafe(|| parse_bytes(bytes, limits))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            FileOutcome::Skipped(format!("the EVTX parser failed on this file: {msg}"))
        }
    }
}

/// Parses EVTX bytes.
pub(crate) fn parse_bytes(bytes: Vec<u8>, limits: &Limits) -> FileOutcome {
    let truncation = truncation(&bytes);
    let settings = ParserSettings::new().num_threads(1);
    let mut parser = match EvtxParser::from_buffer(bytes) {
        Ok(p) => p.with_configuration(settings),
        Err(e) => return FileOutcome::Skipped(format!("not a valid EVTX file: {e}")),
    };
    let mut out = ParsedRecords::default();
    let mut failed = 0usize;
    let mut first_error: Option<String> = None;
    let mut over_limit = false;
    for rec in parser.records_json_value() {
        if out.records.len() >= limits.max_records_per_file {
            over_limit = true;
            break;
        }
        match rec {
            Ok(r) => out.push_json(r.event_record_id, &r.data, limits),
            Err(e) => {
                failed += 1;
                if first_error.is_none() {
                    first_error = Some(e.to_string());
                }
                if failed > limits.max_record_errors_per_file {
                    break;
                }
            }
        }
    }
    let mut problem =
        first_error.map(|e| format!("{failed} record(s) could not be parsed (first: {e})"));
    if let Some(t) = truncation {
        problem = Some(match problem {
            Some(p) => format!("{t}; {p}"),
            None => t,
        });
    }
    if over_limit {
        let msg = format!(
            "stopped after {} records (Limits::max_records_per_file)",
            limits.max_records_per_file
        );
        problem = Some(match problem {
            Some(p) => format!("{p}; {msg}"),
            None => msg,
        });
    }
    if out.records.is_empty() && failed > 0 {
        return FileOutcome::Skipped(problem.unwrap_or_default());
    }
    FileOutcome::Parsed {
        records: out,
        failed,
        problem,
    }
}

/// The EVTX file header declares its chunk count (u16 at offset 42); the parser silently
/// stops at a missing chunk, so a file shorter than declared is reported here.
fn truncation(bytes: &[u8]) -> Option<String> {
    const HEADER: usize = 4096;
    const CHUNK: usize = 65536;
    if bytes.len() < HEADER || !bytes.starts_with(b"ElfFile\0") {
        return None;
    }
    let declared = u16::from_le_bytes([bytes[42], bytes[43]]) as usize;
    let whole = (bytes.len() - HEADER) / CHUNK;
    let partial = !(bytes.len() - HEADER).is_multiple_of(CHUNK);
    (whole < declared).then(|| {
        format!(
            "file is truncated: its header declares {declared} chunks, it holds {whole} whole chunk(s){}",
            if partial { " and part of another" } else { "" }
        )
    })
}
