//! `sv-sigma`: a Sigma rule engine (specification v2) that evaluates rules over the
//! columnar `sv-events` store.
//!
//! Why it exists: scoring model-written Sigma rules inside an RL loop needs rule
//! evaluation in well under a millisecond, and detection engineers need an engine that is
//! correct to the specification (Chainsaw silently drops rules using `windash`, `cidr`,
//! keywords, `fieldref`, `re|i`). Rules are parsed into a typed AST ([`rule`]), every value
//! modifier is compiled into per-value tests ([`matcher`]), logsources resolve to event
//! partitions through data tables ([`logsource`]), and evaluation runs each matcher once
//! per distinct interned value of a column ([`eval`]). A second semantics,
//! [`Semantics::Chainsaw`], reproduces Chainsaw 2.16.4 for comparison.
//!
//! ```no_run
//! use sv_sigma::{Engine, EngineConfig};
//! let engine = Engine::new(EngineConfig::default())?;
//! let rules = engine.compile_str("title: t\nlogsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4688}\n  condition: sel\n", "t.yml")?;
//! # Ok::<(), sv_sigma::RuleError>(())
//! ```

pub mod bench;
pub mod condition;
pub mod correlation;
pub mod engine;
pub mod error;
pub mod eval;
pub mod glob;
pub mod hunt;
mod keyword_scan;
pub mod limits;
pub mod lint;
pub mod logsource;
pub mod matcher;
pub mod merge;
pub mod pattern;
pub mod regex_min;
pub mod regress;
pub mod rule;
pub mod score;
pub mod yaml;

pub use engine::{load_placeholders, Compiled, CompiledRule, Engine, EngineConfig, RuleSet};
pub use error::{ErrorKind, EvalError, RuleError};
pub use limits::Limits;
pub use logsource::{Branch, LogsourceMap};
pub use matcher::Placeholders;
pub use roaring::RoaringBitmap;
pub use rule::{Correlation, CorrelationType, Logsource, Rule};

/// Which behaviour to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Semantics {
    /// The Sigma specification (default): `not` over a missing field is true, numbers
    /// compare by value (`4688` = `'4688'`), all modifiers supported.
    #[default]
    Sigma,
    /// Chainsaw 2.16.4: Provider-keyed logsource mapping, type-strict values, `not` over a
    /// missing field false, only Chainsaw's modifiers.
    Chainsaw,
}

impl std::str::FromStr for Semantics {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sigma" => Ok(Semantics::Sigma),
            "chainsaw" => Ok(Semantics::Chainsaw),
            o => Err(format!("unknown semantics '{o}' (sigma|chainsaw)")),
        }
    }
}

impl std::fmt::Display for Semantics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Semantics::Sigma => "sigma",
            Semantics::Chainsaw => "chainsaw",
        })
    }
}
