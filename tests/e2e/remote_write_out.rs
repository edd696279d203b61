//! Forwarding (`[[remote_write]]`) end to end, against real receivers from Debian's
//! packages on loopback (VictoriaMetrics, Prometheus with its remote write receiver) and a
//! recording receiver in the test process: real agents streaming every second into a
//! collector whose config file forwards.
//!
//! - What arrives is what Vigil stores, sample for sample, with the external label added.
//! - A receiver down for two minutes, and the same with `kill -9` of the collector in the
//!   middle of it: afterwards every sample stored meanwhile is in Prometheus, and nothing
//!   was refused as out of order (Prometheus' counters and log, Vigil's counters).
//! - A receiver answering 400 gets each batch once, and the failed count shows it.
//! - Two sites (`site="a"`, `site="b"`) fan in to one VictoriaMetrics, whose sums agree
//!   with each collector's own.
//! - Through a route that cuts requests in the middle and stalls one (the tests' fault
//!   proxy), another Vigil collector receives every sample once.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::{
    Site, Store, clear_of_samples, differences, eventually, from_export, metric_sum, one_series,
    raw_samples, sample_count, single, sleep_until, summary,
};
use vigil_tests::prometheus::{self, Prometheus};
use vigil_tests::remote_receiver::RemoteReceiver;
use vigil_tests::victoria::{Victoria, http_get};
use vigil_tests::{Agent, free_port, now_ms, wait_for};

/// How long forwarding may take to catch up (generous: other tests share the machine).
const CATCH_UP: Duration = Duration::from_secs(300);
/// How long the receiver is down in the outage tests.
const OUTAGE_MS: i64 = 120_000;
/// VictoriaMetrics keeps 12 significant decimal digits of a value: the relative difference
/// allowed between what Vigil stores and what VictoriaMetrics gives back.
const VM_DIGITS: f64 = 1e-11;

/// A `[[remote_write]]` table: `name`, `url`, `site` as external label, quick backoff
/// (the tests wait for retries), and any further `extra` lines.
fn remote(name: &str, url: &str, site: &str, extra: &str) -> String {
    format!(
        "[[remote_write]]\nname = \"{name}\"\nurl = \"{url}\"\n\
         external_labels = {{ site = \"{site}\" }}\nmin_backoff = \"30ms\"\n\
         max_backoff = \"1s\"\n{extra}"
    )
}

/// A counter of the collector's `vigil_remote_write_*` family for remote `name`.
fn counter(site: &Site, metric: &str, name: &str, more: &[(&str, &str)]) -> f64 {
    let mut labels = vec![("remote", name)];
    labels.extend_from_slice(more);
    site.metric(&format!("vigil_remote_write_{metric}"), &labels)
}

#[test]
fn forwarded_series_hold_exactly_what_vigil_stores() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start(&dir.path().join("vm"));
    let site = Site::start(
        &dir.path().join("a"),
        &remote(
            "vm",
            &vm.write_url(),
            "a",
            "batch_size = 500\nconcurrency = 4\n",
        ),
    );
    let _agents: Vec<Agent> = ["rw-exact-1", "rw-exact-2"]
        .iter()
        .map(|h| Agent::start(&site.url(), "1s", h, dir.path()))
        .collect();
    let from = now_ms() + 3_000;
    let to = from + 20_000;
    sleep_until(to + 2_000);

    // Every series Vigil holds, its own included, sample for sample.
    let all = "{__name__=~\".+\"}";
    let (stored, forwarded) = eventually(
        CATCH_UP,
        "VictoriaMetrics to hold what Vigil stores",
        || {
            let stored = site.raw(all, from, to)?;
            let got = from_export(vm.export(all, from, to), "a")?;
            let diffs = differences(&stored, &got, VM_DIGITS, true);
            if diffs.is_empty() {
                Ok((stored, got))
            } else {
                Err(summary(&diffs))
            }
        },
    );
    let hosts: BTreeSet<&str> = stored
        .keys()
        .filter_map(|l| l.get("host").map(String::as_str))
        .collect();
    assert!(
        hosts.contains("rw-exact-1") && hosts.contains("rw-exact-2"),
        "the agents' series are not in the window: {hosts:?}"
    );
    assert_eq!(counter(&site, "samples_failed_total", "vm", &[]), 0.0);
    assert_eq!(counter(&site, "samples_dropped_total", "vm", &[]), 0.0);
    assert!(counter(&site, "samples_sent_total", "vm", &[]) >= sample_count(&stored) as f64);
    // Within VictoriaMetrics' digits; how many values it did not keep bit for bit.
    let inexact = differences(&stored, &forwarded, 0.0, false).len();
    eprintln!(
        "remote_write_out exact: {} series, {} samples compared ({inexact} not bit for bit) \
         in {:?}",
        stored.len(),
        sample_count(&stored),
        started.elapsed()
    );
}

#[test]
fn a_two_minute_receiver_outage_leaves_no_gap_and_nothing_out_of_order() {
    outage("rw-outage", false);
}

#[test]
fn kill_9_of_the_collector_during_an_outage_leaves_no_gap() {
    outage("rw-kill", true);
}

/// Prometheus' own counts of refused remote writes on `port`: out-of-order and
/// out-of-bounds samples, and 400 answers on `/api/v1/write`.
fn prometheus_refusals(port: u16) -> BTreeMap<&'static str, f64> {
    let (status, text) = http_get(port, "/metrics", &[]);
    assert_eq!(status, 200, "Prometheus /metrics: {text}");
    let write_400 = [("handler", "/api/v1/write"), ("code", "400")];
    BTreeMap::from([
        (
            "out_of_order",
            metric_sum(&text, "prometheus_tsdb_out_of_order_samples_total", &[]),
        ),
        (
            "out_of_bound",
            metric_sum(&text, "prometheus_tsdb_out_of_bound_samples_total", &[]),
        ),
        (
            "write_400",
            metric_sum(&text, "prometheus_http_requests_total", &write_400),
        ),
    ])
}

/// Vigil's counts of losses for remote `name`: refused, dropped as out of order.
fn vigil_refusals(site: &Site, name: &str) -> (f64, f64) {
    (
        counter(site, "samples_failed_total", name, &[]),
        counter(
            site,
            "samples_dropped_total",
            name,
            &[("reason", "out_of_order")],
        ),
    )
}

/// Two agents stream into a collector forwarding to Prometheus; Prometheus stops for
/// [`OUTAGE_MS`] (with `kill_collector`, the collector is killed with SIGKILL halfway and
/// started again on its data directory), then comes back on the same port and TSDB.
fn outage(name: &str, kill_collector: bool) {
    let started = Instant::now();
    prometheus::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let tsdb = dir.path().join("prometheus");
    let port = free_port();
    let mut receiver = Prometheus::start_receiver_on(port, &tsdb);
    let mut site = Site::start(
        &dir.path().join("vigil"),
        &remote(name, &receiver.write_url(), "a", "concurrency = 4\n"),
    );
    let _agents: Vec<Agent> = [1, 2]
        .iter()
        .map(|i| Agent::start(&site.url(), "1s", &format!("{name}-{i}"), dir.path()))
        .collect();
    let selector = format!("{{host=~\"{name}-.*\"}}");

    // Forwarding works before the outage.
    eventually(CATCH_UP, "the agents' samples in Prometheus", || {
        let now = now_ms();
        let got = raw_samples(port, &selector, now - 60_000, now, Some("a"))?;
        (sample_count(&got) > 100)
            .then_some(())
            .ok_or_else(|| format!("{} samples so far", sample_count(&got)))
    });
    std::thread::sleep(Duration::from_secs(5));
    let mut refused = vec![("before the outage", prometheus_refusals(port))];
    let mut logs = String::new();

    let outage_start = now_ms();
    receiver.process.terminate();
    logs.push_str(&receiver.process.log());
    let mut vigil_losses = vec![];
    if kill_collector {
        sleep_until(outage_start + OUTAGE_MS / 2);
        assert!(
            counter(&site, "retries_total", name, &[]) > 0.0,
            "no retry while the receiver is down"
        );
        vigil_losses.push(vigil_refusals(&site, name));
        site.collector.process.kill9();
        std::thread::sleep(Duration::from_secs(2));
        site.restart();
    }
    sleep_until(outage_start + OUTAGE_MS);
    assert!(
        counter(&site, "retries_total", name, &[]) > 0.0,
        "no retry while the receiver is down"
    );
    let outage_end = now_ms();
    let receiver = Prometheus::start_receiver_on(port, &tsdb);
    let (from, to) = (outage_start - 10_000, outage_end + 10_000);
    sleep_until(to + 2_000);

    let stored = eventually(
        CATCH_UP,
        "Prometheus to hold every sample Vigil stored",
        || {
            let stored = site.raw(&selector, from, to)?;
            let got = raw_samples(port, &selector, from, to, Some("a"))?;
            let diffs = differences(&stored, &got, 0.0, false);
            if diffs.is_empty() {
                Ok(stored)
            } else {
                Err(summary(&diffs))
            }
        },
    );
    let hosts: BTreeSet<&str> = stored
        .keys()
        .filter_map(|l| l.get("host"))
        .map(String::as_str)
        .collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");

    refused.push(("after the outage", prometheus_refusals(port)));
    logs.push_str(&receiver.process.log());
    vigil_losses.push(vigil_refusals(&site, name));
    for (when, counts) in &refused {
        assert!(
            counts.values().all(|v| *v == 0.0),
            "Prometheus refused samples {when}: {counts:?}\n{logs}"
        );
    }
    assert!(
        !logs.contains("Out of order sample"),
        "Prometheus logged refusals:\n{logs}"
    );
    assert!(
        vigil_losses.iter().all(|l| *l == (0.0, 0.0)),
        "Vigil counted (failed, dropped out_of_order) per run: {vigil_losses:?}\n{}",
        site.log()
    );
    eprintln!(
        "remote_write_out {name}: {} series, {} samples over the outage, all in Prometheus; {:?}",
        stored.len(),
        sample_count(&stored),
        started.elapsed()
    );
}

#[test]
fn a_receiver_answering_400_gets_each_batch_once_and_the_count_shows_it() {
    const MESSAGE: &str = "out of order sample (the test receiver refuses everything)";
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let receiver = RemoteReceiver::refusing(400, MESSAGE);
    let site = Site::start(
        &dir.path().join("vigil"),
        &remote(
            "refusing",
            &receiver.write_url(),
            "a",
            "batch_size = 50\nconcurrency = 2\n",
        ),
    );
    let mut agent = Agent::start(&site.url(), "1s", "rw-refused", dir.path());
    wait_for(Duration::from_secs(120), "30 refused requests", || {
        (receiver.http.requests().len() >= 30).then_some(())
    });
    agent.process.kill9();

    // Once the sender is idle for a moment, its counts match what arrived.
    let writes = eventually(CATCH_UP, "the counts to match the requests", || {
        let before = receiver.http.requests().len();
        let failed = counter(&site, "samples_failed_total", "refusing", &[]);
        let requests = counter(&site, "requests_total", "refusing", &[("code", "4xx")]);
        let writes = receiver.writes();
        let samples: usize = writes.iter().map(|w| w.body.sample_count()).sum();
        if writes.len() == before && failed == samples as f64 && requests == writes.len() as f64 {
            Ok(writes)
        } else {
            Err(format!(
                "{} requests with {samples} samples arrived; the collector counts {requests} \
                 4xx requests and {failed} failed samples",
                writes.len()
            ))
        }
    });
    assert_eq!(counter(&site, "retries_total", "refusing", &[]), 0.0);

    // Each sample came once, in a well-formed request.
    let mut seen = BTreeSet::new();
    for (i, w) in writes.iter().enumerate() {
        let r = &w.request;
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-encoding"), Some("snappy"), "request {i}");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("x-prometheus-remote-write-version"), Some("0.1.0"));
        assert!(
            r.header("user-agent")
                .unwrap_or_default()
                .starts_with("vigil/")
        );
        assert!(
            w.body.sample_count() <= 50,
            "request {i} exceeds batch_size"
        );
        for series in &w.body.timeseries {
            let names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
            assert!(names.is_sorted(), "labels not sorted: {names:?}");
            let stamps: Vec<i64> = series.samples.iter().map(|s| s.timestamp).collect();
            assert!(stamps.is_sorted(), "samples out of order: {stamps:?}");
            let labels = series.label_map();
            assert_eq!(labels.get("site").map(String::as_str), Some("a"));
            for t in stamps {
                assert!(
                    seen.insert((labels.clone(), t)),
                    "{labels:?} @{t} was sent twice"
                );
            }
        }
    }
    assert!(
        site.log().contains(MESSAGE),
        "the receiver's message is not logged:\n{}",
        site.log()
    );
    // `vigil status` shows the remote, what it refused and the receiver's message.
    let status = vigil_tests::vigil_json(&site.url(), &["status"]);
    let remote = &status["remotes"][0];
    assert_eq!(remote["name"], "refusing", "{status}");
    assert_eq!(
        remote["samples_failed"].as_u64(),
        Some(seen.len() as u64),
        "{remote}"
    );
    assert_eq!(remote["samples_sent"].as_u64(), Some(0), "{remote}");
    assert!(
        remote["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP 400"),
        "{remote}"
    );
    eprintln!(
        "remote_write_out 400: {} requests, {} samples, each once; the message logged {} \
         times; {:?}",
        writes.len(),
        seen.len(),
        site.log().matches(MESSAGE).count(),
        started.elapsed()
    );
}

#[test]
fn two_sites_fan_in_to_one_victoriametrics_and_sum_correctly() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start(&dir.path().join("vm"));
    // The same host name at both sites: only the site label tells them apart.
    let sites: Vec<(&str, Site, Agent)> = ["a", "b"]
        .into_iter()
        .map(|s| {
            let site_dir = dir.path().join(s);
            let site = Site::start(&site_dir, &remote(s, &vm.write_url(), s, ""));
            let agent = Agent::start(&site.url(), "1s", "rw-fanin", &site_dir);
            (s, site, agent)
        })
        .collect();
    let window_ms = 10_000;
    let t0 = now_ms() + 15_000;
    sleep_until(t0 + 3_000);
    let query = |by: &str| {
        format!("sum{by}(count_over_time(node_cpu_seconds_total{{host=\"rw-fanin\"}}[10s]))")
    };

    let (per_site, total) = eventually(CATCH_UP, "VictoriaMetrics' sums to match", || {
        let stores = sites
            .iter()
            .map(|(_, site, _)| site.raw("{host=\"rw-fanin\"}", t0 - 20_000, t0 + 1_000))
            .collect::<Result<Vec<_>, _>>()?;
        let t = clear_of_samples(&stores, t0, window_ms);
        let mut want = BTreeMap::new();
        for (name, site, _) in &sites {
            want.insert(name.to_string(), single(&site.query(&query(""), t)?));
        }
        let total: f64 = want.values().sum();
        let by_site: BTreeMap<String, f64> =
            vigil_tests::series_values(&vm.query(&query(" by (site)"), t as f64 / 1000.0))
                .into_iter()
                .map(|(m, v)| (m["site"].as_str().unwrap_or("").to_owned(), v[0].1))
                .collect();
        let vm_total = single(&vm.query(&query(""), t as f64 / 1000.0));
        if by_site == want && vm_total == total && want.values().all(|v| *v > 0.0) {
            Ok((want, total))
        } else {
            Err(format!(
                "at {t}: the collectors count {want:?} (sum {total}); VictoriaMetrics \
                 {by_site:?} (sum {vm_total})"
            ))
        }
    });
    eprintln!(
        "remote_write_out fan-in: {per_site:?}, sum {total} on both sides; {:?}",
        started.elapsed()
    );
}

/// The receivers and this file's readers, without Vigil: what a remote write puts in comes
/// back out (from VictoriaMetrics to 12 digits, also after a restart), and Prometheus
/// counts and logs an out-of-order sample where the outage tests look for one.
#[test]
fn the_receivers_give_back_what_a_remote_write_put_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut vm = Victoria::start(&dir.path().join("vm"));
    prometheus::ensure_installed();
    let port = free_port();
    let receiver = Prometheus::start_receiver_on(port, &dir.path().join("prometheus"));
    let t = now_ms() - 60_000;
    let labels = [("__name__", "rw_harness"), ("host", "h"), ("site", "a")];
    let samples = [
        (t, 0.1),
        (t + 1_000, std::f64::consts::PI),
        (t + 2_000, 1e9 + 0.5),
    ];
    for url in [vm.write_url(), receiver.write_url()] {
        let (status, body) = support::post_write(&url, one_series(&labels, &samples));
        assert!((200..300).contains(&status), "{url}: {status} {body}");
    }
    let want = Store::from([(
        BTreeMap::from(
            [("__name__", "rw_harness"), ("host", "h")].map(|(k, v)| (k.into(), v.into())),
        ),
        samples.to_vec(),
    )]);
    let (from, to) = (t - 1_000, t + 3_000);
    for run in ["first run", "after a restart"] {
        let got = from_export(vm.export("rw_harness", from, to), "a").unwrap();
        let diffs = differences(&want, &got, VM_DIGITS, true);
        assert!(
            diffs.is_empty(),
            "VictoriaMetrics, {run}: {}",
            summary(&diffs)
        );
        vm.restart();
    }
    let got = eventually(Duration::from_secs(30), "Prometheus to answer", || {
        raw_samples(port, "rw_harness", from, to, Some("a"))
    });
    let diffs = differences(&want, &got, 0.0, true);
    assert!(diffs.is_empty(), "Prometheus: {}", summary(&diffs));
    assert!(prometheus_refusals(port).values().all(|v| *v == 0.0));

    let (status, body) = support::post_write(
        &receiver.write_url(),
        one_series(&labels, &[(t + 500, 7.0)]),
    );
    assert_eq!(status, 400, "an out-of-order sample: {body}");
    let refused = prometheus_refusals(port);
    assert_eq!(refused["write_400"], 1.0, "{refused:?}");
    assert!(refused["out_of_order"] >= 1.0, "{refused:?}");
    wait_for(
        Duration::from_secs(10),
        "Prometheus to log the refusal",
        || {
            receiver
                .process
                .log()
                .contains("Out of order sample")
                .then_some(())
        },
    );
}

/// Forwarding to another Vigil collector's `POST /api/v1/write` through a route that cuts
/// requests in the middle and stalls one: every sample the agent's series hold arrives,
/// once, with nothing refused (a request cut after the receiver stored it is sent again,
/// and storing the same samples twice changes nothing).
#[test]
fn requests_cut_and_stalled_on_the_way_arrive_whole_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, base) = vigil_tests::Collector::start_with_http(&dir.path().join("b"), &[]);
    let receiver_port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = vigil_tests::fault_proxy::FaultProxy::start(receiver_port);
    let site = Site::start(
        &dir.path().join("a"),
        &remote(
            "b",
            &format!("{}/api/v1/write", proxy.url()),
            "a",
            "batch_size = 200\ntimeout = \"3s\"\n",
        ),
    );
    let host = "rw-proxy-1";
    let _agent = Agent::start(&site.url(), "1s", host, dir.path());
    let from = now_ms() + 3_000;
    std::thread::sleep(Duration::from_secs(4));
    for _ in 0..4 {
        proxy.cut();
        std::thread::sleep(Duration::from_millis(1_500));
    }
    proxy.stall();
    std::thread::sleep(Duration::from_secs(5));
    proxy.cut();
    let to = now_ms();
    sleep_until(to + 2_000);
    let selector = format!("{{host=\"{host}\"}}");
    let receiver_http = receiver_port;
    eventually(
        CATCH_UP,
        "the receiver to hold what the site stores",
        || {
            let stored = site.raw(&selector, from, to)?;
            let got = raw_samples(receiver_http, &selector, from, to, Some("a"))?;
            let diffs = differences(&stored, &got, 0.0, true);
            if diffs.is_empty() && !stored.is_empty() {
                Ok(())
            } else {
                Err(summary(&diffs))
            }
        },
    );
    assert_eq!(counter(&site, "samples_dropped_total", "b", &[]), 0.0);
    assert!(
        proxy.accepted() > 5,
        "the sender opened {} connections",
        proxy.accepted()
    );
    drop(receiver);
}
