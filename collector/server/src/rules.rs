//! Rules: alerting rules (thresholds with hysteresis, forecasts, anomalies, host-down) evaluated in
//! the collector on the PromQL engine.
//!
//! # Layout
//! - Rule files, their parsed form and templates come from [`vigil_rules`].
//! - [`lifecycle`]: inactive → pending → firing → resolved per label set, with `for`,
//!   `keep_firing_for` and `clear:` (a pure state machine; time is passed in).
//! - [`evaluate`]: one evaluation of one rule on the engine: alert observations or series
//!   to record (its child `evaluate::forecast` for `forecast:` rules, and
//!   [`evaluate::anomaly`] for `anomaly:` rules, whose detectors live between evaluations
//!   and across restarts); [`host_down`] for the built-in one; [`systemd_unit_failed`] the
//!   built-in `SystemdUnitFailed` rule; [`host_anomaly`] the host anomaly rate, its alert
//!   and the default anomaly rules.
//! - [`output`]: the series rules write (`ALERTS`, `ALERTS_FOR_STATE`, recorded series).
//! - `group`: a running group: its rules' state, one evaluation, its status.
//! - [`runtime`]: loads files, runs each group on a task, restores saved alert state,
//!   reloads (also on SIGHUP); implements [`status::RulesView`].
//! - [`status`]: what the running rules look like from outside (`vigil rules`,
//!   `vigil alerts`, `/api/v1/rules`, `/api/v1/alerts`), and reloading them.
//! - [`service`]: the `vigil.v1.Rules` gRPC service over [`status::RulesView`], and the
//!   wire form of groups, rules and alerts.

pub mod collector_disk_filling;
pub mod evaluate;
mod group;
mod handover;
pub mod host_anomaly;
pub mod host_clock_skew;
pub mod host_down;
pub mod lifecycle;
pub mod output;
pub mod runtime;
pub mod service;
pub mod status;
pub mod systemd_unit_failed;
