//! Forecast rules: fit a model to each series' lookback window and alert when the series
//! is predicted to cross the threshold within the horizon.
//!
//! History comes from the engine. A plain selector (`node_filesystem_avail_bytes{…}`) is
//! read raw through a range selector over the lookback; any other expression is evaluated
//! as a range query over `[now − lookback, now]` with [`HISTORY_POINTS`] steps at most
//! (never finer than one second).

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::{Outcome, observation};
use vigil_forecast::{ForecastRequest, forecast};
use vigil_promql::{Engine, Series, Value};
use vigil_rules::spec::{ForecastSpec, Rule};

/// Most points per series a computed expression's history is sampled at.
pub const HISTORY_POINTS: i64 = 1_000;

/// Evaluates a forecast rule at `now_ms`.
pub fn evaluate(
    engine: &Engine,
    rule: &Rule,
    spec: &ForecastSpec,
    now_ms: i64,
) -> Result<Outcome, String> {
    let lookback_ms = i64::try_from(spec.lookback.as_millis()).unwrap_or(i64::MAX);
    let horizon_ms = i64::try_from(spec.horizon.as_millis()).unwrap_or(i64::MAX);
    let history = history(engine, &spec.expr, now_ms, lookback_ms)?;
    let mut observed = Vec::new();
    let mut failures = Vec::new();
    for series in &history {
        let request = ForecastRequest {
            samples: &series.points,
            now_ms,
            horizon_ms,
            threshold: spec.threshold,
            direction: spec.direction,
            model: spec.model,
            season: spec.season,
        };
        let prediction = match forecast(&request) {
            Ok(p) => p,
            // A series too new to forecast (a new host's disk, a collector just
            // started) is not a failure of the rule: it has nothing to say yet.
            Err(vigil_forecast::ForecastError::NotEnoughData(_)) => continue,
            Err(e) => {
                failures.push(format!("{}: {e}", describe(&series.labels)));
                continue;
            }
        };
        let Some(eta) = prediction.eta_ms else {
            continue;
        };
        let horizon_end = now_ms.saturating_add(horizon_ms);
        let band = (
            eta,
            prediction.eta_lower_ms.unwrap_or(eta).min(eta),
            prediction.eta_upper_ms.unwrap_or(horizon_end).max(eta),
        );
        let mut vars = BTreeMap::new();
        vars.insert("eta".to_owned(), rfc3339(band.0));
        vars.insert("eta_lower".to_owned(), rfc3339(band.1));
        vars.insert("eta_upper".to_owned(), rfc3339(band.2));
        vars.insert("eta_in".to_owned(), humanized(band.0 - now_ms));
        vars.insert("model".to_owned(), model_name(prediction.model));
        observed.push(observation(
            rule,
            &series.labels,
            prediction.value_at_horizon,
            vars,
            Some(band),
        ));
    }
    let error = match failures.len() {
        0 => None,
        n => Some(format!(
            "{n} of {} series could not be forecast; first: {}",
            history.len(),
            failures[0]
        )),
    };
    if !failures.is_empty() && failures.len() == history.len() {
        return Err(error.unwrap_or_default());
    }
    Ok(Outcome::Alerts {
        observed,
        cleared: Vec::new(),
        error,
    })
}

/// Each series' samples in `(now − lookback, now]`.
fn history(
    engine: &Engine,
    expr: &str,
    now_ms: i64,
    lookback_ms: i64,
) -> Result<Vec<Series>, String> {
    let plain_selector = matches!(
        vigil_promql::parse::parse(expr, &vigil_promql::parse::ParseLimits::default()),
        Ok(promql_parser::parser::Expr::VectorSelector(ref v)) if v.offset.is_none() && v.at.is_none()
    );
    let value = if plain_selector {
        // As `60d`, not `5184000000ms`: the parser reads a count past 32 bits as zero.
        let range = crate::forecast::range_text(lookback_ms);
        engine.instant(&format!("{expr}[{range}]"), now_ms)
    } else {
        let step = (lookback_ms / HISTORY_POINTS).max(1_000);
        engine.range(expr, now_ms - lookback_ms, now_ms, step)
    };
    match value.map_err(|e| format!("forecast expr: {e}"))? {
        Value::Matrix(series) => Ok(series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect()),
        other => Err(format!(
            "forecast expr returned a {}; it must select series (an instant vector)",
            other.type_name()
        )),
    }
}

/// `name{a="1",b="2"}`: a series as messages name it.
pub(crate) fn describe(labels: &vigil_store::Labels) -> String {
    let inner: Vec<String> = labels
        .pairs()
        .iter()
        .filter(|(n, _)| n != vigil_store::METRIC_NAME)
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    format!("{}{{{}}}", labels.name(), inner.join(","))
}

/// Unix milliseconds as RFC 3339 in UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    let t = if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A duration for people: `3d 4h`, `25m`, `now`.
fn humanized(ms: i64) -> String {
    if ms <= 0 {
        return "now".to_owned();
    }
    let secs = ms / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn model_name(model: vigil_forecast::ModelChoice) -> String {
    match serde_json::to_value(model) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{model:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use vigil_forecast::{Direction, ModelChoice};
    use vigil_promql::EngineOptions;
    use vigil_rules::spec::RuleKind;
    use vigil_store::memory::MemoryStore;
    use vigil_store::{Labels, SeriesSamples, Store};

    #[test]
    fn a_series_too_new_to_forecast_is_skipped_not_a_failure() {
        const T0: i64 = 1_700_000_000_000;
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let labels = Labels::from_pairs(&[("__name__", "free_bytes"), ("host", "new")]);
        let id = store.resolve_series("new", &[labels], 10).unwrap()[0];
        let samples = vec![(T0, 5e9)];
        store.append(&[SeriesSamples { id, samples }]).unwrap();
        let engine = Engine::new(store, EngineOptions::default());
        let spec = ForecastSpec {
            expr: "free_bytes".into(),
            threshold: 0.0,
            direction: Direction::Below,
            lookback: Duration::from_secs(6 * 3600),
            horizon: Duration::from_secs(24 * 3600),
            model: ModelChoice::Auto,
            season: None,
        };
        let rule = Rule {
            name: "Filling".into(),
            kind: RuleKind::Forecast(spec.clone()),
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            labels: Default::default(),
            annotations: Default::default(),
            line: 1,
        };
        match evaluate(&engine, &rule, &spec, T0 + 10_000) {
            Ok(Outcome::Alerts {
                observed, error, ..
            }) => {
                assert!(observed.is_empty());
                assert_eq!(error, None);
            }
            Ok(_) => panic!("not alerts"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn times_for_people() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_500), "2023-11-14T22:13:20Z");
        assert_eq!(humanized(90_061_000), "1d 1h");
        assert_eq!(humanized(3_720_000), "1h 2m");
        assert_eq!(humanized(125_000), "2m");
        assert_eq!(humanized(-5), "now");
        assert_eq!(
            model_name(vigil_forecast::ModelChoice::HoltWinters),
            "holt_winters"
        );
    }
}
