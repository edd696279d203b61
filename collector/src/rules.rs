//! Rules: alerting rules (thresholds with hysteresis, forecasts, host-down) evaluated in
//! the collector on the PromQL engine.
//!
//! # Layout
//! - [`spec`]: what a rule file says, as parsed and validated types.
//! - [`file`]: reading rule files (Prometheus's format plus Vigil's `clear:` and
//!   `forecast:`), with file and line in every error; `vigil rules check`.
//! - [`template`]: `{{ $labels.x }}`, `{{ $value }}` and the `humanize*` helpers.
//! - [`lifecycle`]: inactive → pending → firing → resolved per label set, with `for`,
//!   `keep_firing_for` and `clear:` (a pure state machine; time is passed in).
//! - [`status`]: what the running rules look like from outside (`vigil rules`,
//!   `vigil alerts`, `/api/v1/rules`, `/api/v1/alerts`), and reloading them.
//! - [`service`]: the `vigil.v1.Rules` gRPC service over [`status::RulesView`].

pub mod file;
pub mod lifecycle;
pub mod service;
pub mod spec;
pub mod status;
pub mod template;
