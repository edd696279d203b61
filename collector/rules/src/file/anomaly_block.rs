//! Vigil's `anomaly:` block of an alerting rule:
//!
//! ```yaml
//! anomaly:
//!   expr: rate(node_network_receive_bytes_total{device="eth0"}[5m])
//!   model: auto               # auto (default) | seasonal
//!   sensitivity: medium       # low | medium (default) | high; or instead:
//!   threshold: 0.5            # the score in (0, 1] at which a series is anomalous
//!   step: 1m                  # how often each series is scored (default 1m)
//!   warmup: 1d                # history read to learn a series it has no state for
//! ```

use std::time::Duration;

use serde_yaml_ng::Value;

use super::forecast_block::choice;
use super::lines::Step;
use super::parse::{Reader, RuleAt, scalar};
use crate::spec::{AnomalyModel, AnomalySpec};

const FIELDS: [&str; 6] = [
    "expr",
    "model",
    "sensitivity",
    "threshold",
    "step",
    "warmup",
];

/// The score at which each sensitivity calls a series anomalous: `medium` is where the
/// detector's scores are calibrated to about one false alarm per series-week at a
/// 1-minute step on clean noise; `high` hears more, `low` less.
pub const SENSITIVITY: [(&str, f64); 3] = [("low", 0.7), ("medium", 0.5), ("high", 0.3)];

/// Shortest and longest `step:`.
const STEP_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
/// Longest `warmup:` (two weeks: enough for the weekly profile, and a bounded read at start).
const MAX_WARMUP: Duration = Duration::from_secs(14 * 86_400);

/// Reads the block, recording its problems in `reader`.
pub(super) fn read(reader: &mut Reader<'_>, block: &Value, at: &RuleAt<'_>) -> Option<AnomalySpec> {
    let here = at.field(&[Step::Key("anomaly")]);
    let p = format!("{}anomaly: ", at.prefix);
    let Some(map) = block.as_mapping() else {
        reader.problem(
            &here,
            format!("{p}must be a mapping with at least `expr:` (the series to watch)"),
        );
        return None;
    };
    reader.unknown_fields(map, &FIELDS, &here, &p, "`anomaly:`");
    let inner = RuleAt {
        path: here.clone(),
        prefix: p.clone(),
    };
    let expr = reader.expr(map, "expr", &inner);
    let field = |key: &'static str| inner.field(&[Step::Key(key)]);

    let model = match choice(
        reader,
        map,
        "model",
        &field("model"),
        &p,
        &["auto", "seasonal"],
    ) {
        Ok(Some("seasonal")) => Some(AnomalyModel::Seasonal),
        Ok(_) => Some(AnomalyModel::Auto),
        Err(()) => None,
    };
    let names: Vec<&str> = SENSITIVITY.iter().map(|(n, _)| *n).collect();
    let sensitivity = choice(
        reader,
        map,
        "sensitivity",
        &field("sensitivity"),
        &p,
        &names,
    );
    let threshold = match map.get("threshold").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match v.as_f64().filter(|t| *t > 0.0 && *t <= 1.0) {
            Some(t) => Some(Ok(t)),
            None => {
                let shown = scalar(v).unwrap_or_else(|| "a list or mapping".into());
                reader.problem(
                    &field("threshold"),
                    format!(
                        "{p}threshold {shown:?} is not a score in (0, 1]; write one such as 0.5, \
                         or use `sensitivity: low|medium|high`"
                    ),
                );
                Some(Err(()))
            }
        },
    };
    let threshold = match (sensitivity, threshold) {
        (Ok(Some(_)), Some(_)) => {
            reader.problem(
                &field("threshold"),
                format!("{p}set either `sensitivity:` or `threshold:`, not both; remove one"),
            );
            None
        }
        (_, Some(t)) => t.ok(),
        (Ok(s), None) => {
            let name = s.unwrap_or("medium");
            SENSITIVITY
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
        }
        (Err(()), None) => None,
    };

    let mut bounded =
        |key: &'static str, default: Duration, range: (Duration, Duration), shown: &str| {
            let d = match reader.duration(map, key, &here, &p) {
                Some(d) => d,
                None if map.get(key).is_some_and(|v| !v.is_null()) => return None,
                None => return Some(default),
            };
            if d < range.0 || d > range.1 {
                let given = map.get(key).and_then(scalar).unwrap_or_default();
                reader.problem(
                    &field(key),
                    format!("{p}{key} {given} is out of range; use {shown}"),
                );
                return None;
            }
            Some(d)
        };
    let step = bounded("step", Duration::from_secs(60), STEP_RANGE, "1s to 1h");
    let warmup = bounded(
        "warmup",
        Duration::from_secs(86_400),
        (Duration::ZERO, MAX_WARMUP),
        "0s to 14d",
    );
    Some(AnomalySpec {
        expr: expr?,
        model: model?,
        threshold: threshold?,
        step: step?,
        warmup: warmup?,
        alerting: true,
    })
}
