//! The built-in `CollectorDiskFilling` rule: Vigil's own capacity forecast (`auto`) of the
//! free space on the collector's data directory, against what the storage guard keeps
//! free (see [`crate::storage_guard`]). It fires when the forecast says the guard will
//! trip within `rules.collector_disk_filling_within` (24 h by default), hours before
//! ingest is refused, and resolves when the forecast no longer does.
//!
//! The series are the collector's own (`host="vigil-collector"`, written every 10 s by
//! housekeeping): free bytes minus the bytes the guard keeps, forecast to fall to 0 over
//! the last [`LOOKBACK`]. It runs as a group of its own, shown as file `(built-in)` like
//! `HostDown`; `"0s"` turns it off.

use std::collections::BTreeMap;
use std::time::Duration;

use vigil_forecast::{Direction, ModelChoice};
use vigil_rules::spec::{ForecastSpec, Rule, RuleKind};

/// The built-in group's name.
pub const GROUP: &str = "vigil-collector-disk";
/// What the built-in group shows as its file (the same as `HostDown`'s).
pub const FILE: &str = super::host_down::FILE;
/// The alert's name.
pub const ALERT: &str = "CollectorDiskFilling";
/// What is forecast: the room left before the guard trips.
pub const EXPR: &str = "vigil_collector_storage_free_bytes{host=\"vigil-collector\"} \
     - vigil_collector_storage_min_free_bytes{host=\"vigil-collector\"}";
/// History the forecast is fitted on.
pub const LOOKBACK: Duration = Duration::from_secs(6 * 3600);
/// How often it is evaluated.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// How long the forecast must hold before the alert fires.
pub const FOR: Duration = Duration::from_secs(10 * 60);

/// The rule, firing when the guard is forecast to trip within `within`.
pub fn rule(within: Duration) -> Rule {
    Rule {
        name: ALERT.to_owned(),
        kind: RuleKind::Forecast(ForecastSpec {
            expr: EXPR.to_owned(),
            threshold: 0.0,
            direction: Direction::Below,
            lookback: LOOKBACK,
            horizon: within,
            model: ModelChoice::Auto,
            season: None,
        }),
        for_: FOR,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "the collector's data directory is forecast to fill in {{ $eta_in }}".to_owned(),
            ),
            (
                "description".to_owned(),
                "At the current rate the filesystem of the collector's data directory reaches \
                 the free space the storage guard keeps (storage.min_free_bytes) in {{ $eta_in }}, \
                 and from then ingest is refused until there is room. Free space there, \
                 shorten storage.retention, or move the data directory."
                    .to_owned(),
            ),
        ]),
        line: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_forecasts_the_room_left_to_zero_within_the_horizon() {
        let r = rule(Duration::from_secs(12 * 3600));
        let RuleKind::Forecast(spec) = &r.kind else {
            panic!("{r:?}")
        };
        assert_eq!(spec.direction, Direction::Below);
        assert_eq!(spec.threshold, 0.0);
        assert_eq!(spec.horizon, Duration::from_secs(12 * 3600));
        promql_parser::parser::parse(&spec.expr).expect("the expression parses");
        assert!(r.annotations["summary"].contains("$eta_in"));
    }
}
