//! Numbers and `printf` as Go's `fmt` writes them, since Prometheus's templates are Go
//! templates and people compare alert texts with what Prometheus sent.
//!
//! - `%v` of a float is `%g` with the shortest digits that read back to the same value,
//!   in exponent form when the exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`).
//! - `%.Ng` keeps N significant digits, drops trailing zeros, and switches to exponent form
//!   below -4 or at N and above. Exponents have a sign and at least two digits.
//! - Infinities are `+Inf`/`-Inf`, NaN is `NaN`.

/// Decimal digits (no trailing zeros, at least one) and the position of the decimal point
/// (`dp`: the value is `0.DIGITS × 10^dp`), rounded to `significant` digits or, for `None`,
/// the shortest that reads back.
fn decimal(v: f64, significant: Option<usize>) -> (Vec<u8>, i32) {
    let text = match significant {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn sign(v: f64) -> &'static str {
    if v.is_sign_negative() { "-" } else { "" }
}

/// `%e` style from digits: `d.ddde±XX`.
fn exponent_form(v: f64, digits: &[u8], dp: i32, upper: bool) -> String {
    let mut s = String::from(sign(v));
    s.push(digits[0] as char);
    if digits.len() > 1 {
        s.push('.');
        s.extend(digits[1..].iter().map(|d| *d as char));
    }
    let exp = dp - 1;
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    s += &format!("{:02}", exp.abs());
    s
}

/// Go's `%g` (`precision: None` is `%v`).
pub(super) fn format_g(v: f64, precision: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let (digits, dp) = decimal(v, precision);
    let exp = dp - 1;
    let eprec = precision.map_or(6, |p| p.max(1) as i32);
    if exp < -4 || exp >= eprec {
        return exponent_form(v, &digits, dp, false);
    }
    let mut s = String::from(sign(v));
    if dp <= 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat((-dp) as usize));
        s.extend(digits.iter().map(|d| *d as char));
    } else {
        let dp = dp as usize;
        for i in 0..dp {
            s.push(digits.get(i).map_or('0', |d| *d as char));
        }
        if digits.len() > dp {
            s.push('.');
            s.extend(digits[dp..].iter().map(|d| *d as char));
        }
    }
    s
}

/// Go's `%.Ne`.
pub(super) fn format_e(v: f64, precision: usize, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let text = format!("{:.*e}", precision, v.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let e = if upper { 'E' } else { 'e' };
    let s = if exp < 0 { '-' } else { '+' };
    format!("{}{mantissa}{e}{s}{:02}", sign(v), exp.abs())
}

/// Go's `%.Nf`.
pub(super) fn format_f(v: f64, precision: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.precision$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_like_go() {
        let g4 = |v| format_g(v, Some(4));
        assert_eq!(g4(0.0), "0");
        assert_eq!(g4(1.0), "1");
        assert_eq!(g4(12.5), "12.5");
        assert_eq!(g4(1234.5678), "1235");
        assert_eq!(g4(12345.0), "1.234e+04");
        assert_eq!(g4(100000.0), "1e+05");
        assert_eq!(g4(0.00012345), "0.0001234");
        assert_eq!(g4(0.000012345), "1.234e-05");
        assert_eq!(g4(-2.5), "-2.5");
        assert_eq!(g4(f64::INFINITY), "+Inf");
        assert_eq!(g4(f64::NAN), "NaN");
        let v = |v| format_g(v, None);
        assert_eq!(v(0.1), "0.1");
        assert_eq!(v(100000.0), "100000");
        assert_eq!(v(1000000.0), "1e+06");
        assert_eq!(v(123456789.0), "1.23456789e+08");
        assert_eq!(v(0.0001), "0.0001");
        assert_eq!(v(0.00001), "1e-05");
        assert_eq!(v(42.0), "42");
        assert_eq!(v(-0.5), "-0.5");
    }
}
