//! The deduplicated event store: per-event field lists, provenance, and the columnar
//! partitions by (Channel, EventID) that Sigma evaluation scans.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use roaring::RoaringBitmap;
use serde_json::{Map, Value as Json};

use crate::interner::Interner;
use crate::value::{EventIdx, FileId, Origin, Sym, System, Value, ValueKind};

/// The rows of one (Channel, EventID) pair, with one column per key present in them.
#[derive(Debug, Clone)]
pub struct Partition {
    /// `None` for records without a `System/Channel`.
    pub channel: Option<Sym>,
    /// `None` for records whose `EventID` is missing or not a number.
    pub event_id: Option<u32>,
    /// The global event indexes in this partition.
    pub rows: RoaringBitmap,
    pub(crate) row_ids: Vec<EventIdx>,
    /// Keys present in at least one row, sorted by symbol; `columns[i]` belongs to `keys[i]`.
    pub(crate) keys: Vec<Sym>,
    pub(crate) columns: Vec<Vec<Option<Value>>>,
    /// Keys that hold more than one value in some row (e.g. unnamed `Data`), sorted.
    pub(crate) multi: Vec<Sym>,
}

impl Partition {
    /// The events of this partition in ascending order; columns are aligned with it.
    pub fn row_ids(&self) -> &[EventIdx] {
        &self.row_ids
    }

    /// The values of `key` for each row (`None` where the event lacks the key). A key with
    /// several values in one event (see [`Partition::is_multi_valued`]) holds its first value
    /// here; use [`EventStore::values`] for all of them.
    pub fn column(&self, key: Sym) -> Option<&[Option<Value>]> {
        let i = self.keys.binary_search(&key).ok()?;
        Some(&self.columns[i])
    }

    /// The keys that have a column here, sorted by symbol.
    pub fn keys(&self) -> &[Sym] {
        &self.keys
    }

    /// True when some event of this partition has several values for `key`.
    pub fn is_multi_valued(&self, key: Sym) -> bool {
        self.multi.binary_search(&key).is_ok()
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.row_ids.len()
    }

    /// True when the partition has no events (never for a partition of a built store).
    pub fn is_empty(&self) -> bool {
        self.row_ids.is_empty()
    }
}

/// The event store. Build it with [`EventStore::load`] or [`EventStore::from_json_events`].
#[derive(Debug, Clone, Default)]
pub struct EventStore {
    pub(crate) strings: Interner,
    /// All events' fields back to back; event `i` owns `fields[field_ends[i-1]..field_ends[i]]`.
    pub(crate) fields: Vec<(Sym, Value)>,
    pub(crate) field_ends: Vec<u32>,
    /// Per event: how many of its last fields are derived (classic PowerShell `Key=Value`).
    pub(crate) derived: Vec<u16>,
    pub(crate) origins: Vec<Origin>,
    pub(crate) origin_ends: Vec<u32>,
    pub(crate) files: Vec<PathBuf>,
    // Derived on build and on snapshot load.
    pub(crate) systems: Vec<System>,
    pub(crate) partitions: Vec<Partition>,
    pub(crate) partition_index: HashMap<(Option<Sym>, Option<u32>), usize>,
    pub(crate) all: RoaringBitmap,
}

impl EventStore {
    /// The number of deduplicated events.
    pub fn len(&self) -> usize {
        self.field_ends.len()
    }

    /// True when the store holds no event.
    pub fn is_empty(&self) -> bool {
        self.field_ends.is_empty()
    }

    /// The string arena.
    pub fn strings(&self) -> &Interner {
        &self.strings
    }

    /// The symbol of a field name, if any event uses it (or it is a System name that occurs).
    pub fn key(&self, field_name: &str) -> Option<Sym> {
        self.strings.lookup(field_name)
    }

    /// The first value of `key` in event `ev`.
    pub fn value(&self, ev: EventIdx, key: Sym) -> Option<Value> {
        self.fields(ev)
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// Every value of `key` in event `ev`, in document order (several for unnamed `Data`).
    pub fn values(&self, ev: EventIdx, key: Sym) -> impl Iterator<Item = Value> + '_ {
        self.fields(ev)
            .iter()
            .filter(move |(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// All fields of an event: System fields first, then the payload, in document order.
    /// A key may repeat (unnamed `Data` elements, arrays).
    pub fn fields(&self, ev: EventIdx) -> &[(Sym, Value)] {
        let i = ev.0 as usize;
        let start = if i == 0 {
            0
        } else {
            self.field_ends[i - 1] as usize
        };
        &self.fields[start..self.field_ends[i] as usize]
    }

    /// The fields read from the record itself: [`EventStore::fields`] without the derived
    /// ones (the classic PowerShell `Key=Value` fields, see `docs/events.md`). Tools that
    /// must see only what the log holds (Chainsaw-compatible matching) use this.
    pub fn raw_fields(&self, ev: EventIdx) -> &[(Sym, Value)] {
        let f = self.fields(ev);
        &f[..f.len() - (self.derived[ev.0 as usize] as usize).min(f.len())]
    }

    /// True when `key` exists in event `ev` only as a derived field.
    pub fn is_derived(&self, ev: EventIdx, key: Sym) -> bool {
        let f = self.fields(ev);
        let raw = self.raw_fields(ev).len();
        f[raw..].iter().any(|(k, _)| *k == key) && !f[..raw].iter().any(|(k, _)| *k == key)
    }

    /// The resolved System fields of an event.
    pub fn system(&self, ev: EventIdx) -> System {
        self.systems[ev.0 as usize]
    }

    /// All partitions, ordered by channel text (records without channel first), then EventID.
    pub fn partitions(&self) -> impl Iterator<Item = &Partition> {
        self.partitions.iter()
    }

    /// The partition of exactly this channel (case-sensitive, as stored) and EventID.
    pub fn partition(&self, channel: &str, event_id: u32) -> Option<&Partition> {
        let ch = self.strings.lookup(channel)?;
        self.partition_index
            .get(&(Some(ch), Some(event_id)))
            .map(|&i| &self.partitions[i])
    }

    /// The partition for a channel symbol and EventID, either possibly absent.
    pub fn partition_by(&self, channel: Option<Sym>, event_id: Option<u32>) -> Option<&Partition> {
        self.partition_index
            .get(&(channel, event_id))
            .map(|&i| &self.partitions[i])
    }

    /// Every event.
    pub fn all_rows(&self) -> &RoaringBitmap {
        &self.all
    }

    /// Every (file, EventRecordID) holding this event, in load order.
    pub fn origins(&self, ev: EventIdx) -> &[Origin] {
        let i = ev.0 as usize;
        let start = if i == 0 {
            0
        } else {
            self.origin_ends[i - 1] as usize
        };
        &self.origins[start..self.origin_ends[i] as usize]
    }

    /// The file's path relative to the load root it was found under (the path as given
    /// when the root was a file; `<json>` for [`EventStore::from_json_events`]).
    pub fn file_path(&self, f: FileId) -> &Path {
        &self.files[f.0 as usize]
    }

    /// The number of files that contributed events or were loaded.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// A flat JSON object of the event's fields (`{"EventID": 4688, "Channel": "Security",
    /// ...}`), numbers and booleans typed as parsed; a repeated key gives an array.
    pub fn to_json(&self, ev: EventIdx) -> Json {
        let mut out = Map::new();
        for (k, v) in self.fields(ev) {
            let key = self.strings.get(*k);
            let val = self.json_value(*v);
            match out.get_mut(key) {
                None => {
                    out.insert(key.to_string(), val);
                }
                // Values are scalars, so an array here is one this loop made.
                Some(Json::Array(a)) => a.push(val),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Json::Array(vec![first, val]);
                }
            }
        }
        Json::Object(out)
    }

    fn json_value(&self, v: Value) -> Json {
        let text = self.strings.get(v.sym);
        match v.kind {
            ValueKind::Int | ValueKind::UInt | ValueKind::Float => {
                serde_json::from_str::<serde_json::Number>(text)
                    .map(Json::Number)
                    .unwrap_or_else(|_| Json::String(text.to_string()))
            }
            ValueKind::Bool => Json::Bool(text == "true"),
            ValueKind::Null => Json::Null,
            _ => Json::String(text.to_string()),
        }
    }

    /// Computes `systems`, `partitions` and `all` from the primary tables.
    pub(crate) fn derive(&mut self) {
        let keys = SystemKeys::new(&self.strings);
        self.systems = (0..self.len() as u32)
            .into_par_iter()
            .map(|i| keys.system(&self.strings, self.fields(EventIdx(i))))
            .collect();
        self.all = (0..self.len() as u32).collect();

        let mut groups: HashMap<(Option<Sym>, Option<u32>), Vec<EventIdx>> = HashMap::new();
        for (i, s) in self.systems.iter().enumerate() {
            groups
                .entry((s.channel, s.event_id))
                .or_default()
                .push(EventIdx(i as u32));
        }
        let mut order: Vec<_> = groups.into_iter().collect();
        order.sort_by(|a, b| {
            let ca = a.0 .0.map(|s| self.strings.get(s));
            let cb = b.0 .0.map(|s| self.strings.get(s));
            (ca, a.0 .1).cmp(&(cb, b.0 .1))
        });
        self.partition_index = order
            .iter()
            .enumerate()
            .map(|(pi, (k, _))| (*k, pi))
            .collect();
        let this = &*self;
        let partitions = order
            .into_par_iter()
            .map(|((channel, event_id), rows)| this.build_partition(channel, event_id, rows))
            .collect();
        self.partitions = partitions;
    }

    fn build_partition(
        &self,
        channel: Option<Sym>,
        event_id: Option<u32>,
        row_ids: Vec<EventIdx>,
    ) -> Partition {
        // Events of one partition nearly always share their key sequence: work per distinct
        // consecutive sequence instead of per field.
        let mut keys: Vec<Sym> = Vec::new();
        let mut prev: &[(Sym, Value)] = &[];
        for &ev in &row_ids {
            let f = self.fields(ev);
            if !same_keys(f, prev) {
                keys.extend(f.iter().map(|(k, _)| *k));
                prev = f;
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let mut columns = vec![vec![None; row_ids.len()]; keys.len()];
        let mut multi = Vec::new();
        let mut slots: Vec<usize> = Vec::new();
        let mut prev: &[(Sym, Value)] = &[];
        for (r, &ev) in row_ids.iter().enumerate() {
            let f = self.fields(ev);
            if r == 0 || !same_keys(f, prev) {
                // Keys were collected from these rows: the search always succeeds.
                slots.clear();
                slots.extend(f.iter().map(|(k, _)| keys.binary_search(k).unwrap_or(0)));
                prev = f;
            }
            for ((k, v), &c) in f.iter().zip(&slots) {
                let slot = &mut columns[c][r];
                if slot.is_none() {
                    *slot = Some(*v);
                } else {
                    multi.push(*k);
                }
            }
        }
        multi.sort_unstable();
        multi.dedup();
        Partition {
            channel,
            event_id,
            rows: row_ids.iter().map(|e| e.0).collect(),
            row_ids,
            keys,
            columns,
            multi,
        }
    }

    /// Bytes of heap memory held (approximate: capacities of the main tables).
    pub fn heap_bytes(&self) -> usize {
        let parts: usize = self
            .partitions
            .iter()
            .map(|p| {
                p.row_ids.capacity() * 4
                    + p.keys.capacity() * 4
                    + p.columns.iter().map(|c| c.capacity() * 8).sum::<usize>()
                    + p.rows.serialized_size()
            })
            .sum();
        self.strings.heap_bytes()
            + self.fields.capacity() * std::mem::size_of::<(Sym, Value)>()
            + self.field_ends.capacity() * 4
            + self.derived.capacity() * 2
            + self.origins.capacity() * std::mem::size_of::<Origin>()
            + self.origin_ends.capacity() * 4
            + self.systems.capacity() * std::mem::size_of::<System>()
            + self.all.serialized_size()
            + parts
    }
}

fn same_keys(a: &[(Sym, Value)], b: &[(Sym, Value)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0)
}

/// The symbols of the System keys `System` is read from.
struct SystemKeys {
    channel: Option<Sym>,
    provider: Option<Sym>,
    event_id: Option<Sym>,
    computer: Option<Sym>,
    record_id: Option<Sym>,
    time: Option<Sym>,
}

impl SystemKeys {
    fn new(s: &Interner) -> Self {
        SystemKeys {
            channel: s.lookup("Channel"),
            provider: s.lookup("Provider_Name"),
            event_id: s.lookup("EventID"),
            computer: s.lookup("Computer"),
            record_id: s.lookup("EventRecordID"),
            time: s.lookup("TimeCreated"),
        }
    }

    fn system(&self, strings: &Interner, fields: &[(Sym, Value)]) -> System {
        let mut sys = System::default();
        for (k, v) in fields {
            let k = Some(*k);
            if k == self.channel && sys.channel.is_none() {
                sys.channel = Some(v.sym);
            } else if k == self.provider && sys.provider.is_none() {
                sys.provider = Some(v.sym);
            } else if k == self.event_id && sys.event_id_raw.is_none() {
                sys.event_id_raw = Some(v.sym);
                sys.event_id = strings.integer(v.sym).and_then(|n| u32::try_from(n).ok());
            } else if k == self.computer && sys.computer.is_none() {
                sys.computer = Some(v.sym);
            } else if k == self.record_id && sys.record_id.is_none() {
                sys.record_id = strings.integer(v.sym).and_then(|n| u64::try_from(n).ok());
            } else if k == self.time && sys.time_created.is_none() {
                sys.time_created = Some(v.sym);
            }
        }
        sys
    }
}

/// Accumulates records, interning and deduplicating them.
#[derive(Default)]
pub(crate) struct Builder {
    pub store: EventStore,
    dedup: HashMap<u64, Vec<u32>>,
    origins: Vec<Vec<Origin>>,
    pub records: usize,
    pub duplicates: usize,
}

impl Builder {
    pub fn new() -> Self {
        let mut b = Builder::default();
        // System names first, so their symbols are stable and low.
        for k in crate::normalise::SYSTEM_KEYS {
            b.store.strings.intern(k);
        }
        b
    }

    /// The symbol of `EventRecordID` (interned by `new`).
    pub fn record_id_key(&mut self) -> Sym {
        self.store.strings.intern("EventRecordID")
    }

    pub fn add_file(&mut self, display: PathBuf) -> FileId {
        self.store.files.push(display);
        FileId(self.store.files.len() as u32 - 1)
    }

    /// Adds one record's fields; returns its (possibly existing) event.
    pub fn add_record(
        &mut self,
        fields: &[(Sym, Value)],
        origin: Option<Origin>,
        derived: u16,
    ) -> EventIdx {
        self.records += 1;
        let h = hash_fields(fields);
        let bucket = self.dedup.entry(h).or_default();
        for &e in bucket.iter() {
            let i = e as usize;
            let start = if i == 0 {
                0
            } else {
                self.store.field_ends[i - 1] as usize
            };
            if &self.store.fields[start..self.store.field_ends[i] as usize] == fields {
                self.duplicates += 1;
                if let Some(o) = origin {
                    self.origins[i].push(o);
                }
                return EventIdx(e);
            }
        }
        let e = self.store.field_ends.len() as u32;
        bucket.push(e);
        self.store.fields.extend_from_slice(fields);
        self.store.field_ends.push(self.store.fields.len() as u32);
        self.store.derived.push(derived);
        self.origins.push(origin.into_iter().collect());
        EventIdx(e)
    }

    pub fn finish(mut self) -> EventStore {
        let mut origins = Vec::with_capacity(self.records);
        let mut ends = Vec::with_capacity(self.origins.len());
        for o in self.origins {
            origins.extend(o);
            ends.push(origins.len() as u32);
        }
        self.store.origins = origins;
        self.store.origin_ends = ends;
        // Growth by doubling leaves up to half of each table unused: give it back.
        let st = &mut self.store;
        st.fields.shrink_to_fit();
        st.field_ends.shrink_to_fit();
        st.derived.shrink_to_fit();
        st.strings.text.shrink_to_fit();
        st.strings.ends.shrink_to_fit();
        st.strings.fold.shrink_to_fit();
        st.strings.numbers.shrink_to_fit();
        self.store.derive();
        self.store
    }
}

/// The content hash of a normalised record: every key, value text and kind, in order.
fn hash_fields(fields: &[(Sym, Value)]) -> u64 {
    let mut buf = Vec::with_capacity(fields.len() * 9);
    for (k, v) in fields {
        buf.extend_from_slice(&k.0.to_le_bytes());
        buf.extend_from_slice(&v.sym.0.to_le_bytes());
        buf.push(v.kind as u8);
    }
    xxhash_rust::xxh3::xxh3_64(&buf)
}
