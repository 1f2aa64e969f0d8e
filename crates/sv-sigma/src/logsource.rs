//! Logsource resolution as data.
//!
//! Sigma semantics: SigmaHQ's own regression mapping `reference/thor.yml` (category →
//! EventID conditions, the service it rewrites to, field renames) plus the service →
//! channel table shipped in `data/services.tsv`. `process_creation` becomes two branches:
//! Sysmon/Operational EventID 1, and Security EventID 4688 with `Image→NewProcessName`,
//! `ParentImage→ParentProcessName`.
//!
//! Chainsaw semantics: Chainsaw's `sigma-event-logs-all.yml` preconditions, keyed on the
//! event's `Provider` (not its channel) and `int(EventID)`; rules without a precondition
//! run on every event, as Chainsaw does.

use crate::error::{ErrorKind, RuleError};
use crate::rule::Logsource;
use serde_yaml::Value;
use std::collections::BTreeMap;

const SERVICES_TSV: &str = include_str!("../data/services.tsv");

/// One way a logsource maps onto events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// Channels (case-insensitive); `None` = any channel.
    pub channels: Option<Vec<String>>,
    /// EventIDs; `None` = any.
    pub event_ids: Option<Vec<u32>>,
    /// Extra equality conditions on fields (e.g. `EventType: CreateKey`, or Chainsaw's
    /// `Provider_Name`); the bool says whether the comparison is case-sensitive.
    pub extra: Vec<(String, Vec<String>, bool)>,
    /// Rule field name → event field name.
    pub renames: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct ThorEntry {
    category: Option<String>,
    product: Option<String>,
    service: Option<String>,
    conditions: Vec<(String, Vec<String>)>,
    rewrite_service: Option<String>,
    fieldmappings: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Precondition {
    category: Option<String>,
    service: Option<String>,
    id: Option<String>,
    /// OR of AND-maps of (field, values).
    filter: Vec<Vec<(String, Vec<String>)>>,
}

/// The logsource tables for both semantics.
#[derive(Debug, Clone, Default)]
pub struct LogsourceMap {
    services: BTreeMap<String, Vec<String>>,
    thor: Vec<ThorEntry>,
    chainsaw_pre: Vec<Precondition>,
    /// Chainsaw's `fields`: rule field → event field (only these resolve in Chainsaw).
    pub(crate) chainsaw_fields: Vec<(String, String)>,
    /// Chainsaw fields mapped through `int(...)`: compared as integers whatever their type.
    pub(crate) chainsaw_int_casts: Vec<String>,
    /// Rule titles Chainsaw's mapping excludes.
    pub(crate) chainsaw_exclusions: Vec<String>,
}

fn cfg_err(msg: String) -> RuleError {
    RuleError::new(ErrorKind::Logsource, msg)
}

fn scalars(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s.iter().flat_map(scalars).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        _ => vec![],
    }
}

fn str_of(m: &serde_yaml::Mapping, k: &str) -> Option<String> {
    m.get(Value::String(k.into()))
        .and_then(|v| v.as_str())
        .map(|s| s.to_string())
}

impl LogsourceMap {
    /// Builds the tables from the text of `thor.yml` and of Chainsaw's mapping file.
    pub fn from_texts(
        thor_yml: &str,
        chainsaw_yml: Option<&str>,
    ) -> Result<LogsourceMap, RuleError> {
        let mut map = LogsourceMap::default();
        for line in SERVICES_TSV.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if let Some((s, c)) = line.split_once('\t') {
                map.services
                    .entry(s.to_string())
                    .or_default()
                    .push(c.to_string());
            }
        }
        let thor: Value =
            serde_yaml::from_str(thor_yml).map_err(|e| cfg_err(format!("thor.yml: {e}")))?;
        let ls = thor
            .get("logsources")
            .and_then(|v| v.as_mapping())
            .ok_or_else(|| cfg_err("thor.yml has no 'logsources' mapping".into()))?;
        for (_, e) in ls {
            let Some(e) = e.as_mapping() else { continue };
            let conditions = e
                .get(Value::String("conditions".into()))
                .and_then(|c| c.as_mapping())
                .map(|c| {
                    c.iter()
                        .map(|(k, v)| (k.as_str().unwrap_or("").to_string(), scalars(v)))
                        .collect()
                })
                .unwrap_or_default();
            let rewrite = e
                .get(Value::String("rewrite".into()))
                .and_then(|r| r.as_mapping());
            let fieldmappings = e
                .get(Value::String("fieldmappings".into()))
                .and_then(|c| c.as_mapping())
                .map(|c| {
                    c.iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().unwrap_or("").to_string(),
                                v.as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            map.thor.push(ThorEntry {
                category: str_of(e, "category"),
                product: str_of(e, "product"),
                service: str_of(e, "service"),
                conditions,
                rewrite_service: rewrite.and_then(|r| str_of(r, "service")),
                fieldmappings,
            });
        }
        if let Some(cs) = chainsaw_yml {
            map.load_chainsaw(cs)?;
        }
        Ok(map)
    }

    /// Loads the tables from the data folder (`sigma/reference/thor.yml` and
    /// `sigma/reference/chainsaw/sigma-event-logs-all.yml`).
    pub fn from_data_dir(root: &std::path::Path) -> Result<LogsourceMap, RuleError> {
        let dir = root.join("sigma").join("reference");
        let thor = std::fs::read_to_string(dir.join("thor.yml")).map_err(|e| {
            cfg_err(format!(
                "cannot read {}: {e}",
                dir.join("thor.yml").display()
            ))
        })?;
        let cs =
            std::fs::read_to_string(dir.join("chainsaw").join("sigma-event-logs-all.yml")).ok();
        LogsourceMap::from_texts(&thor, cs.as_deref())
    }

    fn load_chainsaw(&mut self, text: &str) -> Result<(), RuleError> {
        let v: Value =
            serde_yaml::from_str(text).map_err(|e| cfg_err(format!("chainsaw mapping: {e}")))?;
        if let Some(ex) = v.get("exclusions").and_then(|e| e.as_sequence()) {
            self.chainsaw_exclusions = ex
                .iter()
                .filter_map(|s| s.as_str().map(|s| s.to_string()))
                .collect();
        }
        let pre = v
            .get("extensions")
            .and_then(|e| e.get("preconditions"))
            .and_then(|p| p.as_sequence())
            .cloned()
            .unwrap_or_default();
        let to_map = |m: &serde_yaml::Mapping| -> Vec<(String, Vec<String>)> {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or("").to_string(), scalars(v)))
                .collect()
        };
        for p in pre {
            let Some(f) = p.get("for").and_then(|f| f.as_mapping()) else {
                continue;
            };
            let filter = match p.get("filter") {
                Some(Value::Mapping(m)) => vec![to_map(m)],
                Some(Value::Sequence(s)) => s
                    .iter()
                    .filter_map(|x| x.as_mapping().map(to_map))
                    .collect(),
                _ => continue,
            };
            self.chainsaw_pre.push(Precondition {
                category: str_of(f, "logsource.category"),
                service: str_of(f, "logsource.service"),
                id: str_of(f, "id"),
                filter,
            });
        }
        if let Some(groups) = v.get("groups").and_then(|g| g.as_sequence()) {
            for g in groups {
                if let Some(fields) = g.get("fields").and_then(|f| f.as_sequence()) {
                    for f in fields {
                        let (Some(from), Some(to)) = (
                            f.get("from").and_then(|x| x.as_str()),
                            f.get("to").and_then(|x| x.as_str()),
                        ) else {
                            continue;
                        };
                        if to.starts_with("int(") {
                            self.chainsaw_int_casts.push(from.to_string());
                        }
                        self.chainsaw_fields
                            .push((from.to_string(), chainsaw_target(to)));
                    }
                }
            }
        }
        Ok(())
    }

    /// The channels of a service, if known.
    pub fn service_channels(&self, service: &str) -> Option<&[String]> {
        self.services.get(service).map(|v| v.as_slice())
    }

    /// Sigma semantics: the branches a logsource resolves to.
    pub fn resolve_sigma(&self, ls: &Logsource) -> Result<Vec<Branch>, RuleError> {
        if let Some(p) = &ls.product {
            if p != "windows" {
                return Err(cfg_err(format!(
                    "logsource product '{p}' is not Windows event logs (only product 'windows' maps onto EVTX)"
                )));
            }
        }
        if let Some(cat) = &ls.category {
            let mut out = Vec::new();
            let mut candidates = 0;
            for e in &self.thor {
                if e.category.as_deref() != Some(cat.as_str()) {
                    continue;
                }
                if let (Some(ep), Some(rp)) = (&e.product, &ls.product) {
                    if ep != rp {
                        continue;
                    }
                }
                candidates += 1;
                let service = e.rewrite_service.clone().or_else(|| e.service.clone());
                if let (Some(want), Some(have)) = (&ls.service, &service) {
                    if want != have {
                        continue;
                    }
                }
                let channels = match &service {
                    Some(s) => Some(
                        self.service_channels(s)
                            .ok_or_else(|| cfg_err(format!("category '{cat}' rewrites to service '{s}' which has no channel")))?
                            .to_vec(),
                    ),
                    None => None,
                };
                let mut event_ids = None;
                let mut extra = Vec::new();
                for (k, vals) in &e.conditions {
                    if k == "EventID" {
                        let ids: Vec<u32> = vals.iter().filter_map(|v| v.parse().ok()).collect();
                        event_ids = Some(ids);
                    } else {
                        extra.push((k.clone(), vals.clone(), false));
                    }
                }
                out.push(Branch {
                    channels,
                    event_ids,
                    extra,
                    renames: e.fieldmappings.clone(),
                });
            }
            if out.is_empty() {
                return Err(cfg_err(if candidates == 0 {
                    format!("logsource category '{cat}' has no mapping to Windows event logs in thor.yml")
                } else {
                    format!(
                        "logsource category '{cat}' with service '{}' matches no mapping",
                        ls.service.as_deref().unwrap_or("")
                    )
                }));
            }
            return Ok(out);
        }
        if let Some(s) = &ls.service {
            let ch = self.service_channels(s).ok_or_else(|| {
                cfg_err(format!(
                    "logsource service '{s}' has no known Windows event log channel"
                ))
            })?;
            return Ok(vec![Branch {
                channels: Some(ch.to_vec()),
                event_ids: None,
                extra: vec![],
                renames: vec![],
            }]);
        }
        if ls.product.as_deref() == Some("windows") {
            // product: windows alone = every Windows event log.
            return Ok(vec![Branch {
                channels: None,
                event_ids: None,
                extra: vec![],
                renames: vec![],
            }]);
        }
        Err(cfg_err(
            "logsource names no product, category or service".into(),
        ))
    }

    /// Chainsaw semantics: the preconditions that apply (Provider-keyed).
    pub fn resolve_chainsaw(&self, ls: &Logsource, id: Option<&str>) -> Vec<Branch> {
        let mut out = Vec::new();
        for p in &self.chainsaw_pre {
            let hit = match (&p.category, &p.service, &p.id) {
                (Some(c), _, _) => ls.category.as_deref() == Some(c.as_str()),
                (_, Some(s), _) => ls.service.as_deref() == Some(s.as_str()),
                (_, _, Some(i)) => id == Some(i.as_str()),
                _ => false,
            };
            if !hit {
                continue;
            }
            for alt in &p.filter {
                let mut b = Branch {
                    channels: None,
                    event_ids: None,
                    extra: vec![],
                    renames: vec![],
                };
                for (k, vals) in alt {
                    if k == "int(EventID)" {
                        b.event_ids = Some(vals.iter().filter_map(|v| v.parse().ok()).collect());
                    } else {
                        let field = if k == "Provider" {
                            "Provider_Name".to_string()
                        } else {
                            k.clone()
                        };
                        b.extra.push((field, vals.clone(), true));
                    }
                }
                out.push(b);
            }
            // Chainsaw applies the first matching precondition.
            break;
        }
        if out.is_empty() {
            out.push(Branch {
                channels: None,
                event_ids: None,
                extra: vec![],
                renames: vec![],
            });
        }
        out
    }
}

/// Chainsaw's `to` paths → our flattened field names.
fn chainsaw_target(to: &str) -> String {
    let inner = to
        .strip_prefix("int(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(to);
    match inner {
        "Event.System.Provider" => "Provider_Name".into(),
        _ => inner.rsplit('.').next().unwrap_or(inner).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> LogsourceMap {
        let d = sv_data::DataDir::resolve(None).expect("data");
        LogsourceMap::from_data_dir(&d.root).unwrap()
    }

    fn ls(cat: Option<&str>, svc: Option<&str>) -> Logsource {
        Logsource {
            product: Some("windows".into()),
            category: cat.map(Into::into),
            service: svc.map(Into::into),
        }
    }

    #[test]
    fn process_creation_two_branches() {
        let b = map()
            .resolve_sigma(&ls(Some("process_creation"), None))
            .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[0].channels.as_deref(),
            Some(&["Microsoft-Windows-Sysmon/Operational".to_string()][..])
        );
        assert_eq!(b[0].event_ids, Some(vec![1]));
        assert_eq!(
            b[1].channels.as_deref(),
            Some(&["Security".to_string()][..])
        );
        assert_eq!(b[1].event_ids, Some(vec![4688]));
        assert!(b[1]
            .renames
            .contains(&("Image".into(), "NewProcessName".into())));
        assert!(b[1]
            .renames
            .contains(&("ParentImage".into(), "ParentProcessName".into())));
    }

    #[test]
    fn ps_script_and_services() {
        let m = map();
        let b = m.resolve_sigma(&ls(Some("ps_script"), None)).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].event_ids, Some(vec![4104]));
        assert_eq!(b[0].channels.as_ref().unwrap().len(), 2);
        let r = m.resolve_sigma(&ls(Some("registry_add"), None)).unwrap();
        assert_eq!(
            r[0].extra,
            vec![(
                "EventType".to_string(),
                vec!["CreateKey".to_string()],
                false
            )]
        );
        let s = m.resolve_sigma(&ls(None, Some("security"))).unwrap();
        assert_eq!(
            s[0].channels.as_deref(),
            Some(&["Security".to_string()][..])
        );
        assert_eq!(s[0].event_ids, None);
        let e = m.resolve_sigma(&ls(Some("file_access"), None)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Logsource);
        assert!(m.resolve_sigma(&ls(None, Some("nosuch"))).is_err());
        let linux = Logsource {
            product: Some("linux".into()),
            category: Some("process_creation".into()),
            service: None,
        };
        assert!(m.resolve_sigma(&linux).is_err());
    }

    #[test]
    fn chainsaw_provider_keyed() {
        let m = map();
        let b = m.resolve_chainsaw(&ls(Some("process_creation"), None), None);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].extra[0].0, "Provider_Name");
        assert_eq!(b[0].event_ids, Some(vec![1]));
        // ps_script has no Chainsaw precondition: every event.
        let all = m.resolve_chainsaw(&ls(Some("ps_script"), None), None);
        assert_eq!(
            all,
            vec![Branch {
                channels: None,
                event_ids: None,
                extra: vec![],
                renames: vec![]
            }]
        );
        assert!(m
            .chainsaw_fields
            .contains(&("Image".into(), "Image".into())));
        assert!(m
            .chainsaw_exclusions
            .iter()
            .any(|t| t == "USB Device Plugged"));
    }
}
