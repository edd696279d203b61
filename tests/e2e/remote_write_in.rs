//! Remote write into the collector (`POST /api/v1/write`) from real senders: Debian's
//! Prometheus and vmagent, each scraping a node_exporter and writing to Vigil with a
//! token. PromQL on Vigil then answers as Prometheus itself does, and what vmagent wrote
//! is what node_exporter serves.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vigil_tests::node_exporter::{NodeExporter, Scrape};
use vigil_tests::prometheus::Prometheus;
use vigil_tests::vmagent::Vmagent;
use vigil_tests::{Collector, free_port, http_client, now_ms, wait_for};

const ADMIN: &str = "admin-secret-0123456789";
/// An agent token without host patterns: it may write series without a `host` label.
const AGENT: &str = "scraper-secret-0123456789";
const READ: &str = "read-secret-0123456789";

/// A collector with an admin, an agent and a read token, and its HTTP API's base URL.
fn collector(dir: &std::path::Path) -> (Collector, String) {
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[auth.tokens]]
name = "ops"
role = "admin"
secret = "{ADMIN}"

[[auth.tokens]]
name = "scrapers"
role = "agent"
secret = "{AGENT}"

[[auth.tokens]]
name = "grafana"
role = "read"
secret = "{READ}"
"#
        ),
    )
    .unwrap();
    let http_port = free_port();
    let listen = format!("127.0.0.1:{http_port}");
    let collector = Collector::start_with_args(
        free_port(),
        &dir.join("data"),
        &[],
        &[
            "--config",
            config.to_str().unwrap(),
            "--http-listen",
            &listen,
        ],
    );
    wait_for(Duration::from_secs(10), "the HTTP API to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", http_port)).ok()
    });
    (collector, format!("http://{listen}"))
}

/// One series of a query result: its labels and value.
type Vector = Vec<(BTreeMap<String, String>, f64)>;

/// `query` at `time_ms` on the Prometheus HTTP API at `base` (with the read token when
/// `token` is set): the answer's `data`.
async fn evaluate(base: &str, token: Option<&str>, query: &str, time_ms: i64) -> serde_json::Value {
    let client = http_client().build().unwrap();
    let time = vigil_tests::dataset::seconds(time_ms);
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/api/v1/query"),
        [("query", query), ("time", time.as_str())],
    )
    .unwrap();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{query} on {base}: {body}");
    body["data"].clone()
}

/// `query` at `time_ms` (see [`evaluate`]): the instant vector, sorted by labels (a scalar
/// is one unlabelled entry).
async fn query(base: &str, token: Option<&str>, query: &str, time_ms: i64) -> Vector {
    let data = &evaluate(base, token, query, time_ms).await;
    let value = |v: &serde_json::Value| v[1].as_str().unwrap().parse::<f64>().unwrap();
    let mut out: Vector = match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                (labels, value(&s["value"]))
            })
            .collect(),
        Some("scalar") => vec![(BTreeMap::new(), value(&data["result"]))],
        other => panic!("{query}: unexpected result type {other:?}: {data}"),
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The newest sample of each series `selector` selects in the 10 s before `time_ms` on
/// Vigil: labels (without `job` and `instance`) → (Unix milliseconds, value).
async fn newest(
    base: &str,
    selector: &str,
    time_ms: i64,
) -> BTreeMap<BTreeMap<String, String>, (i64, f64)> {
    let data = evaluate(base, Some(READ), &format!("{selector}[10s]"), time_ms).await;
    assert_eq!(data["resultType"], "matrix", "{data}");
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "job" && *k != "instance")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let last = s["values"].as_array().unwrap().last().unwrap();
            let ms = (last[0].as_f64().unwrap() * 1000.0).round() as i64;
            (labels, (ms, last[1].as_str().unwrap().parse().unwrap()))
        })
        .collect()
}

/// Whether two answers hold the same series with the same values (to the last few bits:
/// float sums may be added in another order).
fn same(a: &Vector, b: &Vector) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((la, va), (lb, vb))| {
            la == lb
                && (va == vb
                    || (va.is_nan() && vb.is_nan())
                    || (va - vb).abs() <= 1e-9 * va.abs().max(vb.abs()))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_writes_and_promql_answers_as_on_prometheus() {
    vigil_tests::prometheus::ensure_installed();
    vigil_tests::node_exporter::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let (_collector, vigil) = collector(dir.path());
    let node = NodeExporter::start(dir.path(), &[]);
    let yaml = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{}"]
remote_write:
  - url: {vigil}/api/v1/write
    authorization:
      credentials: {AGENT}
    queue_config:
      batch_send_deadline: 1s
    metadata_config:
      send_interval: 1s
"#,
        node.port
    );
    let prometheus = Prometheus::start_with_config(&dir.path().join("prometheus"), &yaml);
    let prom = prometheus.url();

    // Enough history for a rate over a minute's window to have several samples.
    let mut seen = 0.0;
    for _ in 0..600 {
        let count = query(&vigil, Some(READ), "count_over_time(up[1m])", now_ms()).await;
        seen = count.first().map_or(0.0, |c| c.1);
        if seen >= 15.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen >= 15.0, "Vigil holds {seen} samples of up");

    // At a time both have data for: once everything Prometheus scraped before it has
    // been written to Vigil, every answer is the same.
    let at = now_ms() - 2_000;
    let queries = [
        "up",
        "count(node_cpu_seconds_total)",
        r#"count({job="node"})"#,
        "count_over_time(up[10s])",
        r#"rate(node_cpu_seconds_total{mode="user"}[1m])"#,
        "sum by (mode) (rate(node_cpu_seconds_total[1m]))",
        "node_memory_MemTotal_bytes",
        "scrape_samples_scraped",
        "increase(node_context_switches_total[30s])",
    ];
    let mut differences = Vec::new();
    for _ in 0..300 {
        differences.clear();
        for q in queries {
            let (theirs, ours) = (
                query(&prom, None, q, at).await,
                query(&vigil, Some(READ), q, at).await,
            );
            assert!(!theirs.is_empty(), "Prometheus has nothing for {q}");
            if !same(&theirs, &ours) {
                differences.push(format!(
                    "{q}:\n  Prometheus {theirs:?}\n  Vigil      {ours:?}"
                ));
            }
        }
        if differences.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // The metadata Prometheus sends is served too.
    let client = http_client().build().unwrap();
    let mut kind = serde_json::Value::Null;
    for _ in 0..300 {
        let body: serde_json::Value = client
            .get(format!(
                "{vigil}/api/v1/metadata?metric=node_cpu_seconds_total"
            ))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        kind = body["data"]["node_cpu_seconds_total"][0]["type"].clone();
        if kind != serde_json::Value::Null {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(kind, "counter");

    // Counted, and nothing refused.
    let metrics = client
        .get(format!("{vigil}/metrics"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vigil_collector_remote_write_requests_total{code=\"204\"}"),
        "{metrics}"
    );
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("vigil_collector_remote_write_requests_total{code=\"4"))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

/// Labels of a node_exporter sample as a sender writes them: name included, empty
/// values left out.
fn key(name: &str, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut key: BTreeMap<String, String> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    key.insert("__name__".into(), name.into());
    key
}

/// A scrape by the series' labels.
fn by_labels(scrape: &Scrape) -> BTreeMap<BTreeMap<String, String>, f64> {
    scrape
        .samples
        .iter()
        .map(|s| (key(&s.name, &s.labels), s.value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vmagent_writes_what_node_exporter_serves() {
    vigil_tests::vmagent::ensure_installed();
    vigil_tests::node_exporter::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let (_collector, vigil) = collector(dir.path());
    let node = NodeExporter::start(dir.path(), &[]);
    let yaml = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{}"]
"#,
        node.port
    );
    let _vmagent = Vmagent::start(dir.path(), &yaml, &format!("{vigil}/api/v1/write"), ADMIN);

    // Wait until every series holds a sample scraped after this first look, and take the
    // newest of each: node_exporter read each after `before` and before `after`.
    let before = node.scrape();
    let instance = format!(r#"{{job="node", instance="127.0.0.1:{}"}}"#, node.port);
    let mut newest_samples = BTreeMap::new();
    let mut oldest = 0;
    for _ in 0..600 {
        newest_samples = newest(&vigil, &instance, now_ms()).await;
        oldest = newest_samples.values().map(|s| s.0).min().unwrap_or(0);
        if oldest > before.end_ms {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        oldest > before.end_ms,
        "a series' newest sample is at {oldest} ms, before {} ms",
        before.end_ms
    );
    let after = node.scrape();
    let written: BTreeMap<BTreeMap<String, String>, f64> = newest_samples
        .into_iter()
        .map(|(labels, (_, v))| (labels, v))
        .filter(|(labels, _)| {
            let name = labels["__name__"].as_str();
            name != "up" && !name.starts_with("scrape_")
        })
        .collect();

    // The same series as node_exporter serves.
    let (first, last) = (by_labels(&before), by_labels(&after));
    let served: BTreeSet<_> = last.keys().cloned().collect();
    let stored: BTreeSet<_> = written.keys().cloned().collect();
    let missing: Vec<_> = served.difference(&stored).take(10).collect();
    let extra: Vec<_> = stored.difference(&served).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} series served, {} stored; missing {missing:?}; extra {extra:?}",
        served.len(),
        stored.len()
    );

    // Counters between the two looks; a constant gauge the same. To a few units in the
    // last place: vmagent's fast number parser reads node_exporter's `2.5276203008e+10`
    // as 25276203008.000004.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
    let mut checked = 0;
    for (labels, value) in &written {
        let name = labels["__name__"].as_str();
        let counter = [
            "node_context_switches_total",
            "node_intr_total",
            "node_forks_total",
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
            "promhttp_metric_handler_requests_total",
        ]
        .contains(&name);
        if counter && let (Some(lo), Some(hi)) = (first.get(labels), last.get(labels)) {
            assert!(
                (lo <= value || close(*lo, *value)) && (value <= hi || close(*value, *hi)),
                "{labels:?}: {lo} <= {value} <= {hi}"
            );
            checked += 1;
        }
        if name == "node_memory_MemTotal_bytes" {
            let served = last[labels];
            assert!(
                close(*value, served),
                "{labels:?}: {value} stored, {served} served"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} values checked");
}
