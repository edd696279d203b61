//! Time as people write it and read it: the CLI's flags and tables, the HTTP API's
//! `time`/`start`/`end` parameters.
//!
//! Times travel as milliseconds since the Unix epoch (`i64`), as in the wire protocol.
//! Input: durations in humantime's forms (`30s`, `5m`, `1h30m`, `2d`); times as RFC 3339
//! (`2026-11-21T05:50:00Z`, with any `±HH:MM` offset, or without one meaning UTC, which
//! also accepts the `2026-11-21 05:50:00.123` form the tables print) or as Unix seconds,
//! possibly fractional (`1795240200.5`). Output: UTC `2026-11-21 05:50:20.123` in tables,
//! and "3s ago" for how long ago a host was heard from.

use std::time::{Duration, UNIX_EPOCH};

pub use vigil_store::clock::now_ms;

/// A time or duration that could not be read; the message says which forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A duration (`--range`, `--step`, `--window`) could not be parsed.
    #[error("invalid duration {input:?}: use a number and a unit, like 30s, 5m, 1h30m or 2d")]
    InvalidDuration {
        /// The text as given.
        input: String,
    },
    /// A time (`--at`, `time=`) could not be parsed.
    #[error(
        "invalid time {input:?}: use RFC 3339 (like 2026-11-21T05:50:00Z, \
         2026-11-21T07:50:00+02:00 or 2026-11-21 05:50:00, which is UTC) \
         or Unix seconds (like 1795240200 or 1795240200.5)"
    )]
    InvalidTime {
        /// The text as given.
        input: String,
    },
}

/// First millisecond after 9999-12-31T23:59:59.999Z: humantime neither parses nor
/// formats years past 9999, and a "Unix seconds" value this large is almost surely
/// milliseconds pasted by mistake.
const MAX_MS: i64 = 253_402_300_800_000;

/// Times and durations a query may use lie within ±this many milliseconds of 1970
/// (2^53 ms, about 285,000 years): the range in which milliseconds survive the float
/// seconds of Prometheus's JSON exactly, and far enough inside `i64` that a time minus an
/// offset minus a range cannot overflow. Evaluation times, ranges, subquery steps,
/// `offset` and `@` outside it are refused.
pub const QUERY_TIME_LIMIT_MS: i64 = 1 << 53;

/// Parses a duration such as `30s`, `5m`, `1h30m` or `2d` (for `--range`, `--step`, `--window`).
pub fn parse_duration(input: &str) -> Result<Duration, TimeError> {
    humantime::parse_duration(input.trim()).map_err(|_| TimeError::InvalidDuration {
        input: input.to_owned(),
    })
}

/// Parses a time for `--at` into milliseconds since the Unix epoch: RFC 3339
/// (an offset is optional and defaults to UTC) or Unix seconds with up to millisecond
/// precision (further digits are dropped).
pub fn parse_time(input: &str) -> Result<i64, TimeError> {
    let s = input.trim();
    let parsed = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        parse_unix_seconds(s)
    } else {
        parse_rfc3339(s)
    };
    parsed
        .filter(|ms| (0..MAX_MS).contains(ms))
        .ok_or_else(|| TimeError::InvalidTime {
            input: input.to_owned(),
        })
}

/// `1795240200`, `1795240200.5`, `1795240200.123456` (truncated to ms).
fn parse_unix_seconds(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || frac.contains('.') {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let mut ms = 0;
    for i in 0..3 {
        let digit = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        ms = ms * 10 + digit;
    }
    secs.checked_mul(1000)?.checked_add(ms)
}

/// RFC 3339 with an optional `Z` or `±HH:MM`; humantime parses the UTC part.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.to_ascii_uppercase();
    let (local, offset_secs) = split_offset(&s)?;
    // humantime tolerates junk after a `Z`; RFC 3339 does not.
    if local.find('Z').is_some_and(|i| i + 1 != local.len()) {
        return None;
    }
    let utc = humantime::parse_rfc3339_weak(local).ok()?;
    let ms = i64::try_from(utc.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
    ms.checked_sub(offset_secs * 1000)
}

/// Splits a trailing `+HH:MM`/`-HH:MM` off a timestamp; `(s, 0)` when there is none.
/// `None` when the offset is malformed.
fn split_offset(s: &str) -> Option<(&str, i64)> {
    let b = s.as_bytes();
    // The offset comes after `YYYY-MM-DDTHH:MM:SS`, so its sign is at index 19 or later.
    if b.len() < 25 || !matches!(b[b.len() - 6], b'+' | b'-') {
        return Some((s, 0));
    }
    let (local, offset) = s.split_at(s.len() - 6);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = offset[1..].split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((local, sign * (hours * 3600 + minutes * 60)))
}

/// A duration as milliseconds, saturating (a `--range` of a million years is allowed and
/// just means "everything").
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `2026-11-21 05:50:20.123` (UTC), as tables show sample times. Times humantime cannot
/// show (before 1970, after 9999) fall back to Unix seconds.
pub fn format_utc(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(unsigned) if ms < MAX_MS => {
            let time = UNIX_EPOCH + Duration::from_millis(unsigned);
            let rfc3339 = humantime::format_rfc3339_millis(time).to_string();
            rfc3339
                .replacen('T', " ", 1)
                .trim_end_matches('Z')
                .to_owned()
        }
        _ => unix_seconds(ms).to_string(),
    }
}

/// Milliseconds as Unix seconds, the way Prometheus' JSON writes times: whole seconds
/// as an integer, else with the fraction (`1700000000.123`).
pub fn unix_seconds(ms: i64) -> serde_json::Number {
    if ms % 1000 == 0 {
        return serde_json::Number::from(ms / 1000);
    }
    // Finite by construction; ms fit an f64 exactly up to 2^53 (year 285 000).
    serde_json::Number::from_f64(ms as f64 / 1000.0).unwrap_or_else(|| (ms / 1000).into())
}

/// Year, month and day of a day count since 1970-01-01, proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// How long before `now_ms` the time `then_ms` was, in the largest whole unit: "just now",
/// "42s ago", "5m ago", "3h ago", "12d ago"; "never" for 0 (unset).
pub fn format_ago(then_ms: i64, now_ms: i64) -> String {
    if then_ms <= 0 {
        return "never".to_owned();
    }
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    match secs {
        // Clock skew between the collector and this machine can put `then` in the future.
        ..=0 => "just now".to_owned(),
        1..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-21T05:50:00Z in milliseconds.
    const T: i64 = 1_795_240_200_000;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").ok(), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m").ok(), Some(Duration::from_secs(300)));
        assert_eq!(
            parse_duration("1h30m").ok(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("2d").ok(),
            Some(Duration::from_secs(172_800))
        );
        assert_eq!(
            parse_duration("250ms").ok(),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn bad_durations_name_the_value_and_the_forms() {
        for bad in ["5", "5x", "-5m", "", "soon"] {
            let err = parse_duration(bad).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid duration {bad:?}: use a number and a unit, like 30s, 5m, 1h30m or 2d"
                )
            );
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_time("2026-11-21T05:50:00Z").ok(), Some(T));
        assert_eq!(parse_time("2026-11-21t05:50:00z").ok(), Some(T));
        assert_eq!(parse_time("2026-11-21T05:50:00.123Z").ok(), Some(T + 123));
        assert_eq!(parse_time("2026-11-21T05:50:00+00:00").ok(), Some(T));
        assert_eq!(parse_time("2026-11-21T07:50:00+02:00").ok(), Some(T));
        assert_eq!(
            parse_time("2026-11-21T00:20:00.5-05:30").ok(),
            Some(T + 500)
        );
        // The form tables print, read back as UTC.
        assert_eq!(parse_time("2026-11-21 05:50:00.123").ok(), Some(T + 123));
    }

    #[test]
    fn unix_seconds_times() {
        assert_eq!(parse_time("1795240200").ok(), Some(T));
        assert_eq!(parse_time("1795240200.5").ok(), Some(T + 500));
        assert_eq!(parse_time("1795240200.123999").ok(), Some(T + 123));
        assert_eq!(parse_time("1795240200.").ok(), Some(T));
        assert_eq!(parse_time(" 0 ").ok(), Some(0));
    }

    #[test]
    fn bad_times_name_the_value_and_the_forms() {
        for bad in [
            "yesterday",
            "",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-11-21T05:50:00Zjunk",
            "2026-11-21T05:50:00+2:00",
            "1.2.3",
            ".5",
            "1795240200000", // milliseconds, not seconds
        ] {
            let err = parse_time(bad).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid time {bad:?}: use RFC 3339 (like 2026-11-21T05:50:00Z, \
                     2026-11-21T07:50:00+02:00 or 2026-11-21 05:50:00, which is UTC) \
                     or Unix seconds (like 1795240200 or 1795240200.5)"
                )
            );
        }
    }

    #[test]
    fn utc_display() {
        assert_eq!(format_utc(T + 20_123), "2026-11-21 05:50:20.123");
        assert_eq!(format_utc(T), "2026-11-21 05:50:00.000");
        assert_eq!(format_utc(-1500), "-1.5");
    }

    #[test]
    fn relative_display() {
        assert_eq!(format_ago(T - 3_400, T), "3s ago");
        assert_eq!(format_ago(T - 300_000, T), "5m ago");
        assert_eq!(format_ago(T - 7_300_000, T), "2h ago");
        assert_eq!(format_ago(T - 3 * 86_400_000, T), "3d ago");
        assert_eq!(format_ago(T + 2_000, T), "just now");
        assert_eq!(format_ago(0, T), "never");
    }
}
