//! `sv-events`: Windows event logs (EVTX) turned into a normalised, deduplicated, columnar
//! event store that Sigma rules can be evaluated over thousands of times per second.
//!
//! Why it exists: re-parsing EVTX for every rule is what makes Chainsaw take ~0.6 s per
//! rule. Here the corpus is parsed once (in parallel, with the pinned `evtx` parser), each
//! record is flattened to Sigma field names (see [`normalise`] and `docs/events.md`),
//! identical records found in several files become one event that remembers every
//! (file, EventRecordID) it came from, and the result is laid out by (Channel, EventID)
//! partitions with one column per field over an interned string arena (with case-folded
//! copies and numeric readings precomputed). A snapshot of the whole store is cached on disk,
//! keyed by the parser version and the input files' hashes, and reloaded in milliseconds.
//!
//! ```no_run
//! use sv_events::{EventStore, LoadOptions};
//! let (store, report) = EventStore::load(&["../shared/data/evtx".into()], &LoadOptions::default())?;
//! let sec = store.partition("Security", 4688).map(|p| p.len()).unwrap_or(0);
//! println!("{} events ({} records), {sec} process creations", report.events, report.records);
//! # Ok::<(), sv_events::EventsError>(())
//! ```

pub mod bench;
mod error;
mod interner;
mod load;
pub mod normalise;
mod parse;
mod snapshot;
mod store;
mod value;

pub use error::EventsError;
pub use interner::Interner;
pub use load::{CacheOutcome, Limits, LoadOptions, LoadReport, Progress};
pub use roaring::RoaringBitmap;
pub use snapshot::{snapshot_path, FORMAT_VERSION, PARSER_VERSION};
pub use store::{EventStore, Partition};
pub use value::{EventIdx, FileId, Origin, Sym, System, Value, ValueKind};
