//! Vigil's `forecast:` block of an alerting rule:
//!
//! ```yaml
//! forecast:
//!   expr: node_filesystem_avail_bytes{mountpoint="/"}
//!   threshold: 0
//!   direction: below          # above (default) | below
//!   lookback: 7d
//!   horizon: 2d
//!   model: auto               # linear | theil_sen | holt | holt_winters | auto (default)
//!   season: daily             # daily | weekly; needed by holt_winters
//! ```

use serde_yaml_ng::Value;

use super::lines::Step;
use super::parse::{Reader, RuleAt, scalar};
use crate::spec::ForecastSpec;
use vigil_forecast::{Direction, ModelChoice, Season};

const FIELDS: [&str; 7] = [
    "expr",
    "threshold",
    "direction",
    "lookback",
    "horizon",
    "model",
    "season",
];

/// Reads the block, recording its problems in `reader`.
pub(super) fn read(
    reader: &mut Reader<'_>,
    block: &Value,
    at: &RuleAt<'_>,
) -> Option<ForecastSpec> {
    let here = at.field(&[Step::Key("forecast")]);
    let p = format!("{}forecast: ", at.prefix);
    let Some(map) = block.as_mapping() else {
        reader.problem(
            &here,
            format!("{p}must be a mapping with expr, threshold, lookback and horizon"),
        );
        return None;
    };
    reader.unknown_fields(map, &FIELDS, &here, &p, "`forecast:`");
    let inner = RuleAt {
        path: here.clone(),
        prefix: p.clone(),
    };
    let expr = reader.expr(map, "expr", &inner);
    let field = |key: &'static str| inner.field(&[Step::Key(key)]);

    let threshold = match map.get("threshold").filter(|v| !v.is_null()) {
        None => {
            reader.problem(
                &here,
                format!("{p}`threshold:` must be set (the level not to cross)"),
            );
            None
        }
        Some(v) => match v.as_f64().filter(|t| t.is_finite()) {
            Some(t) => Some(t),
            None => {
                let shown = scalar(v).unwrap_or_else(|| "a list or mapping".into());
                reader.problem(
                    &field("threshold"),
                    format!("{p}threshold {shown:?} is not a number; write one such as 0.9 or 1e9"),
                );
                None
            }
        },
    };

    let direction = match choice(
        reader,
        map,
        "direction",
        &field("direction"),
        &p,
        &["above", "below"],
    ) {
        Ok(Some("below")) => Some(Direction::Below),
        Ok(_) => Some(Direction::Above),
        Err(()) => None,
    };
    let models = ["linear", "theil_sen", "holt", "holt_winters", "auto"];
    let model = match choice(reader, map, "model", &field("model"), &p, &models) {
        Ok(Some("linear")) => Some(ModelChoice::Linear),
        Ok(Some("theil_sen")) => Some(ModelChoice::TheilSen),
        Ok(Some("holt")) => Some(ModelChoice::Holt),
        Ok(Some("holt_winters")) => Some(ModelChoice::HoltWinters),
        Ok(_) => Some(ModelChoice::Auto),
        Err(()) => None,
    };
    let season = match choice(
        reader,
        map,
        "season",
        &field("season"),
        &p,
        &["daily", "weekly"],
    ) {
        Ok(Some("daily")) => Ok(Some(Season::Daily)),
        Ok(Some(_)) => Ok(Some(Season::Weekly)),
        Ok(None) => Ok(None),
        Err(()) => Err(()),
    };
    match (model, season) {
        (Some(ModelChoice::HoltWinters), Ok(None)) => reader.problem(
            &field("model"),
            format!("{p}model holt_winters needs `season: daily` or `season: weekly`"),
        ),
        (
            Some(m @ (ModelChoice::Linear | ModelChoice::TheilSen | ModelChoice::Holt)),
            Ok(Some(_)),
        ) => reader.problem(
            &field("season"),
            format!("{p}`season:` only applies to holt_winters and auto, not to {m:?}; remove it"),
        ),
        _ => {}
    }

    let mut positive = |key: &'static str| match reader.duration(map, key, &here, &p) {
        Some(d) if !d.is_zero() => Some(d),
        Some(_) => {
            reader.problem(
                &field(key),
                format!("{p}{key} must be longer than 0, such as 1d"),
            );
            None
        }
        None => {
            if !map.contains_key(key) {
                reader.problem(
                    &here,
                    format!("{p}`{key}:` must be set (a duration such as 1d)"),
                );
            }
            None
        }
    };
    let lookback = positive("lookback");
    let horizon = positive("horizon");
    Some(ForecastSpec {
        expr: expr?,
        threshold: threshold?,
        direction: direction?,
        lookback: lookback?,
        horizon: horizon?,
        model: model?,
        season: season.ok()?,
    })
}

/// A field that is one of `allowed`: `Ok(None)` when absent, `Err` (recorded) when not one
/// of them.
pub(super) fn choice<'a>(
    reader: &mut Reader<'_>,
    map: &serde_yaml_ng::Mapping,
    key: &str,
    path: &[Step<'_>],
    prefix: &str,
    allowed: &[&'a str],
) -> Result<Option<&'a str>, ()> {
    let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let text = scalar(value).unwrap_or_default();
    match allowed.iter().find(|a| **a == text) {
        Some(a) => Ok(Some(a)),
        None => {
            reader.problem(
                path,
                format!(
                    "{prefix}unknown {key} {text:?}; use one of {}",
                    allowed.join(", ")
                ),
            );
            Err(())
        }
    }
}
