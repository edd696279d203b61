//! The Prometheus-compatible HTTP API: Prometheus's envelope and data shapes, its error
//! types and statuses, GET and POST, and promtool reading Vigil as it reads Prometheus.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::process::Command;
use vigil_tests::client::{Def, batch};
use vigil_tests::{Collector, TestAgent, bin, free_port, now_ms};

/// One minute-aligned instant ten minutes ago: the data starts here.
fn origin_ms() -> i64 {
    now_ms() / 60_000 * 60_000 - 600_000
}

/// web-1: room_temp{room="kitchen"|"hall"} and door_opens_total every 15 s for 45 s;
/// web-2: room_temp{room="attic"} once, at the origin.
async fn write_rooms(grpc: &str, t0: i64) {
    let kitchen = [20.0, 21.5, 22.0, 22.25];
    let hall = [18.0, 18.0, 18.5, 19.0];
    let doors = [0.0, 1.0, 1.0, 3.0];
    let mut web1 = TestAgent::connect(grpc, "web-1").await.unwrap();
    for step in 0..4 {
        let defs: &[Def<'_>] = if step == 0 {
            &[
                (1, "room_temp", &[("room", "kitchen")]),
                (2, "room_temp", &[("room", "hall")]),
                (3, "door_opens_total", &[]),
            ]
        } else {
            &[]
        };
        let ts = t0 + step as i64 * 15_000;
        let samples = [(1, kitchen[step]), (2, hall[step]), (3, doors[step])];
        let ack = web1
            .batch(batch(step as u64 + 1, defs, ts, &samples))
            .await
            .unwrap();
        assert_eq!(ack.accepted_samples, 3, "{ack:?}");
    }
    let mut web2 = TestAgent::connect(grpc, "web-2").await.unwrap();
    let ack = web2
        .batch(batch(
            1,
            &[(1, "room_temp", &[("room", "attic")])],
            t0,
            &[(1, 30.0)],
        ))
        .await
        .unwrap();
    assert_eq!(ack.accepted_samples, 1, "{ack:?}");
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// GET `path?params`: (status, body).
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params).unwrap();
        answer(self.http.get(url).send().await.unwrap()).await
    }

    /// POST `path` with `params` as a form body.
    async fn post(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let encoded = reqwest::Url::parse_with_params("http://x/", params).unwrap();
        let body = encoded.query().unwrap_or("").to_owned();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// GET that must succeed: its `data`.
    async fn data(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.get(path, params).await;
        assert_eq!(status, 200, "{path} {params:?}: {body}");
        assert_eq!(body["status"], "success", "{body}");
        body["data"].clone()
    }

    /// GET that must fail with `status` and `error_type`: the error text.
    async fn error(&self, path: &str, params: &[(&str, &str)], status: u16, kind: &str) -> String {
        let (got, body) = self.get(path, params).await;
        assert_eq!(got, status, "{path} {params:?}: {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert_eq!(body["errorType"], kind, "{body}");
        body["error"].as_str().unwrap().to_owned()
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A sample time as the API writes it: whole seconds as an integer, else a fraction.
fn ts(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn labels(host: &str, room: &str) -> Value {
    json!({"__name__": "room_temp", "host": host, "instance": host, "job": "node", "room": room})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_speaks_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (collector, base) = Collector::start_with_http(&dir.path().join("data"), &[]);
    let t0 = origin_ms();
    write_rooms(&collector.url(), t0).await;
    let api = Api {
        base: base.clone(),
        http: vigil_tests::http_client().build().unwrap(),
    };

    // Instant queries, GET and POST alike, in Prometheus's shapes.
    let params = [
        ("query", r#"room_temp{room="kitchen"}"#),
        ("time", &secs(t0 + 30_500)),
    ];
    let data = api.data("/api/v1/query", &params).await;
    assert_eq!(
        data,
        json!({"resultType": "vector", "result": [
            {"metric": labels("web-1", "kitchen"), "value": [ts(t0 + 30_500), "22"]}
        ]})
    );
    let (status, posted) = api.post("/api/v1/query", &params).await;
    assert_eq!(status, 200, "{posted}");
    assert_eq!(posted["data"], data);
    let data = api
        .data(
            "/api/v1/query",
            &[("query", "sum(room_temp)"), ("time", &secs(t0))],
        )
        .await;
    assert_eq!(
        data["result"],
        json!([{"metric": {}, "value": [ts(t0), "68"]}])
    );
    let data = api
        .data("/api/v1/query", &[("query", "1+1.5"), ("time", &secs(t0))])
        .await;
    assert_eq!(
        data,
        json!({"resultType": "scalar", "result": [ts(t0), "2.5"]})
    );
    // Without a time: now, whose lookback no longer reaches samples ten minutes old.
    let data = api.data("/api/v1/query", &[("query", "room_temp")]).await;
    assert_eq!(data, json!({"resultType": "vector", "result": []}));

    // A range query: a matrix sorted by labels.
    let range = [
        ("query", r#"room_temp{host="web-1"}"#),
        ("start", &secs(t0)),
        ("end", &secs(t0 + 45_000)),
        ("step", "15s"),
    ];
    let data = api.data("/api/v1/query_range", &range).await;
    let points = |values: [&str; 4]| -> Value {
        (0..4)
            .map(|i| json!([ts(t0 + 15_000 * i as i64), values[i]]))
            .collect()
    };
    assert_eq!(
        data,
        json!({"resultType": "matrix", "result": [
            {"metric": labels("web-1", "hall"), "values": points(["18", "18", "18.5", "19"])},
            {"metric": labels("web-1", "kitchen"), "values": points(["20", "21.5", "22", "22.25"])},
        ]})
    );
    let (status, posted) = api.post("/api/v1/query_range", &range).await;
    assert_eq!((status, &posted["data"]), (200, &data));

    // Series, label names and values, from the store.
    let data = api
        .data("/api/v1/series", &[("match[]", "room_temp")])
        .await;
    assert_eq!(
        data,
        json!([
            labels("web-1", "hall"),
            labels("web-1", "kitchen"),
            labels("web-2", "attic")
        ])
    );
    let two = [
        ("match[]", r#"room_temp{host="web-2"}"#),
        ("match[]", "door_opens_total"),
    ];
    let data = api.data("/api/v1/series", &two).await;
    assert_eq!(
        data,
        json!([
            {"__name__": "door_opens_total", "host": "web-1", "instance": "web-1", "job": "node"},
            labels("web-2", "attic"),
        ])
    );
    let (status, posted) = api.post("/api/v1/series", &two).await;
    assert_eq!((status, &posted["data"]), (200, &data));
    let late = [
        ("match[]", r#"{__name__=~"room_temp|door_opens_total"}"#),
        ("start", &secs(t0 + 40_000)),
        ("end", &secs(t0 + 50_000)),
    ];
    let data = api.data("/api/v1/series", &late).await;
    assert_eq!(
        data.as_array().unwrap().len(),
        3,
        "web-2 has nothing then: {data}"
    );
    let data = api.data("/api/v1/label/host/values", &late).await;
    assert_eq!(data, json!(["web-1"]));

    let names = api.data("/api/v1/labels", &[]).await;
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in ["__name__", "host", "instance", "job", "room"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(names.is_sorted(), "{names:?}");
    let data = api
        .data("/api/v1/labels", &[("match[]", "room_temp")])
        .await;
    assert_eq!(data, json!(["__name__", "host", "instance", "job", "room"]));
    let (status, posted) = api
        .post("/api/v1/labels", &[("match[]", "room_temp")])
        .await;
    assert_eq!((status, &posted["data"]), (200, &data));
    let data = api.data("/api/v1/label/room/values", &[]).await;
    assert_eq!(data, json!(["attic", "hall", "kitchen"]));
    let data = api
        .data(
            "/api/v1/label/room/values",
            &[("match[]", r#"{host="web-1"}"#)],
        )
        .await;
    assert_eq!(data, json!(["hall", "kitchen"]));
    let metrics = api.data("/api/v1/label/__name__/values", &[]).await;
    for name in ["door_opens_total", "room_temp"] {
        assert!(
            metrics.as_array().unwrap().contains(&json!(name)),
            "{metrics}"
        );
    }
    let data = api.data("/api/v1/label/nothing_here/values", &[]).await;
    assert_eq!(data, json!([]));

    // What clients ask before querying.
    let data = api.data("/api/v1/status/buildinfo", &[]).await;
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(data["application"], "vigil");
    for field in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(data[field].is_string(), "{field} missing: {data}");
    }
    // The test agent describes nothing; the collector's own metrics are described.
    let metadata = api.data("/api/v1/metadata", &[]).await;
    assert_eq!(
        metadata["vigil_collector_samples_accepted_total"][0]["type"], "counter",
        "{metadata}"
    );
    assert!(metadata.get("room_temp").is_none(), "{metadata}");
    let ready = api
        .http
        .get(format!("{base}/-/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    errors::errors_name_the_problem(&api, t0).await;
    promtool_reads_vigil(&base, t0);
    drop(collector);
}

/// `promtool query instant|range` against Vigil print what they print for Prometheus.
fn promtool_reads_vigil(base: &str, t0: i64) {
    vigil_tests::prometheus::ensure_installed();
    let promtool = "/usr/bin/promtool";
    let run = |args: &[&str]| -> String {
        let out = Command::new(promtool).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let t = t0 / 1000;
    let out = run(&[
        "query",
        "instant",
        "--time",
        &(t + 30).to_string(),
        base,
        r#"room_temp{room="kitchen"}"#,
    ]);
    assert_eq!(
        out.trim(),
        format!(
            r#"room_temp{{host="web-1", instance="web-1", job="node", room="kitchen"}} => 22 @[{}]"#,
            t + 30
        )
    );
    let out = run(&[
        "query",
        "range",
        "--start",
        &t.to_string(),
        "--end",
        &(t + 30).to_string(),
        "--step",
        "15s",
        base,
        r#"room_temp{room="hall"}"#,
    ]);
    assert_eq!(
        out.trim(),
        format!(
            "room_temp{{host=\"web-1\", instance=\"web-1\", job=\"node\", room=\"hall\"}} =>\n\
             18 @[{t}]\n18 @[{}]\n18.5 @[{}]",
            t + 15,
            t + 30
        )
    );
    let out = run(&["query", "labels", base, "room"]);
    assert_eq!(out.trim(), "attic\nhall\nkitchen");
    let out = run(&[
        "query",
        "series",
        base,
        "--match",
        r#"room_temp{host="web-2"}"#,
    ]);
    assert_eq!(
        out.trim(),
        r#"{__name__="room_temp", host="web-2", instance="web-2", job="node", room="attic"}"#
    );
    let out = Command::new(promtool)
        .args(["query", "instant", base, "room_temp{"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad_data: parse error"), "{err}");
}

#[test]
fn an_open_http_listener_without_tls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("0.0.0.0:{}", free_port());
    let out = Command::new(bin("vigil-collector"))
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["--http-listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.http_listen") && err.contains(&addr) && err.contains("allow_insecure"),
        "{err}"
    );
}

mod errors;
