//! What the collector accepts from an agent, and the checks that enforce it.
//!
//! Every check returns a [`Violation`] that names the offending input and says what kind
//! of refusal it is (the gRPC code for each kind is chosen once, in [`crate::error`]), so a
//! misbehaving agent gets a clear answer and the rest of its data (and every other
//! agent's) is unaffected.

use serde::Deserialize;
use std::time::Duration;

/// Limits on what one agent may send; `[limits]` in the collector config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted, in bytes after decompression (stops zip bombs).
    pub max_message_bytes: usize,
    /// Most series one host may have; new series past it are refused.
    pub max_series_per_host: u64,
    /// Most series without a `host` label (imports and remote write in, from Prometheus
    /// or vmagent during a migration): they share one account, `(import)`, so they get a
    /// limit of their own.
    pub max_unhosted_series: u64,
    /// Most labels on one series, `__name__` and `host` included.
    pub max_labels_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_bytes: usize,
    /// Longest label value, in bytes.
    pub max_label_value_bytes: usize,
    /// How far ahead of the collector's clock a sample may be stamped.
    #[serde(with = "vigil_config::duration")]
    pub max_future: Duration,
    /// How far behind the collector's clock a live sample may be stamped: long enough for
    /// an agent's spool to catch up after a collector outage.
    #[serde(with = "vigil_config::duration")]
    pub max_past: Duration,
    /// How far behind the collector's clock an imported sample may be stamped; "0s": no
    /// bound of its own (`storage.retention`, when set, still bounds imports).
    #[serde(with = "vigil_config::duration")]
    pub max_import_past: Duration,
    /// Most hosts the collector keeps (agents and imported `host` labels); a new host past
    /// it is refused, known hosts go on.
    pub max_hosts: u64,
    /// Most series ids one agent stream may define; a stream defining ids without end is
    /// refused, not kept in memory.
    pub max_series_ids_per_stream: usize,
    /// Most series one query may touch.
    pub max_query_series: u64,
    /// Most samples one query may return.
    pub max_query_samples: u64,
    /// Longest PromQL expression or selector accepted, in bytes; longer ones are refused
    /// before parsing (HTTP 400 `bad_data`, gRPC `INVALID_ARGUMENT`).
    pub max_query_bytes: usize,
    /// Deepest PromQL expression accepted: each parenthesis, function call, and operator
    /// chained in one expression adds a level. At most
    /// [`vigil_promql::parse::MAX_QUERY_DEPTH`].
    pub max_query_depth: usize,
    /// Memory the collector may hold (see `memory_budget.rs`). Unset: 60 % of the
    /// machine's memory, or of its cgroup's limit where one is set; 0: no budget.
    pub max_memory_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 << 20,
            max_series_per_host: 20_000,
            max_unhosted_series: 1_000_000,
            max_labels_per_series: 32,
            max_label_name_bytes: 128,
            max_label_value_bytes: 2048,
            max_future: Duration::from_secs(600),
            max_past: Duration::from_secs(7 * 86_400),
            max_import_past: Duration::ZERO,
            max_hosts: 10_000,
            max_series_ids_per_stream: 100_000,
            max_query_series: 100_000,
            max_query_samples: 20_000_000,
            max_query_bytes: vigil_promql::parse::DEFAULT_MAX_QUERY_BYTES,
            max_query_depth: vigil_promql::parse::DEFAULT_MAX_QUERY_DEPTH,
            max_memory_bytes: None,
        }
    }
}

/// What kind of refusal a [`Violation`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The input is malformed or breaks a rule (a bad name, too many labels).
    Invalid,
    /// A value is outside the range accepted (a timestamp too far ahead).
    OutOfRange,
    /// The sender did not prove who it is (no certificate, no valid token).
    Unauthenticated,
    /// The sender is known but may not do this (write another host's series).
    Forbidden,
    /// A quota is used up (series per host).
    Exhausted,
}

/// One refused input: what kind of refusal and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind of refusal.
    pub kind: Refusal,
    /// Names the offending input and the rule.
    pub message: String,
    /// Short stable name for counting (`reason` label).
    pub reason: &'static str,
}

impl Violation {
    /// An [`Refusal::Invalid`] violation.
    pub fn invalid(reason: &'static str, message: String) -> Self {
        Self {
            kind: Refusal::Invalid,
            message,
            reason,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn check_metric_name(name: &str, limits: &Limits) -> Result<(), Violation> {
    let valid = !name.is_empty()
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic() || b == b'_' || b == b':' || (i > 0 && b.is_ascii_digit())
        });
    if !valid {
        return Err(Violation::invalid(
            "bad_metric_name",
            format!(
                "metric name {:?} must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                shorten(name)
            ),
        ));
    }
    if name.len() > limits.max_label_value_bytes {
        return Err(Violation::invalid(
            "label_too_long",
            format!(
                "metric name {:?} is longer than {} bytes",
                shorten(name),
                limits.max_label_value_bytes
            ),
        ));
    }
    Ok(())
}

/// Label names: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved), not `host`
/// unless `allow_host` (the collector sets `host` itself); values: UTF-8 within the limit.
pub fn check_label(
    series: &str,
    name: &str,
    value: &str,
    limits: &Limits,
) -> Result<(), Violation> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit()));
    if !valid {
        return Err(Violation::invalid(
            "bad_label_name",
            format!(
                "label name {:?} of series {:?} must match [a-zA-Z_][a-zA-Z0-9_]*",
                shorten(name),
                shorten(series)
            ),
        ));
    }
    if name.starts_with("__") {
        return Err(Violation::invalid(
            "reserved_label",
            format!(
                "label name {name:?} of series {:?} is reserved (starts with __)",
                shorten(series)
            ),
        ));
    }
    if name == "host" {
        return Err(Violation::invalid(
            "reserved_label",
            format!(
                "series {:?} sets label \"host\", which the collector sets from the agent's identity",
                shorten(series)
            ),
        ));
    }
    if name.len() > limits.max_label_name_bytes {
        return Err(Violation::invalid(
            "label_too_long",
            format!(
                "label name {:?}… of series {:?} is {} bytes, over the limit of {}",
                shorten(name),
                shorten(series),
                name.len(),
                limits.max_label_name_bytes
            ),
        ));
    }
    if value.len() > limits.max_label_value_bytes {
        return Err(Violation::invalid(
            "label_too_long",
            format!(
                "value of label {name:?} of series {:?} is {} bytes, over the limit of {}",
                shorten(series),
                value.len(),
                limits.max_label_value_bytes
            ),
        ));
    }
    Ok(())
}

/// A live sample's timestamp: not further ahead of `now_ms` than `limits.max_future`, nor
/// further behind than `limits.max_past`.
pub fn check_timestamp(ts_ms: i64, now_ms: i64, limits: &Limits) -> Result<(), Violation> {
    check_future(ts_ms, now_ms, limits)?;
    check_past(
        ts_ms,
        now_ms,
        limits.max_past,
        "limits.max_past",
        "an agent's samples this old are refused; raise limits.max_past, or load them with vigil import",
    )
}

/// An imported sample's timestamp: not further ahead of `now_ms` than `limits.max_future`,
/// nor further behind than `limits.max_import_past` or `retention` (each when not zero).
pub fn check_import_timestamp(
    ts_ms: i64,
    now_ms: i64,
    limits: &Limits,
    retention: Duration,
) -> Result<(), Violation> {
    check_future(ts_ms, now_ms, limits)?;
    if !limits.max_import_past.is_zero() {
        check_past(
            ts_ms,
            now_ms,
            limits.max_import_past,
            "limits.max_import_past",
            "leave older samples out of the file, or raise limits.max_import_past",
        )?;
    }
    if !retention.is_zero() {
        check_past(
            ts_ms,
            now_ms,
            retention,
            "storage.retention",
            "the collector would delete it at once; leave older samples out of the file, or raise storage.retention",
        )?;
    }
    Ok(())
}

/// `d` as a config value would write it, in its largest whole unit: "7d", "90m", "100ms".
pub fn config_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Milliseconds in `d`, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn check_future(ts_ms: i64, now_ms: i64, limits: &Limits) -> Result<(), Violation> {
    let max = now_ms.saturating_add(millis(limits.max_future));
    if ts_ms > max {
        return Err(Violation {
            kind: Refusal::OutOfRange,
            reason: "future_timestamp",
            message: format!(
                "timestamp {ts_ms} ms is {} s ahead of the collector's clock (limit {} s); check the agent host's clock",
                ts_ms.saturating_sub(now_ms) / 1000,
                limits.max_future.as_secs()
            ),
        });
    }
    Ok(())
}

/// Refuses `ts_ms` when it is more than `bound` before `now_ms`, naming `key`.
fn check_past(
    ts_ms: i64,
    now_ms: i64,
    bound: Duration,
    key: &str,
    advice: &str,
) -> Result<(), Violation> {
    let min = now_ms.saturating_sub(millis(bound));
    if ts_ms < min {
        let age = Duration::from_secs(now_ms.saturating_sub(ts_ms).unsigned_abs() / 1000);
        return Err(Violation {
            kind: Refusal::OutOfRange,
            reason: "old_timestamp",
            message: format!(
                "timestamp {ts_ms} ms is {} behind the collector's clock, older than {key} ({}); {advice}",
                humantime::format_duration(age),
                config_duration(bound)
            ),
        });
    }
    Ok(())
}

pub use vigil_store::shorten;

impl Limits {
    /// Bounds on PromQL text: `max_query_bytes` and `max_query_depth`.
    pub fn parse_limits(&self) -> vigil_promql::ParseLimits {
        vigil_promql::ParseLimits {
            max_bytes: self.max_query_bytes,
            max_depth: self.max_query_depth,
        }
    }

    /// Query engine options bounded by these limits.
    pub fn engine_options(&self) -> vigil_promql::EngineOptions {
        vigil_promql::EngineOptions {
            max_samples: usize::try_from(self.max_query_samples).unwrap_or(usize::MAX),
            max_series: usize::try_from(self.max_query_series).unwrap_or(usize::MAX),
            parse: self.parse_limits(),
            ..vigil_promql::EngineOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn metric_names() {
        let l = Limits::default();
        for ok in ["node_load1", "a:b_c", "_x", "ns:metric"] {
            assert!(check_metric_name(ok, &l).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "a-b", "a b", "é"] {
            let v = check_metric_name(bad, &l).unwrap_err();
            assert_eq!(v.code(), Code::InvalidArgument);
            assert!(v.message.contains("must match"), "{}", v.message);
        }
    }

    #[test]
    fn label_rules_name_the_input() {
        let l = Limits {
            max_label_value_bytes: 8,
            ..Limits::default()
        };
        assert!(check_label("m", "cpu", "0", &l).is_ok());
        assert!(
            check_label("m", "1cpu", "0", &l)
                .unwrap_err()
                .message
                .contains("\"1cpu\"")
        );
        assert_eq!(
            check_label("m", "__x", "0", &l).unwrap_err().reason,
            "reserved_label"
        );
        assert_eq!(
            check_label("m", "host", "h", &l).unwrap_err().reason,
            "reserved_label"
        );
        let long = check_label("m", "v", "123456789", &l).unwrap_err();
        assert!(
            long.message.contains("9 bytes, over the limit of 8"),
            "{}",
            long.message
        );
    }

    #[test]
    fn old_timestamps_name_their_bound() {
        const NOW: i64 = 1_800_000_000_000;
        const DAY: i64 = 86_400_000;
        let l = Limits::default();
        assert!(check_timestamp(NOW - 7 * DAY, NOW, &l).is_ok());
        let v = check_timestamp(NOW - 7 * DAY - 1, NOW, &l).unwrap_err();
        assert_eq!((v.code(), v.reason), (Code::OutOfRange, "old_timestamp"));
        assert!(v.message.contains("limits.max_past (7d)"), "{}", v.message);
        // Extreme values neither overflow nor pass.
        assert!(check_timestamp(i64::MIN, NOW, &l).is_err());
        assert!(check_timestamp(i64::MAX, NOW, &l).is_err());

        // Imports: no bound of their own by default, then the tighter of theirs and retention.
        let ancient = NOW - 3650 * DAY;
        assert!(check_import_timestamp(ancient, NOW, &l, Duration::ZERO).is_ok());
        let v =
            check_import_timestamp(ancient, NOW, &l, Duration::from_secs(90 * 86_400)).unwrap_err();
        assert!(
            v.message.contains("storage.retention (90d)"),
            "{}",
            v.message
        );
        let l = Limits {
            max_import_past: Duration::from_secs(86_400),
            ..Limits::default()
        };
        assert!(check_import_timestamp(NOW - DAY, NOW, &l, Duration::ZERO).is_ok());
        let v = check_import_timestamp(NOW - 2 * DAY, NOW, &l, Duration::ZERO).unwrap_err();
        assert_eq!(v.reason, "old_timestamp");
        assert!(
            v.message.contains("limits.max_import_past (1d)"),
            "{}",
            v.message
        );
        assert!(
            check_import_timestamp(NOW + DAY, NOW, &l, Duration::ZERO)
                .unwrap_err()
                .message
                .contains("ahead")
        );
    }

    #[test]
    fn future_timestamps() {
        let l = Limits::default();
        assert!(check_timestamp(1_000 + 600_000, 1_000, &l).is_ok());
        let v = check_timestamp(1_000 + 600_001 + 3_600_000, 1_000, &l).unwrap_err();
        assert_eq!(v.code(), Code::OutOfRange);
        assert!(v.message.contains("ahead"));
    }

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        let s = "é".repeat(100);
        assert_eq!(shorten(&s).chars().count(), 65);
    }
}
