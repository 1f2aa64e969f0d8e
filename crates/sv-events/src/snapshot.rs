//! The snapshot cache: a versioned, checksummed binary image of a built store.
//!
//! File layout (little-endian):
//! `"SVEVSNAP"`, format version `u32`, parser version (`u32` length + UTF-8), input key
//! (16 bytes), stamps length `u64`, stamps XXH3-64 `u64`, stamps (each input's path, size,
//! mtime, ctime, inode, device and content hash), payload length `u64`, payload XXH3-64
//! `u64`, payload (the store's tables and the load report).
//! The input key is XXH3-128 over: the format and parser versions, the [`Limits`], and for
//! every input file in load order its display path, size and XXH3-128 of its bytes (reused
//! from the stamps for files whose size, mtime, ctime and inode are unchanged, unless
//! [`LoadOptions::rehash_inputs`] is set). Any
//! mismatch, short read or checksum failure rebuilds the store (reason in the report);
//! a snapshot is never trusted partially. XXH3 detects accidental change, not tampering:
//! the cache directory is assumed to be the user's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64, Xxh3};

use crate::error::EventsError;
use crate::interner::Interner;
use crate::load::{CacheOutcome, Input, LoadOptions, LoadReport};
use crate::store::EventStore;
use crate::value::{FileId, Origin, Sym, Value, ValueKind};
use crate::Limits;

const MAGIC: &[u8; 8] = b"SVEVSNAP";
/// Bump whenever the payload layout or the normalisation rules change.
pub const FORMAT_VERSION: u32 = 2;
/// The `evtx` crate version pinned in Cargo.toml (part of the cache key).
pub const PARSER_VERSION: &str = "evtx 0.8.5";

type BuildFn = fn(&[Input], &LoadOptions) -> Result<(EventStore, LoadReport), EventsError>;

/// The snapshot file for a set of roots inside `dir`.
pub fn snapshot_path(dir: &Path, roots: &[PathBuf]) -> PathBuf {
    let mut h = Xxh3::new();
    for r in roots {
        let canon = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
        h.update(canon.to_string_lossy().as_bytes());
        h.update(&[0]);
    }
    dir.join(format!("events-{:016x}.snap", h.digest()))
}

pub(crate) fn load_or_build(
    dir: &Path,
    roots: &[PathBuf],
    inputs: &[Input],
    opts: &LoadOptions,
    build: BuildFn,
) -> Result<(EventStore, LoadReport), EventsError> {
    let path = snapshot_path(dir, roots);
    let existing = read_snapshot(&path);
    let prior = match (&existing, opts.rehash_inputs) {
        (Ok(bytes), false) => read_stamps(bytes).unwrap_or_default(),
        _ => HashMap::new(),
    };
    let (key, stamps) = input_key(inputs, &opts.limits, &prior);
    let outcome = match existing {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheOutcome::Built,
        Err(e) => CacheOutcome::Rebuilt {
            reason: format!("snapshot unreadable: {e}"),
        },
        Ok(bytes) => match decode(&bytes, &key) {
            Ok((store, mut report)) => {
                report.cache = CacheOutcome::Hit;
                report.cache_path = Some(path);
                if let Some(p) = &opts.progress {
                    p(inputs.len(), inputs.len());
                }
                return Ok((store, report));
            }
            Err(reason) => CacheOutcome::Rebuilt { reason },
        },
    };
    let (store, mut report) = build(inputs, opts)?;
    report.cache = outcome;
    // A cache that cannot be written costs speed, not correctness: report and go on.
    match save(&path, &key, &stamps, &store, &report) {
        Ok(()) => report.cache_path = Some(path),
        Err(e) => {
            report.cache = CacheOutcome::Rebuilt {
                reason: format!("snapshot could not be written to {}: {e}", path.display()),
            };
        }
    }
    Ok((store, report))
}

/// The snapshot's bytes, memory-mapped (read only; no copy of the file).
fn read_snapshot(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: snapshots are replaced by rename, never written in place, so the mapped file
    // does not change under us; a foreign writer would at worst fail the checksum.
    unsafe { memmap2::Mmap::map(&file) }
}

/// A file's identity and change stamp (size, mtime, ctime, inode, device) with the
/// content hash computed when it had that stamp. A file whose stamp is unchanged since the
/// snapshot keeps its recorded content hash; any change (a write updates ctime, which users
/// cannot set back) makes it hashed again, as git's index does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    meta: [u64; 7],
    hash: u128,
}

#[cfg(unix)]
fn stat_stamp(path: &Path) -> Option<[u64; 7]> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some([
        m.size(),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
        m.ino(),
        m.dev(),
    ])
}

#[cfg(not(unix))]
fn stat_stamp(_path: &Path) -> Option<[u64; 7]> {
    None
}

/// The cache key of the inputs: versions, limits, and each file's path, size and content
/// hash (reused from `prior` when the file's stamp is unchanged).
pub(crate) fn input_key(
    inputs: &[Input],
    limits: &Limits,
    prior: &HashMap<String, Stamp>,
) -> ([u8; 16], Vec<(String, Stamp)>) {
    type KeyPart = (Vec<u8>, Option<(String, Stamp)>);
    let per_file: Vec<KeyPart> = inputs
        .par_iter()
        .map(|i| {
            let mut v = i.display.to_string_lossy().as_bytes().to_vec();
            v.push(0);
            let id = i.path.to_string_lossy().into_owned();
            let meta = stat_stamp(&i.path);
            let known = meta.and_then(|m| prior.get(&id).filter(|s| s.meta == m).copied());
            let hashed = match known {
                Some(s) => Ok((s.meta[0], s.hash)),
                None => content_hash(&i.path),
            };
            match hashed {
                Ok((len, h)) => {
                    v.extend_from_slice(&len.to_le_bytes());
                    v.extend_from_slice(&h.to_le_bytes());
                    let stamp = meta
                        .filter(|m| m[0] == len)
                        .map(|meta| (id, Stamp { meta, hash: h }));
                    (v, stamp)
                }
                Err(e) => {
                    v.extend_from_slice(format!("unreadable: {e}").as_bytes());
                    (v, None)
                }
            }
        })
        .collect();
    let mut h = Vec::new();
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(PARSER_VERSION.as_bytes());
    h.extend_from_slice(format!("{limits:?}").as_bytes());
    let mut stamps = Vec::with_capacity(per_file.len());
    for (f, stamp) in per_file {
        h.extend_from_slice(&f);
        stamps.extend(stamp);
    }
    (xxh3_128(&h).to_le_bytes(), stamps)
}

/// Size and XXH3-128 of a file's bytes, read through a memory map (no copy).
fn content_hash(path: &Path) -> std::io::Result<(u64, u128)> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((0, xxh3_128(&[])));
    }
    // SAFETY: the map is only read, and only for hashing; if another process changes the
    // file meanwhile the hash is merely a different cache key (the store is then built
    // from a fresh read of the file, never from this map).
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok((len, xxh3_128(&map)))
}

fn save(
    path: &Path,
    key: &[u8; 16],
    stamps: &[(String, Stamp)],
    store: &EventStore,
    report: &LoadReport,
) -> std::io::Result<()> {
    let payload = encode_payload(store, report);
    let mut st = Writer::default();
    st.u64(stamps.len() as u64);
    for (id, s) in stamps {
        st.bytes(id.as_bytes());
        for m in s.meta {
            st.u64(m);
        }
        st.0.extend_from_slice(&s.hash.to_le_bytes());
    }
    let mut head = Vec::with_capacity(st.0.len() + 64);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    head.extend_from_slice(&(PARSER_VERSION.len() as u32).to_le_bytes());
    head.extend_from_slice(PARSER_VERSION.as_bytes());
    head.extend_from_slice(key);
    head.extend_from_slice(&(st.0.len() as u64).to_le_bytes());
    head.extend_from_slice(&xxh3_64(&st.0).to_le_bytes());
    head.extend_from_slice(&st.0);
    head.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    head.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&head)?;
        f.write_all(&payload)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Decodes and validates a snapshot; the error is the human-readable rebuild reason.
fn decode(bytes: &[u8], key: &[u8; 16]) -> Result<(EventStore, LoadReport), String> {
    let (mut r, stored_key, _stamps) = header(bytes)?;
    if stored_key != key {
        return Err("input files changed since the snapshot was made".into());
    }
    let len = r.u64()? as usize;
    let sum = r.u64()?;
    let payload = r.take(len)?;
    if r.pos != bytes.len() {
        return Err("snapshot has trailing bytes".into());
    }
    if xxh3_64(payload) != sum {
        return Err("snapshot checksum mismatch (corrupt file)".into());
    }
    decode_payload(payload)
}

/// The stamps recorded in a snapshot (empty when it is unreadable in any way).
fn read_stamps(bytes: &[u8]) -> Result<HashMap<String, Stamp>, String> {
    let (_, _, st) = header(bytes)?;
    let mut r = Reader { b: st, pos: 0 };
    let n = r.u64()? as usize;
    let mut out = HashMap::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let id = r.string()?;
        let mut meta = [0u64; 7];
        for m in meta.iter_mut() {
            *m = r.u64()?;
        }
        let h = r.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(h);
        out.insert(
            id,
            Stamp {
                meta,
                hash: u128::from_le_bytes(a),
            },
        );
    }
    Ok(out)
}

/// Checks magic and versions; returns the reader at the payload, the key and the stamps.
fn header(bytes: &[u8]) -> Result<(Reader<'_>, &[u8], &[u8]), String> {
    let mut r = Reader { b: bytes, pos: 0 };
    let magic = r.take(8).map_err(|_| "snapshot truncated".to_string())?;
    if magic != MAGIC {
        return Err("not a snapshot file (bad magic)".into());
    }
    let fmt = r.u32()?;
    if fmt != FORMAT_VERSION {
        return Err(format!(
            "snapshot format {fmt}, this build reads {FORMAT_VERSION}"
        ));
    }
    let plen = r.u32()? as usize;
    let parser = r.take(plen)?;
    if parser != PARSER_VERSION.as_bytes() {
        return Err(format!(
            "snapshot made with {}, this build uses {PARSER_VERSION}",
            String::from_utf8_lossy(parser)
        ));
    }
    let key = r.take(16)?;
    let slen = r.u64()? as usize;
    let ssum = r.u64()?;
    let stamps = r.take(slen)?;
    if xxh3_64(stamps) != ssum {
        return Err("snapshot checksum mismatch (corrupt file)".into());
    }
    Ok((r, key, stamps))
}

fn encode_payload(s: &EventStore, rep: &LoadReport) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(s.strings.text.as_bytes());
    w.u32s(&s.strings.ends);
    w.u32s(&s.strings.fold);
    let keys: Vec<u32> = s.fields.iter().map(|(k, _)| k.0).collect();
    let vals: Vec<u32> = s.fields.iter().map(|(_, v)| v.sym.0).collect();
    let kinds: Vec<u8> = s.fields.iter().map(|(_, v)| v.kind as u8).collect();
    w.u32s(&keys);
    w.u32s(&vals);
    w.bytes(&kinds);
    w.u32s(&s.field_ends);
    w.u32s(&s.derived.iter().map(|&d| d as u32).collect::<Vec<_>>());
    let ofile: Vec<u32> = s.origins.iter().map(|o| o.file.0).collect();
    w.u32s(&ofile);
    w.u64s(&s.origins.iter().map(|o| o.record_id).collect::<Vec<_>>());
    w.u64s(&s.origins.iter().map(|o| o.header_id).collect::<Vec<_>>());
    w.u32s(&s.origin_ends);
    w.u64(s.files.len() as u64);
    for f in &s.files {
        w.bytes(f.to_string_lossy().as_bytes());
    }
    for n in [
        rep.files_total,
        rep.files_ok,
        rep.records,
        rep.records_failed,
        rep.events,
        rep.duplicate_records,
        rep.values_truncated,
        rep.fields_dropped,
    ] {
        w.u64(n as u64);
    }
    for list in [&rep.files_skipped, &rep.files_partial] {
        w.u64(list.len() as u64);
        for (p, why) in list {
            w.bytes(p.to_string_lossy().as_bytes());
            w.bytes(why.as_bytes());
        }
    }
    w.0
}

fn decode_payload(p: &[u8]) -> Result<(EventStore, LoadReport), String> {
    let mut r = Reader { b: p, pos: 0 };
    let text = String::from_utf8(r.bytes()?.to_vec())
        .map_err(|_| "snapshot strings are not UTF-8".to_string())?;
    let ends = r.u32s()?;
    let fold = r.u32s()?;
    let n = ends.len();
    let mut prev = 0u32;
    for &e in &ends {
        if e < prev || e as usize > text.len() || !text.is_char_boundary(e as usize) {
            return Err("snapshot string table is inconsistent".into());
        }
        prev = e;
    }
    if fold.len() != n || fold.iter().any(|&f| f as usize >= n) {
        return Err("snapshot fold table is inconsistent".into());
    }
    // Raw little-endian arrays, decoded straight into the field table.
    let keys = r.raw(4)?;
    let vals = r.raw(4)?;
    let kinds = r.bytes()?;
    if vals.len() != keys.len() || kinds.len() * 4 != keys.len() {
        return Err("snapshot field table is inconsistent".into());
    }
    let mut fields = Vec::with_capacity(kinds.len());
    let mut bad = false;
    for ((k, v), &kind) in keys.chunks_exact(4).zip(vals.chunks_exact(4)).zip(kinds) {
        let k = u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
        let v = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        let kind = ValueKind::from_u8(kind).unwrap_or(ValueKind::Other);
        bad |= k as usize >= n || v as usize >= n;
        fields.push((Sym(k), Value { sym: Sym(v), kind }));
    }
    if bad || kinds.iter().any(|&k| k > 7) {
        return Err("snapshot field table refers to missing strings or kinds".into());
    }
    let field_ends = r.u32s()?;
    check_ends(&field_ends, fields.len(), "field")?;
    let derived = r.u32s()?;
    if derived.len() != field_ends.len() || derived.iter().any(|&d| d > u16::MAX as u32) {
        return Err("snapshot derived-field table is inconsistent".into());
    }
    let derived: Vec<u16> = derived.into_iter().map(|d| d as u16).collect();
    let ofile = r.u32s()?;
    let orec = r.u64s()?;
    let ohdr = r.u64s()?;
    let origin_ends = r.u32s()?;
    if ofile.len() != orec.len()
        || ohdr.len() != orec.len()
        || origin_ends.len() != field_ends.len()
    {
        return Err("snapshot origin table is inconsistent".into());
    }
    check_ends(&origin_ends, ofile.len(), "origin")?;
    let nfiles = r.u64()? as usize;
    let mut files = Vec::with_capacity(nfiles.min(1 << 20));
    for _ in 0..nfiles {
        files.push(PathBuf::from(r.string()?));
    }
    if ofile.iter().any(|&f| f as usize >= files.len()) {
        return Err("snapshot origin refers to a missing file".into());
    }
    let origins = ofile
        .iter()
        .zip(orec.iter().zip(&ohdr))
        .map(|(&f, (&record_id, &header_id))| Origin {
            file: FileId(f),
            record_id,
            header_id,
        })
        .collect();
    let mut counts = [0usize; 8];
    for c in counts.iter_mut() {
        *c = r.u64()? as usize;
    }
    let mut lists = [Vec::new(), Vec::new()];
    for list in lists.iter_mut() {
        let len = r.u64()? as usize;
        for _ in 0..len {
            let path = PathBuf::from(r.string()?);
            list.push((path, r.string()?));
        }
    }
    if r.pos != p.len() {
        return Err("snapshot payload has trailing bytes".into());
    }
    let [files_skipped, files_partial] = lists;
    let mut strings = Interner {
        text,
        ends,
        fold,
        ..Interner::default()
    };
    strings.rebuild_derived();
    let mut store = EventStore {
        strings,
        fields,
        field_ends,
        derived,
        origins,
        origin_ends,
        files,
        ..EventStore::default()
    };
    store.derive();
    let report = LoadReport {
        files_total: counts[0],
        files_ok: counts[1],
        files_skipped,
        files_partial,
        records: counts[2],
        records_failed: counts[3],
        events: counts[4],
        duplicate_records: counts[5],
        values_truncated: counts[6],
        fields_dropped: counts[7],
        cache: CacheOutcome::Hit,
        cache_path: None,
        elapsed: std::time::Duration::ZERO,
    };
    if report.events != store.len() {
        return Err("snapshot event count disagrees with its report".into());
    }
    Ok((store, report))
}

fn check_ends(ends: &[u32], total: usize, what: &str) -> Result<(), String> {
    let mut prev = 0;
    for &e in ends {
        if e < prev {
            return Err(format!("snapshot {what} offsets are not monotonic"));
        }
        prev = e;
    }
    if prev as usize != total {
        return Err(format!("snapshot {what} offsets do not cover the table"));
    }
    Ok(())
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        self.0.reserve(v.len() * 4);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn u64s(&mut self, v: &[u64]) {
        self.u64(v.len() as u64);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| "snapshot truncated".to_string())?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn len(&mut self, elem: usize) -> Result<usize, String> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(elem))
            .ok_or_else(|| "snapshot length overflow".to_string())
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len(1)?;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| "snapshot text is not UTF-8".to_string())
    }
    /// A length-prefixed array of `elem`-byte items, undecoded.
    fn raw(&mut self, elem: usize) -> Result<&'a [u8], String> {
        let n = self.len(elem)?;
        self.take(n)
    }
    fn u32s(&mut self) -> Result<Vec<u32>, String> {
        let n = self.len(4)?;
        let b = self.take(n)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn u64s(&mut self) -> Result<Vec<u64>, String> {
        let n = self.len(8)?;
        let b = self.take(n)?;
        Ok(b.chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect())
    }
}
