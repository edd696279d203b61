//! Numbers for people: bytes and byte rates in binary units (`1.5 MiB/s`), percentages,
//! and `-` for a value that is missing. Only tables use these; JSON and CSV carry the raw
//! numbers.

/// Binary unit prefixes, each 1024 times the one before.
const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Bytes in the largest unit that keeps the number at or above 1: `512 B`, `1.5 KiB`,
/// `40.0 GiB`, `123 MiB` (one decimal below 100, none above, so columns stay narrow).
pub fn bytes(value: f64) -> String {
    if !value.is_finite() {
        return super::output::format_value(value);
    }
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{scaled:.0} B")
    } else if scaled.abs() < 99.95 {
        format!("{scaled:.1} {}", UNITS[unit])
    } else {
        format!("{scaled:.0} {}", UNITS[unit])
    }
}

/// A throughput: [`bytes`] per second.
pub fn bytes_per_second(value: f64) -> String {
    format!("{}/s", bytes(value))
}

/// A percentage with one decimal: `12.3%`.
pub fn percent(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1}%")
    } else {
        super::output::format_value(value)
    }
}

/// A plain number with two decimals (load averages): `0.52`.
pub fn decimal(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.2}")
    } else {
        super::output::format_value(value)
    }
}

/// A number to about four significant digits, for summaries where the exact value would
/// only widen the column: `21.16`, `1795`, `123456`, `2.461e10`, `1.721e-4`.
pub fn compact(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return super::output::format_value(value);
    }
    let abs = value.abs();
    if !(1e-3..1e6).contains(&abs) {
        let exponent = format!("{value:.3e}");
        return match exponent.split_once('e') {
            Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa)),
            None => exponent,
        };
    }
    // Digits after the point that leave four significant ones (none from 1000 up).
    let decimals = (3 - abs.log10().floor() as i32).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_owned()
}

/// `5.110` → `5.11`, `2.000` → `2`; integers are left alone.
fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// A duration in seconds for people: `0s`, tenths below ten seconds (`0.4s`, `9.5s`), then
/// the two largest units (`42s`, `5m 12s`, `3h 4m`, `2d 5h`).
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return super::output::format_value(seconds);
    }
    if seconds == 0.0 {
        return "0s".to_owned();
    }
    if seconds < 9.95 {
        return format!("{seconds:.1}s");
    }
    let secs = seconds.round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// `format(v)`, or `-` when there is no value.
pub fn or_dash(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1023.4), "1023 B");
        assert_eq!(bytes(1024.0), "1.0 KiB");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(123.0 * 1024.0 * 1024.0), "123 MiB");
        assert_eq!(bytes(99.96 * 1024.0), "100 KiB");
        assert_eq!(bytes(40.0 * 1024.0 * 1024.0 * 1024.0), "40.0 GiB");
        assert_eq!(bytes(f64::NAN), "NaN");
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(21.157_932_281_494_14), "21.16");
        assert_eq!(compact(5.11), "5.11");
        assert_eq!(compact(2.0), "2");
        assert_eq!(compact(-0.5), "-0.5");
        assert_eq!(compact(1795.4), "1795");
        assert_eq!(compact(123_456.0), "123456");
        assert_eq!(compact(24_613_744_640.0), "2.461e10");
        assert_eq!(compact(0.000_172_108), "1.721e-4");
        assert_eq!(compact(0.001), "0.001");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0.0), "0s");
        assert_eq!(duration(0.42), "0.4s");
        assert_eq!(duration(9.94), "9.9s");
        assert_eq!(duration(9.96), "10s");
        assert_eq!(duration(59.4), "59s");
        assert_eq!(duration(312.4), "5m 12s");
        assert_eq!(duration(3.0 * 3600.0 + 4.0 * 60.0 + 5.0), "3h 4m");
        assert_eq!(duration(2.0 * 86_400.0 + 5.0 * 3600.0), "2d 5h");
        assert_eq!(duration(f64::NAN), "NaN");
    }

    #[test]
    fn rates_percentages_and_missing_values() {
        assert_eq!(bytes_per_second(2_621_440.0), "2.5 MiB/s");
        assert_eq!(percent(12.345), "12.3%");
        assert_eq!(percent(100.0), "100.0%");
        assert_eq!(decimal(0.5249), "0.52");
        assert_eq!(or_dash(None, percent), "-");
        assert_eq!(or_dash(Some(7.0), decimal), "7.00");
    }
}
