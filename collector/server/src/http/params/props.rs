//! Properties of time and duration parameters over generated text (proptest): no text
//! makes a parser panic, every valid value comes back as written, and values past
//! ±[`QUERY_TIME_LIMIT_MS`] are errors, never wrapped or saturated. The `http_params`
//! fuzz target (tests/fuzz) searches the same ground through the router.

use super::{parse_duration, parse_time};
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};
use vigil_promql::time::{QUERY_TIME_LIMIT_MS, unix_seconds};

const LIMIT_S: i64 = QUERY_TIME_LIMIT_MS / 1000;

/// Below 2^42 seconds an f64 holds a time to better than half a millisecond, so decimal
/// seconds with three places come back exactly (as in Prometheus, which parses floats too).
const EXACT_DECIMAL_MS: i64 = (1 << 42) * 1000;

/// The same for durations, which multiply the parsed seconds by 1000 (one more rounding).
const EXACT_DURATION_MS: i64 = (1 << 41) * 1000;

/// Years 1970 to 9999, the range RFC 3339 writes.
const RFC3339_MS: i64 = 253_402_300_800_000;

/// `ms` as decimal Unix seconds with three places: `-1.500`, `1700000000.123`.
fn decimal_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// `ms` in Prometheus's duration form, largest unit first: `1y2w3d4h5m6s7ms`.
fn prometheus_duration(mut ms: i64) -> String {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut out = String::new();
    for (unit, size) in UNITS {
        if ms >= size {
            out += &format!("{}{unit}", ms / size);
            ms %= size;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

proptest! {
    #[test]
    fn no_text_makes_a_parser_panic(any_text in any::<String>(),
                                    numberish in "[-+0-9.eEinfatyNIwdhms:TZ ]{0,32}") {
        for s in [&any_text, &numberish] {
            if let Ok(ms) = parse_time(s) {
                prop_assert!(ms.abs() <= QUERY_TIME_LIMIT_MS, "{:?} → {}", s, ms);
            }
            if let Ok(ms) = parse_duration(s) {
                prop_assert!(ms.abs() <= QUERY_TIME_LIMIT_MS, "{:?} → {}", s, ms);
            }
        }
    }

    #[test]
    fn times_come_back_as_written(s in -LIMIT_S..=LIMIT_S,
                                  ms in -EXACT_DECIMAL_MS..=EXACT_DECIMAL_MS,
                                  utc in 0..RFC3339_MS) {
        prop_assert_eq!(parse_time(&s.to_string()), Ok(s * 1000));
        prop_assert_eq!(parse_time(&decimal_seconds(ms)), Ok(ms));
        // As the API writes times in its answers, so a client can send them back.
        prop_assert_eq!(parse_time(&unix_seconds(ms).to_string()), Ok(ms));
        let time = UNIX_EPOCH + Duration::from_millis(utc.unsigned_abs());
        let text = humantime::format_rfc3339_millis(time).to_string();
        prop_assert_eq!(parse_time(&text), Ok(utc), "{}", text);
    }

    #[test]
    fn durations_come_back_as_written(ms in 0..=QUERY_TIME_LIMIT_MS,
                                      exact in 0..=EXACT_DURATION_MS) {
        let text = prometheus_duration(ms);
        prop_assert_eq!(parse_duration(&text), Ok(ms), "{}", text);
        prop_assert_eq!(parse_duration(&decimal_seconds(exact)), Ok(exact));
        prop_assert_eq!(parse_duration(&decimal_seconds(-exact)), Ok(-exact));
    }

    #[test]
    fn extreme_values_are_errors(s in (LIMIT_S + 1)..=i64::MAX,
                                 exponent in 16..=308i32,
                                 count in (QUERY_TIME_LIMIT_MS / 1000 + 1)..=i64::MAX,
                                 negative in any::<bool>()) {
        let sign = if negative { "-" } else { "" };
        for text in [format!("{sign}{s}"), format!("{sign}1e{exponent}")] {
            let e = parse_time(&text);
            prop_assert!(e.as_ref().is_err_and(|e| e.contains(&format!("{text:?}"))), "{} → {:?}", text, e);
            prop_assert!(parse_duration(&text).is_err(), "{}", text);
        }
        for text in [format!("{count}s"), format!("{count}y"), format!("{count}000ms"), format!("1y{count}s")] {
            prop_assert!(parse_duration(&text).is_err(), "{}", text);
        }
    }
}
