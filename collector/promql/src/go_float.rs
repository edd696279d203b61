//! Numbers in the exact text Prometheus 2.42 (Go) writes, so that answers compare byte for
//! byte with Prometheus's own:
//!
//! ```text
//!   sample values   'f' format; 'e' below 1e-6 and from 1e21     1.5e-07, 1e+21, 0.25
//!   scalar values   'f' format always                           0.00000015
//!   both            NaN, +Inf, -Inf
//! ```
//!
//! Both use the shortest digits that read back as the value, the nearest of equally short
//! ones, the even one on a tie (Go's Ryu). Rust's `Display` breaks such ties upwards
//! (93015433358559.625 becomes `…59.63`; Go writes `…59.62`), so the digits come from
//! serde_json's formatter, which breaks them as Go does, and are laid out here.

/// A sample value (vector and matrix points).
pub fn write_sample_value(out: &mut Vec<u8>, v: f64) {
    let abs = v.abs();
    if abs != 0.0 && abs.is_finite() && !(1e-6..1e21).contains(&abs) {
        Shortest::of(v).write_e(out);
    } else {
        write_plain(out, v);
    }
}

/// A value in Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub fn write_plain(out: &mut Vec<u8>, v: f64) {
    let abs = v.abs();
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if abs < 1e15 && abs.fract() == 0.0 {
        // Whole numbers (counters, gauges, counts) are most values: digits by hand.
        if v.is_sign_negative() {
            out.push(b'-');
        }
        push_digits(out, abs as u64, 1);
    } else {
        Shortest::of(v).write_f(out);
    }
}

/// `n` in decimal, zero-padded to at least `width` digits. Written by hand: a range
/// query's answer has a timestamp per point, and `write!` costs several times more.
pub fn push_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[at..]);
}

/// The shortest round-trip digits of a finite value: `0.d₁d₂…dₙ × 10^point`.
struct Shortest {
    negative: bool,
    digits: [u8; 40],
    /// Where the significant digits start and end in `digits` (none for zero).
    start: usize,
    end: usize,
    point: i64,
}

impl Shortest {
    fn of(v: f64) -> Self {
        let mut buf = [0u8; 40];
        let mut rest = &mut buf[..];
        // serde_json writes finite floats as `-1.5`, `1e21`, `1.5e-7` or similar; only the
        // digits and the exponent are used, so its choice of notation does not matter.
        let written = match serde_json::to_writer(&mut rest, &v) {
            Ok(()) => 40 - rest.len(),
            Err(_) => 0,
        };
        let mut text = &buf[..written];
        let negative = v.is_sign_negative();
        if text.first() == Some(&b'-') {
            text = &text[1..];
        }
        let (mantissa, exponent) = match text.iter().position(|&b| b == b'e' || b == b'E') {
            Some(at) => (&text[..at], parse_exponent(&text[at + 1..])),
            None => (text, 0),
        };
        let whole = mantissa
            .iter()
            .position(|&b| b == b'.')
            .unwrap_or(mantissa.len());
        let mut digits = [0u8; 40];
        let mut count = 0;
        for &d in mantissa.iter().filter(|&&b| b != b'.') {
            digits[count] = d;
            count += 1;
        }
        let start = digits[..count].iter().take_while(|&&d| d == b'0').count();
        let trailing = digits[start..count]
            .iter()
            .rev()
            .take_while(|&&d| d == b'0')
            .count();
        Self {
            negative,
            digits,
            start,
            end: count - trailing,
            point: whole as i64 + exponent - start as i64,
        }
    }

    fn significant(&self) -> &[u8] {
        &self.digits[self.start..self.end]
    }

    /// Plain decimals: `1000000000000000000000`, `0.00000015`, `93015433358559.62`.
    fn write_f(&self, out: &mut Vec<u8>) {
        let digits = self.significant();
        if self.negative {
            out.push(b'-');
        }
        let point = self.point;
        if digits.is_empty() {
            out.push(b'0');
        } else if point <= 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + point.unsigned_abs() as usize, b'0');
            out.extend_from_slice(digits);
        } else if point as usize >= digits.len() {
            out.extend_from_slice(digits);
            out.resize(out.len() + point as usize - digits.len(), b'0');
        } else {
            out.extend_from_slice(&digits[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[point as usize..]);
        }
    }

    /// Go's exponent form: `1e+21`, `1.5e-07`, `5e-324` (sign always, two digits at least).
    fn write_e(&self, out: &mut Vec<u8>) {
        let digits = self.significant();
        if self.negative {
            out.push(b'-');
        }
        let Some((first, rest)) = digits.split_first() else {
            out.extend_from_slice(b"0e+00");
            return;
        };
        out.push(*first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        let exponent = self.point - 1;
        out.extend_from_slice(if exponent < 0 { b"e-" } else { b"e+" });
        push_digits(out, exponent.unsigned_abs(), 2);
    }
}

/// `+21`, `-7`, `21` as a number.
fn parse_exponent(text: &[u8]) -> i64 {
    let (sign, digits) = match text.first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    sign * digits
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d.wrapping_sub(b'0') % 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v: f64) -> String {
        let mut out = Vec::new();
        write_sample_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn plain(v: f64) -> String {
        let mut out = Vec::new();
        write_plain(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn as_prometheus_writes_them() {
        // Exactly representable, and halfway between …59.62 and …59.63: Go keeps the even
        // digit. (Written as a sum: clippy judges literals by Rust's own tie-breaking.)
        assert_eq!(plain(93_015_433_358_559.0 + 0.625), "93015433358559.62");
        assert_eq!(sample(93_015_433_358_559.0 + 0.625), "93015433358559.62");
        assert_eq!(plain(1e21), "1000000000000000000000");
        assert_eq!(sample(1e21), "1e+21");
        assert_eq!(sample(-1.5e300), "-1.5e+300");
        assert_eq!(plain(-1.5e-7), "-0.00000015");
        assert_eq!(sample(-1.5e-7), "-1.5e-07");
        assert_eq!(sample(5e-324), "5e-324");
        assert_eq!(sample(1e-6), "0.000001");
        assert_eq!(sample(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(sample(-0.0), "-0");
        assert_eq!(sample(0.0), "0");
        assert_eq!(sample(1e20), "100000000000000000000");
        assert_eq!(sample(f64::NAN), "NaN");
        assert_eq!(plain(f64::INFINITY), "+Inf");
        assert_eq!(sample(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn values_read_back_exactly() {
        // A fixed pseudo-random walk over mantissas and magnitudes from 1e-30 to 1e30.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut values = vec![f64::MAX, f64::MIN_POSITIVE, 2f64.powi(53), 1e15 + 2.0];
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
            let x = mantissa * 10f64.powi((state % 61) as i32 - 30);
            values.extend([x, -x]);
        }
        // Significant digits, without sign, point, exponent and padding zeros.
        let significant = |s: &str| {
            let mantissa = s
                .trim_start_matches('-')
                .split('e')
                .next()
                .unwrap()
                .replace('.', "");
            mantissa.trim_matches('0').len()
        };
        for v in values {
            for text in [plain(v), sample(v)] {
                assert_eq!(
                    text.parse::<f64>().unwrap().to_bits(),
                    v.to_bits(),
                    "{v:e}: {text}"
                );
                let rust = format!("{v:e}");
                assert_eq!(significant(&text), significant(&rust), "{text} vs {rust}");
            }
        }
    }
}
