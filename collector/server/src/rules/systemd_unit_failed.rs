//! The built-in `SystemdUnitFailed` rule: fires for every systemd unit an agent reports in
//! the `failed` state (`node_systemd_unit_state{state="failed"} == 1`) for
//! `rules.systemd_unit_failed_for`, and resolves when the unit is no longer failed (the
//! agent then sends the series as 0 for a while) or the series ends.
//!
//! It runs as a group of its own, shown as file `(built-in)` like `HostDown`, evaluated on
//! the query engine like any rule from a file; `rules.systemd_unit_failed_for = "0s"`
//! turns it off (for instance to ship an own version in a rule file).

use std::collections::BTreeMap;
use std::time::Duration;

use vigil_rules::spec::{Rule, RuleKind};

/// The built-in group's name.
pub const GROUP: &str = "vigil-systemd";
/// What the built-in group shows as its file (the same as `HostDown`'s).
pub const FILE: &str = super::host_down::FILE;
/// The alert's name.
pub const ALERT: &str = "SystemdUnitFailed";
/// The condition.
pub const EXPR: &str = "node_systemd_unit_state{state=\"failed\"} == 1";

/// The rule, pending for `for_` before it fires.
pub fn rule(for_: Duration) -> Rule {
    Rule {
        name: ALERT.to_owned(),
        kind: RuleKind::Threshold {
            expr: EXPR.to_owned(),
            clear: None,
        },
        for_,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "systemd unit {{ $labels.name }} failed on {{ $labels.host }}".to_owned(),
            ),
            (
                "description".to_owned(),
                "The unit {{ $labels.name }} on {{ $labels.host }} is in the failed state; \
                 see `systemctl status {{ $labels.name }}` and `journalctl -u {{ $labels.name }}` \
                 there."
                    .to_owned(),
            ),
        ]),
        line: 0,
    }
}

#[cfg(test)]
mod tests;
