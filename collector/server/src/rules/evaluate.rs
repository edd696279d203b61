//! One evaluation of one rule on the query engine: what the condition returned, turned
//! into alert observations (threshold and forecast rules) or series to record.
//!
//! Alert labels are the series' labels without `__name__`, then the rule's labels
//! (templates expanded; they win over the series' labels), then `alertname`. Annotations
//! are expanded with `$labels` (the series' labels) and `$value`; forecasts add `$eta`,
//! `$eta_lower`, `$eta_upper`, `$eta_in` and `$model`; anomaly rules `$score`, `$expected`,
//! `$lower`, `$upper` and `$model`.

pub mod anomaly;
mod forecast;
pub(crate) use forecast::{describe, rfc3339};

use std::collections::BTreeMap;

use super::lifecycle::Observation;
use vigil_promql::{Engine, InstantSample, Value};
use vigil_rules::spec::{Rule, RuleKind};
use vigil_rules::template::{TemplateData, expand};
use vigil_store::{Labels, METRIC_NAME};

/// What evaluating a rule produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An alerting rule's condition (and clear condition) results.
    Alerts {
        /// Series for which the condition holds.
        observed: Vec<Observation>,
        /// Label sets (without `__name__`) for which the clear condition holds.
        cleared: Vec<Labels>,
        /// A partial failure (some forecast series could not be fitted): the rule's health
        /// is `err` with this message, but the alerts found still count.
        error: Option<String>,
    },
    /// A recording rule's series (labels with the new `__name__`, value).
    Recorded(Vec<(Labels, f64)>),
    /// The evaluation failed; the rule's alerts keep their state.
    Failed(String),
}

/// Evaluates `rule` at `now_ms`. Blocks on the store. Anomaly rules keep state between
/// evaluations and are evaluated by [`anomaly::evaluate`].
pub fn evaluate(engine: &Engine, rule: &Rule, now_ms: i64) -> Outcome {
    let result = match &rule.kind {
        RuleKind::Anomaly(_) => Err("an anomaly rule is evaluated with its detectors".to_owned()),
        RuleKind::Threshold { expr, clear } => {
            threshold(engine, rule, expr, clear.as_deref(), now_ms)
        }
        RuleKind::Forecast(spec) => forecast::evaluate(engine, rule, spec, now_ms),
        RuleKind::Record { expr } => record(engine, rule, expr, now_ms),
    };
    result.unwrap_or_else(Outcome::Failed)
}

fn threshold(
    engine: &Engine,
    rule: &Rule,
    expr: &str,
    clear: Option<&str>,
    now_ms: i64,
) -> Result<Outcome, String> {
    let samples = instant_vector(engine, expr, now_ms, "expr")?;
    let observed = samples
        .iter()
        .map(|s| observation(rule, &s.labels, s.v, BTreeMap::new(), None))
        .collect();
    let cleared = match clear {
        Some(clear) => instant_vector(engine, clear, now_ms, "clear")?
            .into_iter()
            .map(|s| s.labels.without_name())
            .collect(),
        None => Vec::new(),
    };
    Ok(Outcome::Alerts {
        observed,
        cleared,
        error: None,
    })
}

fn record(engine: &Engine, rule: &Rule, expr: &str, now_ms: i64) -> Result<Outcome, String> {
    let value = engine.instant(expr, now_ms).map_err(|e| e.to_string())?;
    let samples: Vec<(Labels, f64)> = match value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        Value::Scalar { v, .. } => vec![(Labels::default(), v)],
        other => {
            return Err(format!(
                "expr returned a {}; a recording rule needs an instant vector or a scalar",
                other.type_name()
            ));
        }
    };
    let mut out = Vec::with_capacity(samples.len());
    for (labels, v) in samples {
        let mut pairs: BTreeMap<String, String> = labels.pairs().iter().cloned().collect();
        pairs.insert(METRIC_NAME.to_owned(), rule.name.clone());
        for (name, value) in &rule.labels {
            if value.is_empty() {
                pairs.remove(name);
            } else {
                pairs.insert(name.clone(), value.clone());
            }
        }
        out.push((Labels::new(pairs.into_iter().collect()), v));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((dup, _)) = out.iter().find(|(l, _)| !seen.insert(l.clone())) {
        return Err(format!(
            "two results have the same labels {dup:?} once the rule's labels are applied; \
             aggregate them or keep the label that tells them apart"
        ));
    }
    Ok(Outcome::Recorded(out))
}

/// Evaluates `expr` at `now_ms`, which must give an instant vector.
pub(super) fn instant_vector(
    engine: &Engine,
    expr: &str,
    now_ms: i64,
    what: &str,
) -> Result<Vec<InstantSample>, String> {
    match engine.instant(expr, now_ms) {
        Ok(Value::Vector(v)) => Ok(v),
        Ok(other) => Err(format!(
            "{what} returned a {}; an alerting rule needs an instant vector",
            other.type_name()
        )),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// The alert for one series of `rule`: labels and annotations expanded.
pub(super) fn observation(
    rule: &Rule,
    series: &Labels,
    value: f64,
    vars: BTreeMap<String, String>,
    eta_ms: Option<(i64, i64, i64)>,
) -> Observation {
    let source: BTreeMap<String, String> = series.without_name().pairs().iter().cloned().collect();
    let data = TemplateData {
        labels: Some(&source),
        value,
        vars,
    };
    let mut labels = source.clone();
    for (name, template) in &rule.labels {
        let value = expand_or_say(template, &data);
        if value.is_empty() {
            labels.remove(name);
        } else {
            labels.insert(name.clone(), value);
        }
    }
    labels.insert("alertname".to_owned(), rule.name.clone());
    let annotations = rule
        .annotations
        .iter()
        .map(|(name, template)| (name.clone(), expand_or_say(template, &data)))
        .collect();
    Observation {
        labels: Labels::new(labels.into_iter().collect()),
        value,
        annotations,
        eta_ms,
    }
}

/// A template that fails shows why in its place, as Prometheus does: the alert still fires.
fn expand_or_say(template: &str, data: &TemplateData<'_>) -> String {
    expand(template, data).unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rule(labels: &[(&str, &str)]) -> Rule {
        Rule {
            name: "HighCpu".into(),
            kind: RuleKind::Threshold {
                expr: "cpu > 90".into(),
                clear: None,
            },
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            labels: labels
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            annotations: BTreeMap::from([(
                "summary".to_owned(),
                "{{ $labels.host }} at {{ $value }}".to_owned(),
            )]),
            line: 3,
        }
    }

    fn series(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn alert_labels_are_series_then_rule_labels_then_alertname() {
        let rule = rule(&[
            ("severity", "page"),
            ("team", "{{ $labels.host }}-ops"),
            ("job", ""),
        ]);
        let obs = observation(
            &rule,
            &series(&[("__name__", "cpu"), ("host", "web-1"), ("job", "node")]),
            93.5,
            BTreeMap::new(),
            None,
        );
        assert_eq!(
            obs.labels,
            series(&[
                ("alertname", "HighCpu"),
                ("host", "web-1"),
                ("severity", "page"),
                ("team", "web-1-ops"),
            ]),
            "__name__ dropped, an empty rule label removes the series' label"
        );
        assert_eq!(obs.annotations["summary"], "web-1 at 93.5");
        assert_eq!(obs.value, 93.5);
    }
}
