//! Task questions: what an analyst would ask for, in their words, generated from a rule's
//! metadata with templates so the dataset builds offline and deterministically.
//!
//! Five personas (SOC analyst on shift, threat hunter, incident responder, detection
//! engineer, CISO-level request) × three phrasings each. Every slot is filled from the
//! title, description, ATT&CK tags, false positives, level and logsource; the choices a
//! template leaves open (which tactic, whether to add the false-positive clause, which
//! persona is the task's primary question) come from a SplitMix64 seeded by SHA-256 of the
//! rule id. Each generated text goes through [`crate::leakage::check`]; a text that leaks
//! is rebuilt with less specific slots (without the description gist, then with the
//! technique instead of the title) and a rule whose every variant leaks gets no question
//! for that phrasing, which the builder reports.

use crate::attack::AttackNames;
use crate::hashing::{stable_u64, SplitMix64};
use crate::leakage::{check, soften_fields, LeakPolicy};
use crate::meta::{LogSource, RuleMeta};

/// Who is asking.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Persona {
    SocAnalyst,
    ThreatHunter,
    IncidentResponder,
    DetectionEngineer,
    Ciso,
}

impl Persona {
    pub const ALL: [Persona; 5] = [
        Persona::SocAnalyst,
        Persona::ThreatHunter,
        Persona::IncidentResponder,
        Persona::DetectionEngineer,
        Persona::Ciso,
    ];
}

/// One phrasing of the task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Question {
    pub persona: Persona,
    /// Index of the template within the persona (0..3).
    pub phrasing: u8,
    pub text: String,
}

/// The slots a template may use, already in analyst language.
#[derive(Debug, Clone)]
struct Slots {
    /// The title as a noun phrase ("potential LSASS process dump via procdump").
    subject: String,
    /// First sentence of the description without "Detects" ("the use of …"), if any.
    gist: Option<String>,
    /// "T1003.001 (OS Credential Dumping: LSASS Memory)".
    technique: Option<String>,
    /// "Credential Access".
    tactic: Option<String>,
    /// A false positive worth mentioning, lower-cased first letter.
    falsepositive: Option<String>,
    /// "process creation events", "the Security event log".
    source: String,
    /// "high" / "critical" / …
    level: String,
}

/// Generates every persona × phrasing question for `rule`. The order is fixed
/// (persona, then phrasing); texts that could not be made leak-free are left out.
pub fn generate(rule: &RuleMeta, attack: &AttackNames, policy: &LeakPolicy) -> Vec<Question> {
    let mut rng = SplitMix64::new(stable_u64(&["sigmaforge-questions/1", &rule.id]));
    let tactics = rule.tactics();
    let tactic = (!tactics.is_empty()).then(|| attack.tactic(&tactics[rng.below(tactics.len())]));
    let technique = rule
        .techniques()
        .into_iter()
        .next()
        .map(|t| match attack.technique(&t) {
            Some(name) => format!("{t} ({name})"),
            None => t,
        });
    let falsepositive = rule
        .falsepositives
        .iter()
        .map(|f| f.trim().trim_end_matches('.').to_string())
        .find(|f| {
            let l = f.to_lowercase();
            !l.is_empty()
                && !l.starts_with("unknown")
                && !l.starts_with("unlikely")
                && !l.starts_with("none")
        })
        .map(|f| lower_first(&f));
    let full = Slots {
        subject: subject_phrase(&rule.title),
        gist: gist(&rule.description),
        technique,
        tactic,
        falsepositive,
        source: source_phrase(&rule.logsource),
        level: rule.level.clone().unwrap_or_else(|| "medium".into()),
    };
    let with_fp = rng.below(2) == 0;
    let mut out = Vec::new();
    for persona in Persona::ALL {
        for phrasing in 0..3u8 {
            if let Some(text) = first_clean(rule, policy, persona, phrasing, &full, with_fp) {
                out.push(Question {
                    persona,
                    phrasing,
                    text,
                });
            }
        }
    }
    out
}

/// The task's primary question: one persona chosen by the rule id's seed among those generated.
pub fn primary(rule_id: &str, questions: &[Question]) -> Option<usize> {
    if questions.is_empty() {
        return None;
    }
    let mut rng = SplitMix64::new(stable_u64(&["sigmaforge-primary/1", rule_id]));
    Some(rng.below(questions.len()))
}

/// Tries the full slots, then progressively vaguer ones, returning the first leak-free text.
fn first_clean(
    rule: &RuleMeta,
    policy: &LeakPolicy,
    persona: Persona,
    phrasing: u8,
    full: &Slots,
    with_fp: bool,
) -> Option<String> {
    let no_gist = Slots {
        gist: None,
        ..full.clone()
    };
    let no_fp = Slots {
        falsepositive: None,
        ..no_gist.clone()
    };
    let vague = full.technique.as_ref().map(|t| Slots {
        subject: format!("activity matching ATT&CK {t}"),
        ..no_fp.clone()
    });
    let redacted = Slots {
        subject: redact(&full.subject, rule, policy),
        technique: None,
        ..no_fp.clone()
    };
    let tries = [
        Some(full.clone()),
        Some(no_gist),
        Some(no_fp),
        vague,
        Some(redacted),
    ];
    tries
        .into_iter()
        .flatten()
        .map(|s| soften_fields(&render(persona, phrasing, &s, with_fp), rule))
        .find(|t| check(t, rule, policy).is_empty())
}

/// `text` with every leaking detection value cut out (the last resort for titles that
/// name a long identifier, e.g. a WMI class).
fn redact(text: &str, rule: &RuleMeta, policy: &LeakPolicy) -> String {
    let mut out = text.to_string();
    for leak in check(text, rule, policy) {
        if let crate::leakage::Leak::Value(v) = leak {
            let core = v
                .trim_matches(|c: char| c == '*' || c.is_whitespace())
                .to_ascii_lowercase();
            while let Some(i) = out.to_ascii_lowercase().find(&core) {
                out.replace_range(i..i + core.len(), "");
            }
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render(persona: Persona, phrasing: u8, s: &Slots, with_fp: bool) -> String {
    let gist = s
        .gist
        .as_ref()
        .map(|g| format!(" The idea: {g}."))
        .unwrap_or_default();
    let fp = match (&s.falsepositive, with_fp) {
        (Some(f), true) => {
            format!(" Keep in mind that {f} can look similar, so don't drown us in alerts.")
        }
        _ => String::new(),
    };
    let technique = s
        .technique
        .as_ref()
        .map(|t| format!(" It maps to ATT&CK {t}."))
        .unwrap_or_default();
    let tactic = s.tactic.as_deref().unwrap_or("attacker activity");
    let subj = &s.subject;
    let src = &s.source;
    match (persona, phrasing) {
        (Persona::SocAnalyst, 0) => format!("I'm on shift and want an alert for {subj}.{gist}{fp}"),
        (Persona::SocAnalyst, 1) => {
            format!("Can you set up a detection that fires on {subj}? We have {src} in the SIEM.{fp}")
        }
        (Persona::SocAnalyst, _) => format!(
            "Quick one from the SOC queue: we keep hearing about {subj}. Write me a rule so it pages us next time.{gist}"
        ),
        (Persona::ThreatHunter, 0) => format!(
            "I'm hunting for {} in our {src}. Give me a Sigma rule that surfaces {subj}.{gist}",
            tactic.to_lowercase()
        ),
        (Persona::ThreatHunter, 1) => {
            format!("Hypothesis for this week's hunt: {subj}.{technique} What rule would find it in our logs?")
        }
        (Persona::ThreatHunter, _) => format!(
            "Looking for evidence of {subj} across the fleet.{gist} I'd start from {src}.{fp}"
        ),
        (Persona::IncidentResponder, 0) => format!(
            "We're in the middle of an incident and suspect {subj}. I need a rule to find every occurrence in the logs we collected."
        ),
        (Persona::IncidentResponder, 1) => format!(
            "During triage of a compromised host we want to sweep for {subj}.{gist} Please write the detection."
        ),
        (Persona::IncidentResponder, _) => format!(
            "IR request: scope {subj} across the {src} we pulled from the affected machines.{technique}"
        ),
        (Persona::DetectionEngineer, 0) => format!(
            "Please write a Sigma rule for {subj}, based on {src}, with severity {}.{fp}",
            s.level
        ),
        (Persona::DetectionEngineer, 1) => {
            format!("New detection request: {subj}.{gist}{technique} Target level: {}.", s.level)
        }
        (Persona::DetectionEngineer, _) => format!(
            "We have a coverage gap for {}. Draft a rule for {subj} using {src}.{fp}",
            tactic
        ),
        (Persona::Ciso, 0) => format!(
            "The board asked whether we would catch {subj}. Can the team make sure we have a detection for it?"
        ),
        (Persona::Ciso, 1) => format!(
            "After the latest threat briefing on {}, I want assurance that {subj} would raise an alert.",
            tactic
        ),
        (Persona::Ciso, _) => {
            format!("Our auditors flagged a gap around {subj}.{technique} Please close it with a detection.")
        }
    }
}

/// The title as a noun phrase: Capitalised words lower-cased, acronyms and CamelCase kept,
/// and the " - Security"-style suffix of variant rules dropped.
pub fn subject_phrase(title: &str) -> String {
    let base = title.trim();
    let words: Vec<String> = base
        .split_whitespace()
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) if f.is_uppercase() && cs.clone().all(|c| !c.is_uppercase()) => {
                    f.to_lowercase().collect::<String>() + cs.as_str()
                }
                _ => w.to_string(),
            }
        })
        .collect();
    words.join(" ")
}

/// First sentence of the description with a leading "Detects"/"Identifies" turned into a
/// noun phrase; `None` when there is no description.
fn gist(description: &str) -> Option<String> {
    let d = description.split_whitespace().collect::<Vec<_>>().join(" ");
    let first = match d.find(". ") {
        Some(i) => &d[..i],
        None => d.trim_end_matches('.'),
    };
    let first = first.trim();
    if first.is_empty() {
        return None;
    }
    let lowered = lower_first(first);
    for verb in [
        "detects ",
        "identifies ",
        "detect ",
        "this rule detects ",
        "monitors ",
    ] {
        if let Some(rest) = lowered.strip_prefix(verb) {
            return Some(format!("catch {rest}"));
        }
    }
    Some(lowered)
}

/// How an analyst names a logsource.
pub fn source_phrase(ls: &LogSource) -> String {
    if let Some(cat) = &ls.category {
        return match cat.as_str() {
            "ps_script" => "PowerShell script block logs".into(),
            "ps_module" => "PowerShell module logs".into(),
            "ps_classic_start" | "ps_classic_provider_start" => {
                "classic PowerShell engine logs".into()
            }
            "registry_set" | "registry_event" | "registry_add" | "registry_delete" => {
                "registry change events".into()
            }
            "dns_query" => "DNS query logs".into(),
            other => format!("{} events", other.replace('_', " ")),
        };
    }
    match ls.service.as_deref() {
        Some("security") => "the Security event log".into(),
        Some("system") => "the System event log".into(),
        Some("application") => "the Application event log".into(),
        Some("sysmon") => "Sysmon logs".into(),
        Some("windefend") => "Microsoft Defender logs".into(),
        Some("powershell") | Some("powershell-classic") => "PowerShell logs".into(),
        Some(other) => format!("{} logs", other.replace('-', " ")),
        None => "Windows event logs".into(),
    }
}

fn lower_first(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) if cs.clone().next().is_some_and(|c| !c.is_uppercase()) => {
            f.to_lowercase().collect::<String>() + cs.as_str()
        }
        Some(f) => f.to_string() + cs.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procdump() -> RuleMeta {
        RuleMeta::parse(
            r#"
title: Potential LSASS Process Dump Via Procdump
id: 5afee48e-67dd-4e03-a783-f74259dcf998
description: Detects potential credential harvesting attempts through LSASS memory dumps using ProcDump. More text.
tags: [attack.stealth, attack.t1036, attack.credential-access, attack.t1003.001]
logsource: {category: process_creation, product: windows}
detection:
    selection_flags:
        CommandLine|contains|windash: [' -ma ', ' -mm ']
    selection_process:
        CommandLine|contains: [' ls', ' keyiso']
    condition: all of selection_*
falsepositives: [Another tool that uses command line flags similar to ProcDump]
level: high
"#,
        )
        .unwrap()
    }

    fn names() -> AttackNames {
        AttackNames::from_pairs(
            &[
                ("T1003", "OS Credential Dumping"),
                ("T1003.001", "LSASS Memory"),
                ("T1036", "Masquerading"),
            ],
            &[("credential-access", "Credential Access")],
        )
    }

    #[test]
    fn phrases() {
        assert_eq!(
            subject_phrase("Potential LSASS Process Dump Via Procdump"),
            "potential LSASS process dump via procdump"
        );
        assert_eq!(
            source_phrase(&LogSource {
                product: Some("windows".into()),
                category: Some("process_creation".into()),
                service: None
            }),
            "process creation events"
        );
        assert_eq!(
            gist("Detects potential credential harvesting. More."),
            Some("catch potential credential harvesting".into())
        );
    }

    #[test]
    fn fifteen_leak_free_deterministic_questions() {
        let r = procdump();
        let a = generate(&r, &names(), &LeakPolicy::default());
        let b = generate(&r, &names(), &LeakPolicy::default());
        assert_eq!(a, b);
        assert_eq!(a.len(), 15);
        for q in &a {
            assert_eq!(
                check(&q.text, &r, &LeakPolicy::default()),
                vec![],
                "{}",
                q.text
            );
        }
        assert_eq!(
            a[0].text,
            "I'm on shift and want an alert for potential LSASS process dump via procdump. The idea: catch potential credential harvesting attempts through LSASS memory dumps using ProcDump. Keep in mind that another tool that uses command line flags similar to ProcDump can look similar, so don't drown us in alerts."
        );
    }
}
