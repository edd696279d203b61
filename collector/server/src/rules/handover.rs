//! What the rules hand the notifier after each evaluation of an alerting rule: every
//! firing instance (so the notifier knows it still fires) and those that resolved at this
//! evaluation. Pending instances are not handed over: they are not alerts yet.

use std::collections::HashMap;

use super::lifecycle::{Change, Instance, Transition};
use super::status::AlertState;
use crate::notify::model::{Alert, LabelMap};
use vigil_rules::spec::{Rule, RuleKind};
use vigil_store::Labels;

/// What a firing instance was just before an evaluation: a resolved alert is handed over
/// with the start and annotations it had, since the lifecycle forgets it.
pub type Firing = HashMap<Labels, Alert>;

/// The firing instances of a rule, as alerts.
pub fn firing<'a>(
    instances: impl Iterator<Item = &'a Instance>,
    generator_url: &str,
) -> Vec<Alert> {
    instances
        .filter(|i| i.state == AlertState::Firing)
        .map(|i| alert(i, generator_url))
        .collect()
}

/// The firing instances before an evaluation, by labels.
pub fn before<'a>(instances: impl Iterator<Item = &'a Instance>, generator_url: &str) -> Firing {
    instances
        .filter(|i| i.state == AlertState::Firing)
        .map(|i| (i.labels.clone(), alert(i, generator_url)))
        .collect()
}

fn alert(i: &Instance, generator_url: &str) -> Alert {
    Alert {
        labels: label_map(&i.labels),
        annotations: i.annotations.clone(),
        starts_at_ms: i.firing_since_ms.unwrap_or(i.active_since_ms),
        ends_at_ms: None,
        generator_url: generator_url.to_owned(),
    }
}

/// The alerts that resolved in `transitions`, ended at `now_ms`.
pub fn resolved(transitions: &[Transition], before: &Firing, now_ms: i64) -> Vec<Alert> {
    transitions
        .iter()
        .filter(|t| t.change == Change::Resolved)
        .filter_map(|t| before.get(&t.labels))
        .map(|a| Alert {
            ends_at_ms: Some(now_ms),
            ..a.clone()
        })
        .collect()
}

/// Every firing instance of rules that are going away (removed by a reload), resolved.
pub fn ended<'a>(instances: impl Iterator<Item = &'a Instance>, now_ms: i64) -> Vec<Alert> {
    firing(instances, "")
        .into_iter()
        .map(|a| Alert {
            ends_at_ms: Some(now_ms),
            ..a
        })
        .collect()
}

/// A saved alert no rule claimed after a restart or reload, resolved. Its annotations are
/// not saved; the notifier keeps those it had.
pub fn ended_saved(labels: &Labels, firing_since_ms: i64, now_ms: i64) -> Alert {
    Alert {
        labels: label_map(labels),
        annotations: LabelMap::new(),
        starts_at_ms: firing_since_ms,
        ends_at_ms: Some(now_ms),
        generator_url: String::new(),
    }
}

fn label_map(labels: &Labels) -> LabelMap {
    labels.pairs().iter().cloned().collect()
}

/// Where to see what made an alert: the rule's expression on the HTTP API under
/// `external_url`; empty without one.
pub fn generator_url(external_url: &str, rule: &Rule) -> String {
    let expr = match &rule.kind {
        RuleKind::Threshold { expr, .. } => expr,
        RuleKind::Forecast(spec) => &spec.expr,
        RuleKind::Anomaly(spec) => &spec.expr,
        RuleKind::Record { .. } => return String::new(),
    };
    if external_url.is_empty() {
        return String::new();
    }
    let base = format!("{}/api/v1/query", external_url.trim_end_matches('/'));
    reqwest::Url::parse_with_params(&base, &[("query", expr.as_str())])
        .map(String::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn instance(host: &str, state: AlertState) -> Instance {
        Instance {
            labels: Labels::from_pairs(&[("alertname", "CpuHigh"), ("host", host)]),
            state,
            active_since_ms: 1_000,
            firing_since_ms: (state == AlertState::Firing).then_some(2_000),
            last_active_ms: 3_000,
            keep_firing_since_ms: None,
            last_notified_ms: None,
            value: 1.0,
            annotations: BTreeMap::from([("summary".to_owned(), format!("{host} busy"))]),
            eta_ms: None,
        }
    }

    #[test]
    fn firing_instances_and_resolutions_become_alerts() {
        let instances = [
            instance("a", AlertState::Firing),
            instance("b", AlertState::Pending),
        ];
        let alerts = firing(instances.iter(), "u");
        assert_eq!(alerts.len(), 1, "pending alerts are not handed over");
        assert_eq!(alerts[0].labels["host"], "a");
        assert_eq!(alerts[0].starts_at_ms, 2_000);
        assert_eq!(alerts[0].annotations["summary"], "a busy");
        assert_eq!(alerts[0].generator_url, "u");
        let before = before(instances.iter(), "u");
        let gone = [
            Transition {
                labels: instances[0].labels.clone(),
                change: Change::Resolved,
            },
            Transition {
                labels: instances[1].labels.clone(),
                change: Change::Inactive,
            },
        ];
        let resolved = resolved(&gone, &before, 9_000);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].ends_at_ms, Some(9_000));
        assert_eq!(resolved[0].starts_at_ms, 2_000);
        assert_eq!(resolved[0].annotations["summary"], "a busy");
        assert_eq!(ended(instances.iter(), 5).len(), 1);
    }

    #[test]
    fn generator_urls_link_to_the_expression() {
        let rule = Rule {
            name: "CpuHigh".into(),
            kind: RuleKind::Threshold {
                expr: "cpu > 90".into(),
                clear: None,
            },
            for_: std::time::Duration::ZERO,
            keep_firing_for: std::time::Duration::ZERO,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            line: 1,
        };
        assert_eq!(generator_url("", &rule), "");
        assert_eq!(
            generator_url("https://vigil.example/", &rule),
            "https://vigil.example/api/v1/query?query=cpu+%3E+90"
        );
    }
}
