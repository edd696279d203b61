//! The durable state of alert instances: what must survive a collector restart so that
//! `for:` timers do not start over and firing alerts are not announced again.

use super::Labels;

/// Which alert instance a record belongs to: one label set of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    /// The rule file the rule came from (`"(built-in)"` for Vigil's own rules).
    pub file: String,
    /// The group, unique within its file.
    pub group: String,
    /// The alert name (`alertname`).
    pub rule: String,
    /// The alert's labels, `alertname` included.
    pub labels: Labels,
}

/// The durable state of one pending or firing alert instance.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    /// Which instance.
    pub key: AlertKey,
    /// Firing (else pending).
    pub firing: bool,
    /// Since when the condition has held (unix milliseconds): where the `for:` timer started.
    pub active_since_ms: i64,
    /// Since when it has been firing.
    pub firing_since_ms: Option<i64>,
    /// When the condition last held: `keep_firing_for` counts from here.
    pub last_active_ms: i64,
    /// When a notification about it was last sent (kept for the notifier).
    pub last_notified_ms: Option<i64>,
    /// The value at the last evaluation (shown until the next one).
    pub value: f64,
}
