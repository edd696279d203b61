//! The success envelope and Prometheus's data shapes, written straight into one buffer.
//!
//! Results can hold millions of points, so they are written by hand into bytes rather
//! than through an intermediate `serde_json::Value`, and in exactly the text Prometheus
//! 2.42 writes:
//!
//! ```text
//!   envelope  {"status":"success","data":<data>}
//!   query     {"resultType":"vector","result":[{"metric":{"a":"b"},"value":[<t>,"<v>"]},…]}
//!             {"resultType":"matrix","result":[{"metric":{…},"values":[[<t>,"<v>"],…]},…]}
//!             {"resultType":"scalar","result":[<t>,"<v>"]}   (string alike, "<v>" the text)
//!   <t>       Unix seconds: 1700000000, 1700000000.5 written as 1700000000.500
//!   <v>       Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never
//!             an exponent (1e21 is 22 digits, 1e-7 is 0.0000001); NaN, +Inf, -Inf
//! ```

use crate::promql::Value;
use crate::store::Labels;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A success response whose `data` is written by `data`.
pub fn success(data: impl FnOnce(&mut Vec<u8>)) -> Response {
    respond(success_body(data))
}

/// The body of a success response, for writing on a blocking thread (large results take
/// milliseconds to write) and sending later with [`respond`].
pub fn success_body(data: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"status":"success","data":"#);
    data(&mut out);
    out.push(b'}');
    out
}

/// A JSON response with this body.
pub fn respond(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A query result: `{"resultType":…,"result":…}`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    out.extend_from_slice(br#"{"resultType":""#);
    out.extend_from_slice(value.type_name().as_bytes());
    out.extend_from_slice(br#"","result":"#);
    match value {
        Value::Scalar { t_ms, v } => write_point(out, *t_ms, *v),
        Value::String { t_ms, s } => {
            out.push(b'[');
            write_time(out, *t_ms);
            out.push(b',');
            write_str(out, s);
            out.push(b']');
        }
        Value::Vector(samples) => {
            out.push(b'[');
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(out, &sample.labels);
                out.extend_from_slice(br#","value":"#);
                write_point(out, sample.t_ms, sample.v);
                out.push(b'}');
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            let points: usize = series.iter().map(|s| s.points.len()).sum();
            out.reserve(points * 28 + series.len() * 64);
            out.push(b'[');
            for (i, one) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(out, &one.labels);
                out.extend_from_slice(br#","values":["#);
                for (j, &(t_ms, v)) in one.points.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_point(out, t_ms, v);
                }
                out.extend_from_slice(b"]}");
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

/// A label set as a JSON object, in label-name order.
pub fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, (name, value)) in labels.pairs().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.push(b':');
        write_str(out, value);
    }
    out.push(b'}');
}

/// A list of strings as a JSON array.
pub fn write_strings(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, item);
    }
    out.push(b']');
}

/// A JSON string literal. Bytes of multi-byte UTF-8 characters are all >= 0x80, so
/// escaping byte by byte is exact.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xF)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// `[<t>,"<v>"]`.
fn write_point(out: &mut Vec<u8>, t_ms: i64, v: f64) {
    out.push(b'[');
    write_time(out, t_ms);
    out.extend_from_slice(b",\"");
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
        push_shortest(out, v);
    }
    out.extend_from_slice(b"\"]");
}

/// A finite `v` as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that
/// read back as `v`, the one nearest to `v` when two are as short, the even one on a tie
/// (Go's Ryu). Rust's `Display` breaks such ties upwards (93015433358559.625 becomes
/// `…59.63` where Go writes `…59.62`), so the digits come from serde_json's formatter,
/// which breaks them as Go does, and are laid out here in plain decimals.
fn push_shortest(out: &mut Vec<u8>, v: f64) {
    let mut buf = [0u8; 40];
    let mut rest = &mut buf[..];
    if serde_json::to_writer(&mut rest, &v).is_err() {
        out.extend_from_slice(format!("{v}").as_bytes());
        return;
    }
    let written = 40 - rest.len();
    let mut text = &buf[..written];
    let negative = text.first() == Some(&b'-');
    if negative {
        text = &text[1..];
    }
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&text[..at], parse_exponent(&text[at + 1..])),
        None => (text, 0),
    };
    let whole_len = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len());
    // The significant digits, and where the point sits among them (0: before the first).
    let mut digits = [0u8; 40];
    let mut count = 0;
    for &d in mantissa.iter().filter(|&&b| b != b'.') {
        digits[count] = d;
        count += 1;
    }
    let leading = digits[..count].iter().take_while(|&&d| d == b'0').count();
    let trailing = digits[leading..count]
        .iter()
        .rev()
        .take_while(|&&d| d == b'0')
        .count();
    let digits = &digits[leading..count - trailing];
    let point = whole_len as i64 + exponent - leading as i64;
    if negative {
        out.push(b'-');
    }
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

/// Unix seconds with three decimals when there is a fraction, as Prometheus writes them.
fn write_time(out: &mut Vec<u8>, t_ms: i64) {
    if t_ms < 0 {
        out.push(b'-');
    }
    let abs = t_ms.unsigned_abs();
    push_digits(out, abs / 1000, 1);
    if !abs.is_multiple_of(1000) {
        out.push(b'.');
        push_digits(out, abs % 1000, 3);
    }
}

/// `n` in decimal, zero-padded to at least `width` digits. Written by hand: a range
/// query's answer has a timestamp per point, and `write!` costs several times more.
fn push_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[at..]);
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
        let mut out = Vec::new();
        write_value(&mut out, value);
        serde_json::from_slice::<serde_json::Value>(&out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_read_back_exactly_without_exponents() {
        // A fixed pseudo-random walk over mantissas and magnitudes from 1e-30 to 1e30.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
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
        values.extend([
            1.0,
            -7.0,
            42.0,
            1e15 - 1.0,
            1e15,
            1e15 + 2.0,
            2f64.powi(53),
            1e20,
        ]);
        values.extend([
            1e-5,
            1.0000000000000002e-5,
            9.999999999999999e14,
            123_456_789_012_345.67,
        ]);
        values.extend([
            0.1 + 0.2,
            1.0 / 3.0,
            2.5e-5,
            99_999.999_999_999_99,
            1e14 + 0.5,
        ]);
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
            let x = mantissa * 10f64.powi((state % 61) as i32 - 30);
            values.extend([x, -x]);
        }
        for v in values {
            let mut out = Vec::new();
            write_point(&mut out, 0, v);
            let text = std::str::from_utf8(&out[4..out.len() - 2]).unwrap();
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{v:e}: {text}"
            );
            assert!(!text.contains('e'), "{text}");
            let display = format!("{v}");
            assert!(
                text.len() <= display.len(),
                "{text} is longer than {display}"
            );
        }
    }

    #[test]
    fn values_as_prometheus_2_42_writes_them() {
        let text = |v: f64| {
            let mut out = Vec::new();
            write_point(&mut out, 0, v);
            String::from_utf8(out[4..out.len() - 2].to_vec()).unwrap()
        };
        // Exactly representable, and halfway between …59.62 and …59.63: Go picks the even
        // digit. (Written as a sum: clippy judges literals by Rust's own tie-breaking.)
        assert_eq!(text(93_015_433_358_559.0 + 0.625), "93015433358559.62");
        assert_eq!(text(1e21), "1000000000000000000000");
        assert_eq!(text(-1.5e-7), "-0.00000015");
        assert_eq!(text(-0.0), "-0");
        assert_eq!(text(f64::NAN), "NaN");
        assert_eq!(text(f64::NEG_INFINITY), "-Inf");
        assert_eq!(text(5e-324).len(), 326);
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
            r#"{"resultType":"matrix","result":[{"metric":{"host":"a"},"values":[[1,"NaN"],[2.005,"-0.0000001"],[3.050,"+Inf"]]}]}"#
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
