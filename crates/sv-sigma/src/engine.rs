//! The engine: configuration, compiling rule text into [`CompiledRule`]s, and loading
//! rule directories into a [`RuleSet`] where every file is either compiled or rejected.

use crate::condition::{pattern_matches, Cond};
use crate::error::{ErrorKind, RuleError};
use crate::limits::Limits;
use crate::logsource::{Branch, LogsourceMap};
use crate::matcher::{compile_field, FieldMatcher, Placeholders};
use crate::rule::{parse_document, Correlation, FieldSpec, Logsource, RawValue, Rule, RuleDoc};
use crate::yaml::load_documents;
use crate::Semantics;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Engine configuration.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub semantics: Semantics,
    pub limits: Limits,
    /// Values for `%placeholders%` under `expand`. Without it, rules that use `expand`
    /// are rejected with a `placeholder` reason (spec: a tool that cannot handle
    /// placeholders must reject the rule).
    pub placeholders: Option<Placeholders>,
    /// Data folder holding `sigma/reference/thor.yml` (default: `sv_data::DataDir::resolve`).
    pub data_dir: Option<PathBuf>,
}

/// Reads a placeholder file: YAML mapping `name: [values]` (the format of pySigma's
/// `value_placeholders` and of Hayabusa/THOR placeholder files), keys with or without `%`.
pub fn load_placeholders(text: &str) -> Result<Placeholders, RuleError> {
    let v: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|e| RuleError::new(ErrorKind::Placeholder, format!("placeholder file: {e}")))?;
    let m = v.as_mapping().ok_or_else(|| {
        RuleError::new(
            ErrorKind::Placeholder,
            "placeholder file must be a mapping name: [values]",
        )
    })?;
    let mut out = Placeholders::new();
    for (k, v) in m {
        let name = k.as_str().unwrap_or("").trim_matches('%').to_string();
        let vals = match v {
            serde_yaml::Value::Sequence(s) => s
                .iter()
                .filter_map(|x| match x {
                    serde_yaml::Value::String(s) => Some(s.clone()),
                    serde_yaml::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            serde_yaml::Value::String(s) => vec![s.clone()],
            _ => vec![],
        };
        out.insert(name, vals);
    }
    Ok(out)
}

/// A resolved condition: search indices instead of names.
#[derive(Debug, Clone)]
pub(crate) enum CExpr {
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
    Not(Box<CExpr>),
    Search(usize),
}

/// A compiled search: OR over AND-groups of matcher indices.
#[derive(Debug, Clone)]
pub(crate) struct CSearch {
    pub groups: Vec<Vec<usize>>,
}

/// A logsource branch with its extra conditions compiled.
#[derive(Debug, Clone)]
pub(crate) struct CBranch {
    pub branch: Branch,
    pub extra: Vec<FieldMatcher>,
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Arc<Rule>,
    pub semantics: Semantics,
    pub(crate) matchers: Vec<FieldMatcher>,
    pub(crate) searches: Vec<CSearch>,
    pub(crate) cond: CExpr,
    pub(crate) branches: Vec<CBranch>,
    /// Chainsaw: rule field → event field; fields missing from it never resolve.
    pub(crate) field_map: Option<Arc<Vec<(String, String)>>>,
    pub(crate) limits: Limits,
}

impl CompiledRule {
    pub fn id(&self) -> Option<&str> {
        self.rule.id.as_deref()
    }
    pub fn title(&self) -> &str {
        &self.rule.title
    }
    pub fn level(&self) -> Option<&str> {
        self.rule.level.as_deref()
    }
    pub fn status(&self) -> Option<&str> {
        self.rule.status.as_deref()
    }
    pub fn path(&self) -> &str {
        &self.rule.path
    }
    pub fn logsource(&self) -> &Logsource {
        &self.rule.logsource
    }
    pub fn tags(&self) -> &[String] {
        &self.rule.tags
    }
    /// The logsource branches (channels, EventIDs, renames) this rule runs on.
    pub fn branches(&self) -> Vec<&Branch> {
        self.branches.iter().map(|b| &b.branch).collect()
    }
}

/// The outcome of loading a set of rule files.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub compiled: Vec<CompiledRule>,
    pub correlations: Vec<Correlation>,
    /// (path, reason) for every rule document that could not be used.
    pub rejected: Vec<(String, RuleError)>,
    /// Rule files found.
    pub files: usize,
}

impl RuleSet {
    /// Counts of rejections per [`ErrorKind`], for summaries.
    pub fn reasons_histogram(&self) -> Vec<(ErrorKind, usize)> {
        let mut m = std::collections::BTreeMap::new();
        for (_, e) in &self.rejected {
            *m.entry(e.kind).or_insert(0usize) += 1;
        }
        m.into_iter().collect()
    }
}

/// The result of compiling one file: detection rules and correlation rules.
#[derive(Debug, Default)]
pub struct Compiled {
    pub rules: Vec<CompiledRule>,
    pub correlations: Vec<Correlation>,
}

/// The Sigma engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub config: EngineConfig,
    logsources: Arc<LogsourceMap>,
    chainsaw_fields: Arc<Vec<(String, String)>>,
}

impl Engine {
    /// Creates an engine, loading the logsource tables from the data folder.
    pub fn new(config: EngineConfig) -> Result<Engine, RuleError> {
        let dir = sv_data::DataDir::resolve(config.data_dir.as_deref())
            .map_err(|e| RuleError::new(ErrorKind::Logsource, format!("logsource tables: {e}")))?;
        let map = LogsourceMap::from_data_dir(&dir.root)?;
        Ok(Engine::with_logsources(config, map))
    }

    /// Creates an engine with explicit logsource tables.
    pub fn with_logsources(config: EngineConfig, map: LogsourceMap) -> Engine {
        let chainsaw_fields = Arc::new(map.chainsaw_fields.clone());
        Engine {
            config,
            logsources: Arc::new(map),
            chainsaw_fields,
        }
    }

    pub fn logsources(&self) -> &LogsourceMap {
        &self.logsources
    }

    /// Compiles every document of a rule file. The first error rejects the whole file
    /// (a multi-document file is one rule family: base document plus its variants, or a
    /// correlation with its referenced rules).
    pub fn compile_file(&self, yaml: &str, path: &str) -> Result<Compiled, RuleError> {
        let limits = &self.config.limits;
        let docs = load_documents(yaml, limits)?;
        if docs.is_empty() {
            return Err(RuleError::new(
                ErrorKind::Structure,
                "file holds no YAML document",
            ));
        }
        let mut out = Compiled::default();
        // Sigma v1 "action: global" collections: the global document is merged into each
        // following document.
        let mut global: Option<serde_yaml::Mapping> = None;
        for doc in docs {
            let mut doc = doc;
            if let Some(m) = doc.as_mapping() {
                match m
                    .get(serde_yaml::Value::String("action".into()))
                    .and_then(|a| a.as_str())
                {
                    Some("global") => {
                        let mut g = m.clone();
                        g.remove(serde_yaml::Value::String("action".into()));
                        global = Some(g);
                        continue;
                    }
                    Some("reset") => {
                        global = None;
                        continue;
                    }
                    Some("repeat") => {}
                    _ => {}
                }
                if let Some(g) = &global {
                    doc = serde_yaml::Value::Mapping(merge(g, m));
                }
            }
            match parse_document(&doc, path, yaml, limits)? {
                RuleDoc::Detection(r) => out.rules.push(self.compile_rule(*r)?),
                RuleDoc::Correlation(c) => {
                    if self.config.semantics == Semantics::Chainsaw {
                        return Err(RuleError::new(
                            ErrorKind::Unsupported,
                            "Chainsaw does not evaluate correlation rules",
                        ));
                    }
                    out.correlations.push(*c)
                }
            }
        }
        Ok(out)
    }

    /// Compiles rule text into detection rules (correlation documents are checked but
    /// returned only by [`Engine::compile_file`]).
    pub fn compile_str(&self, yaml: &str, path: &str) -> Result<Vec<CompiledRule>, RuleError> {
        self.compile_file(yaml, path).map(|c| c.rules)
    }

    /// Compiles one parsed rule.
    pub fn compile_rule(&self, rule: Rule) -> Result<CompiledRule, RuleError> {
        let sem = self.config.semantics;
        let limits = &self.config.limits;
        if sem == Semantics::Chainsaw {
            if self
                .logsources
                .chainsaw_exclusions
                .iter()
                .any(|t| t == &rule.title)
            {
                return Err(RuleError::new(
                    ErrorKind::Unsupported,
                    format!(
                        "rule title '{}' is excluded by Chainsaw's mapping file",
                        rule.title
                    ),
                ));
            }
            if rule.detection.conditions.len() > 1 {
                return Err(RuleError::new(
                    ErrorKind::Unsupported,
                    "Chainsaw rejects a list of several conditions",
                ));
            }
        }
        let mut budget = limits.max_values;
        let mut matchers = Vec::new();
        let mut searches = Vec::new();
        for s in &rule.detection.searches {
            let mut groups = Vec::new();
            for g in &s.groups {
                let mut idx = Vec::new();
                for spec in g {
                    let mut m = compile_field(
                        spec,
                        sem,
                        self.config.placeholders.as_ref(),
                        limits,
                        &mut budget,
                    )?;
                    if sem == Semantics::Chainsaw
                        && spec
                            .field
                            .as_ref()
                            .is_some_and(|f| self.logsources.chainsaw_int_casts.contains(f))
                    {
                        int_cast(&mut m);
                    }
                    idx.push(matchers.len());
                    matchers.push(m);
                }
                groups.push(idx);
            }
            searches.push(CSearch { groups });
        }
        let names: Vec<&str> = rule
            .detection
            .searches
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let mut ors = Vec::new();
        for (text, c) in &rule.detection.conditions {
            ors.push(resolve(c, &names).map_err(|mut e| {
                e.message = format!(
                    "condition '{}': {}",
                    crate::rule::truncate(text, 200),
                    e.message
                );
                e.at(rule.detection.searches.first().and_then(|s| s.pos))
            })?);
        }
        let cond = if ors.len() == 1 {
            ors.pop().unwrap_or(CExpr::Or(vec![]))
        } else {
            CExpr::Or(ors)
        };
        let raw_branches = match sem {
            Semantics::Sigma => self.logsources.resolve_sigma(&rule.logsource)?,
            Semantics::Chainsaw => self
                .logsources
                .resolve_chainsaw(&rule.logsource, rule.id.as_deref()),
        };
        let mut branches = Vec::new();
        for b in raw_branches {
            let mut extra = Vec::new();
            for (field, vals, cased) in &b.extra {
                let spec = FieldSpec {
                    field: Some(field.clone()),
                    modifiers: if *cased { vec!["cased".into()] } else { vec![] },
                    values: vals.iter().map(|v| RawValue::Str(v.clone())).collect(),
                    key: field.clone(),
                    pos: None,
                };
                let mut big = usize::MAX;
                // Extra conditions are our own data: compile them in Sigma semantics.
                extra.push(compile_field(
                    &spec,
                    Semantics::Sigma,
                    None,
                    limits,
                    &mut big,
                )?);
            }
            branches.push(CBranch { branch: b, extra });
        }
        Ok(CompiledRule {
            rule: Arc::new(rule),
            semantics: sem,
            matchers,
            searches,
            cond,
            branches,
            field_map: (sem == Semantics::Chainsaw).then(|| self.chainsaw_fields.clone()),
            limits: limits.clone(),
        })
    }

    /// Loads every `.yml`/`.yaml` file under the given files or directories (sorted,
    /// recursively). Unreadable files are rejected with a reason, never skipped.
    pub fn load_paths(&self, paths: &[PathBuf]) -> RuleSet {
        let mut files = Vec::new();
        for p in paths {
            collect_rule_files(p, &mut files);
        }
        files.sort();
        files.dedup();
        let mut set = RuleSet {
            files: files.len(),
            ..Default::default()
        };
        for f in files {
            let shown = f.display().to_string();
            let text = match crate::hunt::stream::read_rule(&f, self.config.limits.max_rule_bytes) {
                Ok(t) => t,
                Err(e) => {
                    set.rejected.push((shown, e));
                    continue;
                }
            };
            match self.compile_file(&text, &shown) {
                Ok(c) => {
                    set.compiled.extend(c.rules);
                    set.correlations.extend(c.correlations);
                }
                Err(e) => set.rejected.push((shown, e)),
            }
        }
        set
    }

    /// Alias of [`Engine::load_paths`] for directories.
    pub fn load_dirs(&self, dirs: &[PathBuf]) -> RuleSet {
        self.load_paths(dirs)
    }
}

fn collect_rule_files(p: &Path, out: &mut Vec<PathBuf>) {
    // A file named explicitly is taken whatever its extension; in directories only
    // `.yml`/`.yaml` files are rules.
    if p.is_dir() {
        walk(p, out, 0);
    } else {
        out.push(p.to_path_buf());
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out, depth + 1);
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(p);
        }
    }
}

fn merge(base: &serde_yaml::Mapping, over: &serde_yaml::Mapping) -> serde_yaml::Mapping {
    let mut out = base.clone();
    for (k, v) in over {
        match (out.get_mut(k), v) {
            (Some(serde_yaml::Value::Mapping(a)), serde_yaml::Value::Mapping(b)) => {
                let merged = merge(a, b);
                *a = merged;
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn resolve(c: &Cond, names: &[&str]) -> Result<CExpr, RuleError> {
    Ok(match c {
        Cond::And(v) => CExpr::And(
            v.iter()
                .map(|x| resolve(x, names))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(v) => CExpr::Or(
            v.iter()
                .map(|x| resolve(x, names))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(x) => CExpr::Not(Box::new(resolve(x, names)?)),
        Cond::Ident(n) => match names.iter().position(|x| x == n) {
            Some(i) => CExpr::Search(i),
            None => {
                return Err(RuleError::new(
                    ErrorKind::Condition,
                    format!("search identifier '{n}' is not defined"),
                ));
            }
        },
        Cond::Of { all, pattern } => {
            let hits: Vec<CExpr> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| pattern_matches(pattern.as_deref(), n))
                .map(|(i, _)| CExpr::Search(i))
                .collect();
            if hits.is_empty() {
                return Err(RuleError::new(
                    ErrorKind::Condition,
                    format!(
                        "'{} of {}' matches no search identifier",
                        if *all { "all" } else { "1" },
                        pattern.as_deref().unwrap_or("them")
                    ),
                ));
            }
            if *all {
                CExpr::And(hits)
            } else {
                CExpr::Or(hits)
            }
        }
    })
}

/// Chainsaw's `int(field)` cast: the value's text parsed as an integer equals the pattern.
fn int_cast(m: &mut FieldMatcher) {
    for t in m.groups.iter_mut().flatten() {
        if let crate::matcher::Test::Str {
            typed, num, m: sm, ..
        } = t
        {
            if *typed == Some(true) {
                *typed = None;
                if let crate::pattern::StrMatch::Eq(s) = sm {
                    *num = s.parse::<f64>().ok();
                }
            }
        }
    }
}
