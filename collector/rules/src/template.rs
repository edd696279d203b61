//! Alert templates: `{{ $labels.x }}`, `{{ $value }}`, `{{ $eta }}` and the `humanize*`
//! helpers, as Prometheus's Go templates write them.
//!
//! The subset alert rules use, with Go's and Prometheus's output formats:
//! - variables `$labels` (`$labels.host`; `{{ $labels }}` prints `map[a:b c:d]`), `$value`,
//!   `$externalLabels` (empty in Vigil), `$externalURL` (empty), the same through the dot
//!   (`.Labels.host`, `.Value`), and Vigil's forecast `$eta`, `$eta_lower`, `$eta_upper`,
//!   `$model` and anomaly `$score`, `$expected`, `$lower`, `$upper`, `$model`
//!   (from [`TemplateData::vars`]; strings, so `{{ $eta | humanizeTimestamp }}` works when
//!   the rule engine puts unix seconds there). A missing label or variable prints nothing.
//! - pipes `{{ $value | humanize }}`, parentheses, `{{ if … }}{{ else }}{{ end }}`,
//!   trimming `{{-`/`-}}`, comments `{{/* … */}}`.
//! - functions `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`,
//!   `humanizeTimestamp`, `printf` (Go's verbs), `print`, `println`, `toUpper`, `toLower`,
//!   `title`, `reReplaceAll`, `match`, `stripPort`, `index`, `len`, `eq`/`ne`/`lt`/`le`/
//!   `gt`/`ge`, `and`/`or`/`not`.
//!
//! Not supported in rule templates (refused by [`check`], so a rule file using them does
//! not load): `range`, `with`, variable assignment, and Prometheus's functions that query the database or
//! link to its web UI (`query`, `first`, `value`, `graphLink`, …).
//!
//! Notification templates (email subjects and bodies) use the same syntax over
//! Alertmanager's notification data, with `range`: see [`NotificationData`],
//! [`check_notification`] and [`expand_notification`].
//!
//! # Layout
//! - `parse`: template text to nodes; `exec`: checking and running them; `value`: what
//!   they compute with; `functions`: what they can call.
//! - `notification`: running templates over a notification (`.Alerts`, `range`).
//! - `number`: Go's number formatting; `go_fmt`: Go's `printf`; `humanize`: the `humanize*` helpers.

mod exec;
mod functions;
mod go_fmt;
mod humanize;
mod notification;
mod number;
mod parse;
#[cfg(test)]
mod tests;
mod value;

use std::collections::BTreeMap;

pub use notification::{AlertData, NotificationData};

/// What a template can refer to.
#[derive(Debug, Clone, Default)]
pub struct TemplateData<'a> {
    /// `$labels`.
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// `$value`.
    pub value: f64,
    /// Further variables by name without `$` (`eta`, `eta_lower`, `eta_upper`, `model`).
    pub vars: BTreeMap<String, String>,
}

/// Checks that `template` parses and uses only known variables and functions (used when
/// loading rule files); the error names what is wrong.
pub fn check(template: &str) -> Result<(), String> {
    exec::check(&parse::parse(template)?)
}

/// Expands `template`.
pub fn expand(template: &str, data: &TemplateData<'_>) -> Result<String, String> {
    let nodes = parse::parse(template)?;
    exec::check(&nodes)?;
    let mut out = String::new();
    exec::run(&nodes, data, &mut out)?;
    Ok(out)
}

/// Checks a notification template's syntax, functions and variables; the error names
/// what is wrong. Fields are checked when it runs.
pub fn check_notification(template: &str) -> Result<(), String> {
    notification::check(template)
}

/// Expands a notification template; with `html`, what actions write is HTML-escaped
/// (unless piped to `safeHtml`).
pub fn expand_notification(
    template: &str,
    data: &NotificationData,
    html: bool,
) -> Result<String, String> {
    notification::expand(template, data, html)
}
