//! An offline knowledge base for writing detections.
//!
//! A model (or analyst) writing a Sigma rule needs two kinds of facts it may not
//! remember: what an ATT&CK technique is and how it is detected, and which Windows
//! event carries the behaviour, in which channel, with which field names. This crate
//! loads `kb/` of the shared data (MITRE ATT&CK Enterprise v18.1 techniques and tactics,
//! Windows/Sysmon event documentation from OSSEM-DD plus field names observed in the
//! sample EVTX files) and answers:
//!
//! * [`Kb::search`]: full-text search (tantivy, BM25, English stemming) over all three;
//! * [`Kb::technique`], [`Kb::tactic`], [`Kb::event`]: exact look-ups.
//!
//! The index is built in RAM by default (measured in `docs/bench-kb.md`), or once into a
//! cache folder keyed by the sha256 of the kb files ([`KbConfig::cache_dir`]).
//!
//! ATT&CK's licence requires MITRE's copyright designation with every copy: output
//! built from techniques or tactics must carry [`Kb::attack_notice`];
//! [`render_hits`] does that.

mod index;
mod load;
pub mod model;
mod render;
mod sigma_map;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::schema::Value;
use tantivy::snippet::SnippetGenerator;
use tantivy::{IndexReader, ReloadPolicy, TantivyDocument};

pub use model::{Event, EventField, SigmaLogsource, Tactic, Technique};
pub use render::{render_event, render_hits, render_technique};

/// MITRE's copyright designation, used when `LICENSE.mitre-attack.txt` cannot be read.
pub const ATTACK_NOTICE: &str = "© 2025 The MITRE Corporation. This work is reproduced and distributed with the permission of The MITRE Corporation.";

/// Attribution of the Windows event documentation (OSSEM-DD, MIT licence).
pub const OSSEM_NOTICE: &str =
    "Windows event documentation: OSSEM Data Dictionaries (OTRF/OSSEM-DD, MIT licence).";

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("{path} is {size} bytes, above the limit of {max} (KbConfig::max_file_bytes)")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{file} line {line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    #[error("sigma mapping: {0}")]
    Mapping(String),
    #[error("index: {0}")]
    Index(String),
    #[error("query is {len} characters, above the limit of {max} (KbConfig::max_query_chars)")]
    QueryTooLong { len: usize, max: usize },
}

impl From<tantivy::TantivyError> for KbError {
    fn from(e: tantivy::TantivyError) -> Self {
        KbError::Index(e.to_string())
    }
}

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    Technique,
    Tactic,
    Event,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub kind: HitKind,
    /// `T1003.001`, `TA0006`, or `<channel>:<event id>` (`Security:4688`).
    pub id: String,
    pub title: String,
    /// The best-matching passage of the description/detection text (≤ `snippet_chars`).
    pub snippet: String,
    pub score: f32,
    pub url: Option<String>,
    /// Events: the Sigma logsource (`product: windows, service: sysmon, category: process_creation`).
    pub logsource: Option<String>,
    /// Events: field names in documented order. Empty for techniques and tactics.
    pub fields: Vec<String>,
}

/// Limits and options. Defaults are documented per field.
#[derive(Debug, Clone)]
pub struct KbConfig {
    /// Cache folder for the on-disk index (`<dir>/<content hash>/`); `None` builds in RAM.
    /// Default `None`.
    pub cache_dir: Option<PathBuf>,
    /// SigmaHQ `thor.yml`, to tag events with Sigma generic categories (process_creation…).
    /// Default `None`; [`KbConfig::for_data_dir`] sets it when the file exists.
    pub sigma_mapping: Option<PathBuf>,
    /// Largest kb file accepted. Default 64 MiB (the files are ~3 MB).
    pub max_file_bytes: u64,
    /// Longest query accepted. Default 2,000 characters.
    pub max_query_chars: usize,
    /// Most analysed terms used from one query. Default 64.
    pub max_query_terms: usize,
    /// Largest `limit` honoured by [`Kb::search`]. Default 100.
    pub max_hits: usize,
    /// Snippet length in characters. Default 240.
    pub snippet_chars: usize,
}

impl Default for KbConfig {
    fn default() -> Self {
        KbConfig {
            cache_dir: None,
            sigma_mapping: None,
            max_file_bytes: 64 << 20,
            max_query_chars: 2000,
            max_query_terms: 64,
            max_hits: 100,
            snippet_chars: 240,
        }
    }
}

impl KbConfig {
    /// Defaults plus `<data>/sigma/reference/thor.yml` as the Sigma mapping when present.
    pub fn for_data_dir(data_root: &Path) -> Self {
        let thor = data_root.join("sigma/reference/thor.yml");
        KbConfig {
            sigma_mapping: thor.is_file().then_some(thor),
            ..KbConfig::default()
        }
    }
}

/// How the last open went (for benchmarks and logs).
#[derive(Debug, Clone, Copy)]
pub struct OpenStats {
    pub parse: Duration,
    pub index: Duration,
    /// True when the on-disk cache already held the index.
    pub cache_hit: bool,
}

/// The loaded knowledge base.
pub struct Kb {
    techniques: Vec<Technique>,
    tactics: Vec<Tactic>,
    events: Vec<Event>,
    by_technique: HashMap<String, usize>,
    by_tactic: HashMap<String, usize>,
    by_event_id: HashMap<u32, Vec<usize>>,
    reader: IndexReader,
    fields: index::Fields,
    boosts: index::Boosts,
    config: KbConfig,
    attack_notice: String,
    content_hash: String,
    stats: OpenStats,
}

impl std::fmt::Debug for Kb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kb")
            .field("techniques", &self.techniques.len())
            .field("tactics", &self.tactics.len())
            .field("events", &self.events.len())
            .field("content_hash", &self.content_hash)
            .finish()
    }
}

impl Kb {
    /// Opens `kb_dir` (the folder holding the JSONL files). `cache`: folder for the
    /// on-disk index, or `None` to build in RAM.
    pub fn open(kb_dir: &Path, cache: Option<&Path>) -> Result<Kb, KbError> {
        let config = KbConfig {
            cache_dir: cache.map(Path::to_path_buf),
            ..KbConfig::default()
        };
        Kb::open_with(kb_dir, config)
    }

    /// Opens `kb_dir` with explicit options.
    pub fn open_with(kb_dir: &Path, config: KbConfig) -> Result<Kb, KbError> {
        let t0 = Instant::now();
        let max = config.max_file_bytes;
        let tech_bytes = load::read_bounded(kb_dir, load::TECHNIQUES, max)?;
        let tac_bytes = load::read_bounded(kb_dir, load::TACTICS, max)?;
        let ev_bytes = load::read_bounded(kb_dir, load::EVENTS, max)?;
        let thor_bytes = match &config.sigma_mapping {
            Some(p) => {
                let dir = p.parent().unwrap_or(Path::new("."));
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("thor.yml");
                Some(load::read_bounded(dir, name, max)?)
            }
            None => None,
        };
        let techniques: Vec<Technique> = load::parse_jsonl(load::TECHNIQUES, &tech_bytes)?;
        let tactics: Vec<Tactic> = load::parse_jsonl(load::TACTICS, &tac_bytes)?;
        let mut events: Vec<Event> = load::parse_jsonl(load::EVENTS, &ev_bytes)?;
        if let Some(bytes) = &thor_bytes {
            let text = String::from_utf8_lossy(bytes);
            let map = sigma_map::parse(&text)?;
            for e in &mut events {
                if let Some(cats) = map.get(&(e.channel.to_ascii_lowercase(), e.event_id)) {
                    e.sigma_categories = cats.iter().cloned().collect();
                }
            }
        }
        let content_hash = load::content_hash(&[
            (index::INDEX_FORMAT, &[]),
            (load::TECHNIQUES, &tech_bytes),
            (load::TACTICS, &tac_bytes),
            (load::EVENTS, &ev_bytes),
            ("thor.yml", thor_bytes.as_deref().unwrap_or(&[])),
        ]);
        let parse = t0.elapsed();

        let t1 = Instant::now();
        let recs = index::Records {
            techniques: &techniques,
            tactics: &tactics,
            events: &events,
        };
        let (index, cache_hit) = match &config.cache_dir {
            None => (index::build_in_ram(&recs)?, false),
            Some(dir) => {
                let hit = dir.join(&content_hash).join(".complete").is_file();
                (index::open_cached(dir, &content_hash, &recs)?, hit)
            }
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let (_, fields) = index::schema();
        let stats = OpenStats {
            parse,
            index: t1.elapsed(),
            cache_hit,
        };

        let by_technique = techniques
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.to_ascii_uppercase(), i))
            .collect();
        let by_tactic = tactics
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                [
                    (t.id.to_ascii_uppercase(), i),
                    (t.shortname.to_ascii_uppercase(), i),
                    (t.name.to_ascii_uppercase(), i),
                ]
            })
            .collect();
        let mut by_event_id: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            by_event_id.entry(e.event_id).or_default().push(i);
        }
        let attack_notice = read_attack_notice(kb_dir);
        Ok(Kb {
            techniques,
            tactics,
            events,
            by_technique,
            by_tactic,
            by_event_id,
            reader,
            fields,
            boosts: index::Boosts::default(),
            config,
            attack_notice,
            content_hash,
            stats,
        })
    }

    /// Opens `<data>/kb` of a resolved data folder, with the Sigma mapping when present.
    pub fn open_data_dir(data: &sv_data::DataDir, cache: Option<&Path>) -> Result<Kb, KbError> {
        let mut config = KbConfig::for_data_dir(&data.root);
        config.cache_dir = cache.map(Path::to_path_buf);
        Kb::open_with(&data.root.join("kb"), config)
    }

    /// Full-text search over techniques, tactics and events, best first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, KbError> {
        self.search_kind(query, None, limit)
    }

    /// Like [`Kb::search`], restricted to one kind when `kind` is given.
    pub fn search_kind(
        &self,
        query: &str,
        kind: Option<HitKind>,
        limit: usize,
    ) -> Result<Vec<Hit>, KbError> {
        let len = query.chars().count();
        if len > self.config.max_query_chars {
            return Err(KbError::QueryTooLong {
                len,
                max: self.config.max_query_chars,
            });
        }
        let limit = limit.min(self.config.max_hits);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut analyzer = index::analyzer()?;
        let terms = index::query_terms(&mut analyzer, query, self.config.max_query_terms);
        let ids = index::id_tokens(query, self.config.max_query_terms);
        if terms.is_empty() && ids.is_empty() {
            return Ok(Vec::new());
        }
        let q = index::build_query(&self.fields, &self.boosts, &terms, &ids, kind);
        let searcher = self.reader.searcher();
        let top = searcher.search(&*q, &TopDocs::with_limit(limit).order_by_score())?;
        let mut body_snips = SnippetGenerator::create(&searcher, &*q, self.fields.body)?;
        body_snips.set_max_num_chars(self.config.snippet_chars);

        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some((kind, ix)) = doc
                .get_first(self.fields.key)
                .and_then(|v| v.as_u64())
                .and_then(index::decode_key)
            else {
                continue;
            };
            if let Some(hit) = self.make_hit(kind, ix, score, &body_snips) {
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    fn make_hit(
        &self,
        kind: HitKind,
        ix: usize,
        score: f32,
        gen: &SnippetGenerator,
    ) -> Option<Hit> {
        let n = self.config.snippet_chars;
        Some(match kind {
            HitKind::Technique => {
                let t = self.techniques.get(ix)?;
                let mut text = load::strip_citations(&t.description);
                if let Some(d) = &t.detection {
                    text.push(' ');
                    text.push_str(&load::strip_citations(d));
                }
                Hit {
                    kind,
                    id: t.id.clone(),
                    title: t.name.clone(),
                    snippet: render::snippet(gen, &text, n),
                    score,
                    url: t.url.clone(),
                    logsource: None,
                    fields: Vec::new(),
                }
            }
            HitKind::Tactic => {
                let t = self.tactics.get(ix)?;
                Hit {
                    kind,
                    id: t.id.clone(),
                    title: t.name.clone(),
                    snippet: render::snippet(gen, &t.description, n),
                    score,
                    url: t.url.clone(),
                    logsource: None,
                    fields: Vec::new(),
                }
            }
            HitKind::Event => {
                let e = self.events.get(ix)?;
                Hit {
                    kind,
                    id: e.key(),
                    title: e.display_title(),
                    snippet: render::snippet(gen, e.description.as_deref().unwrap_or(""), n),
                    score,
                    url: None,
                    logsource: e.logsource_text(),
                    fields: e.fields.iter().map(|f| f.name.clone()).collect(),
                }
            }
        })
    }

    /// A technique or sub-technique by id (`T1003.001`, case-insensitive).
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.by_technique
            .get(&id.trim().to_ascii_uppercase())
            .and_then(|&i| self.techniques.get(i))
    }

    /// A tactic by id (`TA0006`), short name (`credential-access`) or name.
    pub fn tactic(&self, id_or_name: &str) -> Option<&Tactic> {
        self.by_tactic
            .get(&id_or_name.trim().to_ascii_uppercase())
            .and_then(|&i| self.tactics.get(i))
    }

    /// The sub-techniques of a technique (`T1003` → `T1003.001`…), in id order.
    pub fn subtechniques(&self, parent: &str) -> Vec<&Technique> {
        let prefix = format!("{}.", parent.trim().to_ascii_uppercase());
        self.techniques
            .iter()
            .filter(|t| t.id.starts_with(&prefix))
            .collect()
    }

    /// An event by where it is logged and its id. `source` may be the channel
    /// (`Microsoft-Windows-Sysmon/Operational`, `Security`), the provider
    /// (`Microsoft-Windows-Security-Auditing`), the provider without `Microsoft-Windows-`
    /// (`Sysmon`), or the Sigma service (`sysmon`, `security`, `powershell`), all
    /// case-insensitive; earlier forms win when several events match.
    pub fn event(&self, source: &str, event_id: u32) -> Option<&Event> {
        let s = source.trim().to_ascii_lowercase();
        let candidates: Vec<&Event> = self
            .by_event_id
            .get(&event_id)?
            .iter()
            .filter_map(|&i| self.events.get(i))
            .collect();
        let tests: [&dyn Fn(&Event) -> bool; 5] = [
            &|e| e.channel.to_ascii_lowercase() == s,
            &|e| e.provider.to_ascii_lowercase() == s,
            &|e| {
                let p = e.provider.to_ascii_lowercase();
                p.strip_prefix("microsoft-windows-").unwrap_or(&p) == s
            },
            &|e| {
                e.sigma_logsource
                    .as_ref()
                    .and_then(|l| l.service.as_deref())
                    .is_some_and(|svc| svc.eq_ignore_ascii_case(&s))
            },
            &|e| {
                let ch = e.channel.to_ascii_lowercase();
                let first = ch.split('/').next().unwrap_or("");
                first == s || first.strip_prefix("microsoft-windows-") == Some(s.as_str())
            },
        ];
        tests
            .iter()
            .find_map(|t| candidates.iter().copied().find(|e| t(e)))
    }

    /// Every documented event with this id, in file order.
    pub fn events_with_id(&self, event_id: u32) -> Vec<&Event> {
        self.by_event_id
            .get(&event_id)
            .map(|v| v.iter().filter_map(|&i| self.events.get(i)).collect())
            .unwrap_or_default()
    }

    pub fn techniques(&self) -> &[Technique] {
        &self.techniques
    }

    pub fn tactics(&self) -> &[Tactic] {
        &self.tactics
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// MITRE's copyright designation, as read from `LICENSE.mitre-attack.txt`; it must
    /// accompany any output built from techniques or tactics.
    pub fn attack_notice(&self) -> &str {
        &self.attack_notice
    }

    /// sha256 of the kb files, the Sigma mapping and the index format (the cache key).
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    pub fn open_stats(&self) -> OpenStats {
        self.stats
    }
}

/// The quoted copyright line of `LICENSE.mitre-attack.txt` (the first line starting with
/// `"©`), or [`ATTACK_NOTICE`].
fn read_attack_notice(kb_dir: &Path) -> String {
    std::fs::read_to_string(kb_dir.join("LICENSE.mitre-attack.txt"))
        .ok()
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find(|l| l.starts_with("\"©"))
                .map(|l| l.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| ATTACK_NOTICE.to_string())
}
