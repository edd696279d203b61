//! Numbers and `printf` as Go's `fmt` writes them, since Prometheus's templates are Go
//! templates and people compare alert texts with what Prometheus sent.
//!
//! - `%v` of a float is `%g` with the shortest digits that read back to the same value,
//!   in exponent form when the exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`).
//! - `%.Ng` keeps N significant digits, drops trailing zeros, and switches to exponent form
//!   below -4 or at N and above. Exponents have a sign and at least two digits.
//! - Infinities are `+Inf`/`-Inf`, NaN is `NaN`.

use super::value::Val;

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
fn format_e(v: f64, precision: usize, upper: bool) -> String {
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
fn format_f(v: f64, precision: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.precision$}"))
}

/// One `%…` directive.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %x %X %f %F %e %E %g %G
/// %t %%`, with flags `-+ 0`, width and precision. A verb that does not fit its argument
/// is written as Go writes it: `%!d(float64=1.5)`.
pub(super) fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out += "%!(NOVERB)";
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.next() {
            Some(arg) => out += &pad(&spec, verb, one(&spec, verb, arg)),
            None => out += &format!("%!{verb}(MISSING)"),
        }
    }
    let extra: Vec<String> = args
        .map(|a| format!("{}={}", a.go_type(), a.print()))
        .collect();
    if !extra.is_empty() {
        out += &format!("%!(EXTRA {})", extra.join(", "));
    }
    out
}

fn one(spec: &Spec, verb: char, arg: &Val) -> String {
    let plus = |s: String, negative: bool| {
        if spec.plus && !negative && !s.starts_with('+') {
            format!("+{s}")
        } else if spec.space && !negative {
            format!(" {s}")
        } else {
            s
        }
    };
    match (arg, verb) {
        (Val::Num(v), 'v' | 'g' | 'G') => {
            let s = format_g(*v, spec.precision);
            plus(if verb == 'G' { s.to_uppercase() } else { s }, *v < 0.0)
        }
        (Val::Num(v), 'f' | 'F') => plus(format_f(*v, spec.precision.unwrap_or(6)), *v < 0.0),
        (Val::Num(v), 'e' | 'E') => plus(
            format_e(*v, spec.precision.unwrap_or(6), verb == 'E'),
            *v < 0.0,
        ),
        (Val::Int(i), 'v' | 'd') => plus(i.to_string(), *i < 0),
        (Val::Int(i), 'x') => format!("{i:x}"),
        (Val::Int(i), 'X') => format!("{i:X}"),
        (Val::Str(s), 'v' | 's') => match spec.precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        (Val::Str(s), 'q') => format!("{s:?}"),
        (Val::Str(s), 'x') => s.bytes().map(|b| format!("{b:02x}")).collect(),
        (Val::Str(s), 'X') => s.bytes().map(|b| format!("{b:02X}")).collect(),
        (Val::Bool(b), 'v' | 't') => b.to_string(),
        (v @ (Val::Labels(_) | Val::Missing | Val::Nil), 'v' | 's') => v.print(),
        (v, verb) => format!("%!{verb}({}={})", v.go_type(), v.print()),
    }
}

fn pad(spec: &Spec, verb: char, s: String) -> String {
    let Some(width) = spec.width else { return s };
    let len = s.chars().count();
    if len >= width {
        return s;
    }
    let fill = width - len;
    if spec.minus {
        return s + &" ".repeat(fill);
    }
    let numeric = matches!(
        verb,
        'd' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'x' | 'X' | 'v'
    );
    if spec.zero && numeric && !s.ends_with("Inf") && s != "NaN" {
        let (sign, digits) = match s.strip_prefix(['-', '+']) {
            Some(rest) => (&s[..1], rest),
            None => ("", s.as_str()),
        };
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    " ".repeat(fill) + &s
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

    #[test]
    fn printf_like_go() {
        let n = Val::Num;
        assert_eq!(sprintf("%.2f", &[n(5.678)]), "5.68");
        assert_eq!(sprintf("%.0f", &[n(2.5)]), "2");
        assert_eq!(sprintf("%f", &[n(1.0)]), "1.000000");
        assert_eq!(
            sprintf("%5.1f|%-5.1f|%05.1f", &[n(1.25), n(1.25), n(-1.25)]),
            "  1.2|1.2  |-01.2"
        );
        assert_eq!(sprintf("%e", &[n(1234.5678)]), "1.234568e+03");
        assert_eq!(sprintf("%g %v", &[n(1e21), n(0.5)]), "1e+21 0.5");
        assert_eq!(
            sprintf("%s is %d", &[Val::Str("x".into()), Val::Int(3)]),
            "x is 3"
        );
        assert_eq!(sprintf("%d", &[n(1.5)]), "%!d(float64=1.5)");
        assert_eq!(sprintf("%d %d", &[Val::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[Val::Int(1), Val::Int(2)]),
            "1%!(EXTRA int=2)"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%+.1f", &[n(2.0)]), "+2.0");
        assert_eq!(sprintf("%.2f", &[n(f64::INFINITY)]), "+Inf");
    }
}
