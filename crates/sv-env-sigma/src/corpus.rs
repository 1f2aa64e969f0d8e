//! The event corpus as SigmaForge sees it: the `sv-events` store, a stable key per
//! deduplicated event, and the corpus hash.
//!
//! Reference answers are stored in the task file as event keys, not store indexes, so a
//! task file does not depend on the store's internal order: the key of an event is the
//! first 128 bits (32 hex digits) of SHA-256 over its fields as canonical JSON (keys
//! sorted, values typed as parsed; `EventStore::to_json`). The corpus hash is SHA-256 over
//! the sorted keys, one per line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sv_events::{EventIdx, EventStore, LoadOptions, RoaringBitmap};

use crate::dataset::PartitionCount;
use crate::hashing::sha256_hex;

/// The store plus the key ↔ index maps.
pub struct Corpus {
    pub store: Arc<EventStore>,
    keys: Vec<String>,
    by_key: HashMap<String, EventIdx>,
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot load the EVTX corpus under {0}: {1}")]
    Load(PathBuf, String),
    #[error(
        "two distinct events have the same key {0}; the store's deduplication and the key disagree"
    )]
    KeyCollision(String),
}

impl Corpus {
    /// Loads `evtx_dir` through the snapshot cache (`cache_dir/events`).
    pub fn load(evtx_dir: &Path, cache_dir: Option<&Path>) -> Result<Corpus, CorpusError> {
        let opts = LoadOptions {
            cache_dir: cache_dir.map(|c| c.join("events")),
            ..Default::default()
        };
        let (store, _report) = EventStore::load(&[evtx_dir.to_path_buf()], &opts)
            .map_err(|e| CorpusError::Load(evtx_dir.to_path_buf(), e.to_string()))?;
        Corpus::from_store(Arc::new(store))
    }

    /// Keys every event of a store.
    pub fn from_store(store: Arc<EventStore>) -> Result<Corpus, CorpusError> {
        let n = store.len();
        let mut keys = Vec::with_capacity(n);
        let mut by_key = HashMap::with_capacity(n);
        for i in 0..n as u32 {
            let key = event_key(&store, EventIdx(i));
            if by_key.insert(key.clone(), EventIdx(i)).is_some() {
                return Err(CorpusError::KeyCollision(key));
            }
            keys.push(key);
        }
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort();
        let mut joined = String::with_capacity(sorted.len() * 33);
        for k in sorted {
            joined.push_str(k);
            joined.push('\n');
        }
        let hash = sha256_hex(joined.as_bytes());
        Ok(Corpus {
            store,
            keys,
            by_key,
            hash,
        })
    }

    /// The key of an event index.
    pub fn key(&self, ev: EventIdx) -> Option<&str> {
        self.keys.get(ev.0 as usize).map(String::as_str)
    }

    /// Sorted keys of a set of events.
    pub fn keys_of(&self, set: &RoaringBitmap) -> Vec<String> {
        let mut v: Vec<String> = set
            .iter()
            .filter_map(|i| self.key(EventIdx(i)).map(str::to_string))
            .collect();
        v.sort();
        v
    }

    /// The events with these keys; the keys not in this corpus are returned separately.
    pub fn events_of(&self, keys: &[String]) -> (RoaringBitmap, Vec<String>) {
        let mut set = RoaringBitmap::new();
        let mut missing = Vec::new();
        for k in keys {
            match self.by_key.get(k) {
                Some(i) => {
                    set.insert(i.0);
                }
                None => missing.push(k.clone()),
            }
        }
        (set, missing)
    }

    /// Events per (Channel, EventID) partition of the whole store, sorted.
    pub fn partition_counts(&self) -> Vec<PartitionCount> {
        let mut v: Vec<PartitionCount> = self
            .store
            .partitions()
            .map(|p| PartitionCount {
                channel: p
                    .channel
                    .map(|c| self.store.strings().get(c).to_string())
                    .unwrap_or_default(),
                event_id: p.event_id,
                count: p.len() as u64,
            })
            .collect();
        v.sort();
        v
    }

    /// Events of `set` per partition, sorted.
    pub fn partition_counts_of(&self, set: &RoaringBitmap) -> Vec<PartitionCount> {
        let mut v = Vec::new();
        for p in self.store.partitions() {
            let n = p.rows.intersection_len(set);
            if n > 0 {
                v.push(PartitionCount {
                    channel: p
                        .channel
                        .map(|c| self.store.strings().get(c).to_string())
                        .unwrap_or_default(),
                    event_id: p.event_id,
                    count: n,
                });
            }
        }
        v.sort();
        v
    }

    /// Alert volume of a set: the (file, record) rows a hunt prints, one per origin.
    pub fn alert_volume(&self, set: &RoaringBitmap) -> u64 {
        set.iter()
            .map(|i| self.store.origins(EventIdx(i)).len().max(1) as u64)
            .sum()
    }
}

/// The stable key of one event (see the module docs).
pub fn event_key(store: &EventStore, ev: EventIdx) -> String {
    let json = store.to_json(ev);
    let text = sv_env::config::canonical_json(&json);
    let mut h = sha256_hex(text.as_bytes());
    h.truncate(32);
    h
}
