//! The chaos soak: the real collector, a real agent, a real agent with a skewed clock, load
//! generator agents, a webhook receiver and an SMTP server, with alert rules that fire and
//! resolve, while faults are injected at random (seeded) intervals:
//!
//! - `kill -9` of the collector (restarted on the same ports and data directory);
//! - `kill -9` of the agent (restarted with the same spool);
//! - a full disk: another process fills the collector's filesystem (a tmpfs of the test's
//!   own) past the storage guard, then frees it;
//! - streams cut, and stalled then cut, by a proxy between the agents and the collector;
//! - one agent runs under `faketime +2m` (its monotonic clock left alone) all along.
//!
//! At the end it accounts exactly: every sample the load generator had acknowledged is
//! stored with its value (compared with the same samples written to a file by the load
//! generator), nothing is stored twice, every round each agent process took is stored once
//! and in order, and every notification reached each receiver exactly once, by delivery id.
//! It prints the tally and a fault table (times injected, time to heal p50 and max).
//!
//! In the suite it runs about 2 minutes; `tests/chaos/soak.sh DURATION` runs it longer
//! (`VIGIL_SOAK_DURATION`, `VIGIL_SOAK_SEED`).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigil_tests::fault_proxy::FaultProxy;
use vigil_tests::notify_servers::HttpReceiver;
use vigil_tests::notify_servers::smtp::{SmtpOptions, SmtpServer};
use vigil_tests::rng::Rng;
use vigil_tests::tmpfs::{Tmpfs, free_bytes};
use vigil_tests::victoria::http_get;
use vigil_tests::{Collector, Running, bin, free_port, now_ms, series_values, wait_for};

const MIB: u64 = 1 << 20;
/// What the storage guard keeps free on the collector's tmpfs.
const KEEP: u64 = 64 * MIB;
const LOADGEN_HOSTS: u32 = 4;
const LOADGEN_SERIES: u32 = 50;

const RULES: &str = r#"groups:
  - name: chaos
    interval: 1s
    rules:
      - alert: ChaosTwenty
        expr: (vector(time()) % 40) < 20
        labels:
          severity: warning
      - alert: ChaosThirty
        expr: (vector(time()) % 60) < 30
        labels:
          severity: critical
"#;

fn soak_duration() -> Duration {
    std::env::var("VIGIL_SOAK_DURATION")
        .ok()
        .map(|d| humantime::parse_duration(&d).expect("VIGIL_SOAK_DURATION: a duration like 1h"))
        .unwrap_or(Duration::from_secs(120))
}

fn soak_seed() -> u64 {
    std::env::var("VIGIL_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// The collector's config: the rules every second, both receivers on one route with one
/// group per alert name, quick retries, the guard keeping [`KEEP`] free.
fn write_config(dir: &Path, hook: &str, smtp_port: u16) -> PathBuf {
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let config = dir.join("collector.toml");
    let text = format!(
        r#"[rules]
files = [{rules:?}]
evaluation_interval = "1s"

[storage]
min_free_bytes = {KEEP}
compaction_interval = "5s"

[[notify.receivers]]
name = "ops"
[[notify.receivers.webhook]]
url = "{hook}/hook"
timeout = "2s"
[[notify.receivers.email]]
to = ["ops@example.com"]
from = "vigil@example.com"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"

[notify.route]
receiver = "ops"
group_by = ["alertname"]
group_wait = "0s"
group_interval = "1s"
repeat_interval = "24h"

[notify.delivery]
backoff_initial = "100ms"
backoff_max = "1s"
"#,
        rules = rules.display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// The collector on fixed ports over `data`, with its HTTP API.
struct Node {
    grpc: u16,
    http: u16,
    data: PathBuf,
    config: PathBuf,
    collector: Collector,
}

impl Node {
    fn start(grpc: u16, http: u16, data: &Path, config: &Path) -> Collector {
        let listen = format!("127.0.0.1:{http}");
        let collector = Collector::start_with_args(
            grpc,
            data,
            &[],
            &[
                "--config",
                config.to_str().unwrap(),
                "--http-listen",
                &listen,
            ],
        );
        wait_for(Duration::from_secs(30), "the HTTP API", || {
            std::net::TcpStream::connect(("127.0.0.1", http)).ok()
        });
        collector
    }

    fn restart(&mut self) {
        self.collector = Self::start(self.grpc, self.http, &self.data, &self.config);
    }

    fn ready(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.http)).is_ok()
            && http_get(self.http, "/-/ready", &[]).0 == 200
    }

    /// The `data` of `/api/v1/query?query=…&time=…`.
    fn query(&self, query: &str, time_ms: i64) -> serde_json::Value {
        let time = format!("{:.3}", time_ms as f64 / 1000.0);
        let (status, body) = http_get(
            self.http,
            "/api/v1/query",
            &[("query", query), ("time", &time)],
        );
        assert_eq!(status, 200, "{query}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        body["data"].clone()
    }

    /// Samples of `metric{host}` in the last `span`, by time (milliseconds).
    fn samples(
        &self,
        selector: &str,
        span_s: i64,
        at_ms: i64,
    ) -> Vec<(BTreeMap<String, String>, BTreeMap<i64, f64>)> {
        let data = self.query(&format!("{selector}[{span_s}s]"), at_ms);
        series_values(&data)
            .into_iter()
            .map(|(labels, values)| {
                let labels = labels
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                let samples = values
                    .iter()
                    .map(|&(t, v)| ((t * 1000.0).round() as i64, v))
                    .collect();
                (labels, samples)
            })
            .collect()
    }
}

/// A real agent sending every second to `url` as `host`, spooling under `dir`; with
/// `skew`, under libfaketime.
fn agent(url: &str, host: &str, dir: &Path, skew: Option<&str>) -> Running {
    vigil_tests::agent_every_second(url, host, dir, skew)
}

/// Times each fault was injected and how long each took to heal.
#[derive(Default)]
struct Faults(BTreeMap<&'static str, Vec<Duration>>);

impl Faults {
    fn healed(&mut self, fault: &'static str, took: Duration) {
        self.0.entry(fault).or_default().push(took);
    }

    fn table(&self) -> String {
        let mut out = String::from("fault                      times  heal p50   heal max\n");
        for (fault, times) in &self.0 {
            let mut sorted = times.clone();
            sorted.sort();
            let p50 = sorted[(sorted.len() - 1) / 2];
            let max = sorted[sorted.len() - 1];
            out.push_str(&format!(
                "{fault:<26} {:>5}  {:>7.1} s  {:>7.1} s\n",
                times.len(),
                p50.as_secs_f64(),
                max.as_secs_f64()
            ));
        }
        out
    }
}

/// Each stored run of `vigil_agent_rounds_total` restarts at 1 when the agent process
/// does: checks every run is 1, 2, … n once and in order (a kill -9 ends a run, the
/// restart begins the next); returns (rounds, runs).
fn rounds_in_runs(samples: &BTreeMap<i64, f64>) -> Result<(u64, u64), String> {
    let (mut rounds, mut runs, mut last) = (0u64, 0u64, 0u64);
    for (&t, &v) in samples {
        let round = v as u64;
        if round == 1 {
            runs += 1;
        } else if round != last + 1 {
            return Err(format!("round {round} at {t} follows round {last}"));
        }
        rounds += 1;
        last = round;
    }
    Ok((rounds, runs))
}

/// Parses the load generator's OpenMetrics file: series (labels with `__name__`) →
/// samples by millisecond.
fn emitted(path: &Path) -> BTreeMap<BTreeMap<String, String>, BTreeMap<i64, f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: BTreeMap<BTreeMap<String, String>, BTreeMap<i64, f64>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, rest) = match line.rfind('}') {
            Some(close) => (&line[..close + 1], line[close + 1..].trim()),
            None => line.split_once(' ').unwrap(),
        };
        let mut labels = BTreeMap::new();
        let (name, pairs) = match series.split_once('{') {
            Some((name, pairs)) => (name, pairs.trim_end_matches('}')),
            None => (series, ""),
        };
        labels.insert("__name__".to_owned(), name.to_owned());
        for pair in pairs.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").unwrap();
            labels.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
        }
        let mut fields = rest.split_whitespace();
        let value: f64 = fields.next().unwrap().parse().unwrap();
        let seconds: f64 = fields.next().unwrap().parse().unwrap();
        out.entry(labels)
            .or_default()
            .insert((seconds * 1000.0).round() as i64, value);
    }
    out
}

/// What each receiver got, by delivery id: (alertname, status, startsAt) per id, and how
/// many times each id arrived.
fn webhook_deliveries(hook: &HttpReceiver) -> BTreeMap<String, ((String, String, String), u32)> {
    let mut out: BTreeMap<String, ((String, String, String), u32)> = BTreeMap::new();
    for r in hook.requests() {
        let id = r.header("x-vigil-delivery").unwrap_or_default().to_owned();
        let body = r.json();
        let alert = &body["alerts"][0];
        let key = (
            alert["labels"]["alertname"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            alert["status"].as_str().unwrap_or("").to_owned(),
            alert["startsAt"].as_str().unwrap_or("").to_owned(),
        );
        let entry = out.entry(id).or_insert((key.clone(), 0));
        assert_eq!(entry.0, key, "one delivery id, two notifications");
        entry.1 += 1;
    }
    out
}

#[test]
fn chaos_soak_loses_nothing_acknowledged_doubles_nothing_and_heals_itself() {
    let duration = soak_duration();
    let seed = soak_seed();
    let dir = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(&dir.path().join("fs"), 512 * MIB);
    let hook = HttpReceiver::start();
    let smtp = SmtpServer::start(SmtpOptions::default());
    let config = write_config(dir.path(), &hook.url(), smtp.port);
    let (grpc, http) = (free_port(), free_port());
    let data = mount.0.join("data");
    let mut node = Node {
        grpc,
        http,
        data: data.clone(),
        config: config.clone(),
        collector: Node::start(grpc, http, &data, &config),
    };
    let url = node.collector.url();
    let proxy = FaultProxy::start(grpc);
    let soak_start = now_ms();
    let mut agent_a = agent(&proxy.url(), "chaos-agent", dir.path(), None);
    let mut agent_b = agent(&url, "chaos-skewed", dir.path(), Some("+120s"));

    // The load generator: live scrapes every second for the soak, through the proxy.
    let start_s = soak_start / 1000 + 2;
    let live = format!("{}s", duration.as_secs());
    let loadgen_args = |cmd: &mut Command| {
        cmd.args(["--hosts", &LOADGEN_HOSTS.to_string()])
            .args(["--series-per-host", &LOADGEN_SERIES.to_string()])
            .args(["--interval", "1s", "--duration", &live])
            .args(["--end", &start_s.to_string(), "--seed", &seed.to_string()]);
    };
    let mut cmd = Command::new(bin("vigil-loadgen"));
    cmd.args(["--collector", &proxy.url(), "--output", "json"])
        .args([
            "--backoff-max",
            "1s",
            "--reconnect-for",
            "10m",
            "--ack-timeout",
            "20s",
        ]);
    loadgen_args(&mut cmd);
    let loadgen_log = dir.path().join("loadgen.log");
    let mut loadgen = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&loadgen_log).unwrap())
        .spawn()
        .unwrap();

    std::thread::sleep(Duration::from_secs(1));
    assert!(
        loadgen.try_wait().unwrap().is_none(),
        "the load generator stopped: {}",
        std::fs::read_to_string(&loadgen_log).unwrap_or_default()
    );

    // Faults, one every 5 to 12 s, until 20 s before the end.
    let mut rng = Rng::new(seed, 7);
    let mut faults = Faults::default();
    let end = Instant::now() + duration;
    let filler = mount.0.join("filler");
    while Instant::now() + Duration::from_secs(20) < end {
        std::thread::sleep(Duration::from_secs_f64(rng.range(5.0, 12.0)));
        let pick = rng.next_u64() % 6;
        match pick {
            0 => {
                node.collector.process.kill9();
                let killed = Instant::now();
                std::thread::sleep(Duration::from_millis(500));
                node.restart();
                wait_for(Duration::from_secs(60), "the collector ready again", || {
                    node.ready().then_some(())
                });
                faults.healed("kill -9 collector", killed.elapsed());
            }
            1 => {
                agent_a.kill9();
                let killed = Instant::now();
                let before = proxy.accepted();
                agent_a = agent(&proxy.url(), "chaos-agent", dir.path(), None);
                wait_for(
                    Duration::from_secs(60),
                    "the agent to connect again",
                    || (proxy.accepted() > before).then_some(()),
                );
                faults.healed("kill -9 agent", killed.elapsed());
            }
            2 => {
                let fill = free_bytes(&mount.0).saturating_sub(KEEP / 2);
                std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
                wait_for(Duration::from_secs(30), "the guard to trip", || {
                    (!node.ready()).then_some(())
                });
                std::thread::sleep(Duration::from_secs(3));
                std::fs::remove_file(&filler).unwrap();
                let freed = Instant::now();
                wait_for(Duration::from_secs(60), "ingest to resume", || {
                    node.ready().then_some(())
                });
                faults.healed("disk full", freed.elapsed());
            }
            3 => {
                let before = proxy.accepted();
                let cut = Instant::now();
                proxy.cut();
                wait_for(Duration::from_secs(60), "streams to reopen", || {
                    (proxy.accepted() > before).then_some(())
                });
                faults.healed("stream cut", cut.elapsed());
            }
            4 => {
                let before = proxy.accepted();
                proxy.stall();
                std::thread::sleep(Duration::from_secs(3));
                // The route comes back broken: the stalled streams end.
                let cut = Instant::now();
                proxy.cut();
                wait_for(Duration::from_secs(60), "streams to reopen", || {
                    (proxy.accepted() > before).then_some(())
                });
                faults.healed("stream stalled 3 s, cut", cut.elapsed());
            }
            _ => {
                agent_b.kill9();
                let killed = (Instant::now(), now_ms());
                agent_b = agent(&url, "chaos-skewed", dir.path(), Some("+120s"));
                // Its clock is two minutes ahead: so are its samples.
                let selector = "vigil_agent_rounds_total{host=\"chaos-skewed\"}";
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let s = node.samples(selector, 300, now_ms() + 180_000);
                    let newest = s.first().map(|(_, v)| v.clone()).unwrap_or_default();
                    // A new run (round 1) after the kill: the restarted process sends.
                    if newest.range(killed.1 + 118_000..).any(|(_, v)| *v == 1.0) {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the skewed agent's next run did not arrive (killed at {}): stored {:?}\n{}",
                        killed.1,
                        newest.iter().rev().take(5).collect::<Vec<_>>(),
                        agent_b.log()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                faults.healed("kill -9 skewed agent", killed.0.elapsed());
            }
        }
    }

    // The load generator ends with its live span; then every agent round catches up.
    let out = loadgen.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the load generator's report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&loadgen_log).unwrap_or_default()
        )
    });
    let settle = now_ms();
    let span_s = (settle - soak_start) / 1000 + 240;
    for host in ["chaos-agent", "chaos-skewed"] {
        wait_for(
            Duration::from_secs(90),
            "the agents' spools to drain",
            || {
                let s = node.samples(
                    &format!("vigil_agent_rounds_total{{host=\"{host}\"}}"),
                    span_s,
                    now_ms() + 180_000,
                );
                let newest = s.first().and_then(|(_, v)| v.keys().last().copied())?;
                (newest > settle).then_some(())
            },
        );
    }
    let at = now_ms() + 180_000;

    // Every check collects what it finds wrong, so that the tally is printed first (a long
    // soak's figures are not lost to the first failed check).
    // 1. Every sample the load generator acknowledged, stored once, with its value.
    let acked = report["acked_samples"].as_u64().unwrap();
    let mut wrong: Vec<String> = Vec::new();
    if report["all_acknowledged"] != true {
        wrong.push(format!(
            "the load generator left samples unacknowledged: {report}"
        ));
    }
    let file = dir.path().join("loadgen.om");
    let mut emit = Command::new(bin("vigil-loadgen"));
    emit.args(["--emit", "openmetrics", file.to_str().unwrap()]);
    loadgen_args(&mut emit);
    assert!(emit.output().unwrap().status.success());
    let want = emitted(&file);
    let generated: usize = want.values().map(BTreeMap::len).sum();
    if acked as usize != generated {
        wrong.push(format!(
            "{acked} acknowledged against {generated} generated: {report}"
        ));
    }
    let mut stored_samples = 0usize;
    let mut lost = Vec::new();
    for host in 0..LOADGEN_HOSTS {
        let name = vigil_tests::loadgen::fleet::Fleet::host_name(host);
        let got: BTreeMap<BTreeMap<String, String>, BTreeMap<i64, f64>> = node
            .samples(&format!("{{host=\"{name}\"}}"), span_s, at)
            .into_iter()
            // The collector gives agent series Prometheus' target labels; the file has none.
            .map(|(mut labels, samples)| {
                labels.remove("job");
                labels.remove("instance");
                (labels, samples)
            })
            .collect();
        for (labels, samples) in want.iter().filter(|(l, _)| l.get("host") == Some(&name)) {
            let stored = got.get(labels).cloned().unwrap_or_default();
            for (t, v) in samples {
                match stored.get(t) {
                    Some(s) if s == v || (s.is_nan() && v.is_nan()) => stored_samples += 1,
                    other => lost.push(format!("{labels:?} at {t}: want {v}, stored {other:?}")),
                }
            }
        }
    }
    if !lost.is_empty() {
        wrong.push(format!(
            "{} acknowledged samples lost or wrong: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        ));
    }

    // 2. Every round of every agent process, once and in order.
    let mut rounds = Vec::new();
    for host in ["chaos-agent", "chaos-skewed"] {
        let s = node.samples(
            &format!("vigil_agent_rounds_total{{host=\"{host}\"}}"),
            span_s,
            at,
        );
        let samples = s.into_iter().next().map(|(_, v)| v).unwrap_or_default();
        match rounds_in_runs(&samples) {
            Ok((n, runs)) => rounds.push(format!("{host}: {n} rounds in {runs} runs")),
            Err(e) => wrong.push(format!("{host}: {e}")),
        }
    }

    // 3. Notifications: one delivery per notification and receiver.
    let webhook = webhook_deliveries(&hook);
    let mut by_event: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (key, _) in webhook.values() {
        *by_event.entry(key.clone()).or_default() += 1;
    }
    let doubled: Vec<_> = by_event.iter().filter(|(_, n)| **n > 1).collect();
    // One episode per "on" window of each rule (its expression holds for the first half of
    // every period): two firing notifications in one window would be one episode told
    // twice, under two delivery ids.
    // (Built-in alerts, such as HostClockSkew for the skewed agent once it has been off for
    // five minutes, have no windows: only the count of their deliveries is checked.)
    let mut windows: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for (alert, status, starts) in by_event.keys() {
        let period = match alert.as_str() {
            "ChaosTwenty" => 40,
            "ChaosThirty" => 60,
            _ => continue,
        };
        let t = humantime::parse_rfc3339_weak(starts)
            .unwrap_or_else(|e| panic!("startsAt {starts}: {e}"))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if t % period >= period / 2 {
            wrong.push(format!("{alert} started at {starts}, outside its window"));
        }
        if status == "firing" {
            *windows.entry((alert.clone(), t / period)).or_default() += 1;
        }
    }
    let told_twice: Vec<_> = windows.iter().filter(|(_, n)| **n > 1).collect();
    // Every episode notified as firing is notified resolved, but the last of each alert.
    let mut unresolved = BTreeMap::<&str, usize>::new();
    for (alert, status, starts) in by_event.keys() {
        let resolved = (alert.clone(), "resolved".to_owned(), starts.clone());
        if status == "firing" && !by_event.contains_key(&resolved) {
            *unresolved.entry(alert.as_str()).or_default() += 1;
        }
    }
    let mails = smtp.messages();
    let mail_ids: BTreeSet<String> = mails
        .iter()
        .filter_map(|m| m.header("X-Vigil-Delivery").map(str::to_owned))
        .collect();
    let firing = by_event.keys().filter(|k| k.1 == "firing").count();
    let resolved = by_event.keys().filter(|k| k.1 == "resolved").count();
    let retried_webhook: u32 = webhook.values().map(|(_, n)| n - 1).sum();
    let retried_mail = mails.len() - mail_ids.len();

    let tally = format!(
        "chaos soak: {:.0} s, seed {seed}\n{}\
         acknowledged samples: {acked} (load generator), stored with their value: \
         {stored_samples}, lost: {}\n\
         agent rounds: {}; none lost or doubled\n\
         notifications: {firing} firing and {resolved} resolved episodes; webhook {} \
         deliveries ({retried_webhook} re-sent with the same id), email {} deliveries \
         ({retried_mail} re-sent with the same id); doubled: {}\n",
        duration.as_secs_f64(),
        faults.table(),
        lost.len(),
        rounds.join(", "),
        webhook.len(),
        mail_ids.len(),
        doubled.len()
    );
    eprintln!("{tally}");
    if let Ok(out) = std::env::var("VIGIL_SOAK_TALLY") {
        std::fs::write(out, &tally).unwrap();
    }
    assert!(wrong.is_empty(), "{wrong:#?}\n{tally}");
    assert!(doubled.is_empty(), "notified twice: {doubled:?}\n{tally}");
    assert!(
        told_twice.is_empty(),
        "one episode, two firings: {told_twice:?}\n{tally}"
    );
    assert!(
        unresolved.values().all(|n| *n <= 1),
        "firing episodes never resolved: {unresolved:?}\n{tally}"
    );
    assert!(firing >= 1, "no alert fired: {tally}");
    assert_eq!(
        mail_ids.len(),
        webhook.len(),
        "the two receivers of one route got different notifications: {tally}"
    );
    drop(agent_a);
    drop(agent_b);
    drop(proxy);
    drop(node);
}
