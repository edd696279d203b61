//! Request-level cases of the differential test, beside the expression corpus: requests
//! both servers must refuse, the metadata endpoints, and parameters in the other spellings
//! the API accepts (RFC 3339 times, duration steps). Vigil supports every construct
//! Prometheus answers: there is no list of queries only Vigil refuses.

use crate::prom_api::Eval;
use crate::promql_corpus::Times;

const S: i64 = 1000;
const M: i64 = 60 * S;

/// Requests both Prometheus and Vigil must refuse with 400 `bad_data`: the expression, and
/// the range parameters to use instead of an instant query (start, end, step in ms).
pub fn bad_requests(t: Times) -> Vec<(&'static str, Eval)> {
    let range = |start, end, step| Eval::Range { start, end, step };
    vec![
        ("sum(", Eval::Instant(t.end)),
        ("rate(node_load1)", Eval::Instant(t.end)),
        ("node_load1{", Eval::Instant(t.end)),
        ("node_load1[5m]", range(t.start, t.end, 60 * S)),
        ("node_load1[10m:1m]", range(t.start, t.end, 60 * S)),
        (r#"label_values(node_load1, host)"#, Eval::Instant(t.end)),
        ("node_load1", range(t.end, t.start, 60 * S)),
        ("node_load1", range(t.start, t.end, 0)),
        // 21,601 points per series: past Prometheus's 11,000.
        ("node_load1", range(t.start, t.end, 500)),
    ]
}

/// Metadata requests (path, parameters) whose answers must match over the whole dataset
/// (no start/end: Prometheus filters those by block and chunk, not by sample).
pub fn metadata_requests() -> Vec<(String, Vec<(String, String)>)> {
    let m = |v: &str| ("match[]".to_owned(), v.to_owned());
    vec![
        ("/api/v1/series".into(), vec![m("node_load1")]),
        (
            "/api/v1/series".into(),
            vec![
                m(r#"{host="db-1",__name__=~"node_load.*"}"#),
                m("node_uname_info"),
            ],
        ),
        (
            "/api/v1/series".into(),
            vec![m(r#"node_filesystem_size_bytes{mountpoint!~"/.*"}"#)],
        ),
        ("/api/v1/labels".into(), vec![]),
        (
            "/api/v1/labels".into(),
            vec![m("node_filesystem_avail_bytes")],
        ),
        ("/api/v1/label/host/values".into(), vec![]),
        ("/api/v1/label/mountpoint/values".into(), vec![]),
        ("/api/v1/label/__name__/values".into(), vec![]),
        ("/api/v1/label/env/values".into(), vec![m("node_load1")]),
    ]
}

/// Query requests with parameters spelled as RFC 3339 times and duration steps (path,
/// parameters); their answers must match like any other.
pub fn spelled_requests(t: Times) -> Vec<(&'static str, Vec<(String, String)>)> {
    let p = |k: &str, v: String| (k.to_owned(), v);
    let q = |e: &str| p("query", e.to_owned());
    vec![
        (
            "/api/v1/query",
            vec![q("node_load1"), p("time", rfc3339(t.end))],
        ),
        (
            "/api/v1/query",
            vec![q("sum(node_load1)"), p("time", rfc3339(t.end - 7_250))],
        ),
        (
            "/api/v1/query_range",
            vec![
                q("avg(node_load5)"),
                p("start", rfc3339(t.end - 30 * M)),
                p("end", rfc3339(t.end)),
                p("step", "1m".to_owned()),
            ],
        ),
        (
            "/api/v1/query_range",
            vec![
                q("rate(node_cpu_seconds_total{cpu=\"1\"}[5m])"),
                p("start", rfc3339(t.end - 60 * M + 500)),
                p("end", rfc3339(t.end)),
                p("step", "2m30s".to_owned()),
            ],
        ),
    ]
}

/// Milliseconds since the epoch as RFC 3339 UTC, `2026-11-21T08:00:00.250Z`.
pub fn rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_spells_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_250), "2000-02-29T00:00:00.250Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }
}
