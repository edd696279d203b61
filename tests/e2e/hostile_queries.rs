//! Hostile queries against a running collector: a 100,000-deep expression, a 100,000-term
//! sum, an over-long query, times at ±9e15 s and durations past any calendar, over HTTP
//! and gRPC. Each is refused (HTTP 400 `bad_data`, gRPC `INVALID_ARGUMENT`) with a message
//! naming the limit or the parameter, while another client's ordinary query keeps being
//! answered, and the collector is still running afterwards.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tonic::Code;
use vigil_proto::v1::forecast_client::ForecastClient;
use vigil_proto::v1::query_client::QueryClient;
use vigil_proto::v1::{ForecastRequest, InstantQueryRequest, RangeQueryRequest, SamplesRequest};
use vigil_tests::{Collector, http_client, vigil};

/// `limits.max_query_bytes` for this collector: room for the 200 KB expressions below, so
/// that they reach the nesting check, which is what used to crash.
const MAX_QUERY_BYTES: &str = "300000";

fn deep(n: usize) -> String {
    format!("{}1{}", "(".repeat(n), ")".repeat(n))
}

fn sum(n: usize) -> String {
    format!("1{}", "+1".repeat(n - 1))
}

/// POSTs `params` as a form to `base` + `path`: (status, JSON body).
async fn post(http: &reqwest::Client, url: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let form = reqwest::Url::parse_with_params("http://x/", params).unwrap();
    let response = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.query().unwrap_or("").to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Expects a 400 `bad_data` whose message contains every needle.
fn refused((status, body): (u16, Value), needles: &[&str]) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorType"], "bad_data", "{body}");
    let message = body["error"].as_str().unwrap();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_queries_are_refused_while_others_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut collector, base) = Collector::start_with_http(
        &dir.path().join("data"),
        &[("VIGIL_COLLECTOR__LIMITS__MAX_QUERY_BYTES", MAX_QUERY_BYTES)],
    );

    // Another client asks an ordinary question over and over, on its own connection.
    let stop = Arc::new(AtomicBool::new(false));
    let bystander = {
        let (stop, url) = (stop.clone(), format!("{base}/api/v1/query"));
        tokio::spawn(async move {
            let http = http_client().build().unwrap();
            let mut answered = 0;
            while !stop.load(Ordering::Relaxed) || answered == 0 {
                let (status, body) = post(&http, &url, &[("query", "1 + 1")]).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["data"]["result"][1], "2", "{body}");
                answered += 1;
            }
            answered
        })
    };

    let http = http_client().build().unwrap();
    let query = format!("{base}/api/v1/query");
    let range = format!("{base}/api/v1/query_range");
    // Nesting: what used to overflow a worker's stack and abort the process.
    for (expression, levels) in [
        (deep(100_000), "100001 levels"),
        (sum(100_000), "100000 levels"),
    ] {
        refused(
            post(&http, &query, &[("query", &expression)]).await,
            &["limits.max_query_depth", levels],
        );
    }
    let calls = format!("{}x{}", "abs(".repeat(50_000), ")".repeat(50_000));
    refused(
        post(&http, &query, &[("query", &calls)]).await,
        &["limits.max_query_depth"],
    );
    let minus = format!("{}1", "-".repeat(100_000));
    refused(
        post(
            &http,
            &range,
            &[
                ("query", &minus),
                ("start", "0"),
                ("end", "60"),
                ("step", "15"),
            ],
        )
        .await,
        &["limits.max_query_depth"],
    );
    // Length: past limits.max_query_bytes, refused before anything else.
    refused(
        post(&http, &query, &[("query", &sum(200_000))]).await,
        &["limits.max_query_bytes", "399999 bytes"],
    );
    // Extreme times, steps and durations, each naming its parameter.
    let range_at = |start: &'static str, end: &'static str, step: &'static str| {
        [
            ("query", "1"),
            ("start", start),
            ("end", end),
            ("step", step),
        ]
    };
    refused(
        post(&http, &range, &range_at("-9e15", "9e15", "15")).await,
        &["\"start\"", "out of range"],
    );
    refused(
        post(&http, &range, &range_at("0", "9e15", "15")).await,
        &["\"end\"", "out of range"],
    );
    refused(
        post(&http, &range, &range_at("0", "9e12", "0.001")).await,
        &["\"step\"", "maximum resolution"],
    );
    refused(
        post(&http, &range, &range_at("0", "60", "9e15")).await,
        &["\"step\"", "out of range"],
    );
    refused(
        post(&http, &query, &[("query", "1"), ("time", "9e15")]).await,
        &["\"time\"", "out of range"],
    );
    refused(
        post(&http, &query, &[("query", "1"), ("timeout", "1e300")]).await,
        &["\"timeout\""],
    );
    for expression in [
        "rate(x[4294967295y])",
        "x offset 1e300",
        "x @ 1e15",
        "x[1e300]",
    ] {
        refused(
            post(&http, &query, &[("query", expression)]).await,
            &["out of range"],
        );
    }
    refused(
        post(
            &http,
            &format!("{base}/api/v1/series"),
            &[("match[]", "up"), ("start", "-9e15")],
        )
        .await,
        &["\"start\"", "out of range"],
    );

    // The same over gRPC: INVALID_ARGUMENT naming the limit or the field.
    let channel = tonic::transport::Endpoint::from_shared(collector.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = QueryClient::new(channel.clone());
    let invalid = |e: tonic::Status, needle: &str| {
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(
            e.message().contains(needle),
            "{needle:?} not in {:?}",
            e.message()
        );
    };
    for expr in [deep(100_000), sum(100_000)] {
        let e = grpc
            .instant(InstantQueryRequest { expr, time_ms: 0 })
            .await
            .unwrap_err();
        invalid(e, "limits.max_query_depth");
    }
    let e = grpc
        .instant(InstantQueryRequest {
            expr: "1".into(),
            time_ms: 9_000_000_000_000_000_000,
        })
        .await
        .unwrap_err();
    invalid(e, "time_ms");
    let e = grpc
        .range(RangeQueryRequest {
            expr: "1".into(),
            start_ms: -9_000_000_000_000_000_000,
            end_ms: 9_000_000_000_000_000_000,
            step_ms: 15_000,
        })
        .await
        .unwrap_err();
    invalid(e, "start_ms");
    let e = grpc
        .range(RangeQueryRequest {
            expr: "1".into(),
            start_ms: 0,
            end_ms: i64::MAX,
            step_ms: i64::MAX,
        })
        .await
        .unwrap_err();
    invalid(e, "end_ms");
    for (selector, start_ms, needle) in [
        ("up".to_owned(), i64::MIN, "start_ms"),
        (deep(100_000), 0, "limits.max_query_depth"),
    ] {
        let request = SamplesRequest {
            selector,
            start_ms,
            end_ms: 1,
            limit: 0,
        };
        invalid(grpc.samples(request).await.err().unwrap(), needle);
    }
    let mut forecasts = ForecastClient::new(channel);
    let forecast = |expr: &str, lookback_ms: i64, horizon_ms: i64, at_ms: i64| ForecastRequest {
        expr: expr.into(),
        threshold: 1.0,
        lookback_ms,
        horizon_ms,
        at_ms,
        ..ForecastRequest::default()
    };
    for (request, needle) in [
        (forecast("up", 3_600_000, i64::MAX, 0), "horizon_ms"),
        (forecast("up", i64::MAX, 3_600_000, 0), "lookback_ms"),
        (forecast("up", 3_600_000, 3_600_000, i64::MIN + 1), "at_ms"),
        (
            forecast(&deep(100_000), 3_600_000, 3_600_000, 0),
            "limits.max_query_depth",
        ),
    ] {
        invalid(forecasts.forecast(request).await.unwrap_err(), needle);
    }
    // The CLI shows the refusal and exits with an error (one argument may be 128 KiB).
    let url = collector.url();
    let expression = deep(60_000);
    let out = tokio::task::spawn_blocking(move || vigil(&url, &["query", &expression]))
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("limits.max_query_depth"), "{stderr}");

    // The bystander was answered throughout; the collector still runs and answers.
    stop.store(true, Ordering::Relaxed);
    assert!(bystander.await.unwrap() > 0);
    assert!(collector.process.alive(), "{}", collector.process.log());
    let (status, body) = post(&http, &query, &[("query", "2 * 3")]).await;
    assert_eq!(
        (status, &body["data"]["result"][1]),
        (200, &Value::from("6")),
        "{body}"
    );
    let answer = grpc
        .instant(InstantQueryRequest {
            expr: "2 * 3".into(),
            time_ms: 1_700_000_000_000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.scalar, 6.0);
}
