//! One record's JSON (as the `evtx` crate renders it) → a flat list of `(key, kind, text)`.
//!
//! The naming rules are the contract with Sigma rules; `docs/events.md` lists them:
//! - System: scalar children keep their name (`EventID`, `Channel`, `Computer`, `Level`,
//!   `Task`, `Opcode`, `Keywords`, `Version`, `EventRecordID`); attributes become
//!   `Element_Attribute` (`Provider_Name`, `Provider_Guid`, `Execution_ProcessID`,
//!   `Security_UserID`, `Correlation_ActivityID`, `EventID_Qualifiers`), except
//!   `TimeCreated/@SystemTime`, which is `TimeCreated`. A `#text` beside attributes keeps the
//!   element's name (`EventID` with `Qualifiers`). `null` elements produce no field.
//! - Payload: `EventData/Data[@Name]` → `Name`; unnamed `Data` elements → `Data`, one
//!   field per element (repeated key, document order); `EventData/Binary` → `Binary` (kind
//!   Binary); attributes of `EventData` itself → `EventData_Attr`. `UserData` and any other
//!   top-level element: the children of its single child element, by name. Nested elements are
//!   named by their leaf name, or `Parent_Leaf` when the leaf name is already taken in the
//!   record; arrays give repeated keys; `xmlns` attributes are dropped, others become
//!   `Element_Attr`.
//! - A payload name equal to a System name is stored as `EventData_Name` / `UserData_Name`
//!   (`UserData/LogFileCleared/Channel` → `UserData_Channel`): payload never shadows System.
//! - Channel `Windows PowerShell` (classic events 400/403/600/800): each `Key=Value` line of
//!   the `Data` texts also becomes a field `Key` (`HostApplication`, `HostName`,
//!   `EngineVersion`, ...) unless the record already has that key.

use serde_json::{Map, Value as Json};

use crate::value::ValueKind;

/// System field names, in the order they are emitted.
pub const SYSTEM_KEYS: &[&str] = &[
    "Provider_Name",
    "Provider_Guid",
    "Provider_EventSourceName",
    "EventID",
    "EventID_Qualifiers",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "TimeCreated",
    "EventRecordID",
    "Correlation_ActivityID",
    "Correlation_RelatedActivityID",
    "Execution_ProcessID",
    "Execution_ThreadID",
    "Channel",
    "Computer",
    "Security_UserID",
];

/// Where normalised fields go. `key_exists` lets the normaliser avoid collisions.
pub(crate) trait Sink {
    fn emit(&mut self, key: &str, kind: ValueKind, text: &str);
    fn key_exists(&self, key: &str) -> bool;
}

/// Limits that apply while flattening one record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlattenLimits {
    pub max_value_bytes: usize,
    pub max_fields: usize,
    pub max_depth: usize,
}

/// Counters of what the limits cut.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FlattenStats {
    pub values_truncated: usize,
    pub fields_dropped: usize,
}

pub(crate) struct Flattener<'s, S: Sink> {
    pub sink: &'s mut S,
    pub limits: FlattenLimits,
    pub stats: FlattenStats,
    /// How many of the emitted fields (the last ones) were derived, not read from the record
    /// (classic PowerShell `Key=Value` fields).
    pub derived: usize,
    emitted: usize,
}

/// The JSON scalar's kind and text form; `None` for arrays and objects.
pub(crate) fn scalar(v: &Json) -> Option<(ValueKind, std::borrow::Cow<'_, str>)> {
    use std::borrow::Cow;
    Some(match v {
        Json::String(s) => (ValueKind::Str, Cow::Borrowed(s.as_str())),
        Json::Number(n) => {
            let kind = if n.is_i64() {
                ValueKind::Int
            } else if n.is_u64() {
                ValueKind::UInt
            } else {
                ValueKind::Float
            };
            (kind, Cow::Owned(n.to_string()))
        }
        Json::Bool(b) => (
            ValueKind::Bool,
            Cow::Borrowed(if *b { "true" } else { "false" }),
        ),
        Json::Null => (ValueKind::Null, Cow::Borrowed("")),
        Json::Array(_) | Json::Object(_) => return None,
    })
}

impl<'s, S: Sink> Flattener<'s, S> {
    pub fn new(sink: &'s mut S, limits: FlattenLimits) -> Self {
        Flattener {
            sink,
            limits,
            stats: FlattenStats::default(),
            derived: 0,
            emitted: 0,
        }
    }

    /// Flattens one record: `{"Event": {...}}`, or a bare `{"System":.., "EventData":..}`, or
    /// a flat `{"Field": value}` object (every key a payload field unless it is a System name).
    pub fn record(&mut self, json: &Json) {
        let Some(root) = json.as_object() else {
            return;
        };
        let event = match root.get("Event").and_then(Json::as_object) {
            Some(e) => e,
            None if root.contains_key("System") => root,
            None => return self.flat(root),
        };
        if let Some(sys) = event.get("System").and_then(Json::as_object) {
            self.system(sys);
        }
        let mut channel_is_classic_ps = false;
        if let Some(sys) = event.get("System").and_then(Json::as_object) {
            channel_is_classic_ps =
                sys.get("Channel").and_then(Json::as_str) == Some("Windows PowerShell");
        }
        for (name, v) in event {
            match name.as_str() {
                "System" | "#attributes" => {}
                "EventData" => self.event_data(v),
                _ => self.user_data(name, v),
            }
        }
        if channel_is_classic_ps {
            let before = self.emitted;
            self.powershell_classic(event);
            self.derived = self.emitted - before;
        }
    }

    fn flat(&mut self, root: &Map<String, Json>) {
        for (k, v) in root {
            let key = if SYSTEM_KEYS.contains(&k.as_str()) || !self.sink.key_exists(k) {
                k.clone()
            } else {
                format!("EventData_{k}")
            };
            self.values(&key, v, 0);
        }
    }

    fn system(&mut self, sys: &Map<String, Json>) {
        for (name, v) in sys {
            match v {
                Json::Object(o) => {
                    if let Some(t) = o.get("#text") {
                        self.values(name, t, 0);
                    }
                    if let Some(Json::Object(attrs)) = o.get("#attributes") {
                        for (a, av) in attrs {
                            if a.starts_with("xmlns") {
                                continue;
                            }
                            if name == "TimeCreated" && a == "SystemTime" {
                                self.values("TimeCreated", av, 0);
                            } else {
                                let key = format!("{name}_{a}");
                                self.values(&key, av, 0);
                            }
                        }
                    }
                }
                Json::Null => {}
                _ => self.values(name, v, 0),
            }
        }
    }

    fn event_data(&mut self, v: &Json) {
        let Json::Object(o) = v else {
            // `EventData` with plain text content (rare): keep it as `Data`.
            if !v.is_null() {
                self.values("Data", v, 0);
            }
            return;
        };
        for (name, child) in o {
            match name.as_str() {
                "#attributes" => self.attributes("EventData", child),
                "Data" => self.unnamed_data(child),
                "#text" => self.values("Data", child, 0),
                "Binary" => self.binary(child),
                _ => self.payload("EventData", name, child, 0),
            }
        }
    }

    fn unnamed_data(&mut self, v: &Json) {
        match v {
            Json::Object(o) => {
                if let Some(t) = o.get("#text") {
                    self.values("Data", t, 0);
                }
                for (k, c) in o {
                    if k != "#text" && k != "#attributes" {
                        self.payload("EventData", k, c, 1);
                    }
                }
            }
            other => self.values("Data", other, 0),
        }
    }

    fn binary(&mut self, v: &Json) {
        match v {
            Json::String(s) => self.put("Binary", ValueKind::Binary, s),
            Json::Null => self.put("Binary", ValueKind::Null, ""),
            other => self.values("Binary", other, 0),
        }
    }

    /// `UserData` (or another top-level element): the children of its single child element.
    fn user_data(&mut self, container: &str, v: &Json) {
        let Json::Object(o) = v else {
            if !v.is_null() {
                self.payload("UserData", container, v, 0);
            }
            return;
        };
        let prefix = if container == "UserData" {
            "UserData"
        } else {
            "EventData"
        };
        let elements: Vec<_> = o.iter().filter(|(k, _)| *k != "#attributes").collect();
        if container == "UserData" && elements.len() == 1 {
            let (child_name, child) = elements[0];
            match child {
                Json::Object(co) => {
                    for (k, c) in co {
                        match k.as_str() {
                            "#attributes" => self.attributes(child_name, c),
                            "#text" => self.payload(prefix, child_name, c, 1),
                            _ => self.payload(prefix, k, c, 1),
                        }
                    }
                }
                other => self.payload(prefix, child_name, other, 1),
            }
        } else {
            for (k, c) in o {
                match k.as_str() {
                    "#attributes" => self.attributes(container, c),
                    "#text" => self.payload(prefix, container, c, 1),
                    _ => self.payload(prefix, k, c, 1),
                }
            }
        }
    }

    /// A payload element named `name` (its leaf name), with collision rules applied.
    fn payload(&mut self, prefix: &str, name: &str, v: &Json, depth: usize) {
        if depth > self.limits.max_depth {
            self.stats.fields_dropped += 1;
            return;
        }
        let key = if SYSTEM_KEYS.contains(&name) {
            format!("{prefix}_{name}")
        } else {
            name.to_string()
        };
        self.payload_named(&key, v, depth);
    }

    /// Like `payload` with the key already decided.
    fn payload_named(&mut self, key: &str, v: &Json, depth: usize) {
        if depth > self.limits.max_depth {
            self.stats.fields_dropped += 1;
            return;
        }
        match v {
            Json::Object(o) => {
                if let Some(t) = o.get("#text") {
                    self.values(key, t, depth);
                }
                for (k, c) in o {
                    match k.as_str() {
                        "#text" => {}
                        "#attributes" => self.attributes(key, c),
                        _ => {
                            let child_key =
                                if self.sink.key_exists(k) || SYSTEM_KEYS.contains(&k.as_str()) {
                                    format!("{key}_{k}")
                                } else {
                                    k.clone()
                                };
                            self.payload_named(&child_key, c, depth + 1);
                        }
                    }
                }
            }
            _ => self.values(key, v, depth),
        }
    }

    fn attributes(&mut self, element: &str, attrs: &Json) {
        let Json::Object(a) = attrs else { return };
        for (name, v) in a {
            if name.starts_with("xmlns") {
                continue;
            }
            let key = format!("{element}_{name}");
            self.values(&key, v, 0);
        }
    }

    /// Emits a scalar, or each element of an array under the same key.
    fn values(&mut self, key: &str, v: &Json, depth: usize) {
        match v {
            Json::Array(items) => {
                for item in items {
                    if depth > self.limits.max_depth {
                        self.stats.fields_dropped += 1;
                        return;
                    }
                    self.values(key, item, depth + 1);
                }
            }
            // An object where a value was expected: flatten it below this key.
            Json::Object(_) => self.payload_named(key, v, depth + 1),
            _ => {
                if let Some((kind, text)) = scalar(v) {
                    self.put(key, kind, &text);
                }
            }
        }
    }

    fn put(&mut self, key: &str, kind: ValueKind, text: &str) {
        if self.emitted >= self.limits.max_fields {
            self.stats.fields_dropped += 1;
            return;
        }
        self.emitted += 1;
        if text.len() > self.limits.max_value_bytes {
            let mut cut = self.limits.max_value_bytes;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.stats.values_truncated += 1;
            self.sink.emit(key, kind, &text[..cut]);
        } else {
            self.sink.emit(key, kind, text);
        }
    }

    /// `Key=Value` lines of classic PowerShell `Data` texts become fields.
    fn powershell_classic(&mut self, event: &Map<String, Json>) {
        let Some(Json::Object(ed)) = event.get("EventData") else {
            return;
        };
        let mut texts: Vec<&str> = Vec::new();
        match ed.get("Data") {
            Some(Json::String(s)) => texts.push(s),
            Some(Json::Object(o)) => match o.get("#text") {
                Some(Json::String(s)) => texts.push(s),
                Some(Json::Array(a)) => texts.extend(a.iter().filter_map(Json::as_str)),
                _ => {}
            },
            Some(Json::Array(a)) => texts.extend(a.iter().filter_map(Json::as_str)),
            _ => {}
        }
        for text in texts {
            for (k, v) in key_value_lines(text) {
                if self.sink.key_exists(k) || SYSTEM_KEYS.contains(&k) {
                    continue;
                }
                self.put(k, ValueKind::Str, v);
            }
        }
    }
}

/// The `Key=Value` lines of a classic PowerShell message (keys are identifiers).
pub(crate) fn key_value_lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split('\n').filter_map(|line| {
        let line = line.trim_start_matches([' ', '\t']).trim_end_matches('\r');
        let (k, v) = line.split_once('=')?;
        let mut chars = k.chars();
        let first = chars.next()?;
        (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some((k, v.trim_end()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct VecSink(Vec<(String, ValueKind, String)>);
    impl Sink for VecSink {
        fn emit(&mut self, key: &str, kind: ValueKind, text: &str) {
            self.0.push((key.into(), kind, text.into()));
        }
        fn key_exists(&self, key: &str) -> bool {
            self.0.iter().any(|(k, _, _)| k == key)
        }
    }

    fn flatten(j: &Json) -> Vec<(String, ValueKind, String)> {
        let mut s = VecSink::default();
        let limits = FlattenLimits {
            max_value_bytes: 1 << 20,
            max_fields: 4096,
            max_depth: 16,
        };
        Flattener::new(&mut s, limits).record(j);
        s.0
    }

    fn get<'a>(f: &'a [(String, ValueKind, String)], k: &str) -> Vec<&'a str> {
        f.iter()
            .filter(|(kk, _, _)| kk == k)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    #[test]
    fn system_names() {
        let f = flatten(&json!({"Event": {"#attributes": {"xmlns": "x"}, "System": {
            "Provider": {"#attributes": {"Name": "P", "Guid": "G"}},
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 3001},
            "TimeCreated": {"#attributes": {"SystemTime": "2019-01-01T00:00:00Z"}},
            "Security": null, "Channel": "Security", "Keywords": "0x8020000000000000",
            "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}}
        }}}));
        assert_eq!(get(&f, "Provider_Name"), ["P"]);
        assert_eq!(get(&f, "Provider_Guid"), ["G"]);
        assert_eq!(get(&f, "EventID"), ["3001"]);
        assert_eq!(get(&f, "EventID_Qualifiers"), ["16384"]);
        assert_eq!(get(&f, "TimeCreated"), ["2019-01-01T00:00:00Z"]);
        assert_eq!(get(&f, "Execution_ThreadID"), ["8"]);
        assert!(get(&f, "Security_UserID").is_empty());
        assert_eq!(f.len(), 9);
    }

    #[test]
    fn payload_never_shadows_system() {
        let f = flatten(
            &json!({"Event": {"System": {"Channel": "System", "EventID": 104},
            "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "u"},
                "SubjectUserName": "bob", "Channel": "Security"}}}}),
        );
        assert_eq!(get(&f, "Channel"), ["System"]);
        assert_eq!(get(&f, "UserData_Channel"), ["Security"]);
        assert_eq!(get(&f, "SubjectUserName"), ["bob"]);
        assert_eq!(get(&f, "EventID")[0], "104");
        assert_eq!(f[1].1, ValueKind::Int);
    }

    #[test]
    fn unnamed_data_and_binary() {
        let f = flatten(&json!({"Event": {"System": {"EventID": 18456},
            "EventData": {"Data": {"#text": ["sa", " Reason: x", " [CLIENT: 10.0.2.17]"]},
                          "Binary": "184800"}}}));
        assert_eq!(
            get(&f, "Data"),
            ["sa", " Reason: x", " [CLIENT: 10.0.2.17]"]
        );
        let bin: Vec<_> = f.iter().filter(|(k, _, _)| k == "Binary").collect();
        assert_eq!(bin[0].1, ValueKind::Binary);
    }

    #[test]
    fn powershell_classic_key_values() {
        let f = flatten(
            &json!({"Event": {"System": {"EventID": 400, "Channel": "Windows PowerShell"},
            "EventData": {"Data": {"#text": ["Available", "None",
              "\tNewEngineState=Available\r\n\tHostName=ConsoleHost\r\n\tHostApplication=powershell.exe -nop -c x=1\r\n\tEngineVersion=5.1\r\n\tNot a pair\r\n"]}}}}),
        );
        assert_eq!(get(&f, "HostName"), ["ConsoleHost"]);
        assert_eq!(get(&f, "HostApplication"), ["powershell.exe -nop -c x=1"]);
        assert_eq!(get(&f, "EngineVersion"), ["5.1"]);
        assert_eq!(get(&f, "Data").len(), 3);
    }

    #[test]
    fn flat_shape_and_limits() {
        let f = flatten(&json!({"EventID": 1, "Image": "C:\\a.exe", "CommandLine": ["a", "b"]}));
        assert_eq!(get(&f, "Image"), ["C:\\a.exe"]);
        assert_eq!(get(&f, "CommandLine"), ["a", "b"]);
        let mut s = VecSink::default();
        let limits = FlattenLimits {
            max_value_bytes: 3,
            max_fields: 2,
            max_depth: 16,
        };
        let mut fl = Flattener::new(&mut s, limits);
        fl.record(&json!({"A": "ééé", "B": 1, "C": 2}));
        assert_eq!(fl.stats.values_truncated, 1);
        assert_eq!(fl.stats.fields_dropped, 1);
        assert_eq!(s.0[0].2, "é");
    }
}
