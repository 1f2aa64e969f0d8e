//! The typed rule AST, parsed from YAML. Parsing checks structure only; modifiers and
//! values are compiled in [`crate::compile`].

use crate::condition::{parse_condition, Cond};
use crate::error::{ErrorKind, RuleError};
use crate::limits::Limits;
use crate::yaml::{locate_key, locate_text};
use serde_yaml::Value;

/// `logsource` of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Logsource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl std::fmt::Display for Logsource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = &self.product {
            parts.push(format!("product={p}"));
        }
        if let Some(c) = &self.category {
            parts.push(format!("category={c}"));
        }
        if let Some(s) = &self.service {
            parts.push(format!("service={s}"));
        }
        if parts.is_empty() {
            write!(f, "(empty)")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// A scalar value as written in the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl RawValue {
    /// The string form used for string matching (numbers as written in decimal).
    pub fn as_text(&self) -> Option<String> {
        match self {
            RawValue::Str(s) => Some(s.clone()),
            RawValue::Int(i) => Some(i.to_string()),
            RawValue::Float(f) => Some(f.to_string()),
            RawValue::Bool(b) => Some(b.to_string()),
            RawValue::Null => None,
        }
    }
}

/// One `field|mod|mod: values` item (or a keyword list when `field` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub field: Option<String>,
    pub modifiers: Vec<String>,
    pub values: Vec<RawValue>,
    /// The key as written (for error messages and location).
    pub key: String,
    pub pos: Option<(usize, usize)>,
}

/// A search identifier: an OR over AND-groups of field specs.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub name: String,
    pub groups: Vec<Vec<FieldSpec>>,
    pub pos: Option<(usize, usize)>,
}

/// `detection`.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub searches: Vec<Search>,
    /// The condition strings (a list is OR-ed) with their parse trees.
    pub conditions: Vec<(String, Cond)>,
}

/// A detection rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub path: String,
    pub status: Option<String>,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub logsource: Logsource,
    pub detection: Detection,
}

/// Correlation types of the correlation specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

/// A count criterion: every present bound must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountCondition {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub eq: Option<f64>,
    pub neq: Option<f64>,
    /// `value_count`: the field whose distinct values are counted.
    pub field: Option<String>,
}

impl CountCondition {
    pub fn holds(&self, n: f64) -> bool {
        self.gt.is_none_or(|v| n > v)
            && self.gte.is_none_or(|v| n >= v)
            && self.lt.is_none_or(|v| n < v)
            && self.lte.is_none_or(|v| n <= v)
            && self.eq.is_none_or(|v| n == v)
            && self.neq.is_none_or(|v| n != v)
    }
}

/// A correlation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub path: String,
    pub level: Option<String>,
    pub kind: CorrelationType,
    /// Referenced rules by id or name.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    /// alias name -> (rule id/name -> field)
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    pub timespan_secs: u64,
    pub condition: CountCondition,
    pub generate: bool,
}

/// One YAML document of a rule file.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleDoc {
    Detection(Box<Rule>),
    Correlation(Box<Correlation>),
}

fn structure(msg: impl Into<String>) -> RuleError {
    RuleError::new(ErrorKind::Structure, msg)
}

fn get<'a>(m: &'a serde_yaml::Mapping, k: &str) -> Option<&'a Value> {
    m.get(Value::String(k.to_string()))
}

fn opt_string(m: &serde_yaml::Mapping, k: &str, text: &str) -> Result<Option<String>, RuleError> {
    match get(m, k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(structure(format!("'{k}' must be a string")).at(locate_key(text, k, 1))),
    }
}

fn scalar(v: &Value) -> Option<RawValue> {
    Some(match v {
        Value::Null => RawValue::Null,
        Value::Bool(b) => RawValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                RawValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                RawValue::Float(u as f64)
            } else {
                RawValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => RawValue::Str(s.clone()),
        Value::Tagged(t) => return scalar(&t.value),
        _ => return None,
    })
}

/// Parses one YAML document into a detection or correlation rule.
pub fn parse_document(
    doc: &Value,
    path: &str,
    text: &str,
    limits: &Limits,
) -> Result<RuleDoc, RuleError> {
    let m = doc
        .as_mapping()
        .ok_or_else(|| structure("a rule document must be a YAML mapping"))?;
    let title = opt_string(m, "title", text)?;
    let id = opt_string(m, "id", text)?;
    let name = opt_string(m, "name", text)?;
    let level = opt_string(m, "level", text)?;
    if let Some(c) = get(m, "correlation") {
        let title = title.ok_or_else(|| structure("correlation rule has no 'title'"))?;
        return parse_correlation(c, id, name, title, level, path, text)
            .map(|c| RuleDoc::Correlation(Box::new(c)));
    }
    let title = title.ok_or_else(|| structure("rule has no 'title'").at(Some((1, 1))))?;
    let status = opt_string(m, "status", text)?;
    let description = opt_string(m, "description", text)?;
    let tags = match get(m, "tags") {
        None | Some(Value::Null) => vec![],
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|t| scalar(t).and_then(|v| v.as_text()))
            .collect(),
        Some(_) => return Err(structure("'tags' must be a list").at(locate_key(text, "tags", 1))),
    };
    let logsource = match get(m, "logsource") {
        Some(Value::Mapping(ls)) => Logsource {
            product: opt_string(ls, "product", text)?,
            category: opt_string(ls, "category", text)?,
            service: opt_string(ls, "service", text)?,
        },
        None => return Err(structure("rule has no 'logsource'")),
        Some(_) => {
            return Err(structure("'logsource' must be a mapping").at(locate_key(
                text,
                "logsource",
                1,
            )))
        }
    };
    let det_line = locate_key(text, "detection", 1).map(|p| p.0).unwrap_or(1);
    let detection = match get(m, "detection") {
        Some(Value::Mapping(d)) => parse_detection(d, text, det_line, limits)?,
        None => return Err(structure("rule has no 'detection'")),
        Some(_) => {
            return Err(structure("'detection' must be a mapping").at(locate_key(
                text,
                "detection",
                1,
            )))
        }
    };
    Ok(RuleDoc::Detection(Box::new(Rule {
        id,
        name,
        title,
        path: path.to_string(),
        status,
        level,
        tags,
        description,
        logsource,
        detection,
    })))
}

fn parse_detection(
    d: &serde_yaml::Mapping,
    text: &str,
    det_line: usize,
    limits: &Limits,
) -> Result<Detection, RuleError> {
    let mut searches = Vec::new();
    let mut conditions = Vec::new();
    for (k, v) in d {
        let key = match k {
            Value::String(s) => s.clone(),
            other => scalar(other)
                .and_then(|s| s.as_text())
                .ok_or_else(|| structure("detection keys must be strings"))?,
        };
        let pos = locate_key(text, &key, det_line);
        if key == "condition" {
            let list: Vec<String> = match v {
                Value::String(s) => vec![s.clone()],
                Value::Sequence(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(structure("condition list items must be strings").at(pos)),
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(
                        structure("'condition' must be a string or a list of strings").at(pos),
                    )
                }
            };
            for c in list {
                let tree =
                    parse_condition(&c, limits.max_condition_bytes, limits.max_condition_depth)
                        .map_err(|e| {
                            let mut e = e.at(pos);
                            e.message = format!("condition '{}': {}", truncate(&c, 200), e.message);
                            e
                        })?;
                conditions.push((c, tree));
            }
            continue;
        }
        if key == "timeframe" {
            return Err(RuleError::new(
                ErrorKind::Unsupported,
                "'timeframe' (Sigma v1 aggregation) is replaced by correlation rules",
            )
            .at(pos));
        }
        if searches.len() >= limits.max_searches {
            return Err(RuleError::new(
                ErrorKind::Limit,
                format!("more than {} search identifiers", limits.max_searches),
            )
            .at(pos));
        }
        let groups = parse_search(&key, v, text, pos.map(|p| p.0).unwrap_or(det_line))?;
        searches.push(Search {
            name: key,
            groups,
            pos,
        });
    }
    if conditions.is_empty() {
        return Err(structure("detection has no 'condition'").at(Some((det_line, 1))));
    }
    Ok(Detection {
        searches,
        conditions,
    })
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn parse_values(
    v: &Value,
    key: &str,
    pos: Option<(usize, usize)>,
) -> Result<Vec<RawValue>, RuleError> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                scalar(i).ok_or_else(|| {
                    structure(format!(
                        "values of '{key}' must be scalars (a nested list or map is not Sigma)"
                    ))
                    .at(pos)
                })
            })
            .collect(),
        other => scalar(other).map(|s| vec![s]).ok_or_else(|| {
            structure(format!(
                "value of '{key}' must be a scalar or a list of scalars"
            ))
            .at(pos)
        }),
    }
}

fn split_key(key: &str) -> (Option<String>, Vec<String>) {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("");
    let mods = parts.map(|s| s.to_string()).collect();
    (
        if field.is_empty() {
            None
        } else {
            Some(field.to_string())
        },
        mods,
    )
}

fn parse_map(
    m: &serde_yaml::Mapping,
    text: &str,
    line: usize,
) -> Result<Vec<FieldSpec>, RuleError> {
    let mut out = Vec::new();
    for (k, v) in m {
        let key = match k {
            Value::String(s) => s.clone(),
            other => scalar(other)
                .and_then(|s| s.as_text())
                .ok_or_else(|| structure("field names must be strings"))?,
        };
        let pos = locate_key(text, &key, line);
        let (field, modifiers) = split_key(&key);
        let values = parse_values(v, &key, pos)?;
        out.push(FieldSpec {
            field,
            modifiers,
            values,
            key,
            pos,
        });
    }
    Ok(out)
}

fn parse_search(
    name: &str,
    v: &Value,
    text: &str,
    line: usize,
) -> Result<Vec<Vec<FieldSpec>>, RuleError> {
    let pos = locate_key(text, name, line);
    match v {
        Value::Mapping(m) => Ok(vec![parse_map(m, text, line)?]),
        Value::Sequence(items)
            if items.iter().all(|i| matches!(i, Value::Mapping(_))) && !items.is_empty() =>
        {
            items
                .iter()
                .map(|i| match i {
                    Value::Mapping(m) => parse_map(m, text, line),
                    _ => Err(structure("unreachable")),
                })
                .collect()
        }
        Value::Sequence(items) if items.iter().all(|i| scalar(i).is_some()) => {
            if items.is_empty() {
                return Err(structure(format!("search '{name}' is an empty list")).at(pos));
            }
            let values = parse_values(v, name, pos)?;
            Ok(vec![vec![FieldSpec {
                field: None,
                modifiers: vec![],
                values,
                key: name.to_string(),
                pos,
            }]])
        }
        Value::Sequence(_) => Err(structure(format!(
            "search '{name}' mixes maps and plain values in one list"
        ))
        .at(pos)),
        other => match scalar(other) {
            Some(RawValue::Null) | None => {
                Err(structure(format!("search '{name}' is empty")).at(pos))
            }
            Some(s) => Ok(vec![vec![FieldSpec {
                field: None,
                modifiers: vec![],
                values: vec![s],
                key: name.to_string(),
                pos,
            }]]),
        },
    }
}

/// Parses a timespan `number + s|m|h|d` (also `w`, `M`, `y` as pySigma accepts).
pub fn parse_timespan(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].trim().parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse_correlation(
    c: &Value,
    id: Option<String>,
    name: Option<String>,
    title: String,
    level: Option<String>,
    path: &str,
    text: &str,
) -> Result<Correlation, RuleError> {
    let cerr = |msg: String, key: &str| {
        RuleError::new(ErrorKind::Correlation, msg).at(locate_key(text, key, 1))
    };
    let m = c
        .as_mapping()
        .ok_or_else(|| cerr("'correlation' must be a mapping".into(), "correlation"))?;
    let kind = match get(m, "type").and_then(|v| v.as_str()) {
        Some("event_count") => CorrelationType::EventCount,
        Some("value_count") => CorrelationType::ValueCount,
        Some("temporal") => CorrelationType::Temporal,
        Some("temporal_ordered") => CorrelationType::TemporalOrdered,
        Some(t @ ("value_sum" | "value_avg" | "value_percentile")) => {
            return Err(RuleError::new(
                ErrorKind::Unsupported,
                format!("correlation type '{t}' is outside the supported set (event_count, value_count, temporal, temporal_ordered)"),
            )
            .at(locate_key(text, "type", 1)))
        }
        Some(t) => return Err(cerr(format!("unknown correlation type '{t}'"), "type")),
        None => return Err(cerr("correlation has no 'type'".into(), "correlation")),
    };
    let strings = |key: &str| -> Result<Vec<String>, RuleError> {
        match get(m, key) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Sequence(s)) => s
                .iter()
                .map(|x| {
                    scalar(x)
                        .and_then(|v| v.as_text())
                        .ok_or_else(|| cerr(format!("'{key}' items must be strings"), key))
                })
                .collect(),
            Some(_) => Err(cerr(format!("'{key}' must be a list"), key)),
        }
    };
    let rules = strings("rules")?;
    if rules.is_empty() {
        return Err(cerr("correlation has no 'rules'".into(), "correlation"));
    }
    let group_by = strings("group-by")?;
    let timespan_secs = match get(m, "timespan") {
        Some(v) => {
            let s = scalar(v).and_then(|v| v.as_text()).unwrap_or_default();
            parse_timespan(&s).ok_or_else(|| {
                cerr(
                    format!("invalid timespan '{s}' (use e.g. 30s, 5m, 1h, 2d)"),
                    "timespan",
                )
            })?
        }
        None => return Err(cerr("correlation has no 'timespan'".into(), "correlation")),
    };
    let mut condition = CountCondition::default();
    match get(m, "condition") {
        Some(Value::Mapping(cm)) => {
            for (k, v) in cm {
                let k = k.as_str().unwrap_or("");
                let num = || {
                    scalar(v)
                        .and_then(|s| match s {
                            RawValue::Int(i) => Some(i as f64),
                            RawValue::Float(f) => Some(f),
                            RawValue::Str(s) => s.parse().ok(),
                            _ => None,
                        })
                        .ok_or_else(|| cerr(format!("condition '{k}' needs a number"), k))
                };
                match k {
                    "gt" => condition.gt = Some(num()?),
                    "gte" => condition.gte = Some(num()?),
                    "lt" => condition.lt = Some(num()?),
                    "lte" => condition.lte = Some(num()?),
                    "eq" => condition.eq = Some(num()?),
                    "neq" => condition.neq = Some(num()?),
                    "field" => condition.field = v.as_str().map(|s| s.to_string()),
                    other => {
                        return Err(cerr(
                            format!("unknown correlation condition '{other}'"),
                            other,
                        ))
                    }
                }
            }
        }
        None => {
            if matches!(
                kind,
                CorrelationType::EventCount | CorrelationType::ValueCount
            ) {
                return Err(cerr(
                    "event_count/value_count correlation needs a 'condition'".into(),
                    "correlation",
                ));
            }
        }
        Some(_) => {
            return Err(cerr(
                "correlation 'condition' must be a mapping".into(),
                "condition",
            ))
        }
    }
    if kind == CorrelationType::ValueCount && condition.field.is_none() {
        return Err(cerr(
            "value_count correlation needs 'condition.field'".into(),
            "condition",
        ));
    }
    let mut aliases = Vec::new();
    if let Some(Value::Mapping(am)) = get(m, "aliases") {
        for (k, v) in am {
            let alias = k.as_str().unwrap_or("").to_string();
            let mut per = Vec::new();
            if let Value::Mapping(vm) = v {
                for (r, f) in vm {
                    per.push((
                        r.as_str().unwrap_or("").to_string(),
                        f.as_str().unwrap_or("").to_string(),
                    ));
                }
            }
            aliases.push((alias, per));
        }
    }
    let generate = matches!(get(m, "generate"), Some(Value::Bool(true)));
    let _ = locate_text;
    Ok(Correlation {
        id,
        name,
        title,
        path: path.to_string(),
        level,
        kind,
        rules,
        group_by,
        aliases,
        timespan_secs,
        condition,
        generate,
    })
}
