//! Prometheus's `humanize*` template functions, with its output formats: four significant
//! digits (`%.4g`) and SI or binary prefixes, durations as `1d 2h 3m 4s`, timestamps as
//! Go prints a UTC time.

use super::number::format_g;

const BIG: [&str; 8] = ["k", "M", "G", "T", "P", "E", "Z", "Y"];
const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

fn g4(v: f64) -> String {
    format_g(v, Some(4))
}

/// `humanize`: SI prefixes, `1.235k`, `2.5m`.
pub(super) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in BIG {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in SMALL {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// `humanize1024`: binary prefixes, `1Ki`, `1.5Gi`.
pub(super) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, `1m 30s`, `42s`, `1.5s`, or `250ms`.
pub(super) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let whole = v as i64;
        let (days, hours, minutes, seconds) = (
            whole / 86_400,
            whole / 3_600 % 24,
            whole / 60 % 60,
            whole % 60,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let mut prefix = "";
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// `humanizePercentage`: a ratio as a percentage, `0.1234` → `12.34%`.
pub(super) fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// `humanizeTimestamp`: unix seconds as Go prints a UTC time (millisecond precision, as
/// Prometheus rounds through its millisecond timestamps): `2024-01-02 03:04:05.5 +0000 UTC`.
pub(super) fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(g4(v));
    }
    let nanos = v * 1e9;
    if nanos >= i64::MAX as f64 || nanos <= i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_g(v, None)
        ));
    }
    // Prometheus converts to milliseconds (truncating toward zero) before printing.
    let ms = (nanos as i64) / 1_000_000;
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = vigil_promql::time::civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    if milli != 0 {
        let frac = format!("{milli:03}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected outputs are Prometheus 2.42's (its template tests and Go's formatting).
    #[test]
    fn humanize_uses_si_prefixes() {
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1.0), "1");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(1000.0), "1k");
        assert_eq!(humanize(999.9), "999.9");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(0.1), "100m");
        assert_eq!(humanize(-2500.0), "-2.5k");
        assert_eq!(humanize(1e30), "1e+06Y");
        assert_eq!(humanize(f64::INFINITY), "+Inf");
        assert_eq!(humanize(f64::NAN), "NaN");
    }

    #[test]
    fn humanize1024_uses_binary_prefixes() {
        assert_eq!(humanize1024(0.5), "0.5");
        assert_eq!(humanize1024(1024.0), "1ki");
        assert_eq!(humanize1024(1536.0), "1.5ki");
        assert_eq!(humanize1024(1073741824.0), "1Gi");
        assert_eq!(humanize1024(1e20), "86.74Ei");
    }

    #[test]
    fn durations() {
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.0), "1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(60.0), "1m 0s");
        assert_eq!(humanize_duration(3600.0), "1h 0m 0s");
        assert_eq!(humanize_duration(86400.0), "1d 0h 0m 0s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(-65.0), "-1m 5s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_duration(0.000001), "1us");
    }

    #[test]
    fn percentages_and_timestamps() {
        assert_eq!(humanize_percentage(0.1234567), "12.35%");
        assert_eq!(humanize_percentage(1.0), "100%");
        assert_eq!(humanize_percentage(0.0), "0%");
        assert_eq!(
            humanize_timestamp(0.0).unwrap(),
            "1970-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            humanize_timestamp(1435065584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            humanize_timestamp(1700000000.5).unwrap(),
            "2023-11-14 22:13:20.5 +0000 UTC"
        );
        assert_eq!(humanize_timestamp(f64::INFINITY).unwrap(), "+Inf");
    }
}
