//! The alert and notification types shared by dispatch, the outbox and the receivers.

use serde::{Deserialize, Serialize};

/// Label names to values, sorted by name.
pub use vigil_rules::matchers::LabelMap;

/// One alert as the notifier sees it: the rules engine hands these over at each evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's labels, `alertname` included (no `__name__`).
    pub labels: LabelMap,
    /// Annotations, templates already expanded.
    pub annotations: LabelMap,
    /// When it started firing (unix milliseconds).
    pub starts_at_ms: i64,
    /// When it resolved; `None` while it fires.
    pub ends_at_ms: Option<i64>,
    /// Where to see it (a link to the rule's expression), may be empty.
    pub generator_url: String,
}

impl Alert {
    /// Whether it has resolved.
    pub fn resolved(&self) -> bool {
        self.ends_at_ms.is_some()
    }

    /// Alertmanager's fingerprint: FNV-1a 64 over the sorted label names and values, each
    /// followed by the byte 0xff; written as 16 hex digits.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", fingerprint(&self.labels))
    }
}

/// FNV-1a 64 of a label set, as Prometheus's `model.LabelSet.Fingerprint` computes it.
pub fn fingerprint(labels: &LabelMap) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    if labels.is_empty() {
        return OFFSET;
    }
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    hash
}

/// One message for one receiver: the alerts of one group at one flush.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The receiver's name (from configuration).
    pub receiver: String,
    /// Identifies the group: the route's path and the group's label values.
    pub group_key: String,
    /// The labels the route groups by, with this group's values.
    pub group_labels: LabelMap,
    /// Firing and (when the receiver wants them) resolved alerts, firing first.
    pub alerts: Vec<Alert>,
    /// Where Vigil is reached (`notify.external_url`), may be empty.
    pub external_url: String,
    /// When the notification was made (unix milliseconds).
    pub created_ms: i64,
    /// Sent by `vigil notify test`, not by an alert.
    #[serde(default)]
    pub test: bool,
    /// A refresh of alerts already notified: nothing changed, so only integrations that
    /// need the full state regularly (alertmanager, which ends alerts it does not hear
    /// about again) take it; see `Integration::takes_refresh`.
    #[serde(default)]
    pub refresh: bool,
    /// The group's `group_interval` (milliseconds): how often the group is flushed, so an
    /// alertmanager integration can set `endsAt` far enough ahead (4 intervals).
    #[serde(default)]
    pub group_interval_ms: i64,
    /// Set for a notification about an incident (routes with `mode = "incident"`, and
    /// every ticket integration) instead of an alert group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<Box<IncidentNotice>>,
}

/// What happened to an incident that a notification tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// It opened (or a receiver hears of it for the first time).
    Opened,
    /// Alerts joined it.
    Updated,
    /// Its severity rose.
    Escalated,
    /// Someone took it.
    Acknowledged,
    /// An alert fired again within its quiet period.
    Reopened,
    /// It is over.
    Resolved,
}

impl Step {
    /// `opened`, `updated`, …, as the webhook body and the templates write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Opened => "opened",
            Step::Updated => "updated",
            Step::Escalated => "escalated",
            Step::Acknowledged => "acknowledged",
            Step::Reopened => "reopened",
            Step::Resolved => "resolved",
        }
    }

    /// Whether people are told of it by email and webhook (a ticket hears of every step):
    /// opening, escalation and resolution.
    pub fn tells_people(self) -> bool {
        matches!(self, Step::Opened | Step::Escalated | Step::Resolved)
    }
}

/// An incident as one notification tells of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentNotice {
    /// What happened.
    pub step: Step,
    /// The incident as it was then.
    pub incident: crate::incidents::Incident,
    /// The timeline entries this step added.
    pub added: Vec<crate::incidents::Entry>,
    /// The value a service desk keeps in its correlation field to find the incident's
    /// ticket again (`vigil-<installation>-<id>`).
    pub correlation: String,
}

impl Notification {
    /// `"firing"` when any alert fires, else `"resolved"`.
    pub fn status(&self) -> &'static str {
        if self.alerts.iter().any(|a| !a.resolved()) {
            "firing"
        } else {
            "resolved"
        }
    }

    /// The alerts still firing.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| !a.resolved())
    }

    /// The alerts that resolved.
    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.resolved())
    }

    /// Labels every alert has with the same value.
    pub fn common_labels(&self) -> LabelMap {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// Annotations every alert has with the same value.
    pub fn common_annotations(&self) -> LabelMap {
        common(self.alerts.iter().map(|a| &a.annotations))
    }
}

fn common<'a>(mut maps: impl Iterator<Item = &'a LabelMap>) -> LabelMap {
    let Some(first) = maps.next() else {
        return LabelMap::new();
    };
    let mut out = first.clone();
    for map in maps {
        out.retain(|k, v| map.get(k) == Some(v));
    }
    out
}

/// What a receiver made of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx, SMTP 250): remove from the outbox. `answer` is what the receiver said
    /// (status line and body, or the SMTP reply), for logs and `vigil notify test`.
    Accepted {
        /// The receiver's answer.
        answer: String,
    },
    /// Worth retrying later: connection refused or reset, timeout, 5xx, 429, SMTP 4xx.
    Retry {
        /// What went wrong, secrets removed.
        error: String,
    },
    /// Refused for good (4xx other than 408/429, SMTP 5xx, a bad address): logged with the
    /// response and counted, not retried.
    Rejected {
        /// What the receiver said, secrets removed.
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn fingerprint_matches_prometheus() {
        // The empty set and a set from prometheus/common's model signature tests.
        assert_eq!(fingerprint(&LabelMap::new()), 14695981039346656037);
        assert_eq!(
            fingerprint(&labels(&[
                ("name", "garland, briggs"),
                ("fear", "love is not enough")
            ])),
            5799056148416392346
        );
    }

    #[test]
    fn common_labels_keep_only_shared_values() {
        let alert = |host: &str| Alert {
            labels: labels(&[("alertname", "HighCpu"), ("host", host)]),
            annotations: labels(&[("summary", "cpu")]),
            starts_at_ms: 0,
            ends_at_ms: None,
            generator_url: String::new(),
        };
        let n = Notification {
            receiver: "ops".into(),
            group_key: "{}:{alertname=\"HighCpu\"}".into(),
            group_labels: labels(&[("alertname", "HighCpu")]),
            alerts: vec![alert("a"), alert("b")],
            external_url: String::new(),
            created_ms: 0,
            test: false,
            refresh: false,
            group_interval_ms: 300_000,
            incident: None,
        };
        assert_eq!(n.common_labels(), labels(&[("alertname", "HighCpu")]));
        assert_eq!(n.common_annotations(), labels(&[("summary", "cpu")]));
        assert_eq!(n.status(), "firing");
    }
}
