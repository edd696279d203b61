//! The built-in `HostClockSkew` rule: fires for a host whose clock is more than
//! `rules.host_clock_skew_over` (1 minute by default) ahead of or behind the collector's
//! for 5 minutes, from `vigil_host_clock_skew_seconds` (see [`crate::up::CLOCK_SKEW`]).
//! Samples more than `limits.max_future` ahead or `limits.max_past` behind are refused, so
//! a skewed clock loses data before it makes wrong graphs: this warns first.
//!
//! It runs as a group of its own, shown as file `(built-in)` like `HostDown`; `"0s"` turns
//! it off.

use std::collections::BTreeMap;
use std::time::Duration;

use vigil_rules::spec::{Rule, RuleKind};

/// The built-in group's name.
pub const GROUP: &str = "vigil-clock";
/// What the built-in group shows as its file (the same as `HostDown`'s).
pub const FILE: &str = super::host_down::FILE;
/// The alert's name.
pub const ALERT: &str = "HostClockSkew";
/// How long the skew must last.
pub const FOR: Duration = Duration::from_secs(5 * 60);

/// The rule, for skews over `over`.
pub fn rule(over: Duration) -> Rule {
    Rule {
        name: ALERT.to_owned(),
        kind: RuleKind::Threshold {
            expr: expr(over),
            clear: None,
        },
        for_: FOR,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "the clock of {{ $labels.host }} is {{ $value }} s off".to_owned(),
            ),
            (
                "description".to_owned(),
                "The clock of {{ $labels.host }} differs from the collector's by {{ $value }} s \
                 (positive: ahead). Its samples are refused once they are further ahead than \
                 limits.max_future or behind than limits.max_past; check its NTP \
                 (`timedatectl timesync-status`, `chronyc tracking`)."
                    .to_owned(),
            ),
        ]),
        line: 0,
    }
}

/// `abs(vigil_host_clock_skew_seconds) > over`, keeping the signed value.
fn expr(over: Duration) -> String {
    let s = over.as_secs_f64();
    format!(
        "{name} > {s} or {name} < -{s}",
        name = crate::up::CLOCK_SKEW
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_fires_either_way_past_the_limit() {
        let r = rule(Duration::from_secs(60));
        let RuleKind::Threshold { expr, .. } = &r.kind else {
            panic!("{r:?}")
        };
        assert_eq!(
            expr,
            "vigil_host_clock_skew_seconds > 60 or vigil_host_clock_skew_seconds < -60"
        );
        promql_parser::parser::parse(expr).expect("the expression parses");
    }
}
