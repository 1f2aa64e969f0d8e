//! Correlation rules (`event_count`, `value_count`, `temporal`, `temporal_ordered`) over
//! the matches of the referenced detection rules, grouped by `group-by` (with `aliases`)
//! and windowed by `timespan` on `System/TimeCreated`.
//!
//! Windowing: per group, events are sorted by time; a window ends at each event and
//! reaches back `timespan` seconds. When the condition holds, the window is reported and
//! the next window starts after it (reported windows do not overlap).

use crate::engine::CompiledRule;
use crate::error::EvalError;
use crate::rule::{Correlation, CorrelationType};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use sv_events::{EventIdx, EventStore};

/// One firing of a correlation rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CorrelationMatch {
    /// The `group-by` values (in `group-by` order).
    pub group: Vec<String>,
    /// The events of the window, in time order.
    pub events: Vec<u32>,
    /// First and last `TimeCreated` of the window (seconds since the Unix epoch).
    pub start: i64,
    pub end: i64,
}

/// Parses an RFC 3339 timestamp (`2019-03-17T20:18:09.312636Z`, `+00:00` offsets) into
/// Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // days from civil (Howard Hinnant's algorithm)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut t = days * 86_400 + h * 3600 + mi * 60 + se;
    // offset
    let rest = &s[19..];
    let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if let Some(off) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')) {
        let sign = if rest.starts_with('-') { -1 } else { 1 };
        let oh: i64 = off.get(0..2)?.parse().ok()?;
        let om: i64 = off.get(3..5).and_then(|x| x.parse().ok()).unwrap_or(0);
        t -= sign * (oh * 3600 + om * 60);
    }
    Some(t)
}

/// Evaluates a correlation rule. `rules` are the loaded detection rules; references are
/// resolved by `id` or `name`.
pub fn evaluate_correlation(
    corr: &Correlation,
    rules: &[CompiledRule],
    store: &EventStore,
) -> Result<Vec<CorrelationMatch>, EvalError> {
    // (time, rule position, event) per group
    let mut groups: BTreeMap<Vec<String>, Vec<(i64, usize, u32)>> = BTreeMap::new();
    for (pos, r) in corr.rules.iter().enumerate() {
        let rule = rules
            .iter()
            .find(|c| c.id() == Some(r.as_str()) || c.rule.name.as_deref() == Some(r.as_str()))
            .ok_or_else(|| EvalError::MissingReference(r.clone()))?;
        let hits = rule.evaluate(store)?;
        let field_for = |g: &str| -> String {
            for (alias, per) in &corr.aliases {
                if alias == g {
                    if let Some((_, f)) = per
                        .iter()
                        .find(|(rn, _)| rn == r || Some(rn.as_str()) == rule.id())
                    {
                        return f.clone();
                    }
                }
            }
            g.to_string()
        };
        let keys: Vec<Option<sv_events::Sym>> = corr
            .group_by
            .iter()
            .map(|g| store.key(&field_for(g)))
            .collect();
        let vc_key = corr
            .condition
            .field
            .as_ref()
            .and_then(|f| store.key(&field_for(f)));
        for ev in hits.iter() {
            let e = EventIdx(ev);
            let Some(t) = store
                .system(e)
                .time_created
                .and_then(|s| parse_time(store.strings().get(s)))
            else {
                continue;
            };
            let group: Vec<String> = keys
                .iter()
                .map(|k| {
                    k.and_then(|k| store.value(e, k))
                        .map(|v| store.strings().get(v.sym).to_string())
                        .unwrap_or_default()
                })
                .collect();
            let _ = vc_key;
            groups.entry(group).or_default().push((t, pos, ev));
        }
    }
    let vc_key = corr.condition.field.as_ref().and_then(|f| store.key(f));
    let mut out = Vec::new();
    for (group, mut evs) in groups {
        evs.sort();
        let mut start = 0usize;
        for end in 0..evs.len() {
            while evs[end].0 - evs[start].0 > corr.timespan_secs as i64 {
                start += 1;
            }
            if start > end {
                continue;
            }
            let win = &evs[start..=end];
            let ok = match corr.kind {
                CorrelationType::EventCount => corr.condition.holds(win.len() as f64),
                CorrelationType::ValueCount => {
                    let vals: BTreeSet<&str> = win
                        .iter()
                        .filter_map(|(_, _, e)| vc_key.and_then(|k| store.value(EventIdx(*e), k)))
                        .map(|v| store.strings().get(v.sym))
                        .collect();
                    corr.condition.holds(vals.len() as f64)
                }
                CorrelationType::Temporal => {
                    let seen: BTreeSet<usize> = win.iter().map(|w| w.1).collect();
                    let n = seen.len() as f64;
                    if has_bounds(corr) {
                        corr.condition.holds(n)
                    } else {
                        seen.len() == corr.rules.len()
                    }
                }
                CorrelationType::TemporalOrdered => ordered(win, corr.rules.len()),
            };
            if ok {
                out.push(CorrelationMatch {
                    group: group.clone(),
                    events: win.iter().map(|w| w.2).collect(),
                    start: win[0].0,
                    end: win[win.len() - 1].0,
                });
                start = end + 1;
            }
        }
    }
    Ok(out)
}

fn has_bounds(c: &Correlation) -> bool {
    let k = &c.condition;
    k.gt.is_some()
        || k.gte.is_some()
        || k.lt.is_some()
        || k.lte.is_some()
        || k.eq.is_some()
        || k.neq.is_some()
}

/// True when the window holds events of rule 0, then 1, ... in time order.
fn ordered(win: &[(i64, usize, u32)], n: usize) -> bool {
    let mut want = 0;
    for w in win {
        if w.1 == want {
            want += 1;
            if want == n {
                return true;
            }
        }
    }
    false
}

/// Resolves which loaded rules a correlation references (by id or name).
pub fn referenced<'a>(
    corr: &Correlation,
    rules: &'a [CompiledRule],
) -> HashMap<String, &'a CompiledRule> {
    let mut m = HashMap::new();
    for r in &corr.rules {
        if let Some(c) = rules
            .iter()
            .find(|c| c.id() == Some(r.as_str()) || c.rule.name.as_deref() == Some(r.as_str()))
        {
            m.insert(r.clone(), c);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2019-03-17T20:18:09.312636Z"),
            Some(1_552_853_889)
        );
        assert_eq!(
            parse_time("2019-03-17T20:18:09.312636+00:00"),
            Some(1_552_853_889)
        );
        assert_eq!(parse_time("2019-03-17T21:18:09+01:00"), Some(1_552_853_889));
        assert_eq!(parse_time("garbage"), None);
    }

    #[test]
    fn ordering() {
        assert!(ordered(&[(0, 0, 1), (1, 1, 2)], 2));
        assert!(!ordered(&[(0, 1, 1), (1, 0, 2)], 2));
    }
}
