//! The success envelope and Prometheus's data shapes, written straight into one buffer.
//!
//! Results can hold millions of points, so they are written by hand rather than through
//! an intermediate `serde_json::Value`, and in exactly the text Prometheus writes:
//!
//! ```text
//!   envelope  {"status":"success","data":<data>}
//!   query     {"resultType":"vector","result":[{"metric":{"a":"b"},"value":[<t>,"<v>"]},…]}
//!             {"resultType":"matrix","result":[{"metric":{…},"values":[[<t>,"<v>"],…]},…]}
//!             {"resultType":"scalar","result":[<t>,"<v>"]}   (string alike, "<v>" the text)
//!   <t>       Unix seconds: 1700000000, 1700000000.5 written as 1700000000.500
//!   <v>       Go's strconv 'f' format with shortest digits, 'e' below 1e-6 and from 1e21,
//!             and NaN, +Inf, -Inf (see cli::output::format_value)
//! ```

use crate::cli::output::format_value;
use crate::promql::Value;
use crate::store::Labels;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// A success response whose `data` is written by `data`.
pub fn success(data: impl FnOnce(&mut String)) -> Response {
    respond(success_body(data))
}

/// The body of a success response, for writing on a blocking thread (large results take
/// milliseconds to write) and sending later with [`respond`].
pub fn success_body(data: impl FnOnce(&mut String)) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"status":"success","data":"#);
    data(&mut out);
    out.push('}');
    out
}

/// A JSON response with this body.
pub fn respond(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A query result: `{"resultType":…,"result":…}`.
pub fn write_value(out: &mut String, value: &Value) {
    let _ = write!(out, r#"{{"resultType":"{}","result":"#, value.type_name());
    match value {
        Value::Scalar { t_ms, v } => write_point(out, *t_ms, *v),
        Value::String { t_ms, s } => {
            out.push('[');
            write_time(out, *t_ms);
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(out, &sample.labels);
                out.push_str(r#","value":"#);
                write_point(out, sample.t_ms, sample.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, one) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(out, &one.labels);
                out.push_str(r#","values":["#);
                for (j, &(t_ms, v)) in one.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(out, t_ms, v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// A label set as a JSON object, in label-name order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (name, value)) in labels.pairs().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, name);
        out.push(':');
        write_str(out, value);
    }
    out.push('}');
}

/// A list of strings as a JSON array.
pub fn write_strings(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, item);
    }
    out.push(']');
}

/// `[<t>,"<v>"]`.
fn write_point(out: &mut String, t_ms: i64, v: f64) {
    out.push('[');
    write_time(out, t_ms);
    out.push_str(",\"");
    let abs = v.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // The common case, without format_value's allocation: for these magnitudes Go's
        // shortest 'f' format and Rust's `Display` write the same digits.
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&format_value(v));
    }
    out.push_str("\"]");
}

/// Unix seconds with three decimals when there is a fraction, as Prometheus writes them.
fn write_time(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let abs = t_ms.unsigned_abs();
    push_digits(out, abs / 1000, 1);
    if !abs.is_multiple_of(1000) {
        out.push('.');
        push_digits(out, abs % 1000, 3);
    }
}

/// `n` in decimal, zero-padded to at least `width` digits. Written by hand: a range
/// query's answer has a timestamp per point, and `write!` costs several times more.
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// A JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::{InstantSample, Series};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    fn render(value: &Value) -> String {
        let mut out = String::new();
        write_value(&mut out, value);
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
        out
    }

    #[test]
    fn points_write_values_as_format_value_does() {
        let mut x = 0.123_456_789_f64;
        let mut values = vec![
            0.0,
            -0.0,
            1e-6,
            9.99e-7,
            1e21,
            9.99e20,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        for _ in 0..200 {
            x = (x * 7919.31).fract() * 10f64.powi((x * 60.0) as i32 - 30);
            values.extend([x, -x]);
        }
        for v in values {
            let mut out = String::new();
            write_point(&mut out, 0, v);
            assert_eq!(out, format!("[0,\"{}\"]", format_value(v)), "{v:e}");
        }
    }

    #[test]
    fn shapes_match_prometheus_text() {
        let v = Value::Vector(vec![InstantSample {
            labels: labels(&[("__name__", "up"), ("job", "a\"b\\c\n\u{1}")]),
            t_ms: 1_700_000_000_500,
            v: 1.0,
        }]);
        assert_eq!(
            render(&v),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b\\c\n\u0001"},"value":[1700000000.500,"1"]}]}"#
        );
        let m = Value::Matrix(vec![Series {
            labels: labels(&[("host", "a")]),
            points: vec![(1_000, f64::NAN), (2_005, -1e-7), (3_050, f64::INFINITY)],
        }]);
        assert_eq!(
            render(&m),
            r#"{"resultType":"matrix","result":[{"metric":{"host":"a"},"values":[[1,"NaN"],[2.005,"-1e-07"],[3.050,"+Inf"]]}]}"#
        );
        assert_eq!(
            render(&Value::Scalar {
                t_ms: -1_500,
                v: 0.1 + 0.2
            }),
            r#"{"resultType":"scalar","result":[-1.500,"0.30000000000000004"]}"#
        );
        assert_eq!(
            render(&Value::String {
                t_ms: 0,
                s: "hi".into()
            }),
            r#"{"resultType":"string","result":[0,"hi"]}"#
        );
        assert_eq!(
            render(&Value::Vector(vec![])),
            r#"{"resultType":"vector","result":[]}"#
        );
    }
}
