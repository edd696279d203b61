//! The running rules as seen from outside: `vigil rules`, `vigil alerts`, `/api/v1/rules`,
//! `/api/v1/alerts`, and reloading rule files.

use std::collections::BTreeMap;

/// The state of an alert instance (one label set of one rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, for less than `for:` so far.
    Pending,
    /// The alert is firing.
    Firing,
}

/// One active (pending or firing) alert.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// The rule's name (`alertname`).
    pub rule: String,
    /// The alert's labels, `alertname` included.
    pub labels: BTreeMap<String, String>,
    /// Annotations, templates expanded.
    pub annotations: BTreeMap<String, String>,
    /// Pending or firing.
    pub state: AlertState,
    /// The value of the expression (for forecasts: the predicted value at the horizon).
    pub value: f64,
    /// Since when the condition has held (unix milliseconds).
    pub active_since_ms: i64,
    /// Since when the alert has been firing, if it is.
    pub firing_since_ms: Option<i64>,
    /// Forecasts: predicted crossing time and its confidence band (unix milliseconds).
    pub eta_ms: Option<(i64, i64, i64)>,
}

/// How the last evaluation of a rule went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed (see `last_error`).
    Err,
}

/// One rule and how it is doing.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStatus {
    /// The rule as loaded.
    pub rule: vigil_rules::spec::Rule,
    /// Health of the last evaluation.
    pub health: Health,
    /// What went wrong last time, if anything.
    pub last_error: Option<String>,
    /// When it was last evaluated (unix milliseconds), if ever.
    pub last_evaluation_ms: Option<i64>,
    /// How long that took, in seconds.
    pub evaluation_seconds: f64,
    /// Its active alerts.
    pub alerts: Vec<ActiveAlert>,
    /// An anomaly rule's detectors: (series watched, taken back from the store at start).
    pub watch: Option<(usize, usize)>,
}

/// One group and its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// The file it came from (`"(built-in)"` for Vigil's host-down rule).
    pub file: String,
    /// Evaluation interval, in seconds.
    pub interval_seconds: f64,
    /// When the group was last evaluated (unix milliseconds), if ever.
    pub last_evaluation_ms: Option<i64>,
    /// Its rules, in file order.
    pub rules: Vec<RuleStatus>,
}

/// Everything the rules engine can show.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulesSnapshot {
    /// Every group, built-in ones included.
    pub groups: Vec<GroupStatus>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReloadReport {
    /// Files read.
    pub files: usize,
    /// Rules now loaded.
    pub rules: usize,
    /// Rules kept with their state because they did not change.
    pub unchanged: usize,
}

/// The running rules, as the gRPC and HTTP services see them.
pub trait RulesView: Send + Sync {
    /// The groups, rules and active alerts now.
    fn snapshot(&self) -> RulesSnapshot;
    /// Re-reads the rule files. On a bad file, the old rules keep running and the error says
    /// which file, which line and what is wrong.
    fn reload(&self) -> Result<ReloadReport, String>;
}
