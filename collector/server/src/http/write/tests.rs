//! `POST /api/v1/write` through the router, on RocksDB.

use super::*;
use crate::auth::{Auth, Role};
use crate::config::auth::TokenConfig;
use crate::http::{ApiOptions, router};
use crate::import::backfill::UNHOSTED;
use crate::limits::Limits;
use crate::notify::secret::SecretSource;
use crate::own_metrics::OwnMetrics;
use crate::remote_write::wire::{Label as WireLabel, MetricMetadata, Sample, TimeSeries};
use axum::http::Method;
use tower::ServiceExt;
use vigil_promql::{Engine, EngineOptions};
use vigil_rocks::{RocksOptions, RocksStore};
use vigil_store::Store;
use vigil_store::selector::Selector;

/// "Now" for every test: samples are stamped around it, queries evaluated at it.
const NOW: i64 = 1_800_000_000_000;

fn clock() -> i64 {
    NOW
}

const READ: &str = "read-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";
const WEB: &str = "web-agent-secret-0123456789";
const ANY: &str = "any-agent-secret-0123456789";

struct App {
    router: axum::Router,
    store: Arc<dyn Store>,
    counters: Arc<Counters>,
    _dir: tempfile::TempDir,
}

fn token(name: &str, role: Role, secret: &str, hosts: Option<&[&str]>) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        role,
        secret: SecretSource::Inline(secret.into()),
        hosts: hosts.map(|h| h.iter().map(|s| s.to_string()).collect()),
    }
}

/// A collector's HTTP API with remote write, open or with tokens, under `limits`.
fn app(with_tokens: bool, limits: Limits) -> App {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(RocksStore::open(dir.path(), RocksOptions::with_sync(false)).expect("open"));
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let mut config = crate::config::Config::default();
    if with_tokens {
        config.auth.tokens = vec![
            token("grafana", Role::Read, READ, None),
            token("ops", Role::Admin, ADMIN, None),
            token("web-agents", Role::Agent, WEB, Some(&["web-*"])),
            token("all-agents", Role::Agent, ANY, None),
        ];
    }
    let auth = Arc::new(Auth::from_config(&config).expect("auth"));
    let counters = Arc::new(Counters::default());
    let own = OwnMetrics {
        counters: counters.clone(),
        notify: Arc::new(crate::notify::metrics::NotifyMetrics::default()),
        auth: auth.clone(),
        remote_write: None,
    };
    let max_bytes = limits.max_message_bytes;
    let receiver = Receiver::new(
        Backfill::new(store.clone(), Arc::new(limits)),
        max_bytes,
        counters.clone(),
    )
    .with_clock(clock);
    let api = Api::new(engine, store.clone(), ApiOptions::default())
        .with_own_metrics(own)
        .with_auth(auth)
        .with_remote_write(receiver);
    App {
        router: router(api),
        store,
        counters,
        _dir: dir,
    }
}

fn open_app() -> App {
    app(false, Limits::default())
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| WireLabel {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
    }
}

fn body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    wire::encode(&WriteRequest {
        timeseries,
        metadata: vec![],
    })
}

/// POSTs `body` with remote write's headers (`encoding` as Content-Encoding unless
/// `None`) and `token`; the status and the body as text.
async fn post_with(
    app: &App,
    body: Vec<u8>,
    encoding: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/write")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header(wire::VERSION_HEADER.0, wire::VERSION_HEADER.1);
    if let Some(encoding) = encoding {
        request = request.header(header::CONTENT_ENCODING, encoding);
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(app, request.body(Body::from(body)).expect("request")).await
}

async fn send(app: &App, request: axum::http::Request<Body>) -> (StatusCode, String) {
    let response = app.router.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn post(app: &App, body: Vec<u8>) -> (StatusCode, String) {
    post_with(app, body, Some("snappy"), None).await
}

/// Every stored (labels, samples) matching `selector`.
fn stored(store: &Arc<dyn Store>, selector: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let selector = Selector::parse(selector).expect("selector");
    let (found, _) = store.select(&selector, 1000).expect("select");
    let mut out: Vec<_> = found
        .into_iter()
        .map(|(id, labels)| {
            let mut samples = Vec::new();
            store
                .samples(id, i64::MIN, i64::MAX, &mut samples)
                .expect("samples");
            let text = labels
                .pairs()
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            (text, samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `query` evaluated at NOW through `/api/v1/query`: the result's JSON.
async fn query(app: &App, query: &str) -> serde_json::Value {
    let uri = format!(
        "/api/v1/query?query={}&time={}",
        query
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>(),
        NOW / 1000
    );
    let request = axum::http::Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {READ}"))
        .body(Body::empty())
        .expect("request");
    let (status, text) = send(app, request).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json["data"]["result"].clone()
}

#[tokio::test]
async fn a_request_is_stored_and_queryable() {
    let app = open_app();
    let (status, text) = post(
        &app,
        body(vec![
            series(
                &[
                    ("__name__", "node_load1"),
                    ("host", "web-1"),
                    ("job", "node"),
                ],
                &[(NOW - 20_000, 0.5), (NOW - 10_000, 0.75)],
            ),
            series(
                &[("__name__", "up"), ("instance", "a:9100"), ("job", "node")],
                &[(NOW - 10_000, 1.0)],
            ),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(text, "");
    let load = query(&app, "node_load1").await;
    assert_eq!(load[0]["metric"]["host"], "web-1", "{load}");
    assert_eq!(load[0]["value"][1], "0.75", "{load}");
    // Without a host label: stored under the import account, selectable like any other.
    let up = query(&app, r#"up{job="node"}"#).await;
    assert_eq!(up[0]["metric"]["instance"], "a:9100", "{up}");
    assert!(up[0]["metric"].get("host").is_none(), "{up}");
    assert_eq!(app.store.series_count(UNHOSTED).expect("count"), 1);
    assert_eq!(app.counters.remote_write.samples.load(Ordering::Relaxed), 3);
    assert_eq!(app.counters.remote_write.requests(), [(204, 1)]);
}

#[tokio::test]
async fn a_replayed_request_stores_nothing_twice_and_older_samples_are_stored() {
    let app = open_app();
    let first = body(vec![series(
        &[("__name__", "m"), ("host", "h")],
        &[(NOW - 10_000, 1.0), (NOW, 2.0)],
    )]);
    assert_eq!(post(&app, first.clone()).await.0, StatusCode::NO_CONTENT);
    assert_eq!(post(&app, first).await.0, StatusCode::NO_CONTENT);
    let older = body(vec![series(
        &[("__name__", "m"), ("host", "h")],
        &[(NOW - 3_600_000, 0.5), (NOW, 2.0)],
    )]);
    assert_eq!(post(&app, older).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        stored(&app.store, "m"),
        [(
            "__name__=m,host=h".to_owned(),
            vec![(NOW - 3_600_000, 0.5), (NOW - 10_000, 1.0), (NOW, 2.0)]
        )]
    );
}

#[tokio::test]
async fn a_series_listed_twice_in_one_request_is_one_series() {
    let app = open_app();
    let labels = [("__name__", "m"), ("job", "j")];
    let (status, text) = post(
        &app,
        body(vec![
            series(&labels, &[(NOW - 2_000, 1.0)]),
            series(&[("__name__", "other")], &[(NOW, 5.0)]),
            series(&[("job", "j"), ("__name__", "m")], &[(NOW - 1_000, 2.0)]),
            series(&[("__name__", "empty")], &[]),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let m = stored(&app.store, "m");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].1, [(NOW - 2_000, 1.0), (NOW - 1_000, 2.0)]);
    assert!(stored(&app.store, "empty").is_empty());
}

#[tokio::test]
async fn unreadable_bodies_are_refused_and_nothing_is_stored() {
    let limits = Limits {
        max_message_bytes: 1 << 20,
        ..Limits::default()
    };
    let app = app(false, limits);
    let good = body(vec![series(&[("__name__", "m")], &[(NOW, 1.0)])]);

    // A bomb: 8 MiB of zeros in a few hundred bytes; refused before decompressing.
    let bomb = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 8 << 20])
        .expect("compress");
    let (status, text) = post(&app, bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("limits.max_message_bytes"), "{text}");

    // A body over the limit before decompressing.
    let (status, text) = post(&app, vec![7u8; (1 << 20) + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("limits.max_message_bytes"), "{text}");

    let (status, text) = post(&app, b"not snappy at all".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("snappy"), "{text}");

    let garbage = snap::raw::Encoder::new()
        .compress_vec(&[0xff; 64])
        .expect("compress");
    let (status, text) = post(&app, garbage).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("WriteRequest"), "{text}");

    let (status, text) = post_with(&app, good.clone(), Some("gzip"), None).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    assert!(
        text.contains("Content-Encoding") && text.contains("gzip"),
        "{text}"
    );

    let v2 = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/write")
        .header(header::CONTENT_ENCODING, "snappy")
        .header(
            header::CONTENT_TYPE,
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .body(Body::from(good.clone()))
        .expect("request");
    let (status, text) = send(&app, v2).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    assert!(
        text.contains("Content-Type") && text.contains("1.0"),
        "{text}"
    );

    assert!(stored(&app.store, r#"{__name__=~".+"}"#).is_empty());
    assert_eq!(
        app.counters.remote_write.requests(),
        [(400, 2), (413, 2), (415, 2)]
    );

    // Without Content-Encoding, a snappy body is still read.
    let (status, text) = post_with(&app, good, None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");

    // GET is not remote write.
    let get = axum::http::Request::get("/api/v1/write")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, get).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn bad_series_are_refused_naming_series_and_rule_after_storing_what_came_before() {
    let limits = Limits {
        max_labels_per_series: 4,
        max_label_value_bytes: 16,
        ..Limits::default()
    };
    let app = app(false, limits);
    let (status, text) = post(
        &app,
        body(vec![
            series(&[("__name__", "ok"), ("job", "j")], &[(NOW, 1.0)]),
            series(
                &[
                    ("__name__", "wide"),
                    ("a", "1"),
                    ("b", "2"),
                    ("c", "3"),
                    ("d", "4"),
                ],
                &[(NOW, 1.0), (NOW + 1, 2.0)],
            ),
            series(&[("__name__", "after")], &[(NOW, 1.0)]),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    for needle in [
        "too_many_labels",
        r#"__name__="wide""#,
        "over the limit of 4",
        "1 sample(s) before it were stored",
        "3 from it on were not",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    assert_eq!(stored(&app.store, "ok").len(), 1);
    assert!(stored(&app.store, "wide").is_empty());
    assert!(stored(&app.store, "after").is_empty());

    let (status, text) = post(
        &app,
        body(vec![series(
            &[("__name__", "long"), ("path", "/a/very/long/label/value")],
            &[(NOW, 1.0)],
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        text.contains(r#"__name__="long""#) && text.contains("label_too_long"),
        "{text}"
    );

    let (status, text) = post(
        &app,
        body(vec![series(
            &[("__name__", "future")],
            &[(NOW + 3_600_000, 1.0)],
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        text.contains(r#"__name__="future""#) && text.contains("future_timestamp"),
        "{text}"
    );
}

#[tokio::test]
async fn metadata_goes_to_the_metadata_table() {
    let app = open_app();
    let request = WriteRequest {
        timeseries: vec![],
        metadata: vec![MetricMetadata {
            r#type: 1,
            metric_family_name: "node_cpu_seconds_total".into(),
            help: "Seconds the CPUs spent in each mode.".into(),
            unit: String::new(),
        }],
    };
    let (status, text) = post(&app, wire::encode(&request)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let entry = app
        .counters
        .metadata
        .get("node_cpu_seconds_total")
        .expect("kept");
    assert_eq!(entry.kind, "counter");
}

#[tokio::test]
async fn who_may_write_what() {
    let app = app(true, Limits::default());
    let hosted = |host: &str| {
        body(vec![series(
            &[("__name__", "m"), ("host", host)],
            &[(NOW, 1.0)],
        )])
    };
    let unhosted = || body(vec![series(&[("__name__", "u")], &[(NOW, 1.0)])]);
    let cases: &[(Option<&str>, Vec<u8>, StatusCode)] = &[
        (None, hosted("web-1"), StatusCode::UNAUTHORIZED),
        (
            Some("wrong-secret-0123456789"),
            hosted("web-1"),
            StatusCode::UNAUTHORIZED,
        ),
        (Some(READ), hosted("web-1"), StatusCode::FORBIDDEN),
        (Some(WEB), hosted("db-1"), StatusCode::FORBIDDEN),
        (Some(WEB), unhosted(), StatusCode::FORBIDDEN),
        (Some(WEB), hosted("web-1"), StatusCode::NO_CONTENT),
        (Some(ADMIN), hosted("db-1"), StatusCode::NO_CONTENT),
        (Some(ADMIN), unhosted(), StatusCode::NO_CONTENT),
        (Some(ANY), unhosted(), StatusCode::NO_CONTENT),
        (Some(ANY), hosted("db-2"), StatusCode::NO_CONTENT),
    ];
    for (token, body, expected) in cases {
        let (status, text) = post_with(&app, body.clone(), Some("snappy"), *token).await;
        assert_eq!(status, *expected, "{token:?}: {text}");
        if token.is_none() {
            assert!(text.contains("agent or admin"), "{text}");
        }
        if token == &Some(WEB) && status == StatusCode::FORBIDDEN {
            assert!(
                text.contains("nothing of this request was stored"),
                "{text}"
            );
        }
    }
    assert_eq!(
        app.counters.remote_write.requests(),
        [(204, 5), (401, 2), (403, 3)]
    );
    assert_eq!(stored(&app.store, "m").len(), 3);
    assert_eq!(stored(&app.store, "u").len(), 1);
}
