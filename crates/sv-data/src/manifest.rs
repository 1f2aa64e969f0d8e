//! The data manifest kept in the repository (`crates/sv-data/manifest/`): which data sets
//! exist, their licence flags, every file with its size and sha256, and where a file can
//! be fetched. It is compiled into the binary so `sv data pull` needs nothing else.

use std::fmt;

/// One data set (a top-level folder of the data directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub name: String,
    /// Environments that read it (`sv data pull sigma` pulls every set `sigma` needs).
    pub envs: Vec<String>,
    /// GPL, NON-COMMERCIAL, NO-LICENCE, RESEARCH-ONLY, ATTRIBUTION.
    pub flags: Vec<String>,
    pub licence: String,
    pub files: Vec<FileEntry>,
}

/// A public upstream that some files were copied from byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    /// Path prefix inside the data directory (`sigma/rules/`), or one whole file path.
    pub local_prefix: String,
    /// URL the rest of the path is appended to.
    pub url_prefix: String,
    pub licence: String,
}

/// One file of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub dataset: String,
    /// Path relative to the data set folder (`rules/windows/…/x.yml`).
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Index into [`Manifest::sources`]; `None`: derived by this project, mirror only.
    pub source: Option<usize>,
}

impl FileEntry {
    /// Path relative to the data directory (`sigma/rules/…`).
    pub fn data_path(&self) -> String {
        format!("{}/{}", self.dataset, self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub datasets: Vec<Dataset>,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest: {}", self.0)
    }
}

impl std::error::Error for ManifestError {}

const DATASETS: &str = include_str!("../manifest/datasets.tsv");
const SOURCES: &str = include_str!("../manifest/sources.tsv");
const LISTS: &[(&str, &str)] = &[
    ("sigma", include_str!("../manifest/sigma.tsv")),
    ("evtx", include_str!("../manifest/evtx.tsv")),
    ("kb", include_str!("../manifest/kb.tsv")),
    ("config", include_str!("../manifest/config.tsv")),
    ("codevuln", include_str!("../manifest/codevuln.tsv")),
    ("netlogs", include_str!("../manifest/netlogs.tsv")),
    ("phishing", include_str!("../manifest/phishing.tsv")),
    ("redteam", include_str!("../manifest/redteam.tsv")),
];

fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.split('\t').collect()))
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty() && *x != "-")
        .map(str::to_string)
        .collect()
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn builtin() -> Manifest {
        // The embedded files are checked by this crate's tests; a failure here is a build defect.
        Manifest::parse(DATASETS, SOURCES, LISTS).expect("embedded manifest is valid")
    }

    /// Parses the three kinds of manifest file (see `manifest/generate.py` for the format).
    pub fn parse(
        datasets: &str,
        sources: &str,
        lists: &[(&str, &str)],
    ) -> Result<Manifest, ManifestError> {
        let mut srcs = Vec::new();
        for (line, cols) in rows(sources) {
            let [id, local, url, licence] = cols[..] else {
                return Err(ManifestError(format!(
                    "sources.tsv line {line}: expected 4 columns"
                )));
            };
            srcs.push(Source {
                id: id.into(),
                local_prefix: local.into(),
                url_prefix: url.into(),
                licence: licence.into(),
            });
        }
        let mut sets = Vec::new();
        for (line, cols) in rows(datasets) {
            let [name, envs, flags, licence] = cols[..] else {
                return Err(ManifestError(format!(
                    "datasets.tsv line {line}: expected 4 columns"
                )));
            };
            let text = lists
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .ok_or_else(|| ManifestError(format!("no file list for data set {name}")))?;
            let files = parse_list(name, text, &srcs)?;
            sets.push(Dataset {
                name: name.into(),
                envs: list(envs),
                flags: list(flags),
                licence: licence.into(),
                files,
            });
        }
        Ok(Manifest {
            datasets: sets,
            sources: srcs,
        })
    }

    pub fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.datasets.iter().find(|d| d.name == name)
    }

    /// Data sets named by `names` (data set or environment names), in manifest order,
    /// each once; all of them when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Dataset>, ManifestError> {
        if names.is_empty() {
            return Ok(self.datasets.iter().collect());
        }
        for n in names {
            if !self
                .datasets
                .iter()
                .any(|d| &d.name == n || d.envs.contains(n))
            {
                let known: Vec<&str> = self.datasets.iter().map(|d| d.name.as_str()).collect();
                return Err(ManifestError(format!(
                    "unknown data set or environment {n:?}; known data sets: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(self
            .datasets
            .iter()
            .filter(|d| names.iter().any(|n| &d.name == n || d.envs.contains(n)))
            .collect())
    }

    /// The public URL of a file, `None` for files derived by this project.
    pub fn upstream_url(&self, f: &FileEntry) -> Option<String> {
        let s = self.sources.get(f.source?)?;
        let full = f.data_path();
        let rest = full.strip_prefix(&s.local_prefix)?;
        Some(format!("{}{}", s.url_prefix, encode_path(rest)))
    }

    /// Where a file lies under a mirror: the upstream URL without `https://`
    /// (`raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH`), or `sv-data/<data set>/<path>`
    /// for derived files. Percent-encoded.
    pub fn mirror_path(&self, f: &FileEntry) -> String {
        match self.upstream_url(f) {
            Some(u) => u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
                .unwrap_or(&u)
                .to_string(),
            None => format!("sv-data/{}", encode_path(&f.data_path())),
        }
    }

    /// The URL to fetch: under `mirror` when given, else upstream; `None` for a derived
    /// file without a mirror.
    pub fn fetch_url(&self, f: &FileEntry, mirror: Option<&str>) -> Option<String> {
        match mirror {
            Some(base) => Some(format!(
                "{}/{}",
                base.trim_end_matches('/'),
                self.mirror_path(f)
            )),
            None => self.upstream_url(f),
        }
    }
}

fn parse_list(name: &str, text: &str, srcs: &[Source]) -> Result<Vec<FileEntry>, ManifestError> {
    let mut dir = String::new();
    let mut files = Vec::new();
    for (line, cols) in rows(text) {
        if let Some(d) = cols[0].strip_prefix('@') {
            dir = d.to_string();
            continue;
        }
        let [file, size, sha] = cols[..] else {
            return Err(ManifestError(format!(
                "{name}.tsv line {line}: expected 3 columns"
            )));
        };
        let size = size
            .parse()
            .map_err(|_| ManifestError(format!("{name}.tsv line {line}: bad size {size:?}")))?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ManifestError(format!("{name}.tsv line {line}: bad sha256")));
        }
        let path = if dir.is_empty() {
            file.to_string()
        } else {
            format!("{dir}/{file}")
        };
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(ManifestError(format!(
                "{name}.tsv line {line}: unsafe path {path:?}"
            )));
        }
        let full = format!("{name}/{path}");
        // Longest matching prefix wins.
        let source = srcs
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                full == s.local_prefix
                    || (s.local_prefix.ends_with('/') && full.starts_with(&s.local_prefix))
            })
            .max_by_key(|(_, s)| s.local_prefix.len())
            .map(|(i, _)| i);
        files.push(FileEntry {
            dataset: name.into(),
            path,
            size,
            sha256: sha.to_ascii_lowercase(),
            source,
        });
    }
    Ok(files)
}

/// Percent-encodes each `/`-separated segment (RFC 3986 unreserved characters kept).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_counts() {
        let m = Manifest::builtin();
        let count = |n: &str| m.dataset(n).unwrap().files.len();
        assert_eq!(count("sigma"), 3174);
        assert_eq!(count("evtx"), 592);
        assert_eq!(count("kb"), 6);
        assert_eq!(count("config"), 2611);
        let evtx = m.dataset("evtx").unwrap();
        assert_eq!(
            evtx.files
                .iter()
                .filter(|f| f.path.ends_with(".evtx"))
                .count(),
            590
        );
        assert_eq!(
            evtx.files.iter().filter(|f| f.source.is_some()).count(),
            590
        );
        let rules = m.dataset("sigma").unwrap();
        assert_eq!(
            rules
                .files
                .iter()
                .filter(|f| f.path.starts_with("rules") && f.path.ends_with(".yml"))
                .count(),
            2872
        );
    }

    #[test]
    fn urls_and_mirror_paths() {
        let m = Manifest::builtin();
        let evtx = m.dataset("evtx").unwrap();
        let f = evtx
            .files
            .iter()
            .find(|f| f.path == "EVTX-ATTACK-SAMPLES/Command and Control/DE_RDP_Tunnel_5156.evtx")
            .unwrap();
        assert_eq!(
            m.upstream_url(f).unwrap(),
            "https://raw.githubusercontent.com/sbousseaden/EVTX-ATTACK-SAMPLES/4ceed2f4706daf601c212a8f91c113dd85349a2c/Command%20and%20Control/DE_RDP_Tunnel_5156.evtx"
        );
        assert_eq!(
            m.fetch_url(f, Some("http://127.0.0.1:9/m/")).unwrap(),
            "http://127.0.0.1:9/m/raw.githubusercontent.com/sbousseaden/EVTX-ATTACK-SAMPLES/4ceed2f4706daf601c212a8f91c113dd85349a2c/Command%20and%20Control/DE_RDP_Tunnel_5156.evtx"
        );
        let kb = m.dataset("kb").unwrap();
        let t = kb
            .files
            .iter()
            .find(|f| f.path == "attack-techniques.jsonl")
            .unwrap();
        assert_eq!(m.upstream_url(t), None);
        assert_eq!(m.fetch_url(t, None), None);
        assert_eq!(m.mirror_path(t), "sv-data/kb/attack-techniques.jsonl");
        let thor = m
            .dataset("sigma")
            .unwrap()
            .files
            .iter()
            .find(|f| f.path == "reference/thor.yml")
            .unwrap();
        assert_eq!(
            m.upstream_url(thor).unwrap(),
            "https://raw.githubusercontent.com/SigmaHQ/sigma/8eaafff1f2845a696050e05e72ba1140ee190698/tests/thor.yml"
        );
    }

    #[test]
    fn selection_by_env_and_name() {
        let m = Manifest::builtin();
        let names = |v: &[&str]| -> Vec<String> {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            m.select(&v)
                .unwrap()
                .iter()
                .map(|d| d.name.clone())
                .collect()
        };
        assert_eq!(names(&["sigma-tools"]), ["sigma", "evtx", "kb"]);
        assert_eq!(names(&["kb", "redteam"]), ["kb", "redteam"]);
        assert_eq!(names(&[]).len(), 8);
        assert!(m
            .select(&["nope".into()])
            .unwrap_err()
            .0
            .contains("unknown data set"));
    }

    #[test]
    fn bad_lists_are_rejected() {
        let ds = "x\t-\t-\tlic\n";
        let err = |list: &str| Manifest::parse(ds, "", &[("x", list)]).unwrap_err().0;
        assert!(err("a\t1\n").contains("expected 3 columns"));
        assert!(err("a\tz\t00\n").contains("bad size"));
        assert!(err("a\t1\t00\n").contains("bad sha256"));
        assert!(err(&format!("@..\na\t1\t{}\n", "0".repeat(64))).contains("unsafe path"));
    }
}
