//! `/api/v1/alerts` and `/api/v1/rules`: the running rules in the exact JSON Prometheus
//! 2.42 writes (checked against Debian's Prometheus with the same rules), so Grafana's
//! alert list and scripts written for Prometheus read Vigil as they are.
//!
//! ```text
//!   alerts    {"alerts":[<alert>,…]}
//!   <alert>   {"labels":{…},"annotations":{…},"state":"firing"|"pending",
//!              "activeAt":<time>,"value":"8.55e+01"}
//!   rules     {"groups":[{"name":…,"file":…,"rules":[<rule>,…],"interval":30,"limit":0,
//!              "evaluationTime":<secs>,"lastEvaluation":<time>},…]}
//!   alerting  {"state":"firing"|"pending"|"inactive","name":…,"query":…,"duration":300,
//!              "keepFiringFor":0,"labels":{…},"annotations":{…},"alerts":[<alert>,…],
//!              "health":"ok"|"err"|"unknown","lastError":…,"evaluationTime":<secs>,
//!              "lastEvaluation":<time>,"type":"alerting"}       (lastError only when set)
//!   recording {"name":…,"query":…,"labels":{…},"health":…,"lastError":…,
//!              "evaluationTime":<secs>,"lastEvaluation":<time>,"type":"recording"}
//!              (labels only when the rule has some, lastError only when set)
//!   <time>    RFC 3339 in UTC, fraction without trailing zeros: 2026-11-21T05:50:00.12Z;
//!             "0001-01-01T00:00:00Z" (Go's zero time) when never evaluated
//!   <secs>    a Go JSON number: 0.000042148, 1e-7
//!   value     Go's FormatFloat(v, 'e', -1): 1e+00, 8.55e+01, 1.5e-07, NaN, +Inf
//! ```
//!
//! Strings are escaped as Go's encoding/json does, `<`, `>` and `&` included. Forecast
//! rules are alerting rules whose `query` is the forecast's expression. `?type=alert|record`
//! keeps one kind of rule (groups stay, possibly with no rules), as in 2.42. Without a
//! rules runtime both answer with empty lists.

use std::collections::BTreeMap;

use super::params::Params;
use super::{Api, ApiError, json};
use crate::rules::service::snapshot;
use crate::rules::status::{ActiveAlert, AlertState, GroupStatus, Health, RuleStatus};
use axum::extract::State;
use axum::response::Response;
use vigil_promql::go_float;
use vigil_rules::spec::RuleKind;

/// `/api/v1/alerts`: every pending and firing alert, rule by rule.
pub async fn alerts(State(api): State<Api>) -> Result<Response, ApiError> {
    let snapshot = snapshot(api.rules.as_ref())
        .await
        .map_err(ApiError::internal)?;
    let alerts: Vec<&ActiveAlert> = snapshot
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .flat_map(|r| &r.alerts)
        .collect();
    Ok(json::success(|out| {
        out.extend_from_slice(br#"{"alerts":"#);
        write_alerts(out, alerts);
        out.push(b'}');
    }))
}

/// Which rules `/api/v1/rules` lists (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kinds {
    All,
    Alerting,
    Recording,
}

/// `/api/v1/rules[?type=alert|record]`: every group and its rules.
pub async fn rules(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let kinds = match params.get("type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Kinds::All,
        Some("alert") => Kinds::Alerting,
        Some("record") => Kinds::Recording,
        Some(other) => {
            return Err(ApiError::bad_param(
                "type",
                format!("not supported value {other:?}; use type=alert or type=record"),
            ));
        }
    };
    let snapshot = snapshot(api.rules.as_ref())
        .await
        .map_err(ApiError::internal)?;
    Ok(json::success(|out| {
        write_groups(out, &snapshot.groups, kinds)
    }))
}

/// `{"groups":[…]}`.
fn write_groups(out: &mut Vec<u8>, groups: &[GroupStatus], kinds: Kinds) {
    out.extend_from_slice(br#"{"groups":["#);
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"name":"#);
        write_str(out, &group.name);
        out.extend_from_slice(br#","file":"#);
        write_str(out, &group.file);
        out.extend_from_slice(br#","rules":["#);
        let shown = group.rules.iter().filter(|r| {
            let alerting = !matches!(r.rule.kind, RuleKind::Record { .. });
            match kinds {
                Kinds::All => true,
                Kinds::Alerting => alerting,
                Kinds::Recording => !alerting,
            }
        });
        for (j, rule) in shown.enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_rule(out, rule);
        }
        out.extend_from_slice(br#"],"interval":"#);
        write_number(out, group.interval_seconds);
        out.extend_from_slice(br#","limit":0,"evaluationTime":"#);
        // Folded from +0.0: `sum()` of no floats is -0.0, which Go would write as "-0".
        write_number(
            out,
            group
                .rules
                .iter()
                .fold(0.0, |t, r| t + r.evaluation_seconds),
        );
        out.extend_from_slice(br#","lastEvaluation":"#);
        write_time(out, group.last_evaluation_ms);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// One alerting or recording rule.
fn write_rule(out: &mut Vec<u8>, status: &RuleStatus) {
    let rule = &status.rule;
    let query = match &rule.kind {
        RuleKind::Threshold { expr, .. } | RuleKind::Record { expr } => expr,
        RuleKind::Forecast(spec) => &spec.expr,
        RuleKind::Anomaly(spec) => &spec.expr,
    };
    let recording = matches!(rule.kind, RuleKind::Record { .. });
    if recording {
        out.extend_from_slice(br#"{"name":"#);
        write_str(out, &rule.name);
        out.extend_from_slice(br#","query":"#);
        write_str(out, query);
        if !rule.labels.is_empty() {
            out.extend_from_slice(br#","labels":"#);
            write_map(out, &rule.labels);
        }
    } else {
        let state = if status.alerts.iter().any(|a| a.state == AlertState::Firing) {
            "firing"
        } else if status.alerts.is_empty() {
            "inactive"
        } else {
            "pending"
        };
        out.extend_from_slice(br#"{"state":""#);
        out.extend_from_slice(state.as_bytes());
        out.extend_from_slice(br#"","name":"#);
        write_str(out, &rule.name);
        out.extend_from_slice(br#","query":"#);
        write_str(out, query);
        out.extend_from_slice(br#","duration":"#);
        write_number(out, rule.for_.as_secs_f64());
        out.extend_from_slice(br#","keepFiringFor":"#);
        write_number(out, rule.keep_firing_for.as_secs_f64());
        out.extend_from_slice(br#","labels":"#);
        write_map(out, &rule.labels);
        out.extend_from_slice(br#","annotations":"#);
        write_map(out, &rule.annotations);
        out.extend_from_slice(br#","alerts":"#);
        write_alerts(out, status.alerts.iter());
    }
    out.extend_from_slice(br#","health":""#);
    out.extend_from_slice(match status.health {
        Health::Unknown => b"unknown".as_slice(),
        Health::Ok => b"ok",
        Health::Err => b"err",
    });
    out.push(b'"');
    if let Some(error) = status.last_error.as_deref().filter(|e| !e.is_empty()) {
        out.extend_from_slice(br#","lastError":"#);
        write_str(out, error);
    }
    out.extend_from_slice(br#","evaluationTime":"#);
    write_number(out, status.evaluation_seconds);
    out.extend_from_slice(br#","lastEvaluation":"#);
    write_time(out, status.last_evaluation_ms);
    out.extend_from_slice(if recording {
        br#","type":"recording"}"#.as_slice()
    } else {
        br#","type":"alerting"}"#
    });
}

/// `[<alert>,…]`.
fn write_alerts<'a>(out: &mut Vec<u8>, alerts: impl IntoIterator<Item = &'a ActiveAlert>) {
    out.push(b'[');
    for (i, alert) in alerts.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"labels":"#);
        write_map(out, &alert.labels);
        out.extend_from_slice(br#","annotations":"#);
        write_map(out, &alert.annotations);
        out.extend_from_slice(match alert.state {
            AlertState::Pending => br#","state":"pending","activeAt":"#.as_slice(),
            AlertState::Firing => br#","state":"firing","activeAt":"#,
        });
        write_time(out, Some(alert.active_since_ms));
        out.extend_from_slice(br#","value":""#);
        write_exponent(out, alert.value);
        out.extend_from_slice(b"\"}");
    }
    out.push(b']');
}

/// A label or annotation map as a JSON object, in name order (as Go writes maps).
fn write_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    out.push(b'{');
    for (i, (name, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.push(b':');
        write_str(out, value);
    }
    out.push(b'}');
}

/// A JSON string as Go's encoding/json writes it: also `<`, `>`, `&`, U+2028 and U+2029
/// as `\uXXXX`, so a query like `x > 1` reads `x \u003e 1` exactly as from Prometheus.
fn write_str(out: &mut Vec<u8>, s: &str) {
    let mut plain = String::with_capacity(s.len());
    let mut escaped = Vec::with_capacity(s.len() + 2);
    escaped.push(b'"');
    for c in s.chars() {
        let code = match c {
            '<' => "\\u003c",
            '>' => "\\u003e",
            '&' => "\\u0026",
            '\u{2028}' => "\\u2028",
            '\u{2029}' => "\\u2029",
            _ => {
                plain.push(c);
                continue;
            }
        };
        flush_plain(&mut escaped, &mut plain);
        escaped.extend_from_slice(code.as_bytes());
    }
    flush_plain(&mut escaped, &mut plain);
    escaped.push(b'"');
    out.extend_from_slice(&escaped);
}

/// Appends `plain` escaped (without its quotes) and empties it.
fn flush_plain(out: &mut Vec<u8>, plain: &mut String) {
    if plain.is_empty() {
        return;
    }
    let mut quoted = Vec::with_capacity(plain.len() + 2);
    json::write_str(&mut quoted, plain);
    out.extend_from_slice(&quoted[1..quoted.len() - 1]);
    plain.clear();
}

/// A time as Go's `time.Time` writes itself in JSON (RFC 3339 with nanoseconds, trailing
/// zeros dropped), in UTC; Go's zero time for "never".
fn write_time(out: &mut Vec<u8>, ms: Option<i64>) {
    out.push(b'"');
    match ms {
        Some(ms) if (0..253_402_300_800_000).contains(&ms) => {
            let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
            let (year, month, day) = vigil_promql::time::civil_from_days(days);
            let secs = ms_of_day / 1000;
            let text = format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
            out.extend_from_slice(text.as_bytes());
            let fraction = format!("{:03}", ms_of_day % 1000);
            let fraction = fraction.trim_end_matches('0');
            if !fraction.is_empty() {
                out.push(b'.');
                out.extend_from_slice(fraction.as_bytes());
            }
        }
        _ => out.extend_from_slice(b"0001-01-01T00:00:00"),
    }
    out.extend_from_slice(b"Z\"");
}

/// A float64 as Go's encoding/json writes numbers: 'f' form from 1e-6 to below 1e21,
/// else 'e' form with a one-digit negative exponent kept short (`1e-7`, `1e+21`).
/// NaN and infinities cannot be JSON numbers (Go refuses them); they are written as 0.
fn write_number(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.push(b'0');
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut e = Vec::new();
        write_exponent(&mut e, v);
        let n = e.len();
        if n >= 4 && e[n - 4] == b'e' && e[n - 3] == b'-' && e[n - 2] == b'0' {
            e.remove(n - 2);
        }
        out.extend_from_slice(&e);
    } else {
        go_float::write_plain(out, v);
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest digits that read back as
/// `v`, as `d.ddde±XX` (`8.55e+01`, `1e+00`, `1.5e-07`), and `NaN`, `+Inf`, `-Inf`.
fn write_exponent(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        return out.extend_from_slice(b"NaN");
    }
    if v.is_infinite() {
        return out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    // serde_json's shortest digits break ties as Go does (see go_float): `85.5`, `1e21`,
    // `1.5e-7`, `0.001`.
    let text =
        serde_json::Number::from_f64(v.abs()).map_or_else(|| "0".to_owned(), |n| n.to_string());
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (text.as_str(), 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    let leading = all.iter().take_while(|&&d| d == b'0').count();
    let digits = &all[leading.min(all.len())..];
    let digits = match digits.iter().rposition(|&d| d != b'0') {
        Some(last) => &digits[..=last],
        None => b"0".as_slice(),
    };
    let exponent = if digits == b"0" {
        0
    } else {
        whole.len() as i64 - 1 + exp - leading as i64
    };
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'e');
    out.push(if exponent < 0 { b'-' } else { b'+' });
    go_float::push_digits(out, exponent.unsigned_abs(), 2);
}

#[cfg(test)]
mod tests;
