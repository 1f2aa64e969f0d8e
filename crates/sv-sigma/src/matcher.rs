//! Value modifiers (modifier appendix) compiled into per-value tests.
//!
//! A [`FieldMatcher`] is one `field|mods: values` item. Its [`Test`]s look at one field
//! value at a time and do not depend on the rest of the event (except `fieldref`), so
//! the evaluator can run them once per distinct interned value and cache the answer.

use crate::error::{ErrorKind, RuleError};
use crate::limits::Limits;
use crate::pattern::{fold, SigStr, StrMatch};
use crate::rule::{FieldSpec, RawValue};
use crate::Semantics;
use base64::Engine as _;
use std::collections::HashMap;

/// Numeric comparison of `lt`/`lte`/`gt`/`gte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A regex test: the `regex` engine (on the pattern minimised for `is_match` by
/// [`crate::regex_min`]) when the syntax allows, else
/// `fancy-regex` (look-around, back-references) with a backtrack limit.
#[derive(Debug, Clone)]
pub enum Re {
    Fast(regex::Regex),
    Fancy(Box<fancy_regex::Regex>),
    /// `.{m,}`-style patterns: a run of `m` characters, checked without an automaton.
    Run(crate::regex_min::AnyRun),
}

/// One field value as the tests see it.
#[derive(Debug, Clone, Copy)]
pub struct Val<'a> {
    pub raw: &'a str,
    pub folded: &'a str,
    pub number: Option<f64>,
    /// The value was a number in the event (not a string) — only Chainsaw semantics cares.
    pub is_number: bool,
    /// The value was a JSON string (Chainsaw's tau matches string patterns only on strings).
    pub is_string: bool,
    /// The value was JSON `null` (an element without content).
    pub is_null: bool,
}

/// How a `fieldref` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Eq,
    Starts,
    Ends,
    Contains,
}

/// A test on one value.
#[derive(Debug, Clone)]
pub enum Test {
    /// String match; `m` is built from the folded pattern unless `cased`. `num` holds the
    /// pattern's value when it is a plain decimal number (Sigma semantics: `4688` matches
    /// `'4688'` and `04688`). `typed` (Chainsaw semantics) restricts the test to values of
    /// the same type (number pattern ↔ number value).
    Str {
        m: StrMatch,
        cased: bool,
        num: Option<f64>,
        typed: Option<bool>,
    },
    Re {
        re: Re,
        max_bytes: usize,
    },
    Num(Cmp, f64),
    Cidr(ipnet::IpNet),
    /// `null`: the field is absent or empty.
    Null,
    /// Chainsaw's `null`: only a JSON `null` value.
    NullStrict,
    /// Many `contains` literals of one OR list, searched at once (Aho-Corasick).
    ContainsAny {
        ac: Box<aho_corasick::AhoCorasick>,
        cased: bool,
    },
    /// Very many `contains` literals of few lengths (hash lists): a hashed window set.
    LiteralSet {
        set: Box<crate::merge::WindowSet>,
        cased: bool,
    },
    /// `exists: true/false`.
    Exists(bool),
    /// `fieldref`: equal (or starts/ends/contains) to another field of the same event.
    FieldRef {
        field: String,
        kind: RefKind,
        cased: bool,
    },
}

impl Test {
    /// Tests one present value (`fieldref`, `exists` and `null` are decided by the caller).
    #[inline]
    pub fn matches(&self, v: &Val) -> bool {
        match self {
            Test::Str {
                m,
                cased,
                num,
                typed,
            } => {
                match typed {
                    Some(true) if !v.is_number => return false,
                    Some(false) if !v.is_string => return false,
                    _ => {}
                }
                let s = if *cased { v.raw } else { v.folded };
                if m.is_match(s) {
                    return true;
                }
                match (num, v.number) {
                    (Some(a), Some(b)) => *a == b && is_decimal(v.raw),
                    _ => false,
                }
            }
            Test::Re { re, max_bytes } => {
                let mut s = v.raw;
                if s.len() > *max_bytes {
                    let mut end = *max_bytes;
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s = &s[..end];
                }
                match re {
                    Re::Fast(r) => r.is_match(s),
                    // A backtrack-limit error counts as no match (documented).
                    Re::Fancy(r) => r.is_match(s).unwrap_or(false),
                    Re::Run(run) => run.is_match(s),
                }
            }
            Test::Num(op, x) => match v.number.or_else(|| parse_number(v.raw)) {
                Some(n) => match op {
                    Cmp::Lt => n < *x,
                    Cmp::Lte => n <= *x,
                    Cmp::Gt => n > *x,
                    Cmp::Gte => n >= *x,
                },
                None => false,
            },
            Test::Cidr(net) => match v.raw.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => net.contains(&ip),
                Err(_) => {
                    // IPv4-mapped or bracketed IPv6 forms seen in logs.
                    let t = v.raw.trim().trim_start_matches('[').trim_end_matches(']');
                    let t = t.strip_prefix("::ffff:").unwrap_or(t);
                    t.parse::<std::net::IpAddr>()
                        .map(|ip| net.contains(&ip))
                        .unwrap_or(false)
                }
            },
            Test::Null => v.raw.is_empty(),
            Test::NullStrict => v.is_null,
            Test::ContainsAny { ac, cased } => ac.is_match(if *cased { v.raw } else { v.folded }),
            Test::LiteralSet { set, cased } => {
                set.is_match(if *cased { v.raw } else { v.folded }.as_bytes())
            }
            Test::Exists(b) => *b,
            Test::FieldRef { .. } => false,
        }
    }

    /// True when the test result depends only on the value (cacheable per distinct value).
    pub fn is_value_only(&self) -> bool {
        !matches!(self, Test::FieldRef { .. })
    }
}

fn is_decimal(s: &str) -> bool {
    let t = s.trim();
    let t = t.strip_prefix('-').unwrap_or(t);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a number as it appears in event logs: decimal, or `0x` hexadecimal.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|u| u as f64);
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A compiled `field|modifiers: values` item.
#[derive(Debug, Clone)]
pub struct FieldMatcher {
    /// `None` for keyword (keyless) searches.
    pub field: Option<String>,
    /// One group per rule value (a value can expand to several tests, e.g. base64offset):
    /// a group matches when any of its tests does.
    pub groups: Vec<Vec<Test>>,
    /// `|all`: every group must match (otherwise any).
    pub all: bool,
    /// `|neq`: negated.
    pub neq: bool,
    /// The key as written, for messages.
    pub key: String,
}

impl FieldMatcher {
    /// Tests a present value with all value-only tests (AND/OR per `all`, then `neq`).
    pub fn match_value(&self, v: &Val) -> bool {
        let r = if self.all {
            self.groups.iter().all(|g| g.iter().any(|t| t.matches(v)))
        } else {
            self.groups.iter().any(|g| g.iter().any(|t| t.matches(v)))
        };
        r != self.neq
    }

    /// The answer when the field is absent from the event.
    pub fn match_missing(&self, semantics: Semantics) -> bool {
        let r = if self.all {
            self.groups.iter().all(|g| g.iter().any(missing_test))
        } else {
            self.groups.iter().any(|g| g.iter().any(missing_test))
        };
        match semantics {
            Semantics::Sigma => r != self.neq,
            // tau's null pattern only matches a present null value.
            Semantics::Chainsaw => false,
        }
    }

    pub fn has_fieldref(&self) -> bool {
        self.groups.iter().flatten().any(|t| !t.is_value_only())
    }
}

fn missing_test(t: &Test) -> bool {
    matches!(t, Test::Null | Test::Exists(false))
}

const KNOWN: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "windash",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "lt",
    "lte",
    "gt",
    "gte",
    "exists",
    "fieldref",
    "cased",
    "expand",
    "neq",
];

/// Modifiers Chainsaw 2.16.4 accepts (its `SUPPORTED_MODIFIERS`).
const CHAINSAW_MODIFIERS: &[&str] = &[
    "all",
    "base64",
    "base64offset",
    "contains",
    "endswith",
    "startswith",
    "re",
];

/// Placeholder values for `expand` (`%name%` → list of Sigma strings).
pub type Placeholders = HashMap<String, Vec<String>>;

enum Item {
    Str(SigStr),
    Bytes(Vec<u8>),
}

fn merr(spec: &FieldSpec, msg: impl Into<String>) -> RuleError {
    RuleError::new(
        ErrorKind::Modifier,
        format!("'{}': {}", spec.key, msg.into()),
    )
    .at(spec.pos)
}
fn verr(spec: &FieldSpec, msg: impl Into<String>) -> RuleError {
    RuleError::new(ErrorKind::Value, format!("'{}': {}", spec.key, msg.into())).at(spec.pos)
}

/// Compiles one field spec under `semantics`.
pub fn compile_field(
    spec: &FieldSpec,
    semantics: Semantics,
    placeholders: Option<&Placeholders>,
    limits: &Limits,
    value_budget: &mut usize,
) -> Result<FieldMatcher, RuleError> {
    let mods: Vec<&str> = spec.modifiers.iter().map(|s| s.as_str()).collect();
    for m in &mods {
        if !KNOWN.contains(m) {
            let hint = match *m {
                "minute" | "hour" | "day" | "week" | "month" | "year" => {
                    " (time modifiers are not supported: event values are not dates)"
                }
                _ => "",
            };
            return Err(merr(spec, format!("unknown modifier '{m}'{hint}")));
        }
    }
    if semantics == Semantics::Chainsaw {
        if spec.field.is_none() {
            return Err(RuleError::new(
                ErrorKind::Unsupported,
                format!(
                    "'{}': keyword (keyless) searches are not supported by Chainsaw",
                    spec.key
                ),
            )
            .at(spec.pos));
        }
        let mut bad: Vec<&str> = mods
            .iter()
            .copied()
            .filter(|m| !CHAINSAW_MODIFIERS.contains(m))
            .collect();
        bad.sort();
        bad.dedup();
        if !bad.is_empty() {
            return Err(RuleError::new(
                ErrorKind::Unsupported,
                format!(
                    "'{}': modifiers not supported by Chainsaw: {}",
                    spec.key,
                    bad.join(", ")
                ),
            )
            .at(spec.pos));
        }
    }
    let has = |m: &str| mods.contains(&m);
    let cased = has("cased");
    let all = has("all");
    let neq = has("neq");
    let typed = semantics == Semantics::Chainsaw;

    // Sub-modifiers of `re` must follow it.
    if (has("i") || has("m") || has("s")) && !has("re") {
        return Err(merr(spec, "'i', 'm' and 's' are sub-modifiers of 're'"));
    }
    let type_mods: Vec<&str> = mods
        .iter()
        .copied()
        .filter(|m| {
            matches!(
                *m,
                "re" | "cidr" | "lt" | "lte" | "gt" | "gte" | "exists" | "fieldref"
            )
        })
        .collect();
    if type_mods.len() > 1 {
        return Err(merr(
            spec,
            format!("modifiers {} cannot be combined", type_mods.join(" and ")),
        ));
    }
    let nvals = spec.values.len();
    *value_budget = value_budget.saturating_sub(nvals);
    if *value_budget == 0 {
        return Err(RuleError::new(
            ErrorKind::Limit,
            format!("more than {} values in the rule", limits.max_values),
        )
        .at(spec.pos));
    }
    if spec.values.is_empty() {
        return Err(verr(spec, "empty value list"));
    }
    for v in &spec.values {
        if let RawValue::Str(s) = v {
            if s.len() > limits.max_value_bytes {
                return Err(RuleError::new(
                    ErrorKind::Limit,
                    format!(
                        "'{}': a value is {} bytes, the limit is {}",
                        spec.key,
                        s.len(),
                        limits.max_value_bytes
                    ),
                )
                .at(spec.pos));
            }
        }
    }
    let mut tests: Vec<Vec<Test>> = Vec::new();
    let type_mod = type_mods.first().copied();
    match type_mod {
        Some("exists") => {
            for v in &spec.values {
                match v {
                    RawValue::Bool(b) => tests.push(vec![Test::Exists(*b)]),
                    RawValue::Str(s)
                        if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
                    {
                        tests.push(vec![Test::Exists(s.eq_ignore_ascii_case("true"))])
                    }
                    _ => return Err(verr(spec, "'exists' needs true or false")),
                }
            }
        }
        Some(op @ ("lt" | "lte" | "gt" | "gte")) => {
            let cmp = match op {
                "lt" => Cmp::Lt,
                "lte" => Cmp::Lte,
                "gt" => Cmp::Gt,
                _ => Cmp::Gte,
            };
            for v in &spec.values {
                let n = match v {
                    RawValue::Int(i) => *i as f64,
                    RawValue::Float(f) => *f,
                    RawValue::Str(s) => parse_number(s)
                        .ok_or_else(|| verr(spec, format!("'{op}' needs a number, got '{s}'")))?,
                    _ => return Err(verr(spec, format!("'{op}' needs a number"))),
                };
                tests.push(vec![Test::Num(cmp, n)]);
            }
        }
        Some("cidr") => {
            for v in &spec.values {
                let s = v
                    .as_text()
                    .ok_or_else(|| verr(spec, "'cidr' needs a network like 10.0.0.0/8"))?;
                let net: ipnet::IpNet = s
                    .trim()
                    .parse()
                    .or_else(|_| s.trim().parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| verr(spec, format!("invalid CIDR network '{s}'")))?;
                tests.push(vec![Test::Cidr(net.trunc())]);
            }
        }
        Some("fieldref") => {
            let kind = if has("contains") {
                RefKind::Contains
            } else if has("startswith") {
                RefKind::Starts
            } else if has("endswith") {
                RefKind::Ends
            } else {
                RefKind::Eq
            };
            for v in &spec.values {
                let s = v
                    .as_text()
                    .ok_or_else(|| verr(spec, "'fieldref' needs a field name"))?;
                tests.push(vec![Test::FieldRef {
                    field: s,
                    kind,
                    cased,
                }]);
            }
        }
        Some("re") => {
            for v in &spec.values {
                let s = v
                    .as_text()
                    .ok_or_else(|| verr(spec, "'re' needs a regular expression string"))?;
                tests.push(vec![compile_regex(
                    spec,
                    &s,
                    has("i"),
                    has("m"),
                    has("s"),
                    limits,
                )?]);
            }
        }
        _ => {
            // String values through the transformation modifiers, in the order written.
            let texts = expand_values(spec, has("expand"), placeholders, limits)?;
            for (raw, text) in texts {
                let Some(text) = text else {
                    // null
                    tests.push(vec![if semantics == Semantics::Chainsaw {
                        Test::NullStrict
                    } else {
                        Test::Null
                    }]);
                    continue;
                };
                if semantics == Semantics::Chainsaw {
                    tests.push(chainsaw_group(&raw, &text, &has));
                    continue;
                }
                let mut items = vec![Item::Str(SigStr::parse(&text))];
                let mut group = Vec::new();
                for m in &mods {
                    items = apply(spec, m, items, semantics)?;
                }
                let keyword = spec.field.is_none() && !(has("startswith") || has("endswith"));
                for it in items {
                    let s = match it {
                        // Keywords search anywhere in a value (full-text semantics).
                        Item::Str(s) if keyword => s.contains(),
                        Item::Str(s) => s,
                        Item::Bytes(b) => SigStr::literal(&String::from_utf8_lossy(&b)),
                    };
                    let num = match (&raw, s.is_plain()) {
                        (RawValue::Int(i), true) if semantics == Semantics::Sigma => {
                            Some(*i as f64)
                        }
                        (RawValue::Str(t), true)
                            if semantics == Semantics::Sigma && is_decimal(t) =>
                        {
                            t.trim().parse().ok()
                        }
                        _ => None,
                    };
                    let typed = if typed {
                        Some(matches!(raw, RawValue::Int(_) | RawValue::Float(_)))
                    } else {
                        None
                    };
                    let pat = if cased { s } else { s.folded() };
                    let m = StrMatch::compile(&pat, limits.max_regex_size)?;
                    group.push(Test::Str {
                        m,
                        cased,
                        num,
                        typed,
                    });
                }
                tests.push(group);
            }
        }
    }
    let n: usize = tests.iter().map(|g| g.len()).sum();
    if n > limits.max_values {
        return Err(RuleError::new(
            ErrorKind::Limit,
            format!("'{}' expands to {n} values", spec.key),
        )
        .at(spec.pos));
    }
    let tests = if all {
        tests
    } else {
        crate::merge::merge_or_list(tests, limits)
    };
    Ok(FieldMatcher {
        field: spec.field.clone(),
        groups: tests,
        all,
        neq,
        key: spec.key.clone(),
    })
}

fn compile_regex(
    spec: &FieldSpec,
    s: &str,
    i: bool,
    m: bool,
    dot: bool,
    limits: &Limits,
) -> Result<Test, RuleError> {
    let parsed = regex_syntax::ParserBuilder::new()
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(dot)
        .build()
        .parse(s);
    match parsed {
        Ok(original) => {
            let hir = crate::regex_min::for_is_match(original.clone());
            let max_bytes = limits.max_match_bytes;
            if let Some(run) = crate::regex_min::AnyRun::recognise(&hir) {
                return Ok(Test::Re {
                    re: Re::Run(run),
                    max_bytes,
                });
            }
            // Compiled from the printed minimal form (flags are folded into it) with the
            // `regex` front end: its `is_match` runs ~10x faster on long values than a
            // meta regex built from the same `Hir` with default settings (measured).
            let pattern = if hir == original {
                s.to_string()
            } else {
                hir.to_string()
            };
            let flags = hir == original;
            let built = regex::RegexBuilder::new(&pattern)
                .case_insensitive(i && flags)
                .multi_line(m && flags)
                .dot_matches_new_line(dot && flags)
                .size_limit(limits.max_regex_size)
                .dfa_size_limit(limits.max_regex_size)
                .build();
            match built {
                Ok(r) => Ok(Test::Re {
                    re: Re::Fast(r),
                    max_bytes,
                }),
                Err(regex::Error::CompiledTooBig(n)) => Err(RuleError::new(
                    ErrorKind::Limit,
                    format!(
                        "'{}': regex compiles beyond the size limit of {n} bytes",
                        spec.key
                    ),
                )
                .at(spec.pos)),
                Err(e) => Err(verr(
                    spec,
                    format!("invalid regular expression: {}", first_line(&e.to_string())),
                )),
            }
        }
        Err(first) => {
            let mut flags = String::new();
            if i {
                flags.push('i');
            }
            if m {
                flags.push('m');
            }
            if dot {
                flags.push('s');
            }
            let pat = if flags.is_empty() {
                s.to_string()
            } else {
                format!("(?{flags}){s}")
            };
            let fancy = fancy_regex::RegexBuilder::new(&pat)
                .backtrack_limit(limits.regex_backtrack_limit)
                .delegate_size_limit(limits.max_regex_size)
                .build()
                .map_err(|e| {
                    verr(
                        spec,
                        format!(
                            "invalid regular expression: {e} (regex crate: {})",
                            first_line(&first.to_string())
                        ),
                    )
                })?;
            Ok(Test::Re {
                re: Re::Fancy(Box::new(fancy)),
                max_bytes: limits.max_match_bytes,
            })
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or("").trim().to_string()
}

/// Applies `expand` (placeholders) and returns (original, text) pairs; `None` = null.
fn expand_values(
    spec: &FieldSpec,
    expand: bool,
    placeholders: Option<&Placeholders>,
    limits: &Limits,
) -> Result<Vec<(RawValue, Option<String>)>, RuleError> {
    let mut out = Vec::new();
    for v in &spec.values {
        let text = v.as_text();
        if !expand {
            out.push((v.clone(), text));
            continue;
        }
        let Some(text) = text else {
            out.push((v.clone(), None));
            continue;
        };
        // Split into literal and %placeholder% parts; `\%` is a plain percent.
        let mut variants = vec![String::new()];
        let mut rest = text.as_str();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("\\%") {
                for s in &mut variants {
                    s.push('%');
                }
                rest = r;
                continue;
            }
            if let Some(r) = rest.strip_prefix('%') {
                if let Some(end) = r.find('%') {
                    let name = &r[..end];
                    let table = placeholders.ok_or_else(|| {
                        RuleError::new(
                            ErrorKind::Placeholder,
                            format!("'{}': placeholder %{name}% needs a placeholder file (none configured)", spec.key),
                        )
                        .at(spec.pos)
                    })?;
                    let vals = table.get(name).ok_or_else(|| {
                        RuleError::new(
                            ErrorKind::Placeholder,
                            format!(
                                "'{}': placeholder %{name}% is not defined in the placeholder file",
                                spec.key
                            ),
                        )
                        .at(spec.pos)
                    })?;
                    let mut next = Vec::new();
                    for s in &variants {
                        for pv in vals {
                            next.push(format!("{s}{pv}"));
                        }
                    }
                    if next.len() > limits.max_values {
                        return Err(RuleError::new(
                            ErrorKind::Limit,
                            format!(
                                "'{}': placeholder expansion exceeds {} values",
                                spec.key, limits.max_values
                            ),
                        )
                        .at(spec.pos));
                    }
                    variants = next;
                    rest = &r[end + 1..];
                    continue;
                }
            }
            let c = rest.chars().next().unwrap_or('%');
            for s in &mut variants {
                s.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        for s in variants {
            out.push((RawValue::Str(s.clone()), Some(s)));
        }
    }
    Ok(out)
}

fn plain_bytes(spec: &FieldSpec, it: &Item, m: &str) -> Result<Vec<u8>, RuleError> {
    match it {
        Item::Bytes(b) => Ok(b.clone()),
        Item::Str(s) => s
            .plain_text()
            .map(|t| t.into_bytes())
            .ok_or_else(|| merr(spec, format!("'{m}' needs a value without wildcards"))),
    }
}

fn apply(
    spec: &FieldSpec,
    m: &str,
    items: Vec<Item>,
    semantics: Semantics,
) -> Result<Vec<Item>, RuleError> {
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        match m {
            "contains" | "startswith" | "endswith" => match it {
                Item::Str(s) => out.push(Item::Str(match m {
                    "contains" => s.contains(),
                    "startswith" => s.startswith(),
                    _ => s.endswith(),
                })),
                Item::Bytes(_) => {
                    return Err(merr(
                        spec,
                        format!("'{m}' after an encoding modifier needs 'base64' in between"),
                    ))
                }
            },
            "windash" => match it {
                Item::Str(s) => out.push(Item::Str(s.windash())),
                Item::Bytes(_) => {
                    return Err(merr(spec, "'windash' must come before encoding modifiers"))
                }
            },
            "utf16le" | "wide" | "utf16be" | "utf16" => {
                let text = match &it {
                    Item::Str(s) => s.plain_text().ok_or_else(|| {
                        merr(spec, format!("'{m}' needs a value without wildcards"))
                    })?,
                    Item::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                };
                let mut bytes = Vec::new();
                if m == "utf16" {
                    bytes.extend_from_slice(&[0xFF, 0xFE]);
                }
                for u in text.encode_utf16() {
                    if m == "utf16be" {
                        bytes.extend_from_slice(&u.to_be_bytes());
                    } else {
                        bytes.extend_from_slice(&u.to_le_bytes());
                    }
                }
                out.push(Item::Bytes(bytes));
            }
            "base64" => {
                let b = plain_bytes(spec, &it, m)?;
                out.push(Item::Str(SigStr::literal(
                    &base64::engine::general_purpose::STANDARD.encode(b),
                )));
            }
            "base64offset" => {
                let b = plain_bytes(spec, &it, m)?;
                for i in 0..3usize {
                    let mut buf = vec![b' '; i];
                    buf.extend_from_slice(&b);
                    let enc = base64::engine::general_purpose::STANDARD.encode(&buf);
                    let start = [0usize, 2, 3][i];
                    let end_trim = match semantics {
                        // pySigma: end offsets (None, -3, -2) indexed by (len(value) + i) % 3.
                        Semantics::Sigma => [0usize, 3, 2][(b.len() + i) % 3],
                        // Chainsaw: [0, 3, 2] indexed by len(padded value) % 3 — the same index.
                        Semantics::Chainsaw => [0usize, 3, 2][buf.len() % 3],
                    };
                    let endi = enc.len().saturating_sub(end_trim);
                    let piece = if start <= endi { &enc[start..endi] } else { "" };
                    out.push(Item::Str(SigStr::literal(piece)));
                }
            }
            _ => out.push(it),
        }
    }
    Ok(out)
}

/// Folds a value for case-insensitive comparison (re-exported for evaluators).
pub fn fold_value(s: &str) -> String {
    fold(s)
}

/// Chainsaw 2.16.4's conversion of a string value into a tau pattern (`parse_identifier`
/// in its `rule/sigma.rs`), reproduced: backslashes are never unescaped; `base64` /
/// `base64offset` encode first; then the first of `contains`, `endswith`, `startswith`
/// gives a case-insensitive contains/ends/starts match of the literal text; a plain value
/// is case-insensitive equality, or contains/ends/starts when it begins/ends with `*`;
/// a plain value with an inner `*` or `?` becomes a regex whose wildcards stay escaped,
/// i.e. a case-sensitive, unanchored search for the literal text.
fn chainsaw_group(raw: &RawValue, text: &str, has: &dyn Fn(&str) -> bool) -> Vec<Test> {
    let typed = Some(matches!(raw, RawValue::Int(_) | RawValue::Float(_)));
    let mut texts = vec![text.to_string()];
    if has("base64") {
        texts = vec![base64::engine::general_purpose::STANDARD.encode(text)];
    } else if has("base64offset") {
        texts = (0..3usize)
            .map(|i| {
                let value = format!("{}{}", " ".repeat(i), text);
                let enc = base64::engine::general_purpose::STANDARD.encode(&value);
                let start = [0usize, 2, 3][i];
                let end = enc.len().saturating_sub([0usize, 3, 2][value.len() % 3]);
                enc.get(start..end).unwrap_or("").to_string()
            })
            .collect();
    }
    let lit = |s: &str, cased: bool, kind: u8| -> Test {
        let v = if cased { s.to_string() } else { fold(s) };
        let m = match kind {
            0 => StrMatch::Eq(v),
            1 => StrMatch::Contains(Box::new(
                memchr::memmem::Finder::new(v.as_bytes()).into_owned(),
            )),
            2 => StrMatch::Ends(v),
            _ => StrMatch::Starts(v),
        };
        Test::Str {
            m,
            cased,
            num: None,
            typed,
        }
    };
    texts
        .iter()
        .map(|s| {
            if has("contains") {
                lit(s, false, 1)
            } else if has("endswith") {
                lit(s, false, 2)
            } else if has("startswith") {
                lit(s, false, 3)
            } else {
                let (mut a, mut b) = (0, s.len());
                if s.len() > 1 {
                    if s.starts_with('*') {
                        a += 1;
                    }
                    if s.ends_with('*') && b > a {
                        b -= 1;
                    }
                    if s[a..b].contains('*') || s[a..b].contains('?') {
                        return lit(s, true, 1);
                    }
                }
                match (
                    s.len() > 1 && s.starts_with('*'),
                    s.len() > 1 && s.ends_with('*'),
                ) {
                    (true, true) => lit(&s[1..s.len() - 1], false, 1),
                    (true, false) => lit(&s[1..], false, 2),
                    (false, true) => lit(&s[..s.len() - 1], false, 3),
                    _ if s == "*" => lit("", false, 1),
                    _ => lit(s, false, 0),
                }
            }
        })
        .collect()
}
