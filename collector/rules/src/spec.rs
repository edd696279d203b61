//! What a rule file says, once parsed and validated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use vigil_forecast::{Direction, ModelChoice, Season};

/// One rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its groups, in file order.
    pub groups: Vec<Group>,
}

/// A group: rules evaluated together, in order, every `interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group name, unique within its file.
    pub name: String,
    /// Evaluation interval; `None` means the collector's default (`rules.evaluation_interval`).
    pub interval: Option<Duration>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// 1-based line of the group in its file.
    pub line: usize,
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The alert name (`alert:`) or, for a recording rule, the series name (`record:`).
    pub name: String,
    /// What the rule evaluates.
    pub kind: RuleKind,
    /// How long the condition must hold before the alert fires (`for:`).
    pub for_: Duration,
    /// How long a firing alert stays firing after its condition stops (`keep_firing_for:`).
    pub keep_firing_for: Duration,
    /// Labels added to the alert (values may be templates).
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates: `{{ $labels.x }}`, `{{ $value }}`, `{{ $eta }}`, …).
    pub annotations: BTreeMap<String, String>,
    /// 1-based line of the rule in its file.
    pub line: usize,
}

/// The kinds of rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// `alert:` with `expr:`: every series the expression returns is an active alert.
    Threshold {
        /// The condition (PromQL).
        expr: String,
        /// Vigil's hysteresis: a firing alert resolves only once this holds for its labels
        /// (PromQL, evaluated like `expr`; a series it returns clears the alert with the
        /// same labels). `None`: resolves as soon as `expr` stops returning the series.
        clear: Option<String>,
    },
    /// `alert:` with Vigil's `forecast:` block.
    Forecast(ForecastSpec),
    /// `record:` with `expr:`: writes the result as a new series.
    Record {
        /// The expression (PromQL).
        expr: String,
    },
}

/// A forecast rule: fire when a series is predicted to cross `threshold` within `horizon`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastSpec {
    /// The series to forecast (PromQL returning an instant vector).
    pub expr: String,
    /// The level that must not be crossed.
    pub threshold: f64,
    /// Crossing upwards (`above`, e.g. disk used) or downwards (`below`, e.g. bytes free).
    pub direction: Direction,
    /// How much history the model is fitted on.
    pub lookback: Duration,
    /// How far ahead a crossing makes the alert active.
    pub horizon: Duration,
    /// Which model.
    pub model: ModelChoice,
    /// The season of Holt–Winters (and of `auto`'s Holt–Winters candidate).
    pub season: Option<Season>,
}
