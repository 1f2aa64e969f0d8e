//! Errors: every rejected rule carries a [`RuleError`] that says where (line/column when
//! known) and what (YAML syntax, modifier, field, condition, logsource, limit).

use std::fmt;

/// What kind of problem made a rule unusable. Used for the reasons histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The text is not valid YAML (or not UTF-8).
    Yaml,
    /// A required attribute is missing or has the wrong shape.
    Structure,
    /// An unknown modifier or a modifier applied where it cannot be.
    Modifier,
    /// A value that cannot be used (bad regex, bad CIDR, bad base64 input, ...).
    Value,
    /// The condition does not parse or names a missing search identifier.
    Condition,
    /// The logsource maps to no known event partitions.
    Logsource,
    /// A `%placeholder%` under `expand` with no value in the placeholder table.
    Placeholder,
    /// A configured limit was exceeded (size, depth, count, regex size).
    Limit,
    /// The construct is valid Sigma but the selected semantics does not support it
    /// (Chainsaw compatibility mode rejects what Chainsaw rejects).
    Unsupported,
    /// A correlation rule references rules that are not loaded, or is malformed.
    Correlation,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Yaml => "yaml",
            ErrorKind::Structure => "structure",
            ErrorKind::Modifier => "modifier",
            ErrorKind::Value => "value",
            ErrorKind::Condition => "condition",
            ErrorKind::Logsource => "logsource",
            ErrorKind::Placeholder => "placeholder",
            ErrorKind::Limit => "limit",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Correlation => "correlation",
        }
    }
}

/// Why a rule was rejected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleError {
    pub kind: ErrorKind,
    /// 1-based line in the rule file, when the problem can be located.
    pub line: Option<usize>,
    /// 1-based column.
    pub col: Option<usize>,
    pub message: String,
}

impl RuleError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RuleError {
            kind,
            line: None,
            col: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, pos: Option<(usize, usize)>) -> Self {
        if let Some((l, c)) = pos {
            if self.line.is_none() {
                self.line = Some(l);
                self.col = Some(c);
            }
        }
        self
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => {
                write!(f, "{}:{}: {}: {}", l, c, self.kind.as_str(), self.message)
            }
            _ => write!(f, "{}: {}", self.kind.as_str(), self.message),
        }
    }
}

impl std::error::Error for RuleError {}

/// Errors while evaluating a compiled rule over a store.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EvalError {
    #[error("evaluation exceeded the step budget of {0} value tests")]
    StepBudget(u64),
    #[error("evaluation exceeded the time budget of {0} ms")]
    TimeBudget(u64),
    #[error("regex evaluation failed: {0}")]
    Regex(String),
    #[error("correlation rule references rule '{0}' which is not part of this rule set")]
    MissingReference(String),
}
