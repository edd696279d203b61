//! Inhibition: while an alert matching a rule's `source_matchers` fires, alerts matching
//! its `target_matchers` with the same values of every `equal` label (a label missing on
//! both sides counts as equal) are not sent.
//!
//! As in Alertmanager, an alert that matches both sides of a rule is not muted by a source
//! that also matches both sides, so two such alerts do not mute each other and no alert
//! mutes itself.

use super::super::config::InhibitRuleConfig;
use super::super::model::LabelMap;
use std::collections::HashMap;
use vigil_rules::matchers::Matchers;

/// One rule, parsed.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
}

impl InhibitRule {
    /// Parses a configured rule; the error names the bad matcher.
    pub fn new(config: &InhibitRuleConfig) -> Result<Self, String> {
        Ok(Self {
            source: Matchers::parse(&config.source_matchers)
                .map_err(|e| format!("source_matchers: {e}"))?,
            target: Matchers::parse(&config.target_matchers)
                .map_err(|e| format!("target_matchers: {e}"))?,
            equal: config.equal.clone(),
        })
    }

    fn equal_values(&self, labels: &LabelMap) -> Vec<String> {
        self.equal
            .iter()
            .map(|n| labels.get(n).cloned().unwrap_or_default())
            .collect()
    }
}

/// A firing source alert as a rule indexes it.
#[derive(Debug, Clone)]
struct Source {
    /// `alertname{labels}`, as `vigil alerts` shows what mutes an alert.
    name: String,
    /// Whether the source also matches the rule's target side.
    two_sided: bool,
}

/// A rule's firing sources by the values of its `equal` labels.
type SourcesByEqual = HashMap<Vec<String>, Vec<Source>>;

/// The rules with their firing sources indexed by the values of the `equal` labels,
/// built once from the firing alerts and then asked about each alert.
#[derive(Debug, Default)]
pub struct Inhibitor {
    rules: Vec<(InhibitRule, SourcesByEqual)>,
}

impl Inhibitor {
    /// Indexes `firing` (the labels of every firing alert) for `rules`.
    pub fn new<'a>(rules: &[InhibitRule], firing: impl Iterator<Item = &'a LabelMap>) -> Self {
        let mut indexed: Vec<(InhibitRule, SourcesByEqual)> =
            rules.iter().map(|r| (r.clone(), HashMap::new())).collect();
        if indexed.is_empty() {
            return Self { rules: indexed };
        }
        for labels in firing {
            for (rule, sources) in &mut indexed {
                if rule.source.matches(labels) {
                    sources
                        .entry(rule.equal_values(labels))
                        .or_default()
                        .push(Source {
                            name: alert_name(labels),
                            two_sided: rule.target.matches(labels),
                        });
                }
            }
        }
        Self { rules: indexed }
    }

    /// The firing alerts that mute an alert with `labels` (empty: not inhibited), sorted.
    pub fn inhibited_by(&self, labels: &LabelMap) -> Vec<String> {
        let mut out = Vec::new();
        for (rule, sources) in &self.rules {
            if !rule.target.matches(labels) {
                continue;
            }
            let exclude_two_sided = rule.source.matches(labels);
            if let Some(found) = sources.get(&rule.equal_values(labels)) {
                out.extend(
                    found
                        .iter()
                        .filter(|s| !(exclude_two_sided && s.two_sided))
                        .map(|s| s.name.clone()),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether an alert with `labels` is muted.
    pub fn is_inhibited(&self, labels: &LabelMap) -> bool {
        !self.inhibited_by(labels).is_empty()
    }
}

/// `HostDown{host="web-1"}`: the alert name and its other labels.
pub fn alert_name(labels: &LabelMap) -> String {
    let name = labels.get("alertname").map(String::as_str).unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(n, _)| n.as_str() != "alertname")
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
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

    fn rule(source: &[&str], target: &[&str], equal: &[&str]) -> InhibitRule {
        InhibitRule::new(&InhibitRuleConfig {
            source_matchers: source.iter().map(|s| (*s).to_owned()).collect(),
            target_matchers: target.iter().map(|s| (*s).to_owned()).collect(),
            equal: equal.iter().map(|s| (*s).to_owned()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn a_down_host_mutes_its_other_alerts_only() {
        let rules = [rule(
            &[r#"alertname="HostDown""#],
            &[r#"alertname!="HostDown""#],
            &["host"],
        )];
        let down = labels(&[("alertname", "HostDown"), ("host", "web-1")]);
        let inhibitor = Inhibitor::new(&rules, [&down].into_iter());
        assert_eq!(
            inhibitor.inhibited_by(&labels(&[("alertname", "CpuHigh"), ("host", "web-1")])),
            [r#"HostDown{host="web-1"}"#]
        );
        assert!(!inhibitor.is_inhibited(&labels(&[("alertname", "CpuHigh"), ("host", "web-2")])));
        assert!(
            !inhibitor.is_inhibited(&down),
            "a source does not mute itself"
        );
        assert!(
            !inhibitor.is_inhibited(&labels(&[("alertname", "CpuHigh")])),
            "a missing host is not equal to web-1"
        );
    }

    #[test]
    fn two_sided_matches_do_not_mute_each_other() {
        // critical mutes warning of the same alert name; a rule whose sides overlap.
        let rules = [rule(
            &[r#"severity=~"critical|warning""#],
            &[r#"severity=~"warning|critical""#],
            &["alertname"],
        )];
        let a = labels(&[("alertname", "X"), ("severity", "critical")]);
        let b = labels(&[("alertname", "X"), ("severity", "warning")]);
        let inhibitor = Inhibitor::new(&rules, [&a, &b].into_iter());
        assert!(!inhibitor.is_inhibited(&a));
        assert!(!inhibitor.is_inhibited(&b));
        // Missing equal labels on both sides count as equal.
        let rules = [rule(
            &[r#"severity="critical""#],
            &[r#"severity="warning""#],
            &["cluster"],
        )];
        let inhibitor = Inhibitor::new(&rules, [&a, &b].into_iter());
        assert_eq!(inhibitor.inhibited_by(&b), [r#"X{severity="critical"}"#]);
        assert!(!inhibitor.is_inhibited(&a));
    }
}
