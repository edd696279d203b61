//! The collector's rule fixture as the CLI receives it: the groups of the Rules service's
//! test snapshot, in their wire form, from `testdata/rules_fixture.pb`. The collector's
//! tests write that file from the snapshot and fail when it is out of date, so the CLI's
//! rendering tests and the service's tests speak of the same rules without the CLI
//! depending on the collector.

use prost::Message;
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
