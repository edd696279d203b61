//! Bad requests to the HTTP API: each gets Prometheus's error envelope, the status of its
//! error type, and a message naming the bad input.

use super::*;

pub(super) async fn errors_name_the_problem(api: &Api, t0: i64) {
    let query = "/api/v1/query";
    let e = api
        .error(query, &[("query", "room_temp{")], 400, "bad_data")
        .await;
    assert!(e.contains("parse error"), "{e}");
    let e = api
        .error(
            query,
            &[("query", "room_temp"), ("time", "yesterday")],
            400,
            "bad_data",
        )
        .await;
    assert!(
        e.contains(r#"invalid parameter "time""#) && e.contains("yesterday"),
        "{e}"
    );
    let e = api.error(query, &[], 400, "bad_data").await;
    assert!(e.contains(r#"invalid parameter "query""#), "{e}");
    let e = api
        .error(
            query,
            &[("query", "room_temp"), ("timeout", "soon")],
            400,
            "bad_data",
        )
        .await;
    assert!(e.contains(r#""timeout""#) && e.contains("soon"), "{e}");
    // Two kitchen/hall series per host on the right: Prometheus refuses to pick one.
    let e = api
        .error(
            query,
            &[
                ("query", "room_temp + ignoring(room) room_temp"),
                ("time", &secs(t0)),
            ],
            422,
            "execution",
        )
        .await;
    assert!(e.contains("many-to-many"), "{e}");

    let range = "/api/v1/query_range";
    let q = ("query", "room_temp");
    let (start, end) = (secs(t0), secs(t0 + 60_000));
    let e = api
        .error(range, &[q, ("end", &end), ("step", "15")], 400, "bad_data")
        .await;
    assert!(e.contains(r#"invalid parameter "start""#), "{e}");
    let e = api
        .error(
            range,
            &[q, ("start", &start), ("end", &end)],
            400,
            "bad_data",
        )
        .await;
    assert!(e.contains(r#"invalid parameter "step""#), "{e}");
    let e = api
        .error(
            range,
            &[q, ("start", &start), ("end", &end), ("step", "0")],
            400,
            "bad_data",
        )
        .await;
    assert!(e.contains("zero or negative"), "{e}");
    let e = api
        .error(
            range,
            &[q, ("start", &end), ("end", &start), ("step", "15")],
            400,
            "bad_data",
        )
        .await;
    assert!(
        e.contains("end timestamp must not be before start time"),
        "{e}"
    );
    let e = api
        .error(
            range,
            &[q, ("start", "0"), ("end", &end), ("step", "1s")],
            400,
            "bad_data",
        )
        .await;
    assert!(e.contains("11000") || e.contains("11,000"), "{e}");

    let e = api.error("/api/v1/series", &[], 400, "bad_data").await;
    assert!(e.contains("no match[]"), "{e}");
    let e = api
        .error(
            "/api/v1/series",
            &[("match[]", r#"{room=~".*"}"#)],
            400,
            "bad_data",
        )
        .await;
    assert!(
        e.contains(r#"invalid parameter "match[]""#)
            && e.contains("room=~")
            && e.contains("non-empty"),
        "{e}"
    );
    let e = api
        .error("/api/v1/label/1bad/values", &[], 400, "bad_data")
        .await;
    assert!(
        e.contains("invalid label name") && e.contains("1bad"),
        "{e}"
    );

    // A body past the limit is refused in the envelope; a wrong method is 405.
    let huge = "x".repeat(2 << 20);
    let (status, body) = api.post(query, &[("query", &huge)]).await;
    assert_eq!(
        (status, &body["errorType"]),
        (400, &json!("bad_data")),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
    let put = api
        .http
        .put(format!("{}{query}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 405);
}
