//! What the forwarding tests share: a collector whose config file holds `[[remote_write]]`
//! (with its HTTP API, restartable on the same ports and data directory), its own metrics,
//! raw samples from any Prometheus-style API, and the comparison of two stores.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil_tests::dataset::seconds;
use vigil_tests::victoria::{Exported, http_get};
use vigil_tests::{Collector, free_port};

/// A series' labels (`__name__` included).
pub type Labels = BTreeMap<String, String>;
/// Series → raw samples (Unix ms, value), in time order.
pub type Store = BTreeMap<Labels, Vec<(i64, f64)>>;

/// Settings every collector of these tests runs with: no fsync (a `kill -9` of the
/// process loses nothing the kernel has).
const ENV: &[(&str, &str)] = &[("VIGIL_COLLECTOR__STORAGE__SYNC", "false")];

/// A collector forwarding as its config file says, with the HTTP API on.
pub struct Site {
    pub collector: Collector,
    pub http_port: u16,
    config: PathBuf,
    /// What the runs before the last restart logged.
    earlier_logs: String,
}

impl Site {
    /// Starts a collector over `dir/data` whose config file is `remote_write` (TOML
    /// `[[remote_write]]` tables).
    pub fn start(dir: &Path, remote_write: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("collector.toml");
        std::fs::write(&config, remote_write).unwrap();
        let http_port = free_port();
        let collector = launch(free_port(), http_port, &dir.join("data"), &config);
        Self {
            collector,
            http_port,
            config,
            earlier_logs: String::new(),
        }
    }

    /// Starts the collector again on the same ports, data directory and config (after a
    /// `kill -9` or a clean stop); what it logged so far is kept for [`log`](Self::log).
    pub fn restart(&mut self) {
        let data = self.collector.data_dir.clone();
        self.earlier_logs.push_str(&self.collector.process.log());
        self.collector = launch(self.collector.port, self.http_port, &data, &self.config);
    }

    /// The collector's gRPC URL, for agents.
    pub fn url(&self) -> String {
        self.collector.url()
    }

    /// The sum of the collector's own metric `name` over the series whose labels hold all
    /// of `labels`, from `GET /metrics` (0 when there is none).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let (status, text) = http_get(self.http_port, "/metrics", &[]);
        assert_eq!(status, 200, "GET /metrics: {text}");
        metric_sum(&text, name, labels)
    }

    /// Raw samples of `selector` in `[from_ms, to_ms]` as the collector stores them.
    pub fn raw(&self, selector: &str, from_ms: i64, to_ms: i64) -> Result<Store, String> {
        raw_samples(self.http_port, selector, from_ms, to_ms, None)
    }

    /// `/api/v1/query` of `query` at `time_ms`: the `data` object.
    pub fn query(&self, query: &str, time_ms: i64) -> Result<serde_json::Value, String> {
        query_data(self.http_port, query, time_ms)
    }

    /// Everything the collector logged, this run and the ones before a restart.
    pub fn log(&self) -> String {
        format!("{}{}", self.earlier_logs, self.collector.process.log())
    }
}

fn launch(grpc_port: u16, http_port: u16, data: &Path, config: &Path) -> Collector {
    let listen = format!("127.0.0.1:{http_port}");
    let collector = Collector::start_with_args(
        grpc_port,
        data,
        ENV,
        &[
            "--config",
            config.to_str().unwrap(),
            "--http-listen",
            &listen,
        ],
    );
    vigil_tests::wait_for(Duration::from_secs(30), "the HTTP API to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", http_port)).ok()
    });
    collector
}

/// The sum of `name`'s samples whose labels hold all of `labels`, in Prometheus' text
/// format `text`.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, inner) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| inner.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// `/api/v1/query` on 127.0.0.1:`port` (Vigil, Prometheus and VictoriaMetrics alike).
pub fn query_data(port: u16, query: &str, time_ms: i64) -> Result<serde_json::Value, String> {
    let time = seconds(time_ms);
    let (status, body) = http_get(port, "/api/v1/query", &[("query", query), ("time", &time)]);
    let answer: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| format!("{query} on port {port}: {status}, not JSON ({e}): {body}"))?;
    if status != 200 || answer["status"] != "success" {
        return Err(format!("{query} on port {port}: {status} {body}"));
    }
    Ok(answer["data"].clone())
}

/// Raw samples of `selector` in `[from_ms, to_ms]` from the Prometheus API on `port` (a
/// range vector at `to_ms`). With `site` set, every series must carry that `site` label,
/// which is taken off (so series compare with the collector's own).
pub fn raw_samples(
    port: u16,
    selector: &str,
    from_ms: i64,
    to_ms: i64,
    site: Option<&str>,
) -> Result<Store, String> {
    let range_s = (to_ms - from_ms) / 1000 + 2;
    let data = query_data(port, &format!("{selector}[{range_s}s]"), to_ms)?;
    let mut store = Store::new();
    for (metric, values) in vigil_tests::series_values(&data) {
        let labels: Labels = metric
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            // An empty label is no label (Prometheus' data model; senders leave it out).
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let samples = values
            .iter()
            .map(|(t, v)| ((t * 1000.0).round() as i64, *v))
            .filter(|(t, _)| (from_ms..=to_ms).contains(t))
            .collect::<Vec<_>>();
        if !samples.is_empty() {
            // Series that differ only by an empty label are one series to a receiver.
            let series = store.entry(take_site(labels, site)?).or_default();
            series.extend(samples);
            series.sort_by_key(|(t, _)| *t);
        }
    }
    Ok(store)
}

/// The export of VictoriaMetrics as a [`Store`], each series' `site` checked and taken off.
pub fn from_export(series: Vec<Exported>, site: &str) -> Result<Store, String> {
    let mut store = Store::new();
    for s in series {
        let labels = take_site(s.labels, Some(site))?;
        store.entry(labels).or_default().extend(s.samples);
    }
    Ok(store)
}

fn take_site(mut labels: Labels, site: Option<&str>) -> Result<Labels, String> {
    if let Some(site) = site {
        let got = labels.remove("site");
        if got.as_deref() != Some(site) {
            return Err(format!("series {labels:?} has site {got:?}, not {site:?}"));
        }
    }
    Ok(labels)
}

/// Whether two values are the same, NaN included. `tolerance` is relative (0 = exact), to
/// the values themselves and, a millionth of it, to `scale`, the largest value of their
/// series: VictoriaMetrics stores a block of a series' values as integers with one common
/// decimal exponent, so a small value beside a large one keeps fewer digits.
pub fn same_value(a: f64, b: f64, tolerance: f64, scale: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a - b).abs() <= tolerance * (a.abs().max(b.abs()) + scale * 1e-6)
}

/// What differs between `want` (the collector) and `got` (a receiver): samples of `want`
/// missing or with another value in `got`, and (with `extra`) samples of `got` that `want`
/// lacks or holds twice. Empty when they agree.
pub fn differences(want: &Store, got: &Store, tolerance: f64, extra: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (labels, samples) in want {
        let scale = samples
            .iter()
            .map(|(_, v)| v.abs())
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let have = got.get(labels).map(Vec::as_slice).unwrap_or_default();
        let by_ts: BTreeMap<i64, Vec<f64>> = have.iter().fold(BTreeMap::new(), |mut m, (t, v)| {
            m.entry(*t).or_insert_with(Vec::new).push(*v);
            m
        });
        for (t, v) in samples {
            match by_ts.get(t) {
                None => out.push(format!("missing {labels:?} @{t} = {v}")),
                Some(vs) if !vs.iter().all(|g| same_value(*v, *g, tolerance, scale)) => {
                    out.push(format!("{labels:?} @{t}: stored {v}, forwarded {vs:?}"))
                }
                Some(vs) if extra && vs.len() > 1 => {
                    out.push(format!("{labels:?} @{t} = {v} arrived {} times", vs.len()))
                }
                Some(_) => {}
            }
        }
        if extra {
            let own: std::collections::BTreeSet<i64> = samples.iter().map(|(t, _)| *t).collect();
            // Staleness markers (NaN) are forwarded, but queries of the collector skip them.
            let extra = have.iter().filter(|(t, v)| !own.contains(t) && !v.is_nan());
            for (t, v) in extra {
                out.push(format!("extra {labels:?} @{t} = {v}"));
            }
        }
    }
    if extra {
        for labels in got.keys().filter(|l| !want.contains_key(*l)) {
            out.push(format!("extra series {labels:?}"));
        }
    }
    out
}

/// Samples in a store.
pub fn sample_count(store: &Store) -> usize {
    store.values().map(Vec::len).sum()
}

/// Calls `check` every second until it returns Ok; after `timeout`, panics with its last
/// complaint.
pub fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return v,
            Err(why) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// A short summary of `differences`: how many, and the first few.
pub fn summary(diffs: &[String]) -> String {
    let first: Vec<&str> = diffs.iter().take(10).map(String::as_str).collect();
    format!("{} difference(s), first: {}", diffs.len(), first.join("; "))
}

/// Sleeps until the wall clock passes `ms` (Unix milliseconds).
pub fn sleep_until(ms: i64) {
    let now = vigil_tests::now_ms();
    if ms > now {
        std::thread::sleep(Duration::from_millis((ms - now) as u64));
    }
}

/// POSTs a remote write `body` to `url` with the 1.0 headers; the status and the answer.
pub fn post_write(url: &str, body: Vec<u8>) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = vigil_tests::http_client().build().unwrap();
    runtime.block_on(async {
        let answer = client
            .post(url)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .header("x-prometheus-remote-write-version", "0.1.0")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap_or_default())
    })
}

/// A request holding one series, `labels`, with `samples` (ms, value).
pub fn one_series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Vec<u8> {
    use vigil_tests::remote_receiver::{Label, Sample, TimeSeries, WriteRequest, encode};
    encode(&WriteRequest {
        timeseries: vec![TimeSeries {
            labels: labels
                .iter()
                .map(|(name, value)| Label {
                    name: (*name).into(),
                    value: (*value).into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|(timestamp, value)| Sample {
                    value: *value,
                    timestamp: *timestamp,
                })
                .collect(),
        }],
    })
}

/// The time (ms) nearest before `t` at which no stored sample sits on either edge of a
/// `window_ms` range ending there, so that servers counting either edge in or out agree.
pub fn clear_of_samples(stores: &[Store], t: i64, window_ms: i64) -> i64 {
    let stamps: BTreeSet<i64> = stores
        .iter()
        .flat_map(|s| s.values().flatten().map(|(ts, _)| *ts))
        .collect();
    (0..1000)
        .map(|back| t - back)
        .find(|t| !stamps.contains(t) && !stamps.contains(&(t - window_ms)))
        .unwrap()
}

/// A single-number answer (`sum(...)`) as f64; 0 for an empty vector.
pub fn single(data: &serde_json::Value) -> f64 {
    vigil_tests::series_values(data)
        .first()
        .map_or(0.0, |(_, v)| v[0].1)
}
