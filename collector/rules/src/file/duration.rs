//! Durations as Prometheus writes them in rule files: `5m`, `1h30m`, `1d`, `2w`, `0`.
//!
//! Units, largest first, each at most once: `y` (365 days), `w`, `d`, `h`, `m`, `s`, `ms`.
//! There is no sign: a negative duration cannot be written.

use std::time::Duration;

/// The units in the order they must appear, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration; the error says what is wrong with `text`.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration: write one such as 5m, 1h30m or 1d".into());
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.starts_with('-') {
        return Err(format!(
            "{text:?} is negative: durations cannot be negative (use 0 for none)"
        ));
    }
    let bad = || {
        format!(
            "{text:?} is not a valid duration: write a number followed by a unit \
             (y, w, d, h, m, s, ms), largest unit first, such as 5m, 1h30m or 1d"
        )
    };
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let unit = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (name, _))| rest.starts_with(name))
            .max_by_key(|(_, (name, _))| name.len())
            .ok_or_else(bad)?;
        let (index, (name, ms)) = unit;
        // "m" followed by "s" is "ms", which only matches when "ms" is still allowed.
        if *name == "m" && rest.starts_with("ms") {
            return Err(bad());
        }
        rest = &rest[name.len()..];
        next_unit = index + 1;
        total = number
            .checked_mul(*ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let ms = |t: &str| parse(t).map(|d| d.as_millis() as u64);
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("5m"), Ok(300_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("1d"), Ok(86_400_000));
        assert_eq!(ms("1w"), Ok(604_800_000));
        assert_eq!(ms("1y"), Ok(31_536_000_000));
        assert_eq!(ms("1s500ms"), Ok(1_500));
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("0s"), Ok(0));
    }

    #[test]
    fn refuses_bad_durations() {
        for bad in ["", "5", "-5m", "5x", "1m1h", "1h1h", "m", "1.5h", "5 m"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse("-5m").unwrap_err().contains("cannot be negative"));
    }
}
