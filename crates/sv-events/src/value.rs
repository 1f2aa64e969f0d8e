//! Small identifier and value types shared by the whole store.

/// An interned string: an index into the store's [`crate::Interner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(pub u32);

/// The index of a deduplicated event (the unit Sigma scores count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventIdx(pub u32);

/// The index of a loaded file, in load order (sorted by path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// What JSON type the `evtx` parser gave a value; its text is always in [`Value::sym`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A JSON string.
    Str = 0,
    /// A JSON integer that fits `i64`.
    Int = 1,
    /// A JSON integer above `i64::MAX`.
    UInt = 2,
    /// A JSON number with a fraction or exponent.
    Float = 3,
    /// A JSON boolean (`true`/`false`).
    Bool = 4,
    /// JSON `null`: an element present without content; its text is `""`.
    Null = 5,
    /// The `EventData/Binary` element: the hex string the parser renders.
    Binary = 6,
    /// Anything else (kept for forward compatibility of snapshots).
    Other = 7,
}

impl ValueKind {
    pub(crate) fn from_u8(b: u8) -> Option<ValueKind> {
        Some(match b {
            0 => ValueKind::Str,
            1 => ValueKind::Int,
            2 => ValueKind::UInt,
            3 => ValueKind::Float,
            4 => ValueKind::Bool,
            5 => ValueKind::Null,
            6 => ValueKind::Binary,
            7 => ValueKind::Other,
            _ => return None,
        })
    }

    /// True for the JSON number kinds.
    pub fn is_number(self) -> bool {
        matches!(self, ValueKind::Int | ValueKind::UInt | ValueKind::Float)
    }
}

/// One field value: its text form (as the `evtx` crate's JSON renders it) and its JSON kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value {
    pub sym: Sym,
    pub kind: ValueKind,
}

/// Where a deduplicated event was found: one (file, EventRecordID) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: FileId,
    /// `System/EventRecordID` as stored in the event (what Chainsaw and Event Viewer show);
    /// the record header's id when the event has none.
    pub record_id: u64,
    /// The record header's id. It differs from `record_id` in filtered or re-exported logs,
    /// where records are renumbered from 1; tools such as `evtx_dump` show this one.
    pub header_id: u64,
}

/// The System fields most callers need, already resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct System {
    /// `System/Channel` (absent on some exported or forwarded records).
    pub channel: Option<Sym>,
    /// `System/Provider/@Name`.
    pub provider: Option<Sym>,
    /// `System/EventID` read as a number (also when the log stores it as a string).
    pub event_id: Option<u32>,
    /// `System/EventID` text as rendered.
    pub event_id_raw: Option<Sym>,
    /// `System/Computer`.
    pub computer: Option<Sym>,
    /// `System/EventRecordID` read as a number.
    pub record_id: Option<u64>,
    /// `System/TimeCreated/@SystemTime` text (RFC 3339, UTC).
    pub time_created: Option<Sym>,
}
