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
    /// `alert:` with Vigil's `anomaly:` block.
    Anomaly(AnomalySpec),
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

/// An anomaly rule: score every series of `expr` with the online detector
/// (`vigil-anomaly`) each `step`, and fire for those scoring `threshold` or more.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalySpec {
    /// The series to watch (PromQL returning an instant vector).
    pub expr: String,
    /// Which model.
    pub model: AnomalyModel,
    /// The score in (0, 1] from which a series counts as anomalous (`threshold:`, or
    /// `sensitivity:` low 0.7, medium 0.5, high 0.3).
    pub threshold: f64,
    /// How often each series is scored: the expression is evaluated on a grid of this step.
    pub step: Duration,
    /// History read to learn a series the collector holds no detector state for.
    pub warmup: Duration,
    /// Whether the rule raises alerts; the built-in rules that watch every host's core
    /// series only score them (and feed the host anomaly rate).
    pub alerting: bool,
}

/// The anomaly detector's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyModel {
    /// The default: today the seasonal model, which uses daily and weekly profiles only
    /// where the series shows them.
    Auto,
    /// Level, noise and (where they show) daily and weekly profiles.
    Seasonal,
}

impl AnomalyModel {
    /// The name rule files use.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyModel::Auto => "auto",
            AnomalyModel::Seasonal => "seasonal",
        }
    }
}
