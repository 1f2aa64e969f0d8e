//! The records of the knowledge base, as stored in `kb/*.jsonl`.

use serde::{Deserialize, Serialize};

/// An ATT&CK Enterprise technique or sub-technique (`attack-techniques.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub tactics: Vec<String>,
    #[serde(default)]
    pub platforms: Vec<String>,
    #[serde(default)]
    pub is_subtechnique: bool,
    #[serde(default)]
    pub description: String,
    /// Free-text detection advice (ATT&CK v17.1; v18 moved detection to strategies).
    #[serde(default)]
    pub detection: Option<String>,
    #[serde(default)]
    pub data_sources: Vec<String>,
    #[serde(default)]
    pub log_sources: Vec<String>,
    #[serde(default)]
    pub detection_strategies: Vec<DetectionStrategy>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub attack_version: Option<String>,
}

/// An ATT&CK v18 detection strategy (DETxxxx) with its analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionStrategy {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub analytics: Vec<Analytic>,
}

/// One analytic (ANxxxx) of a detection strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analytic {
    pub id: String,
    #[serde(default)]
    pub platforms: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub log_sources: Vec<AnalyticLogSource>,
}

/// A log source an analytic reads (e.g. `WinEventLog:Sysmon`, channel `EventCode=10`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticLogSource {
    #[serde(default)]
    pub data_component: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

/// An ATT&CK Enterprise tactic (`attack-tactics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tactic {
    pub id: String,
    #[serde(default)]
    pub shortname: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// Documentation of one Windows event (`events.jsonl`): where it is logged and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub channel: String,
    pub provider: String,
    pub event_id: u32,
    /// `None` for events only known from field names observed in sample logs.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub description_source: Option<String>,
    #[serde(default)]
    pub fields: Vec<EventField>,
    #[serde(default)]
    pub fields_source: Option<String>,
    #[serde(default)]
    pub event_version: Option<String>,
    #[serde(default)]
    pub sigma_logsource: Option<SigmaLogsource>,
    #[serde(default)]
    pub observed_in_sample_evtx: Option<Observed>,
    /// Sigma generic log-source categories that map to this event (from SigmaHQ's
    /// `thor.yml`, when [`crate::KbConfig::sigma_mapping`] is given). Not in the JSONL.
    #[serde(default, skip_deserializing)]
    pub sigma_categories: Vec<String>,
}

/// One field (`<Data Name=…>`) of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventField {
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub sample: Option<serde_json::Value>,
}

/// The Sigma `logsource` (product/service) an event is usually addressed by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigmaLogsource {
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
}

/// How often an event was seen in the public sample EVTX files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub records: u64,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl Event {
    /// `"<channel>:<event_id>"`, the id used in search hits.
    pub fn key(&self) -> String {
        format!("{}:{}", self.channel, self.event_id)
    }

    /// The title, or `"<provider> event <id>"` for events without one.
    pub fn display_title(&self) -> String {
        match &self.title {
            Some(t) if !t.trim().is_empty() => t.clone(),
            _ => format!("{} event {}", self.provider, self.event_id),
        }
    }

    /// Field names, in documented order.
    pub fn field_names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// The Sigma logsource written as `product: windows, service: sysmon` plus any
    /// generic categories (`category: process_creation`).
    pub fn logsource_text(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(ls) = &self.sigma_logsource {
            if let Some(p) = &ls.product {
                parts.push(format!("product: {p}"));
            }
            if let Some(s) = &ls.service {
                parts.push(format!("service: {s}"));
            }
            if let Some(c) = &ls.category {
                parts.push(format!("category: {c}"));
            }
        }
        for c in &self.sigma_categories {
            parts.push(format!("category: {c}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
