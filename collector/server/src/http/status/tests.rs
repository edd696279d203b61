//! `/api/v1/metadata` and `/metrics` through the router.

use crate::auth::Auth;
use crate::http::{Api, ApiOptions, router};
use crate::ingest::Counters;
use crate::notify::metrics::NotifyMetrics;
use crate::own_metrics::OwnMetrics;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::sync::Arc;
use tower::ServiceExt;
use vigil_promql::{Engine, EngineOptions};
use vigil_proto::v1::{MetricMetadata, MetricType};
use vigil_store::Store;
use vigil_store::memory::MemoryStore;

fn app() -> (axum::Router, Arc<Counters>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let counters = Arc::new(Counters::default());
    counters.metadata.record(&[
        MetricMetadata {
            name: "node_cpu_seconds_total".into(),
            r#type: MetricType::Counter as i32,
            help: "Seconds the CPUs spent in each mode.".into(),
            unit: "seconds".into(),
        },
        MetricMetadata {
            name: "node_load1".into(),
            r#type: MetricType::Gauge as i32,
            help: "1m load average.".into(),
            unit: String::new(),
        },
        MetricMetadata {
            name: "bad name".into(),
            r#type: MetricType::Gauge as i32,
            help: String::new(),
            unit: String::new(),
        },
    ]);
    counters.rejected("bad_label", 3);
    let own = OwnMetrics {
        counters: counters.clone(),
        notify: Arc::new(NotifyMetrics::default()),
        auth: Arc::new(Auth::from_config(&crate::config::Config::default()).unwrap()),
        remote_write: None,
    };
    let api = Api::new(engine, store, ApiOptions::default()).with_own_metrics(own);
    (router(api), counters)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String, String) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, kind, String::from_utf8(body.to_vec()).unwrap())
}

async fn metadata(app: &axum::Router, query: &str) -> serde_json::Value {
    let (status, _, body) = get(app, &format!("/api/v1/metadata{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "success", "{json}");
    json["data"].clone()
}

#[tokio::test]
async fn metadata_in_prometheus_shape_with_its_parameters() {
    let (app, counters) = app();
    let all = metadata(&app, "").await;
    assert_eq!(
        all["node_cpu_seconds_total"],
        serde_json::json!([{
            "type": "counter",
            "help": "Seconds the CPUs spent in each mode.",
            "unit": "seconds"
        }])
    );
    assert_eq!(all["node_load1"][0]["type"], "gauge");
    assert_eq!(
        all["vigil_collector_batches_total"][0]["type"], "counter",
        "the collector's own metrics are described too"
    );
    assert_eq!(all["process_resident_memory_bytes"][0]["type"], "gauge");
    assert!(all.get("bad name").is_none());
    assert_eq!(counters.metadata.ignored(), [("bad_metric_name", 1)]);

    let one = metadata(&app, "?metric=node_load1").await;
    assert_eq!(one.as_object().unwrap().len(), 1, "{one}");
    assert_eq!(one["node_load1"][0]["help"], "1m load average.");
    let none = metadata(&app, "?metric=nothing_here").await;
    assert_eq!(none, serde_json::json!({}));

    let two = metadata(&app, "?limit=2").await;
    let names: Vec<&String> = two.as_object().unwrap().keys().collect();
    assert_eq!(names, ["node_cpu_seconds_total", "node_load1"]);
    assert_eq!(metadata(&app, "?limit=0").await, serde_json::json!({}));
    let unlimited = metadata(&app, "?limit=-1&limit_per_metric=1").await;
    assert_eq!(unlimited, all);

    let (status, _, body) = get(&app, "/api/v1/metadata?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid parameter \\\"limit\\\""), "{body}");
}

#[tokio::test]
async fn own_metrics_in_the_text_format() {
    let (app, _) = app();
    let (status, kind, text) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    for needle in [
        "# TYPE vigil_collector_rejected_total counter\n",
        "vigil_collector_rejected_total{reason=\"bad_label\"} 3\n",
        "vigil_collector_metadata_names 2\n",
        "vigil_collector_metadata_ignored_total{reason=\"bad_metric_name\"} 1\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# HELP process_cpu_seconds_total ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // Every line is a comment or `name{labels} value`, each name described once.
    let mut described = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(described.insert(name.to_owned()), "{name} twice");
        } else if !line.starts_with("# HELP ") {
            let name = line.split(['{', ' ']).next().unwrap();
            // A histogram's series are described under the histogram's name.
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| described.contains(*b)))
                .unwrap_or(name);
            assert!(described.contains(family), "{line}: no TYPE before it");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
