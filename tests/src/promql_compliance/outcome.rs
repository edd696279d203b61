//! What one expanded query's answers say, and the tallies the test prints.
//!
//! Answers are compared with [`crate::promql_compare`]'s rules (same series, same
//! timestamps, values within 1e-9 relative or 1e-12 absolute, NaN = NaN, series order for
//! range queries). Those are stricter than the compliance tester's own (values within
//! 1e-5 of the smaller one, `cmpopts.EquateApprox(0.00001, 0)`), so each differing answer
//! is also checked against the tester's tolerance ([`within_tester_tolerance`]) and the
//! table shows how many would have passed there.

use crate::prom_api::Answer;
use crate::promql_compare::{differences, error_text, labels_text, parse_value};
use serde_json::Value;
use std::collections::BTreeMap;

/// The tester's relative tolerance (`defaultFraction` in its `comparer.go`).
pub const TESTER_FRACTION: f64 = 0.00001;

/// How Vigil's answer to one request compares with Prometheus's.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Both succeeded with the same result (or both succeeded where only success counts).
    Identical,
    /// Both refused the query, with the same HTTP status and `errorType`.
    BothError {
        /// Prometheus's error.
        prometheus: String,
    },
    /// Anything else; the lines say what differs.
    Differ(Vec<String>),
}

/// Compares one request's answers. `ordered` also compares the order of series (range
/// queries); `result_matters` is false for the tester's `skip_comparison` cases.
pub fn judge(p: &Answer, v: &Answer, ordered: bool, result_matters: bool) -> Verdict {
    let ok = |a: &Answer| a.body["status"] == "success";
    if !ok(p) && !ok(v) && p.status == v.status && p.body["errorType"] == v.body["errorType"] {
        return Verdict::BothError {
            prometheus: error_text(p),
        };
    }
    if !result_matters && ok(p) && ok(v) {
        return Verdict::Identical;
    }
    let diffs = differences(p, v, ordered);
    if diffs.is_empty() {
        Verdict::Identical
    } else {
        Verdict::Differ(diffs)
    }
}

/// Whether Prometheus's answer has any sample (a scalar or string counts).
pub fn has_data(a: &Answer) -> bool {
    match a.body["data"]["result"].as_array() {
        Some(items) => items.iter().any(|item| {
            item.get("values")
                .and_then(Value::as_array)
                .is_none_or(|values| !values.is_empty())
        }),
        None => !a.body["data"]["result"].is_null(),
    }
}

/// Whether two successful answers agree under the compliance tester's rules: same result
/// type, same series, same timestamps, values equal within [`TESTER_FRACTION`] of the
/// smaller magnitude (NaN equal to NaN). Series order is not compared.
pub fn within_tester_tolerance(p: &Answer, v: &Answer) -> bool {
    let (pd, vd) = (&p.body["data"], &v.body["data"]);
    if p.body["status"] != "success" || v.body["status"] != "success" {
        return false;
    }
    if pd["resultType"] != vd["resultType"] {
        return false;
    }
    close(&points(pd), &points(vd))
}

/// Every sample of a result as (series, milliseconds) → value.
fn points(data: &Value) -> BTreeMap<(String, i64), f64> {
    let mut out = BTreeMap::new();
    let mut add = |key: &str, pt: &Value| {
        if let (Some(t), Some(v)) = (pt[0].as_f64(), parse_value(&pt[1])) {
            out.insert((key.to_owned(), (t * 1000.0).round() as i64), v);
        }
    };
    match data["result"].as_array() {
        Some(items) => {
            for item in items {
                let key = labels_text(&item["metric"]);
                match item["values"].as_array() {
                    Some(values) => values.iter().for_each(|pt| add(&key, pt)),
                    None => add(&key, &item["value"]),
                }
            }
        }
        None => add("", &data["result"]),
    }
    out
}

fn close(p: &BTreeMap<(String, i64), f64>, v: &BTreeMap<(String, i64), f64>) -> bool {
    p.len() == v.len()
        && p.iter().all(|(key, &a)| {
            v.get(key).is_some_and(|&b| {
                (a.is_nan() && b.is_nan())
                    || a == b
                    || (a - b).abs() <= TESTER_FRACTION * a.abs().min(b.abs())
            })
        })
}

/// One row of the table: how the expanded queries of a section came out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Expanded queries.
    pub total: usize,
    /// Range answers identical.
    pub identical: usize,
    /// Range answers differing.
    pub differing: usize,
    /// Both refused the query alike.
    pub both_error: usize,
    /// Of the differing, how many are within the tester's own tolerance.
    pub within_tester_tolerance: usize,
    /// Instant answers (at the window's end) differing.
    pub instant_differing: usize,
}

impl Row {
    /// Adds another row's counts.
    pub fn add(&mut self, other: &Row) {
        self.total += other.total;
        self.identical += other.identical;
        self.differing += other.differing;
        self.both_error += other.both_error;
        self.within_tester_tolerance += other.within_tester_tolerance;
        self.instant_differing += other.instant_differing;
    }
}

/// The table: one line per section in the file's order, then the total, then `extra`
/// rows that the total leaves out (queries from outside the current file).
pub fn table(rows: &[(String, Row)], extra: &[(String, Row)]) -> String {
    let line = |name: &str, r: &Row| {
        format!(
            "{:<44} {:>6} {:>9} {:>9} {:>10} {:>6} {:>8}\n",
            name,
            r.total,
            r.identical,
            r.differing,
            r.both_error,
            r.within_tester_tolerance,
            r.instant_differing
        )
    };
    let mut out = format!(
        "{:<44} {:>6} {:>9} {:>9} {:>10} {:>6} {:>8}\n",
        "section", "total", "identical", "differing", "both-error", "≤1e-5", "instant≠"
    );
    let mut sum = Row::default();
    for (name, row) in rows {
        out.push_str(&line(name, row));
        sum.add(row);
    }
    out.push_str(&line("all expanded queries of the file", &sum));
    for (name, row) in extra {
        out.push_str(&line(name, row));
    }
    out
}

/// A short key for grouping Vigil's failures: its error message with numbers and quoted
/// parts blanked, so that one unsupported construct counts once.
pub fn error_key(a: &Answer) -> String {
    let text = error_text(a);
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push('"');
            }
            _ if quoted => {}
            '0'..='9' => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            _ => out.push(c),
        }
    }
    out.chars().take(140).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matrix(v: &str) -> Answer {
        Answer {
            status: 200,
            body: json!({"status": "success", "data": {"resultType": "matrix",
                "result": [{"metric": {"a": "b"}, "values": [[1, "1"], [2, v]]}]}}),
        }
    }

    fn error(status: u16, kind: &str) -> Answer {
        Answer {
            status,
            body: json!({"status": "error", "errorType": kind, "error": "bad 12 \"x(\""}),
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            judge(&matrix("2"), &matrix("2"), true, true),
            Verdict::Identical
        );
        assert!(matches!(
            judge(&matrix("2"), &matrix("3"), true, true),
            Verdict::Differ(_)
        ));
        assert_eq!(
            judge(&matrix("2"), &matrix("3"), true, false),
            Verdict::Identical
        );
        assert!(matches!(
            judge(&error(400, "bad_data"), &error(400, "bad_data"), true, true),
            Verdict::BothError { .. }
        ));
        assert!(matches!(
            judge(
                &error(422, "execution"),
                &error(400, "bad_data"),
                true,
                true
            ),
            Verdict::Differ(_)
        ));
    }

    #[test]
    fn the_testers_tolerance_is_looser() {
        assert!(within_tester_tolerance(&matrix("2"), &matrix("2.000001")));
        assert!(!within_tester_tolerance(&matrix("2"), &matrix("2.001")));
        assert!(within_tester_tolerance(&matrix("NaN"), &matrix("NaN")));
        assert!(!within_tester_tolerance(
            &matrix("2"),
            &error(400, "bad_data")
        ));
    }

    #[test]
    fn error_keys_blank_numbers_and_quotes() {
        assert_eq!(
            error_key(&error(400, "bad_data")),
            "HTTP # bad_data: bad # \"\""
        );
    }

    #[test]
    fn empty_matrices_have_no_data() {
        let empty = Answer {
            status: 200,
            body: json!({"status": "success", "data": {"resultType": "matrix", "result": []}}),
        };
        assert!(!has_data(&empty));
        assert!(has_data(&matrix("1")));
    }
}
