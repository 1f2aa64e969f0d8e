//! Finding regression cases on disk and what each one expects.
//!
//! A case is a folder holding SigmaHQ's `info.yml` next to the positive-sample `.evtx`
//! it names. A case set (the `--cases` folder) may carry an `EXPECTED.tsv` with the exact
//! number of matching records per case; without it `match_count` is a minimum.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::RegressError;

/// The largest `info.yml` read; real ones are under 1 KiB.
const MAX_INFO_BYTES: u64 = 64 * 1024;

/// One `info.yml` folder, with every test it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case folder relative to the case set, `/`-separated (the `EXPECTED.tsv` key).
    pub name: String,
    pub dir: PathBuf,
    /// `rule_metadata[].id`, in file order.
    pub rule_ids: Vec<String>,
    pub tests: Vec<CaseTest>,
}

/// One entry of `regression_tests_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseTest {
    pub name: String,
    /// The sample file inside the case folder.
    pub evtx: PathBuf,
    /// `match_count`; absent means "at least one".
    pub match_count: Option<u64>,
}

/// What a case must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// From `EXPECTED.tsv`: exactly this many distinct matching records.
    Exact(u64),
    /// From `match_count` (missing = 1): at least this many.
    AtLeast(u64),
}

impl Expectation {
    pub fn accepts(&self, actual: u64) -> bool {
        match *self {
            Expectation::Exact(n) => actual == n,
            Expectation::AtLeast(n) => actual >= n,
        }
    }
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::Exact(n) => write!(f, "{n}"),
            Expectation::AtLeast(n) => write!(f, ">={n}"),
        }
    }
}

#[derive(Deserialize)]
struct InfoYml {
    #[serde(default)]
    rule_metadata: Vec<RuleMeta>,
    #[serde(default)]
    regression_tests_info: Vec<TestInfo>,
}

#[derive(Deserialize)]
struct RuleMeta {
    id: Option<String>,
}

#[derive(Deserialize)]
struct TestInfo {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    match_count: Option<u64>,
    path: Option<String>,
}

/// Every case under `root` (recursively), sorted by name. A folder whose `info.yml`
/// cannot be read or names no usable sample is an error: a broken case must not pass
/// silently as "skipped".
pub fn discover(root: &Path) -> Result<Vec<Case>, RegressError> {
    if !root.is_dir() {
        return Err(RegressError::NotADir(root.to_path_buf()));
    }
    let mut infos = Vec::new();
    collect_named(root, "info.yml", &mut infos)?;
    let mut cases = Vec::with_capacity(infos.len());
    for info in infos {
        cases.push(read_case(root, &info)?);
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

fn collect_named(dir: &Path, file: &str, out: &mut Vec<PathBuf>) -> Result<(), RegressError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RegressError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        // `symlink_metadata`: never follow links, so a link cycle cannot recurse forever.
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            collect_named(&p, file, out)?;
        } else if p.file_name().is_some_and(|n| n == file) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_case(root: &Path, info_path: &Path) -> Result<Case, RegressError> {
    let dir = info_path.parent().unwrap_or(root).to_path_buf();
    let name = rel_name(root, &dir);
    let text = read_bounded(info_path, MAX_INFO_BYTES)?;
    let info: InfoYml = serde_yaml::from_str(&text).map_err(|e| RegressError::Info {
        path: info_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let rule_ids: Vec<String> = info
        .rule_metadata
        .into_iter()
        .filter_map(|m| m.id)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if rule_ids.is_empty() {
        return Err(RegressError::Info {
            path: info_path.to_path_buf(),
            reason: "no rule_metadata[].id".into(),
        });
    }
    let mut tests = Vec::new();
    for (i, t) in info.regression_tests_info.into_iter().enumerate() {
        if t.kind
            .as_deref()
            .is_some_and(|k| !k.eq_ignore_ascii_case("evtx"))
        {
            continue;
        }
        let evtx = locate_sample(&dir, t.path.as_deref()).ok_or_else(|| RegressError::Info {
            path: info_path.to_path_buf(),
            reason: format!(
                "test {} names sample {:?}, which is not in {}",
                i + 1,
                t.path.as_deref().unwrap_or("(none)"),
                dir.display()
            ),
        })?;
        tests.push(CaseTest {
            name: t.name.unwrap_or_else(|| format!("test {}", i + 1)),
            evtx,
            match_count: t.match_count,
        });
    }
    if tests.is_empty() {
        return Err(RegressError::Info {
            path: info_path.to_path_buf(),
            reason: "no evtx test in regression_tests_info".into(),
        });
    }
    Ok(Case {
        name,
        dir,
        rule_ids,
        tests,
    })
}

/// The sample is named by a path in SigmaHQ's repository layout
/// (`regression_data/rules/.../<id>.evtx`); the case folder holds it under its base
/// name. Without a path, the folder's only `.evtx` is taken.
fn locate_sample(dir: &Path, declared: Option<&str>) -> Option<PathBuf> {
    if let Some(p) = declared {
        let base = p.rsplit(['/', '\\']).next().unwrap_or(p);
        let candidate = dir.join(base);
        return candidate.is_file().then_some(candidate);
    }
    let mut evtx: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
        })
        .collect();
    (evtx.len() == 1).then(|| evtx.remove(0))
}

fn rel_name(root: &Path, dir: &Path) -> String {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<String, RegressError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| RegressError::io(path, e))?;
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| RegressError::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(RegressError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    String::from_utf8(buf).map_err(|_| RegressError::Info {
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })
}

/// `EXPECTED.tsv` of a case set: case name → exact count. Absent file = empty map.
/// The header names the columns; `case` and `expected_exact` are required.
pub fn read_expected(root: &Path) -> Result<Option<BTreeMap<String, u64>>, RegressError> {
    let path = root.join("EXPECTED.tsv");
    if !path.is_file() {
        return Ok(None);
    }
    let text = read_bounded(&path, 16 * 1024 * 1024)?;
    let bad = |line: usize, reason: String| RegressError::Expected {
        path: path.clone(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = match lines.next() {
        Some((_, h)) => h.split('\t').collect(),
        None => return Ok(Some(BTreeMap::new())),
    };
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(case_col), Some(exact_col)) = (col("case"), col("expected_exact")) else {
        return Err(bad(
            1,
            "header needs `case` and `expected_exact` columns".into(),
        ));
    };
    let mut out = BTreeMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let case = fields.get(case_col).map(|s| s.trim()).unwrap_or("");
        let exact = fields.get(exact_col).map(|s| s.trim()).unwrap_or("");
        if case.is_empty() {
            return Err(bad(i + 1, "empty case".into()));
        }
        let n: u64 = exact
            .parse()
            .map_err(|_| bad(i + 1, format!("expected_exact {exact:?} is not a count")))?;
        if out.insert(case.to_string(), n).is_some() {
            return Err(bad(i + 1, format!("case {case} listed twice")));
        }
    }
    Ok(Some(out))
}

/// Maps every rule `id` found under `dirs` (recursively, `*.yml`/`*.yaml`) to its file.
/// Reads only the top-level `id:` line of each document, so thousands of rules index in
/// milliseconds and a broken rule still gets indexed (its run then reports why it fails).
pub fn index_rules(dirs: &[PathBuf]) -> Result<BTreeMap<String, Vec<PathBuf>>, RegressError> {
    let mut files = Vec::new();
    for d in dirs {
        if d.is_file() {
            files.push(d.clone());
        } else if d.is_dir() {
            collect_yaml(d, &mut files)?;
        } else {
            return Err(RegressError::NotADir(d.clone()));
        }
    }
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let Ok(text) = read_bounded(&f, 4 * 1024 * 1024) else {
            continue;
        };
        for id in top_level_ids(&text) {
            let paths = out.entry(id).or_default();
            if !paths.contains(&f) {
                paths.push(f.clone());
            }
        }
    }
    Ok(out)
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), RegressError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RegressError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            collect_yaml(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
    Ok(())
}

/// `id:` values at column 0 (one per YAML document), unquoted.
fn top_level_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|v| {
            let v = v.split(" #").next().unwrap_or(v).trim();
            v.trim_matches(|c| c == '\'' || c == '"').to_string()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_column_zero_only() {
        let text = "title: x\nid: 'abc'\nrelated:\n    - id: nope\n---\nid: \"def\" # comment\n";
        assert_eq!(top_level_ids(text), vec!["abc", "def"]);
    }

    #[test]
    fn expectation_semantics() {
        assert!(Expectation::Exact(3).accepts(3));
        assert!(!Expectation::Exact(3).accepts(4));
        assert!(Expectation::AtLeast(1).accepts(5));
        assert!(!Expectation::AtLeast(2).accepts(1));
        assert_eq!(Expectation::AtLeast(1).to_string(), ">=1");
    }

    #[test]
    fn discovers_a_case_and_its_sample() {
        let tmp = std::env::temp_dir().join(format!("sv-regress-{}", std::process::id()));
        let case = tmp.join("rules/windows/x/case_a");
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(
            case.join("info.yml"),
            "id: 1\nrule_metadata:\n  - id: r-1\nregression_tests_info:\n  - name: P\n    type: evtx\n    match_count: 2\n    path: regression_data/rules/windows/x/case_a/r-1.evtx\n",
        )
        .unwrap();
        std::fs::write(case.join("r-1.evtx"), b"x").unwrap();
        std::fs::write(
            tmp.join("EXPECTED.tsv"),
            "case\trule_id\texpected_exact\nrules/windows/x/case_a\tr-1\t4\n",
        )
        .unwrap();
        let cases = discover(&tmp).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].name, "rules/windows/x/case_a");
        assert_eq!(cases[0].rule_ids, vec!["r-1"]);
        assert_eq!(cases[0].tests[0].match_count, Some(2));
        assert_eq!(cases[0].tests[0].evtx, case.join("r-1.evtx"));
        let exp = read_expected(&tmp).unwrap().unwrap();
        assert_eq!(exp.get("rules/windows/x/case_a"), Some(&4));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn a_case_naming_a_missing_sample_is_an_error() {
        let tmp = std::env::temp_dir().join(format!("sv-regress-miss-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("c")).unwrap();
        std::fs::write(
            tmp.join("c/info.yml"),
            "rule_metadata:\n  - id: r\nregression_tests_info:\n  - type: evtx\n    path: a/b.evtx\n",
        )
        .unwrap();
        let err = discover(&tmp).unwrap_err().to_string();
        assert!(err.contains("b.evtx"), "{err}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
