//! The tantivy index: schema, analyzer, building (in RAM or in a cache folder keyed by
//! the content hash) and query construction.
//!
//! Every record becomes one document whose stored `key` points back into the record
//! vectors held by [`crate::Kb`]; text is never read back from the index.

use std::path::{Path, PathBuf};

use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, PhraseQuery, Query,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};
use tantivy::{Index, IndexWriter, TantivyDocument, Term};

use crate::model::{Event, Tactic, Technique};
use crate::{HitKind, KbError};

/// Bump when the schema or the text put into documents changes: it is part of the cache key.
pub(crate) const INDEX_FORMAT: &str = "sv-kb-index-v3";
const ANALYZER: &str = "kb_en";

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub key: Field,
    pub kind: Field,
    pub id: Field,
    pub title: Field,
    pub body: Field,
    pub extra: Field,
    pub names: Field,
    pub trunc: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let f = Fields {
        key: b.add_u64_field("key", STORED | FAST | INDEXED),
        kind: b.add_text_field("kind", STRING),
        id: b.add_text_field("id", STRING),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text.clone()),
        extra: b.add_text_field("extra", text.clone()),
        names: b.add_text_field("names", text.clone()),
        trunc: b.add_text_field("trunc", text),
    };
    (b.build(), f)
}

/// Lower-case, English stop words out, Porter stemming: "dumping LSASS" → [dump, lsass].
pub(crate) fn analyzer() -> Result<TextAnalyzer, KbError> {
    let stop = StopWordFilter::new(Language::English)
        .ok_or_else(|| KbError::Index("tantivy has no English stop-word list".into()))?;
    Ok(TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop)
        .filter(Stemmer::new(Language::English))
        .build())
}

pub(crate) fn kind_code(kind: HitKind) -> u64 {
    match kind {
        HitKind::Technique => 0,
        HitKind::Tactic => 1,
        HitKind::Event => 2,
    }
}

pub(crate) fn kind_name(kind: HitKind) -> &'static str {
    match kind {
        HitKind::Technique => "technique",
        HitKind::Tactic => "tactic",
        HitKind::Event => "event",
    }
}

pub(crate) fn encode_key(kind: HitKind, ix: usize) -> u64 {
    (kind_code(kind) << 32) | ix as u64
}

pub(crate) fn decode_key(key: u64) -> Option<(HitKind, usize)> {
    let kind = match key >> 32 {
        0 => HitKind::Technique,
        1 => HitKind::Tactic,
        2 => HitKind::Event,
        _ => return None,
    };
    Some((kind, (key & 0xffff_ffff) as usize))
}

/// "CommandLine" → "Command Line", "TargetFilename" → "Target Filename": field names
/// indexed as words too, so "command line" finds them.
pub(crate) fn split_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out
}

pub(crate) struct Records<'a> {
    pub techniques: &'a [Technique],
    pub tactics: &'a [Tactic],
    pub events: &'a [Event],
}

fn technique_doc(f: &Fields, ix: usize, t: &Technique) -> TantivyDocument {
    let mut d = TantivyDocument::default();
    d.add_u64(f.key, encode_key(HitKind::Technique, ix));
    d.add_text(f.kind, "technique");
    d.add_text(f.id, t.id.to_ascii_lowercase());
    d.add_text(f.title, &t.name);
    d.add_text(f.trunc, truncated(&t.name));
    d.add_text(f.body, crate::load::strip_citations(&t.description));
    if let Some(det) = &t.detection {
        d.add_text(f.body, crate::load::strip_citations(det));
    }
    let mut extra = Vec::new();
    extra.extend(t.tactics.iter().cloned());
    extra.extend(t.platforms.iter().cloned());
    extra.extend(t.data_sources.iter().cloned());
    extra.extend(t.log_sources.iter().cloned());
    for s in &t.detection_strategies {
        extra.push(s.name.clone());
        for a in &s.analytics {
            if a.platforms.iter().any(|p| p == "Windows") {
                extra.push(a.description.clone());
            }
        }
    }
    d.add_text(f.extra, extra.join("\n"));
    d
}

fn tactic_doc(f: &Fields, ix: usize, t: &Tactic) -> TantivyDocument {
    let mut d = TantivyDocument::default();
    d.add_u64(f.key, encode_key(HitKind::Tactic, ix));
    d.add_text(f.kind, "tactic");
    d.add_text(f.id, t.id.to_ascii_lowercase());
    if !t.shortname.is_empty() {
        d.add_text(f.id, t.shortname.to_ascii_lowercase());
    }
    d.add_text(f.title, &t.name);
    d.add_text(f.trunc, truncated(&t.name));
    d.add_text(f.body, &t.description);
    d
}

fn event_doc(f: &Fields, ix: usize, e: &Event) -> TantivyDocument {
    let mut d = TantivyDocument::default();
    d.add_u64(f.key, encode_key(HitKind::Event, ix));
    d.add_text(f.kind, "event");
    d.add_text(f.id, e.event_id.to_string());
    d.add_text(f.id, e.key().to_ascii_lowercase());
    for alias in event_aliases(e) {
        d.add_text(f.id, format!("{alias}:{}", e.event_id));
    }
    let title = e.display_title();
    let split = split_camel(&title);
    d.add_text(f.title, &title);
    if split != title {
        // "CreateRemoteThread" also as "Create Remote Thread".
        d.add_text(f.title, &split);
    }
    d.add_text(f.trunc, truncated(&split));
    if let Some(desc) = &e.description {
        d.add_text(f.body, desc);
    }
    let mut extra = vec![e.channel.clone(), e.provider.clone()];
    if let Some(ls) = e.logsource_text() {
        extra.push(ls);
    }
    d.add_text(f.extra, extra.join("\n"));
    let names: Vec<String> = e
        .fields
        .iter()
        .map(|fl| format!("{} {}", fl.name, split_camel(&fl.name)))
        .collect();
    d.add_text(f.names, names.join("\n"));
    d
}

/// Each word cut to its first [`TRUNC_LEN`] characters: a second, coarser stemming that
/// joins what Porter keeps apart ("creation"/"create", "deletion"/"delete",
/// "injection"/"inject"). Applied to titles at index time and to the query.
pub(crate) fn truncated(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(TRUNC_LEN).collect::<String>().to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) const TRUNC_LEN: usize = 5;

/// Short names an event's source is called by: the provider without
/// `Microsoft-Windows-` ("sysmon", "security-auditing") and the Sigma service ("security").
pub(crate) fn event_aliases(e: &Event) -> Vec<String> {
    let mut out = Vec::new();
    let p = e.provider.to_ascii_lowercase();
    out.push(
        p.strip_prefix("microsoft-windows-")
            .unwrap_or(&p)
            .to_string(),
    );
    if let Some(svc) = e
        .sigma_logsource
        .as_ref()
        .and_then(|l| l.service.as_deref())
    {
        out.push(svc.to_ascii_lowercase());
    }
    out.sort();
    out.dedup();
    out
}

/// Builds the index in RAM.
pub(crate) fn build_in_ram(recs: &Records<'_>) -> Result<Index, KbError> {
    let (schema, f) = schema();
    let index = Index::create_in_ram(schema);
    fill(&index, &f, recs)?;
    Ok(index)
}

/// Opens the index cached under `dir/<hash>`, building it there first when absent.
/// The build goes to a sibling temp folder renamed into place, so a crash mid-build
/// never leaves a half index under the final name.
pub(crate) fn open_cached(dir: &Path, hash: &str, recs: &Records<'_>) -> Result<Index, KbError> {
    let final_dir = dir.join(hash);
    if final_dir.join(".complete").is_file() {
        if let Ok(index) = open_dir(&final_dir) {
            return Ok(index);
        }
        // Unreadable cache (different tantivy, corruption): rebuild below.
        let _ = std::fs::remove_dir_all(&final_dir);
    }
    std::fs::create_dir_all(dir).map_err(|e| KbError::Io(dir.to_path_buf(), e))?;
    let tmp = dir.join(format!(".tmp-{hash}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| KbError::Io(tmp.clone(), e))?;
    {
        let (schema, f) = schema();
        let mdir = MmapDirectory::open(&tmp).map_err(|e| KbError::Index(e.to_string()))?;
        let index = Index::create(mdir, schema, tantivy::IndexSettings::default())?;
        fill(&index, &f, recs)?;
    }
    std::fs::write(tmp.join(".complete"), INDEX_FORMAT).map_err(|e| KbError::Io(tmp.clone(), e))?;
    if let Err(e) = std::fs::rename(&tmp, &final_dir) {
        // Another process won the race: use its index.
        let _ = std::fs::remove_dir_all(&tmp);
        if !final_dir.join(".complete").is_file() {
            return Err(KbError::Io(final_dir, e));
        }
    }
    open_dir(&final_dir)
}

fn open_dir(dir: &PathBuf) -> Result<Index, KbError> {
    let mdir = MmapDirectory::open(dir).map_err(|e| KbError::Index(e.to_string()))?;
    let index = Index::open(mdir)?;
    index.tokenizers().register(ANALYZER, analyzer()?);
    Ok(index)
}

fn fill(index: &Index, f: &Fields, recs: &Records<'_>) -> Result<(), KbError> {
    index.tokenizers().register(ANALYZER, analyzer()?);
    // One thread → one segment → a deterministic doc order and identical scores per run.
    let mut w: IndexWriter = index.writer_with_num_threads(1, 50_000_000)?;
    for (i, t) in recs.techniques.iter().enumerate() {
        w.add_document(technique_doc(f, i, t))?;
    }
    for (i, t) in recs.tactics.iter().enumerate() {
        w.add_document(tactic_doc(f, i, t))?;
    }
    for (i, e) in recs.events.iter().enumerate() {
        w.add_document(event_doc(f, i, e))?;
    }
    w.commit()?;
    w.wait_merging_threads()?;
    Ok(())
}

/// Relative weight of a match in each field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Boosts {
    pub id: f32,
    pub title: f32,
    pub body: f32,
    pub extra: f32,
    pub names: f32,
    pub phrase: f32,
    pub trunc: f32,
    pub tie_breaker: f32,
}

impl Default for Boosts {
    fn default() -> Self {
        Boosts {
            id: 6.0,
            title: 3.0,
            body: 1.0,
            extra: 1.0,
            names: 1.5,
            phrase: 2.0,
            trunc: 1.0,
            tie_breaker: 0.3,
        }
    }
}

/// One query word as searched: its stemmed form and its truncated form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryTerm {
    pub stem: String,
    pub trunc: String,
}

/// The analysed words of a query, deduplicated in first-seen order, at most `max_terms`.
/// Stop words drop out; camel-case words also contribute their parts
/// ("ScriptBlockText" → scriptblocktext, script, block, text).
pub(crate) fn query_terms(
    analyzer: &mut TextAnalyzer,
    text: &str,
    max_terms: usize,
) -> Vec<QueryTerm> {
    let mut out: Vec<QueryTerm> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        words.push(w.to_string());
        let split = split_camel(w);
        if split.contains(' ') {
            words.extend(split.split(' ').map(str::to_string));
        }
    }
    for w in words {
        if out.len() >= max_terms {
            break;
        }
        let Some(stem) = first_token(analyzer, &w) else {
            continue;
        };
        if out.iter().any(|t| t.stem == stem) {
            continue;
        }
        let trunc = first_token(analyzer, &truncated(&w)).unwrap_or_else(|| stem.clone());
        out.push(QueryTerm { stem, trunc });
    }
    out
}

fn first_token(analyzer: &mut TextAnalyzer, word: &str) -> Option<String> {
    let mut stream = analyzer.token_stream(word);
    stream.next().map(|t| t.text.clone())
}

/// Raw tokens that may be ids ("T1003.001", "4688", "security:4688", "ta0006").
pub(crate) fn id_tokens(text: &str, max_terms: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
        let t = raw
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase();
        if !t.is_empty() && t.len() <= 120 && !out.contains(&t) {
            out.push(t);
        }
        if out.len() >= max_terms {
            break;
        }
    }
    // "sysmon 11" / "Security event 4688" → also "sysmon:11", "security:4688".
    let words: Vec<String> = out.clone();
    for pair in words.windows(2) {
        if pair[1].chars().all(|c| c.is_ascii_digit()) && out.len() < max_terms {
            out.push(format!("{}:{}", pair[0], pair[1]));
        }
    }
    out
}

/// OR over every (term, field) pair with field boosts; optionally restricted to a kind.
pub(crate) fn build_query(
    f: &Fields,
    boosts: &Boosts,
    terms: &[QueryTerm],
    ids: &[String],
    kind: Option<HitKind>,
) -> Box<dyn Query> {
    let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let text_fields = [
        (f.title, boosts.title),
        (f.body, boosts.body),
        (f.extra, boosts.extra),
        (f.names, boosts.names),
    ];
    // Per query term, the best field counts fully and the others a little (dis-max):
    // records are ranked by how many query terms they cover, not by how many fields
    // repeat one term (which would favour long ATT&CK texts over short event docs).
    for t in terms {
        let mut per_field: Vec<Box<dyn Query>> = Vec::new();
        for (field, boost) in text_fields {
            let q = TermQuery::new(
                Term::from_field_text(field, &t.stem),
                IndexRecordOption::WithFreqs,
            );
            per_field.push(Box::new(BoostQuery::new(Box::new(q), boost)));
        }
        let q = TermQuery::new(
            Term::from_field_text(f.trunc, &t.trunc),
            IndexRecordOption::WithFreqs,
        );
        per_field.push(Box::new(BoostQuery::new(Box::new(q), boosts.trunc)));
        should.push((
            Occur::Should,
            Box::new(DisjunctionMaxQuery::with_tie_breaker(
                per_field,
                boosts.tie_breaker,
            )),
        ));
    }
    // Adjacent query terms found adjacent in a title ("process creation") count extra.
    for pair in terms.windows(2) {
        let q = PhraseQuery::new(vec![
            Term::from_field_text(f.title, &pair[0].stem),
            Term::from_field_text(f.title, &pair[1].stem),
        ]);
        should.push((
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(q), boosts.phrase)),
        ));
    }
    for id in ids {
        let q = TermQuery::new(Term::from_field_text(f.id, id), IndexRecordOption::Basic);
        should.push((
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(q), boosts.id)),
        ));
    }
    let any: Box<dyn Query> = Box::new(BooleanQuery::new(should));
    match kind {
        None => any,
        Some(k) => {
            let filter = TermQuery::new(
                Term::from_field_text(f.kind, kind_name(k)),
                IndexRecordOption::Basic,
            );
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, any),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(filter), 0.0)),
                ),
            ]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_is_split() {
        assert_eq!(split_camel("CommandLine"), "Command Line");
        assert_eq!(split_camel("TargetFilename"), "Target Filename");
        assert_eq!(split_camel("SourceIsIpv6"), "Source Is Ipv6");
        assert_eq!(split_camel("LogonGUID"), "Logon GUID");
        assert_eq!(split_camel("param1"), "param1");
        assert_eq!(split_camel("Threat Name"), "Threat Name");
    }

    #[test]
    fn keys_round_trip() {
        for kind in [HitKind::Technique, HitKind::Tactic, HitKind::Event] {
            assert_eq!(decode_key(encode_key(kind, 2331)), Some((kind, 2331)));
        }
        assert_eq!(decode_key(7 << 32), None);
    }

    #[test]
    fn analyzer_stems_and_drops_stop_words() {
        let mut a = analyzer().unwrap();
        let stems = |q: &str, n: usize| -> Vec<String> {
            query_terms(&mut analyzer().unwrap(), q, n)
                .into_iter()
                .map(|t| t.stem)
                .collect()
        };
        assert_eq!(
            stems("Dumping the LSASS memory with procdump", 10),
            vec!["dump", "lsass", "memori", "procdump"]
        );
        assert_eq!(
            stems("ScriptBlockText", 10),
            vec!["scriptblocktext", "script", "block", "text"]
        );
        assert_eq!(stems("the one two three", 2), vec!["one", "two"]);
        let t = query_terms(&mut a, "creation", 1);
        assert_eq!(t[0].trunc, "creat");
    }

    #[test]
    fn id_tokens_keep_dots_and_colons() {
        assert_eq!(
            id_tokens("T1003.001, (Security:4688)?", 8),
            vec!["t1003.001", "security:4688"]
        );
        assert_eq!(id_tokens("Sysmon 11", 8), vec!["sysmon", "11", "sysmon:11"]);
    }
}
