//! The success envelope and Prometheus's data shapes, written straight into one buffer.
//!
//! Results can hold millions of points, so they are written by hand into bytes rather
//! than through an intermediate `serde_json::Value`, and in exactly the text Prometheus
//! 2.42 writes:
//!
//! ```text
//!   envelope  {"status":"success","data":<data>}   (and ,"warnings":["…"] when a query's
//!             reads left damaged data out)
//!   query     {"resultType":"vector","result":[{"metric":{"a":"b"},"value":[<t>,"<v>"]},…]}
//!             {"resultType":"matrix","result":[{"metric":{…},"values":[[<t>,"<v>"],…]},…]}
//!             {"resultType":"scalar","result":[<s>,"<v>"]}   (string alike, "<v>" the text)
//!   <t>       Unix seconds of a sample: 1700000000, 1700000000.5 written as 1700000000.500
//!   <s>       Unix seconds of a scalar or string, as a Go float: 1700000000.5
//!   <v>       a value as Go writes it (see go_float): 0.25, 1e+21, NaN, +Inf, -Inf
//! ```

use axum::http::header;
use axum::response::{IntoResponse, Response};
use vigil_promql::Value;
use vigil_promql::go_float;
use vigil_store::Labels;

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

/// [`success_body`] with Prometheus's `warnings` (strings beside `data`; none: no field).
pub fn success_body_warned(data: impl FnOnce(&mut Vec<u8>), warnings: &[String]) -> Vec<u8> {
    let mut out = success_body(data);
    if !warnings.is_empty() {
        out.pop();
        out.extend_from_slice(br#","warnings":"#);
        write_strings(&mut out, warnings);
        out.push(b'}');
    }
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
        Value::Scalar { t_ms, v } => {
            out.push(b'[');
            write_seconds(out, *t_ms);
            out.extend_from_slice(b",\"");
            go_float::write_plain(out, *v);
            out.extend_from_slice(b"\"]");
        }
        Value::String { t_ms, s } => {
            out.push(b'[');
            write_seconds(out, *t_ms);
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
    go_float::write_sample_value(out, v);
    out.extend_from_slice(b"\"]");
}

/// The time of a scalar or string result: Prometheus writes these as a float64 of
/// seconds with Go's encoding/json (`1700000000.5`, not the `1700000000.500` of points).
fn write_seconds(out: &mut Vec<u8>, t_ms: i64) {
    go_float::write_plain(out, t_ms as f64 / 1000.0);
}

/// Unix seconds with three decimals when there is a fraction, as Prometheus writes them
/// for samples.
fn write_time(out: &mut Vec<u8>, t_ms: i64) {
    if t_ms < 0 {
        out.push(b'-');
    }
    let abs = t_ms.unsigned_abs();
    go_float::push_digits(out, abs / 1000, 1);
    if !abs.is_multiple_of(1000) {
        out.push(b'.');
        go_float::push_digits(out, abs % 1000, 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_promql::{InstantSample, Series};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    fn render(value: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, value);
        serde_json::from_slice::<serde_json::Value>(&out).unwrap();
        String::from_utf8(out).unwrap()
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
            r#"{"resultType":"scalar","result":[-1.5,"0.30000000000000004"]}"#
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
