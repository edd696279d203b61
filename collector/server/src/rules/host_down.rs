//! The built-in host-down rule: `HostDown{host}` fires for every host in the registry not
//! heard from for `rules.host_down_after`, and resolves when it sends again.
//!
//! Silence is counted from the later of the host's last sample and the collector's start,
//! so a collector that was itself down does not announce every host as down while the
//! agents reconnect. A host whose alert was already firing before a restart (restored from
//! the store) gets no such grace: its alert goes on instead of resolving and firing again.
//! The value is the seconds since the host was last heard from.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::evaluate::{Outcome, observation};
use crate::registry::Registry;
use vigil_rules::spec::{Rule, RuleKind};
use vigil_store::Labels;

/// The built-in group's name.
pub const GROUP: &str = "vigil-host-down";
/// What the built-in group shows as its file.
pub const FILE: &str = "(built-in)";
/// The alert's name.
pub const ALERT: &str = "HostDown";

/// When a host counts as down.
#[derive(Debug, Clone, Copy)]
pub struct Downtime {
    /// `rules.host_down_after`.
    pub after: Duration,
    /// When the collector started (unix milliseconds).
    pub started_ms: i64,
}

/// The rule as `vigil rules` shows it.
pub fn rule(down_after: Duration) -> Rule {
    let after = humantime::format_duration(down_after).to_string();
    Rule {
        name: ALERT.to_owned(),
        kind: RuleKind::Threshold {
            expr: format!("(built-in) no data from the host for {after}"),
            clear: None,
        },
        for_: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::from([("severity".to_owned(), "critical".to_owned())]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "Host {{ $labels.host }} is down".to_owned(),
            ),
            (
                "description".to_owned(),
                format!(
                    "No data from {{{{ $labels.host }}}} for {{{{ $value }}}} seconds (limit {after})."
                ),
            ),
        ]),
        line: 0,
    }
}

/// Which hosts are down at `now_ms`.
pub fn evaluate(
    registry: &Registry,
    rule: &Rule,
    down: &Downtime,
    alerting: &HashSet<String>,
    now_ms: i64,
) -> Outcome {
    let hosts = match registry.hosts(now_ms) {
        Ok(h) => h,
        Err(e) => return Outcome::Failed(format!("reading the host registry: {e}")),
    };
    let silent: Vec<(String, i64)> = hosts
        .into_iter()
        .map(|h| (h.host, h.last_seen_ms))
        .collect();
    Outcome::Alerts {
        observed: silent_hosts(&silent, down, alerting, now_ms)
            .into_iter()
            .map(|(host, seconds)| {
                let labels = Labels::new(vec![("host".to_owned(), host)]);
                observation(rule, &labels, seconds, BTreeMap::new(), None)
            })
            .collect(),
        cleared: Vec::new(),
        error: None,
    }
}

/// The hosts silent for `down_after`, with the seconds since each was last heard from.
fn silent_hosts(
    hosts: &[(String, i64)],
    down: &Downtime,
    alerting: &HashSet<String>,
    now_ms: i64,
) -> Vec<(String, f64)> {
    let limit = i64::try_from(down.after.as_millis()).unwrap_or(i64::MAX);
    hosts
        .iter()
        .filter(|(host, seen)| {
            let from = if alerting.contains(host) {
                *seen
            } else {
                (*seen).max(down.started_ms)
            };
            now_ms - from >= limit
        })
        .map(|(host, seen)| (host.clone(), ((now_ms - seen) / 1000) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_counts_from_the_collector_start() {
        let hosts = vec![("a".to_owned(), 1_000), ("b".to_owned(), 100_000)];
        let none = HashSet::new();
        let at = |started_ms| Downtime {
            after: Duration::from_secs(60),
            started_ms,
        };
        // Collector started at 0: a is silent for 119 s at 120 s, b only 20 s.
        assert_eq!(
            silent_hosts(&hosts, &at(0), &none, 120_000),
            vec![("a".to_owned(), 119.0)]
        );
        // Collector started at 90 s: nobody is down before 150 s.
        assert!(silent_hosts(&hosts, &at(90_000), &none, 149_999).is_empty());
        assert_eq!(silent_hosts(&hosts, &at(90_000), &none, 160_000).len(), 2);
        // …unless its alert was already firing before the restart: it stays down.
        let firing = HashSet::from(["a".to_owned()]);
        assert_eq!(
            silent_hosts(&hosts, &at(90_000), &firing, 100_000),
            vec![("a".to_owned(), 99.0)]
        );
    }
}
