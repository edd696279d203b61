//! # vigil-rules
//!
//! Rule files as people write them, checked without a collector: the Prometheus rule-file
//! format plus Vigil's `clear:` and `forecast:`, the Go templates of their annotations and
//! of notifications, and the Alertmanager matchers of routes and silences. The collector
//! runs what these describe; `vigil rules check` and `vigil silence` use them offline.
//!
//! # Layout
//! - [`file`](mod@file): reading rule files, with file and line in every error; the report of
//!   `vigil rules check`.
//! - [`spec`]: what a rule file says, as parsed and validated types.
//! - [`template`]: `{{ $labels.x }}`, `{{ $value }}`, the `humanize*` helpers, and the
//!   notification templates (`.Alerts`, `.CommonLabels`, …).
//! - [`matchers`]: `name="value"`, `name=~"regex"`, … as routes, inhibitions and silences
//!   write them.

pub mod file;
pub mod matchers;
pub mod spec;
pub mod template;
