//! `printf` as Go's `fmt` writes it, since Prometheus's templates are Go templates and
//! people compare alert texts with what Prometheus sent; numbers come from [`super::number`].

use super::number::{format_e, format_f, format_g};
use super::value::Val;

/// Largest width or precision Go reads before giving up on the number (see `sprintf`).
const MAX_NUMBER: usize = 1_000_000;

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
        // A width or precision past a million is no number to Go (`tooLarge` in
        // fmt/print.go): the rest of the format is dropped and the directive has no verb.
        // So `%9999999999999999g` never asks for petabytes of padding.
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                let so_far = n.unwrap_or(0);
                if so_far > MAX_NUMBER {
                    chars.by_ref().for_each(drop);
                    return None;
                }
                n = Some(so_far * 10 + d as usize);
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

    /// Found by the `templates` fuzz target (tests/fuzz/regressions/templates): the width
    /// asked for 10 PB of padding and aborted the process; Go gives up on such a number.
    #[test]
    fn widths_and_precisions_past_a_million_are_no_numbers() {
        let n = Val::Num;
        assert_eq!(
            sprintf(
                "%.2e|%9999999999999999g|%s",
                &[n(1.0), n(2.0), Val::Str("x".into())]
            ),
            "1.00e+00|%!(NOVERB)%!(EXTRA float64=2, string=x)"
        );
        assert_eq!(
            sprintf("%.77777777777777777777f", &[n(1.0)]),
            "%!(NOVERB)%!(EXTRA float64=1)"
        );
        assert_eq!(sprintf("%1000000d|", &[Val::Int(7)]).len(), 1_000_001);
        assert_eq!(sprintf("%.3s", &[Val::Str("abcdef".into())]), "abc");
    }
}
