//! Compares a Vigil answer with Prometheus's answer to the same Prometheus HTTP API request
//! and describes every difference in words a person can act on.
//!
//! Rules:
//! - Prometheus succeeded → Vigil must succeed with the same `resultType`.
//! - Prometheus failed → Vigil must fail with the same HTTP status and `errorType`.
//! - Vectors and matrices are compared as sets of series keyed by their label maps; the
//!   order only matters for range queries, whose matrices Prometheus sorts by labels.
//! - Timestamps must be identical (to the millisecond).
//! - Values must be equal within [`REL_TOL`] relative. Near zero a relative bound means
//!   nothing (0 vs 1e-17 left over from a different summation order is 100% off), so two
//!   values also match when they differ by at most [`ABS_TOL`]; every value in the dataset
//!   and every rate over it is far above that, so the bound cannot hide a real error.
//!   NaN matches NaN; infinities match only the same infinity.

use crate::prom_api::Answer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Largest accepted relative difference between two values.
pub const REL_TOL: f64 = 1e-9;
/// Largest accepted absolute difference, for values near zero.
pub const ABS_TOL: f64 = 1e-12;
/// Most difference lines printed for one series before summarising the rest.
const MAX_LINES_PER_SERIES: usize = 4;

/// Whether two sample values are equal for the differential test.
pub fn values_match(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let diff = (a - b).abs();
    diff <= ABS_TOL || diff <= REL_TOL * a.abs().max(b.abs())
}

/// Every difference between Prometheus's answer (`reference`) and Vigil's, one line each;
/// empty when they agree. `ordered` also checks the order of the series.
pub fn differences(reference: &Answer, vigil: &Answer, ordered: bool) -> Vec<String> {
    let ok = |a: &Answer| a.body["status"] == "success";
    match (ok(reference), ok(vigil)) {
        (true, false) => vec![format!(
            "Prometheus succeeded but Vigil failed: {}",
            error_text(vigil)
        )],
        (false, true) => vec![format!(
            "Prometheus failed ({}) but Vigil succeeded with {}",
            error_text(reference),
            brief(&vigil.body["data"])
        )],
        (false, false) => {
            let same = reference.status == vigil.status
                && reference.body["errorType"] == vigil.body["errorType"];
            if same {
                Vec::new()
            } else {
                vec![format!(
                    "both failed, differently: Prometheus {} / Vigil {}",
                    error_text(reference),
                    error_text(vigil)
                )]
            }
        }
        (true, true) => compare_data(&reference.body["data"], &vigil.body["data"], ordered),
    }
}

/// `HTTP 400 bad_data: message`.
pub fn error_text(a: &Answer) -> String {
    match &a.body {
        Value::String(why) => format!("HTTP {}: {why}", a.status),
        body => format!(
            "HTTP {} {}: {}",
            a.status,
            body["errorType"].as_str().unwrap_or("?"),
            body["error"].as_str().unwrap_or("(no error message)")
        ),
    }
}

fn brief(data: &Value) -> String {
    let n = data["result"].as_array().map_or(0, Vec::len);
    format!("{} ({n} items)", data["resultType"].as_str().unwrap_or("?"))
}

fn compare_data(p: &Value, v: &Value, ordered: bool) -> Vec<String> {
    let kind = p["resultType"].as_str().unwrap_or("?");
    if p["resultType"] != v["resultType"] {
        return vec![format!(
            "resultType: Prometheus {} / Vigil {}",
            p["resultType"], v["resultType"]
        )];
    }
    match kind {
        "scalar" | "string" => point_diff("", &p["result"], &v["result"], kind == "string")
            .into_iter()
            .collect(),
        "vector" | "matrix" => compare_series(kind, &p["result"], &v["result"], ordered),
        other => vec![format!("unknown resultType {other:?}")],
    }
}

/// `{__name__="x", a="b"}` as `x{a="b"}`.
pub fn labels_text(metric: &Value) -> String {
    let Some(map) = metric.as_object() else {
        return metric.to_string();
    };
    let sorted: BTreeMap<&String, &Value> = map.iter().collect();
    let name = map.get("__name__").and_then(Value::as_str).unwrap_or("");
    let pairs: Vec<String> = sorted
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={}", v))
        .collect();
    format!("{name}{{{}}}", pairs.join(", "))
}

fn compare_series(kind: &str, p: &Value, v: &Value, ordered: bool) -> Vec<String> {
    let mut out = Vec::new();
    let index = |result: &Value, who: &str, out: &mut Vec<String>| {
        let mut map = BTreeMap::new();
        let mut order = Vec::new();
        for item in result.as_array().into_iter().flatten() {
            let key = labels_text(&item["metric"]);
            order.push(key.clone());
            if map.insert(key.clone(), item.clone()).is_some() {
                out.push(format!("{who} returned {key} twice"));
            }
        }
        (map, order)
    };
    let (pm, porder) = index(p, "Prometheus", &mut out);
    let (vm, vorder) = index(v, "Vigil", &mut out);
    for (key, item) in &pm {
        match vm.get(key) {
            None => out.push(format!(
                "only Prometheus has {key} = {}",
                sample_brief(item)
            )),
            Some(vitem) if kind == "vector" => {
                out.extend(point_diff(key, &item["value"], &vitem["value"], false));
            }
            Some(vitem) => out.extend(matrix_diff(key, &item["values"], &vitem["values"])),
        }
    }
    for (key, item) in &vm {
        if !pm.contains_key(key) {
            out.push(format!("only Vigil has {key} = {}", sample_brief(item)));
        }
    }
    if ordered && out.is_empty() && porder != vorder {
        out.push(format!(
            "same series in a different order: Prometheus [{}] / Vigil [{}]",
            porder.join(" "),
            vorder.join(" ")
        ));
    }
    out
}

fn sample_brief(item: &Value) -> String {
    if let Some(values) = item["values"].as_array() {
        let first = values.first().map(point_text).unwrap_or_default();
        return format!("{} points from {first}", values.len());
    }
    point_text(&item["value"])
}

/// `[ts, "value"]` as `value @ ts`.
fn point_text(point: &Value) -> String {
    format!("{} @ {}", point[1].as_str().unwrap_or("?"), point[0])
}

/// A sample's timestamp in milliseconds.
fn millis(t: &Value) -> Option<i64> {
    t.as_f64().map(|s| (s * 1000.0).round() as i64)
}

/// A sample value as the API spells it (`"1.5"`, `"NaN"`, `"+Inf"`).
pub fn parse_value(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn point_diff(key: &str, p: &Value, v: &Value, exact: bool) -> Option<String> {
    let same_time = millis(&p[0]).is_some() && millis(&p[0]) == millis(&v[0]);
    let same_value = if exact {
        p[1] == v[1]
    } else {
        match (parse_value(&p[1]), parse_value(&v[1])) {
            (Some(a), Some(b)) => values_match(a, b),
            _ => false,
        }
    };
    (!(same_time && same_value)).then(|| {
        format!(
            "{key}: Prometheus {} / Vigil {}",
            point_text(p),
            point_text(v)
        )
    })
}

fn matrix_diff(key: &str, p: &Value, v: &Value) -> Vec<String> {
    let points = |values: &Value| -> BTreeMap<i64, Value> {
        values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pt| Some((millis(&pt[0])?, pt.clone())))
            .collect()
    };
    let (pp, vp) = (points(p), points(v));
    let mut lines = Vec::new();
    let mut bad = 0usize;
    let times: std::collections::BTreeSet<i64> = pp.keys().chain(vp.keys()).copied().collect();
    for t in times {
        let line = match (pp.get(&t), vp.get(&t)) {
            (Some(a), Some(b)) => point_diff(key, a, b, false),
            (Some(a), None) => Some(format!("{key}: only Prometheus has {}", point_text(a))),
            (None, Some(b)) => Some(format!("{key}: only Vigil has {}", point_text(b))),
            (None, None) => None,
        };
        if let Some(line) = line {
            bad += 1;
            if lines.len() < MAX_LINES_PER_SERIES {
                lines.push(line);
            }
        }
    }
    if bad > lines.len() {
        let mut more = String::new();
        let _ = write!(
            more,
            "{key}: … {} more differing points (of {} / {})",
            bad - lines.len(),
            pp.len(),
            vp.len()
        );
        lines.push(more);
    }
    lines
}

/// How closely two agreeing answers agree: values compared, values not spelled identically,
/// and the largest relative difference among those.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Closeness {
    /// Sample values present in both answers.
    pub values: usize,
    /// Of those, values whose text differs (equal within tolerance, not bit for bit).
    pub inexact: usize,
    /// Largest relative difference among the inexact ones.
    pub max_rel: f64,
}

/// The [`Closeness`] of two successful vector or matrix answers (zero for anything else).
pub fn closeness(reference: &Answer, vigil: &Answer) -> Closeness {
    let points = |a: &Answer| -> BTreeMap<(String, i64), String> {
        let mut out = BTreeMap::new();
        for item in a.body["data"]["result"].as_array().into_iter().flatten() {
            let key = labels_text(&item["metric"]);
            let single = [item["value"].clone()];
            let values = item["values"].as_array().map_or(&single[..], |v| &v[..]);
            for pt in values {
                if let (Some(t), Some(v)) = (millis(&pt[0]), pt[1].as_str()) {
                    out.insert((key.clone(), t), v.to_owned());
                }
            }
        }
        out
    };
    let (p, v) = (points(reference), points(vigil));
    let mut c = Closeness::default();
    for (key, pv) in &p {
        let Some(vv) = v.get(key) else { continue };
        c.values += 1;
        if pv != vv {
            c.inexact += 1;
            if let (Some(a), Some(b)) = (
                parse_value(&Value::from(pv.as_str())),
                parse_value(&Value::from(vv.as_str())),
            ) {
                let rel = (a - b).abs() / a.abs().max(b.abs());
                if rel.is_finite() {
                    c.max_rel = c.max_rel.max(rel);
                }
            }
        }
    }
    c
}

/// Whether a metadata item is one of the collector's own series (`host="vigil-collector"`,
/// `vigil_collector_*`) or a label name only they have (`listener`, `reason`, `part`,
/// `kind`, `state`; the dataset has none of them), which Vigil stores beside imported data
/// and Prometheus, not scraping itself, does not have.
fn collectors_own(item: &str) -> bool {
    item == "vigil-collector"
        || item == "listener"
        || item == "reason"
        || item == "part"
        || item == "kind"
        || item == "state"
        || item.starts_with("vigil_collector_")
        || item.contains(r#"host="vigil-collector""#)
}

/// Differences between two answers of the metadata endpoints (`/api/v1/series`: a set of
/// label maps; `/api/v1/labels` and `/api/v1/label/<name>/values`: sorted lists of names).
/// The collector's own series are left out of Vigil's answer first.
pub fn metadata_differences(reference: &Answer, vigil: &Answer) -> Vec<String> {
    let ok = |a: &Answer| a.body["status"] == "success";
    if !ok(reference) || !ok(vigil) {
        return differences(reference, vigil, false);
    }
    let (p, v) = (&reference.body["data"], &vigil.body["data"]);
    let items = |d: &Value| -> Vec<String> {
        d.as_array()
            .into_iter()
            .flatten()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => labels_text(other),
            })
            .collect()
    };
    let mut pi = items(p);
    let mut vi: Vec<String> = items(v)
        .into_iter()
        .filter(|x| !collectors_own(x))
        .collect();
    if p.as_array()
        .and_then(|a| a.first())
        .is_some_and(Value::is_object)
    {
        // Series come in no promised order.
        pi.sort();
        vi.sort();
    }
    let mut out: Vec<String> = pi
        .iter()
        .filter(|x| !vi.contains(x))
        .map(|x| format!("only Prometheus has {x}"))
        .collect();
    out.extend(
        vi.iter()
            .filter(|x| !pi.contains(x))
            .map(|x| format!("only Vigil has {x}")),
    );
    if out.is_empty() && pi != vi {
        out.push(format!(
            "same items in a different order: Prometheus {pi:?} / Vigil {vi:?}"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(result_type: &str, result: Value) -> Answer {
        Answer {
            status: 200,
            body: json!({"status": "success", "data": {"resultType": result_type, "result": result}}),
        }
    }

    fn vector(items: &[(&str, f64, &str)]) -> Answer {
        let result = items
            .iter()
            .map(|(host, t, v)| json!({"metric": {"host": host}, "value": [t, v]}))
            .collect();
        ok("vector", Value::Array(result))
    }

    #[test]
    fn values_match_within_tolerance_and_nan_matches_nan() {
        assert!(values_match(1.0, 1.0 + 1e-10));
        assert!(!values_match(1.0, 1.0 + 1e-8));
        assert!(values_match(0.0, 1e-17));
        assert!(!values_match(0.0, 1e-6));
        assert!(values_match(f64::NAN, f64::NAN));
        assert!(!values_match(f64::NAN, 0.0));
        assert!(values_match(f64::INFINITY, f64::INFINITY));
        assert!(!values_match(f64::INFINITY, f64::NEG_INFINITY));
        assert!(!values_match(f64::INFINITY, f64::MAX));
    }

    #[test]
    fn vectors_compare_as_sets() {
        let p = vector(&[("a", 10.0, "1"), ("b", 10.0, "NaN")]);
        let v = vector(&[("b", 10.0, "NaN"), ("a", 10.0, "1.0000000000001")]);
        assert_eq!(differences(&p, &v, false), Vec::<String>::new());
    }

    #[test]
    fn differences_name_the_series_and_both_values() {
        let p = vector(&[("a", 10.0, "1"), ("b", 10.0, "2"), ("c", 10.5, "3")]);
        let v = vector(&[("a", 10.0, "1.5"), ("c", 10.0, "3"), ("d", 10.0, "4")]);
        let diffs = differences(&p, &v, false);
        assert_eq!(
            diffs,
            vec![
                r#"{host="a"}: Prometheus 1 @ 10.0 / Vigil 1.5 @ 10.0"#,
                r#"only Prometheus has {host="b"} = 2 @ 10.0"#,
                r#"{host="c"}: Prometheus 3 @ 10.5 / Vigil 3 @ 10.0"#,
                r#"only Vigil has {host="d"} = 4 @ 10.0"#,
            ]
        );
    }

    #[test]
    fn matrices_compare_points_and_order() {
        let m = |a_first: bool, v: &str| {
            let a = json!({"metric": {"host": "a"}, "values": [[1, "1"], [2, v]]});
            let b = json!({"metric": {"host": "b"}, "values": [[1, "1"]]});
            ok(
                "matrix",
                if a_first {
                    json!([a, b])
                } else {
                    json!([b, a])
                },
            )
        };
        assert!(differences(&m(true, "2"), &m(true, "2"), true).is_empty());
        assert_eq!(
            differences(&m(true, "2"), &m(true, "3"), true),
            vec![r#"{host="a"}: Prometheus 2 @ 2 / Vigil 3 @ 2"#]
        );
        assert!(differences(&m(true, "2"), &m(false, "2"), false).is_empty());
        let order = differences(&m(true, "2"), &m(false, "2"), true);
        assert!(
            order[0].starts_with("same series in a different order"),
            "{order:?}"
        );
    }

    #[test]
    fn closeness_counts_values_not_spelled_alike() {
        let p = vector(&[("a", 10.0, "1"), ("b", 10.0, "2"), ("c", 10.0, "3")]);
        let v = vector(&[
            ("a", 10.0, "1"),
            ("b", 10.0, "2.0000000000002"),
            ("c", 10.0, "3"),
        ]);
        let c = closeness(&p, &v);
        assert_eq!((c.values, c.inexact), (3, 1));
        assert!((c.max_rel - 1e-13).abs() < 1e-15, "{}", c.max_rel);
    }

    #[test]
    fn errors_must_match_in_type() {
        let err = |status, kind| Answer {
            status,
            body: json!({"status": "error", "errorType": kind, "error": "x"}),
        };
        assert!(differences(&err(400, "bad_data"), &err(400, "bad_data"), false).is_empty());
        assert_eq!(
            differences(&err(422, "execution"), &err(400, "bad_data"), false).len(),
            1
        );
        let found = differences(&vector(&[]), &err(400, "bad_data"), false);
        assert_eq!(
            found,
            vec!["Prometheus succeeded but Vigil failed: HTTP 400 bad_data: x"]
        );
    }
}
