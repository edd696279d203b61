//! One rule of a group: `alert:` (with `expr:` and `clear:`, or `forecast:`) or `record:`,
//! its durations, labels and annotations.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::lines::Step;
use super::parse::{Reader, RuleAt, scalar, untag};
use super::promql_check;
use super::{anomaly_block, forecast_block};
use crate::spec::{Rule, RuleKind};
use crate::template;

/// The fields of a rule: Prometheus's, then Vigil's `clear` and `forecast`.
const RULE_FIELDS: [&str; 10] = [
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
    "clear",
    "forecast",
    "anomaly",
];

impl Reader<'_> {
    /// Reads the rule at `path`; `None` when it has problems (recorded).
    pub(super) fn rule(
        &mut self,
        value: &Value,
        group: &str,
        index: usize,
        path: Vec<Step<'_>>,
    ) -> Option<Rule> {
        let line = self.lines.line(&path).unwrap_or(0);
        let Some(map) = value.as_mapping() else {
            self.problem(
                &path,
                format!(
                    "group {group:?}, rule {}: a rule must be a mapping",
                    index + 1
                ),
            );
            return None;
        };
        let alert = map.get("alert").and_then(scalar).unwrap_or_default();
        let record = map.get("record").and_then(scalar).unwrap_or_default();
        let name = if alert.is_empty() {
            record.clone()
        } else {
            alert.clone()
        };
        let at = RuleAt {
            prefix: format!("group {group:?}, rule {}, {name:?}: ", index + 1),
            path,
        };
        let before = self.problems.len();
        self.unknown_fields(map, &RULE_FIELDS, &at.path, &at.prefix, "a rule");
        let p = &at.prefix;
        match (alert.is_empty(), record.is_empty()) {
            (false, false) => self.problem(
                &at.path,
                format!(
                    "{p}only one of `alert:` and `record:` may be set; split it into two rules"
                ),
            ),
            (true, true) => self.problem(
                &at.path,
                format!("{p}one of `alert:` or `record:` must be set (with a non-empty name)"),
            ),
            _ => {}
        }
        let for_ = self.duration(map, "for", &at.path, p).unwrap_or_default();
        let keep_firing_for = self
            .duration(map, "keep_firing_for", &at.path, p)
            .unwrap_or_default();
        let labels = self.string_map(map, "labels", &at);
        let annotations = self.string_map(map, "annotations", &at);
        let kind = if record.is_empty() {
            self.alert_kind(map, &at)
        } else {
            self.record_kind(map, &at, &record, for_, keep_firing_for)
        };
        for (key, value) in &labels {
            let why = if key == "__name__" {
                Some("a rule cannot set the metric name")
            } else if !is_label_name(key) {
                Some("use letters, digits and _, not starting with a digit")
            } else {
                None
            };
            if let Some(why) = why {
                self.problem(
                    &at.field(&[Step::Key("labels"), Step::Key(key)]),
                    format!("{p}invalid label name: {key} ({why})"),
                );
            }
            if !alert.is_empty() {
                self.template(&at, "labels", key, value, "label");
            }
        }
        for (key, value) in &annotations {
            if !is_label_name(key) {
                self.problem(
                    &at.field(&[Step::Key("annotations"), Step::Key(key)]),
                    format!("{p}invalid annotation name: {key} (use letters, digits and _, not starting with a digit)"),
                );
            }
            self.template(&at, "annotations", key, value, "annotation");
        }
        let kind = kind?;
        (self.problems.len() == before).then_some(Rule {
            name,
            kind,
            for_,
            keep_firing_for,
            labels,
            annotations,
            line,
        })
    }

    fn template(&mut self, at: &RuleAt<'_>, field: &str, key: &str, text: &str, what: &str) {
        if let Err(e) = template::check(text) {
            self.problem(
                &at.field(&[Step::Key(field), Step::Key(key)]),
                format!("{}{what} {key:?}: {e}", at.prefix),
            );
        }
    }

    fn record_kind(
        &mut self,
        map: &Mapping,
        at: &RuleAt<'_>,
        record: &str,
        for_: Duration,
        keep_firing_for: Duration,
    ) -> Option<RuleKind> {
        let p = &at.prefix;
        if !is_metric_name(record) {
            self.problem(
                &at.field(&[Step::Key("record")]),
                format!("{p}invalid recording rule name: {record} (a metric name: letters, digits, _ and :)"),
            );
        }
        for (field, set) in [
            (
                "annotations",
                map.get("annotations").is_some_and(|v| !v.is_null()),
            ),
            ("for", !for_.is_zero()),
            ("keep_firing_for", !keep_firing_for.is_zero()),
            ("clear", map.contains_key("clear")),
            ("forecast", map.contains_key("forecast")),
            ("anomaly", map.contains_key("anomaly")),
        ] {
            if set {
                self.problem(
                    &at.field(&[Step::Key(field)]),
                    format!(
                        "{p}invalid field {field:?} in recording rule; it belongs to alerting rules"
                    ),
                );
            }
        }
        let expr = self.expr(map, "expr", at)?;
        Some(RuleKind::Record { expr })
    }

    fn alert_kind(&mut self, map: &Mapping, at: &RuleAt<'_>) -> Option<RuleKind> {
        let p = &at.prefix;
        let has_expr = map.get("expr").is_some_and(|v| !v.is_null());
        let forecast = map.get("forecast").filter(|v| !v.is_null());
        let anomaly = map.get("anomaly").filter(|v| !v.is_null());
        let blocks = usize::from(has_expr)
            + usize::from(forecast.is_some())
            + usize::from(anomaly.is_some());
        if blocks > 1 {
            let key = if anomaly.is_some() {
                "anomaly"
            } else {
                "forecast"
            };
            self.problem(
                &at.field(&[Step::Key(key)]),
                format!("{p}an alert has one of `expr:`, `forecast:` or `anomaly:`, not more; remove the others"),
            );
            return None;
        }
        if (forecast.is_some() || anomaly.is_some()) && map.contains_key("clear") {
            let with = if anomaly.is_some() {
                "anomaly"
            } else {
                "forecast"
            };
            self.problem(
                &at.field(&[Step::Key("clear")]),
                format!("{p}`clear:` only goes with `expr:`, not with `{with}:`; remove it"),
            );
        }
        if let Some(block) = forecast {
            return forecast_block::read(self, untag(block), at).map(RuleKind::Forecast);
        }
        if let Some(block) = anomaly {
            return anomaly_block::read(self, untag(block), at).map(RuleKind::Anomaly);
        }
        let expr = self.expr(map, "expr", at);
        let clear = match map.get("clear").filter(|v| !v.is_null()) {
            Some(_) => Some(self.expr(map, "clear", at)?),
            None => None,
        };
        Some(RuleKind::Threshold { expr: expr?, clear })
    }

    /// A PromQL field: present, non-empty, parsed and supported.
    pub(super) fn expr(&mut self, map: &Mapping, key: &str, at: &RuleAt<'_>) -> Option<String> {
        let path = at.field(&[Step::Key(key)]);
        let text = map.get(key).and_then(scalar).unwrap_or_default();
        if text.trim().is_empty() {
            self.problem(
                &path,
                format!(
                    "{}field {key:?} must be set in rule (a PromQL expression)",
                    at.prefix
                ),
            );
            return None;
        }
        match promql_check::check(&text) {
            Ok(()) => Some(text),
            Err(e) => {
                self.problem(&path, format!("{}{key}: {e}", at.prefix));
                None
            }
        }
    }

    fn string_map(
        &mut self,
        map: &Mapping,
        key: &str,
        at: &RuleAt<'_>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match map.get(key).map(untag) {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let name = scalar(k).unwrap_or_default();
                    match untag(v) {
                        Value::Null => {
                            out.insert(name, String::new());
                        }
                        v => match scalar(v) {
                            Some(s) => {
                                out.insert(name, s);
                            }
                            None => self.problem(
                                &at.field(&[Step::Key(key), Step::Key(&name)]),
                                format!(
                                    "{}{key}: the value of {name:?} must be a string",
                                    at.prefix
                                ),
                            ),
                        },
                    }
                }
            }
            Some(_) => self.problem(
                &at.field(&[Step::Key(key)]),
                format!(
                    "{}`{key}:` must be a mapping of names to strings",
                    at.prefix
                ),
            ),
        }
        out
    }
}

/// Prometheus's label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus's metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
