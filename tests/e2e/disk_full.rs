//! A full disk with the real binaries: the collector's data directory on a small tmpfs of
//! the test's own, a real agent sending every second, and another process filling the
//! filesystem. The storage guard turns ingest read-only before the filesystem is full,
//! `/-/ready`, `vigil status` and the self-metrics say so and why, queries keep working,
//! and when the space returns ingest resumes by itself and every round the agent spooled
//! meanwhile arrives.
//!
//! Every round carries `vigil_agent_rounds_total` (1, 2, 3…), so the values stored say
//! exactly which rounds arrived. Needs root to mount the tmpfs (as the suite runs).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_tests::tmpfs::{Tmpfs, free_bytes};
use vigil_tests::{
    Collector, Running, assert_every_round, bin, free_port, now_ms, stored_last_15m, vigil,
    vigil_json, wait_for,
};

const MIB: u64 = 1 << 20;

/// `GET path` over HTTP/1.0: (status, body).
fn get(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// A real agent sending every second to `url` as `host`, spooling under `dir`.
fn agent_at_1s(url: &str, host: &str, dir: &Path) -> Running {
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args(["--collector", url, "--interval", "1s", "--hostname", host])
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .env("VIGIL_AGENT__DELIVERY__BACKOFF_MAX", "1s");
    Running::spawn(cmd, dir.join("agent.log"))
}

/// What the guard keeps free in these tests.
const KEEP: u64 = 48 * MIB;

/// A collector with its data directory on a 256 MiB tmpfs of its own, keeping [`KEEP`]
/// free, with the HTTP API; the mount, the collector and the API's URL. (An empty RocksDB
/// directory takes about 75 MiB here: the write-ahead log is preallocated.)
fn on_small_disk(dir: &Path) -> (Tmpfs, Collector, String) {
    let mount = Tmpfs::mount(&dir.join("fs"), 256 * MIB);
    let keep = KEEP.to_string();
    let (collector, base) = Collector::start_with_http(
        &mount.0.join("data"),
        &[("VIGIL_COLLECTOR__STORAGE__MIN_FREE_BYTES", &keep)],
    );
    (mount, collector, base)
}

#[test]
fn a_full_disk_makes_ingest_read_only_and_space_coming_back_heals_it_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mount, collector, base) = on_small_disk(dir.path());
    let data = mount.0.join("data");
    let url = collector.url();
    let host = "disk-full";
    let agent = agent_at_1s(&url, host, dir.path());
    wait_for(Duration::from_secs(30), "the agent's first rounds", || {
        (stored_last_15m(&url, "vigil_agent_rounds_total", host).len() >= 3).then_some(())
    });
    assert_eq!(get(&base, "/-/ready").0, 200);

    // Another process fills the filesystem to under what the guard keeps.
    let filler = mount.0.join("filler");
    let fill = free_bytes(&mount.0).saturating_sub(KEEP / 2);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
    let full_at = now_ms();
    let (status, body) = wait_for(Duration::from_secs(10), "/-/ready to answer 503", || {
        let answer = get(&base, "/-/ready");
        (answer.0 == 503).then_some(answer)
    });
    assert_eq!(status, 503);
    assert!(
        body.contains("read-only") && body.contains(data.to_str().unwrap()),
        "{body}"
    );
    assert_eq!(get(&base, "/-/healthy").0, 200, "the process still serves");
    let status = vigil_json(&url, &["status"]);
    assert_eq!(status["storage_state"], "read_only", "{status}");
    assert!(
        status["storage_reason"]
            .as_str()
            .unwrap()
            .contains("storage.min_free_bytes"),
        "{status}"
    );
    let table = String::from_utf8_lossy(&vigil(&url, &["status"]).stdout).into_owned();
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("STORAGE      READ-ONLY"),
        "{table}"
    );
    let (_, metrics) = get(&base, "/metrics");
    assert!(
        metrics.contains("vigil_collector_storage_state{state=\"read_only\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vigil_collector_storage_errors_total{kind=\"disk_full\"} 1"),
        "{metrics}"
    );
    // Queries keep working while ingest is refused.
    let before = stored_last_15m(&url, "vigil_agent_rounds_total", host);
    assert!(!before.is_empty());
    std::thread::sleep(Duration::from_secs(5));
    let during = stored_last_15m(&url, "vigil_agent_rounds_total", host);
    let stored_while_full = during.range(full_at + 2_000..).count();
    assert_eq!(
        stored_while_full, 0,
        "rounds were stored while the guard was tripped"
    );

    // Space comes back: ingest resumes by itself, and the rounds spooled meanwhile arrive.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "/-/ready to answer 200 again",
        || (get(&base, "/-/ready").0 == 200).then_some(()),
    );
    let healed = freed.elapsed();
    let resumed_at = now_ms();
    let samples = wait_for(
        Duration::from_secs(60),
        "rounds taken after the space returned",
        || {
            let s = stored_last_15m(&url, "vigil_agent_rounds_total", host);
            (s.range(resumed_at + 2_000..).count() >= 2).then_some(s)
        },
    );
    let last = assert_every_round(&samples);
    let outage = samples.range(full_at..resumed_at).count();
    eprintln!(
        "healed {:.1} s after the space returned; {outage} rounds spooled during the outage \
         arrived; {last} rounds in all",
        healed.as_secs_f64()
    );
    assert!(
        outage >= 5,
        "the rounds of the outage were delivered ({outage})"
    );
    let status = vigil_json(&url, &["status"]);
    assert_eq!(status["storage_state"], "writable", "{status}");
    drop(agent);
    drop(collector);
}

/// The collector's `vigil_collector_samples_accepted_total`.
fn accepted(base: &str) -> u64 {
    let (_, metrics) = get(base, "/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("vigil_collector_samples_accepted_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap() as u64
}

#[test]
fn loadgen_counts_exactly_what_was_stored_when_streams_are_cut() {
    // Streams ended by the guard in the middle of a backfill: acknowledgements already on
    // the wire when a stream ends are read, so the load generator's count of acknowledged
    // samples is the collector's count of stored ones.
    let dir = tempfile::tempdir().unwrap();
    let (mount, collector, base) = on_small_disk(dir.path());
    let mut loadgen = Command::new(bin("vigil-loadgen"));
    loadgen
        .args(["--collector", &collector.url(), "--hosts", "10"])
        .args(["--backfill", "48h", "--duration", "10s"])
        .args([
            "--backoff-max",
            "1s",
            "--reconnect-for",
            "5s",
            "--output",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let child = loadgen.spawn().unwrap();
    // 52 M samples of backfill, sent as fast as they are acknowledged, four batches in
    // flight per stream: the guard cuts streams while batches and Acks are on the wire.
    wait_for(
        Duration::from_secs(60),
        "the backfill to be under way",
        || (accepted(&base) > 1_000_000).then_some(()),
    );
    let filler = mount.0.join("filler");
    let fill = free_bytes(&mount.0).saturating_sub(KEEP / 2);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let acked = report["acked_samples"].as_u64().unwrap();
    let stored = accepted(&base);
    eprintln!(
        "loadgen acknowledged {acked} samples, the collector stored {stored}; {} generated",
        report["generated_samples"]
    );
    assert!(
        acked < report["generated_samples"].as_u64().unwrap(),
        "the guard cut the streams before the end: {report}"
    );
    assert_eq!(acked, stored, "{report}");
    drop(collector);
}

#[test]
fn kill_9_while_read_only_loses_nothing_and_the_restart_is_read_only_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(&dir.path().join("fs"), 256 * MIB);
    let data = mount.0.join("data");
    let (port, http) = (free_port(), free_port());
    let listen = format!("127.0.0.1:{http}");
    let base = format!("http://{listen}");
    let keep = KEEP.to_string();
    let env = [("VIGIL_COLLECTOR__STORAGE__MIN_FREE_BYTES", keep.as_str())];
    let start = || Collector::start_with_args(port, &data, &env, &["--http-listen", &listen]);
    let mut collector = start();
    let url = collector.url();
    let host = "disk-kill";
    let agent = agent_at_1s(&url, host, dir.path());
    wait_for(Duration::from_secs(30), "the agent's first rounds", || {
        (stored_last_15m(&url, "vigil_agent_rounds_total", host).len() >= 3).then_some(())
    });

    let filler = mount.0.join("filler");
    let fill = free_bytes(&mount.0).saturating_sub(KEEP / 2);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
    wait_for(Duration::from_secs(10), "/-/ready to answer 503", || {
        (get(&base, "/-/ready").0 == 503).then_some(())
    });
    let acknowledged = stored_last_15m(&url, "vigil_agent_rounds_total", host);
    collector.process.kill9();

    // Restarted on the full disk: it opens, serves what it had, and refuses ingest.
    let collector = start();
    let (status, body) = get(&base, "/-/ready");
    assert_eq!(status, 503, "{body}");
    let after = stored_last_15m(&url, "vigil_agent_rounds_total", host);
    for (ts, round) in &acknowledged {
        assert_eq!(after.get(ts), Some(round), "round at {ts} lost to kill -9");
    }

    std::fs::remove_file(&filler).unwrap();
    let freed = now_ms();
    let samples = wait_for(
        Duration::from_secs(60),
        "rounds after the space returned",
        || {
            let s = stored_last_15m(&url, "vigil_agent_rounds_total", host);
            (s.range(freed + 2_000..).count() >= 2).then_some(s)
        },
    );
    assert_every_round(&samples);
    drop(agent);
    drop(collector);
}

#[test]
fn a_real_enospc_past_the_guard_refuses_ingest_and_heals_when_space_returns() {
    // The guard off: nothing stops the writes before the filesystem is full, so RocksDB
    // meets ENOSPC itself. A file put there first is what gets freed afterwards: larger than
    // a new write-ahead log's preallocation (about 70 MiB, which tmpfs really allocates), or
    // a log switched to after the space returned could take it all again (with 64 MiB, one
    // run in six or so still failed every write a minute later).
    let dir = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(&dir.path().join("fs"), 256 * MIB);
    let reserve = mount.0.join("reserve");
    std::fs::write(&reserve, vec![1u8; usize::try_from(112 * MIB).unwrap()]).unwrap();
    let (collector, base) = Collector::start_with_http(
        &mount.0.join("data"),
        &[
            ("VIGIL_COLLECTOR__STORAGE__MIN_FREE_BYTES", "0"),
            ("VIGIL_COLLECTOR__STORAGE__SYNC", "false"),
        ],
    );
    let url = collector.url();
    let host = "enospc";
    let agent = agent_at_1s(&url, host, dir.path());
    wait_for(Duration::from_secs(30), "the agent's first rounds", || {
        (stored_last_15m(&url, "vigil_agent_rounds_total", host).len() >= 3).then_some(())
    });
    // A backfill fills what is left of the filesystem.
    let mut loadgen = Command::new(bin("vigil-loadgen"));
    loadgen
        .args(["--collector", &url, "--hosts", "10"])
        .args(["--backfill", "72h", "--duration", "5s", "--no-reconnect"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = loadgen.spawn().unwrap();
    let (_, body) = wait_for(Duration::from_secs(180), "a write to fail", || {
        let answer = get(&base, "/-/ready");
        (answer.0 == 503).then_some(answer)
    });
    assert!(
        body.contains("No space left") || body.contains("storage failed a write"),
        "{body}"
    );
    // (Not `vigil status` here: RocksDB may already have recovered by itself, after a
    // flush let it delete a log file, by the time it answers; the counter below keeps it.)
    // The backfill stops (it would fill the room freed next as well).
    let _ = child.kill();
    let _ = child.wait();
    // Space comes back: the store resumes by itself, ingest within 30 s.
    std::fs::remove_file(&reserve).unwrap();
    let freed = Instant::now();
    wait_for(
        Duration::from_secs(60),
        "/-/ready to answer 200 again",
        || (get(&base, "/-/ready").0 == 200).then_some(()),
    );
    let healed = freed.elapsed();
    let (_, metrics) = get(&base, "/metrics");
    assert!(
        metrics.contains("vigil_collector_storage_errors_total{kind=\"enospc\"}"),
        "{metrics}"
    );
    // The agent's rounds from before, during and after are all there, once.
    let freed_ms = now_ms();
    let samples = wait_for(
        Duration::from_secs(60),
        "rounds after the space returned",
        || {
            let s = stored_last_15m(&url, "vigil_agent_rounds_total", host);
            (s.range(freed_ms + 2_000..).count() >= 2).then_some(s)
        },
    );
    let rounds = assert_every_round(&samples);
    eprintln!(
        "real ENOSPC: healed {:.1} s after space returned; {rounds} agent rounds, none lost \
         or doubled",
        healed.as_secs_f64()
    );
    assert!(healed < Duration::from_secs(30), "{healed:?}");
    drop(agent);
    drop(collector);
}
