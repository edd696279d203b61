//! The functions templates can call: Prometheus's `humanize*`, `printf` and string
//! helpers, and Go's built-in comparisons and logic.

use super::go_fmt::sprintf;
use super::humanize;
use super::value::Val;

/// Calls the template function `name`.
pub(super) fn call<'a>(name: &str, args: &[Val<'a>]) -> Result<Val<'a>, String> {
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    let number = || -> Result<f64, String> {
        want(1)?;
        args[0].float(name)
    };
    Ok(match name {
        "humanize" => Val::Str(humanize::humanize(number()?)),
        "humanize1024" => Val::Str(humanize::humanize1024(number()?)),
        "humanizeDuration" => Val::Str(humanize::humanize_duration(number()?)),
        "humanizePercentage" => Val::Str(humanize::humanize_percentage(number()?)),
        "humanizeTimestamp" => Val::Str(humanize::humanize_timestamp(number()?)?),
        "printf" => match args.split_first() {
            Some((format, rest)) => Val::Str(sprintf(&format.text(), rest)),
            None => return Err("wrong number of args for printf: want at least 1 got 0".into()),
        },
        "print" => Val::Str(go_print(args)),
        "println" => Val::Str(args.iter().map(Val::text).collect::<Vec<_>>().join(" ") + "\n"),
        "toJson" => {
            want(1)?;
            Val::Str(json_string(&args[0].text()))
        }
        "toUpper" => {
            want(1)?;
            Val::Str(args[0].text().to_uppercase())
        }
        "toLower" => {
            want(1)?;
            Val::Str(args[0].text().to_lowercase())
        }
        "title" => {
            want(1)?;
            Val::Str(title(&args[0].text()))
        }
        "stripPort" => {
            want(1)?;
            Val::Str(strip_port(&args[0].text()))
        }
        "reReplaceAll" => {
            want(3)?;
            let re = regex::Regex::new(&args[0].text())
                .map_err(|e| format!("error calling reReplaceAll: {e}"))?;
            Val::Str(
                re.replace_all(&args[2].text(), args[1].text().as_str())
                    .into_owned(),
            )
        }
        "match" => {
            want(2)?;
            let re = regex::Regex::new(&args[0].text())
                .map_err(|e| format!("error calling match: {e}"))?;
            Val::Bool(re.is_match(&args[1].text()))
        }
        "index" => {
            want(2)?;
            match &args[0] {
                Val::Labels(m) => Val::Str(m.get(&args[1].text()).cloned().unwrap_or_default()),
                other => {
                    return Err(format!(
                        "error calling index: can't index item of type {}",
                        other.go_type()
                    ));
                }
            }
        }
        "len" => {
            want(1)?;
            match &args[0] {
                Val::Labels(m) => Val::Int(m.len() as i64),
                Val::Str(s) => Val::Int(s.len() as i64),
                other => {
                    return Err(format!(
                        "error calling len: len of type {}",
                        other.go_type()
                    ));
                }
            }
        }
        "not" => {
            want(1)?;
            Val::Bool(!args[0].truthy())
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Nil),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let order = compare(&args[0], &args[1]).ok_or_else(|| {
                format!("error calling {name}: incompatible types for comparison")
            })?;
            use std::cmp::Ordering::*;
            Val::Bool(match name {
                "eq" => order == Equal,
                "ne" => order != Equal,
                "lt" => order == Less,
                "le" => order != Greater,
                "gt" => order == Greater,
                _ => order != Less,
            })
        }
        other => return Err(format!("function {other:?} not defined")),
    })
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn go_print(args: &[Val<'_>]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Val<'_>| matches!(v, Val::Str(_) | Val::Missing);
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out += &a.print();
    }
    out
}

fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Num(_) | Val::Int(_), Val::Num(_) | Val::Int(_)) => {
            let f = |v: &Val<'_>| {
                if let Val::Int(i) = v {
                    *i as f64
                } else if let Val::Num(n) = v {
                    *n
                } else {
                    f64::NAN
                }
            };
            f(a).partial_cmp(&f(b))
        }
        _ => None,
    }
}

/// Go's `strings.Title`: the first letter of every word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Prometheus's `stripPort`: `host:9100` → `host`, `[::1]:80` → `::1`.
fn strip_port(s: &str) -> String {
    if let Some((host, _)) = s.strip_prefix('[').and_then(|rest| rest.split_once("]:")) {
        return host.to_owned();
    }
    match s.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host.to_owned(),
        _ => s.to_owned(),
    }
}

/// `text` as a JSON string literal, quotes included (`toJson`, for JSON bodies of ticket
/// requests: a label value with a quote or a newline stays one string).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
