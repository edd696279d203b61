//! The date functions (`year()`, `month()`, `day_of_month()`, `day_of_week()`,
//! `day_of_year()`, `days_in_month()`, `hour()`, `minute()`): parts of a UTC date given
//! as Unix seconds, computed as Prometheus 2.42 does with Go's `time` package.
//!
//! Prometheus converts a sample's value to whole seconds with Go's `int64(v)`, which on
//! amd64 truncates toward zero and turns NaN, ±Inf and out-of-range values into the
//! smallest int64; Go's `time` then adds constants in wrapping 64-bit arithmetic. Both are
//! reproduced ([`go_int64`], [`DatePart::of_unix_seconds`]), so `year(vector(NaN))` gives
//! the same odd year as Prometheus rather than a different one.

use crate::time::civil_from_days;

/// Seconds from year 1 to 1970 in Go's `time` (`unixToInternal`).
const UNIX_TO_INTERNAL: i128 = 62_135_596_800;
/// Seconds from Go's absolute zero year to year 1 (`internalToAbsolute`).
const INTERNAL_TO_ABSOLUTE: i128 = 9_223_371_966_579_724_800;

/// A part of a date, one per date function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    /// `year()`
    Year,
    /// `month()`: 1 to 12.
    Month,
    /// `day_of_month()`: 1 to 31.
    DayOfMonth,
    /// `day_of_week()`: 0 (Sunday) to 6.
    DayOfWeek,
    /// `day_of_year()`: 1 to 366.
    DayOfYear,
    /// `days_in_month()`: 28 to 31.
    DaysInMonth,
    /// `hour()`: 0 to 23.
    Hour,
    /// `minute()`: 0 to 59.
    Minute,
}

const NAMES: [(&str, DatePart); 8] = [
    ("year", DatePart::Year),
    ("month", DatePart::Month),
    ("day_of_month", DatePart::DayOfMonth),
    ("day_of_week", DatePart::DayOfWeek),
    ("day_of_year", DatePart::DayOfYear),
    ("days_in_month", DatePart::DaysInMonth),
    ("hour", DatePart::Hour),
    ("minute", DatePart::Minute),
];

impl DatePart {
    /// The date function called `name`, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }

    /// The function's PromQL name.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("unknown", |(n, _)| n)
    }

    /// This part of the UTC date `seconds` after 1970-01-01 (Go's `time.Unix(seconds,
    /// 0).UTC()`, wrapping as Go does for the most extreme values).
    pub fn of_unix_seconds(self, seconds: i64) -> f64 {
        // Go's absolute time is a uint64 that wraps; undo its offset afterwards.
        let offset = UNIX_TO_INTERNAL + INTERNAL_TO_ABSOLUTE;
        let absolute = (i128::from(seconds) + offset).rem_euclid(1 << 64);
        let seconds = absolute - offset;
        let days = seconds.div_euclid(86_400) as i64;
        let of_day = seconds.rem_euclid(86_400) as i64;
        let (year, month, day) = civil_from_days(days);
        match self {
            DatePart::Year => year as f64,
            DatePart::Month => f64::from(month),
            DatePart::DayOfMonth => f64::from(day),
            DatePart::DayOfWeek => (days + 4).rem_euclid(7) as f64,
            DatePart::DayOfYear => (days - days_from_civil(year, 1, 1) + 1) as f64,
            DatePart::DaysInMonth => f64::from(days_in_month(year, month)),
            DatePart::Hour => (of_day / 3600) as f64,
            DatePart::Minute => (of_day % 3600 / 60) as f64,
        }
    }
}

/// Go's `int64(v)` on amd64: truncation toward zero; NaN, ±Inf and values outside the
/// int64 range become `i64::MIN`.
pub fn go_int64(v: f64) -> i64 {
    // 2^63 is the first value out of range; -2^63 itself is in range.
    if v.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// Days from 1970-01-01 to `year-month-day`, proleptic Gregorian (the inverse of
/// [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year.rem_euclid(4) == 0
            && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) =>
        {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DatePart as D;

    #[test]
    fn parts_of_known_dates() {
        // 2024-02-29T13:45:10Z, a Thursday, day 60 of a leap year.
        let t = 1_709_214_310;
        assert_eq!(D::Year.of_unix_seconds(t), 2024.0);
        assert_eq!(D::Month.of_unix_seconds(t), 2.0);
        assert_eq!(D::DayOfMonth.of_unix_seconds(t), 29.0);
        assert_eq!(D::DayOfWeek.of_unix_seconds(t), 4.0);
        assert_eq!(D::DayOfYear.of_unix_seconds(t), 60.0);
        assert_eq!(D::DaysInMonth.of_unix_seconds(t), 29.0);
        assert_eq!(D::Hour.of_unix_seconds(t), 13.0);
        assert_eq!(D::Minute.of_unix_seconds(t), 45.0);
        // 1970-01-01 was a Thursday; 1969-12-31T23:59:59 a Wednesday, day 365.
        assert_eq!(D::DayOfWeek.of_unix_seconds(0), 4.0);
        assert_eq!(D::DayOfYear.of_unix_seconds(-1), 365.0);
        assert_eq!(D::Hour.of_unix_seconds(-1), 23.0);
        assert_eq!(D::Year.of_unix_seconds(-1), 1969.0);
        // 2100 is not a leap year, 2000 is; December has 31 days.
        assert_eq!(D::DaysInMonth.of_unix_seconds(4_105_123_200), 28.0); // 2100-02-01
        assert_eq!(D::DaysInMonth.of_unix_seconds(949_363_200), 29.0); // 2000-02-01
        assert_eq!(D::DaysInMonth.of_unix_seconds(1_733_011_200), 31.0); // 2024-12-01
    }

    #[test]
    fn go_conversions() {
        assert_eq!(go_int64(1.9), 1);
        assert_eq!(go_int64(-1.9), -1);
        assert_eq!(go_int64(f64::NAN), i64::MIN);
        assert_eq!(go_int64(f64::INFINITY), i64::MIN);
        assert_eq!(go_int64(1e19), i64::MIN);
        // Go: time.Unix(math.MinInt64, 0).UTC().Year() == 292277026596 (the wrapped
        // absolute time lands near Go's largest year).
        assert_eq!(D::Year.of_unix_seconds(i64::MIN), 292_277_026_596.0);
    }

    #[test]
    fn names_round_trip() {
        for (name, part) in NAMES {
            assert_eq!(DatePart::from_name(name), Some(part));
            assert_eq!(part.name(), name);
        }
        assert_eq!(DatePart::from_name("second"), None);
    }
}
