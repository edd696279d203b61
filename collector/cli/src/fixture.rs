//! The collector's rule fixture as the CLI receives it: the groups of the Rules service's
//! test snapshot, in their wire form, from `testdata/rules_fixture.pb`. The collector's
//! tests write that file from the snapshot and fail when it is out of date, so the CLI's
//! rendering tests and the service's tests speak of the same rules without the CLI
//! depending on the collector.
//!
//! Also builders of query results (`series`, `vector`, `matrix`) for commands' tests.

use prost::Message;
use vigil_proto::v1;
use vigil_proto::v1::{Alert, ListRulesResponse, RuleGroup};

/// 2026-11-21T05:50:00Z in milliseconds: "now" in the fixture.
pub const T: i64 = 1_795_240_200_000;

/// The fixture's groups, as `vigil rules` receives them.
pub fn groups() -> Vec<RuleGroup> {
    ListRulesResponse::decode(&include_bytes!("../testdata/rules_fixture.pb")[..])
        .expect("testdata/rules_fixture.pb is a ListRulesResponse")
        .groups
}

/// The fixture's alerts in rule order, as the groups carry them.
pub fn alerts() -> Vec<Alert> {
    groups()
        .into_iter()
        .flat_map(|g| g.rules)
        .flat_map(|r| r.alerts)
        .collect()
}

/// A series of a query result: its labels (sorted by name, as the collector sends them)
/// and its `(unix ms, value)` samples.
pub fn series(labels: &[(&str, &str)], points: &[(i64, f64)]) -> v1::SeriesSamples {
    let mut labels: Vec<v1::Label> = labels
        .iter()
        .map(|(name, value)| v1::Label {
            name: (*name).into(),
            value: (*value).into(),
        })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    v1::SeriesSamples {
        labels,
        timestamps_ms: points.iter().map(|p| p.0).collect(),
        values: points.iter().map(|p| p.1).collect(),
    }
}

/// An instant query's answer: a vector of `series`.
pub fn vector(series: Vec<v1::SeriesSamples>) -> v1::QueryResult {
    let mut result = v1::QueryResult {
        series,
        ..v1::QueryResult::default()
    };
    result.set_result_type(v1::ResultType::Vector);
    result
}

/// A range query's answer: a matrix of `series`.
pub fn matrix(series: Vec<v1::SeriesSamples>) -> v1::QueryResult {
    let mut result = v1::QueryResult {
        series,
        ..v1::QueryResult::default()
    };
    result.set_result_type(v1::ResultType::Matrix);
    result
}
