//! The agent's disk spool with the real binaries: a `kill -9` during a collector outage
//! loses at most one sync interval, a full spool drops exactly what it counts, and damaged
//! spool files still deliver their intact rounds.
//!
//! Every round carries `vigil_agent_rounds_total`, the number of rounds the process has
//! taken (1, 2, 3…): the values stored tell exactly which rounds arrived.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigil_tests::{Collector, Running, bin, free_port, now_ms, stored_last_15m, wait_for};

/// An agent collecting every second into `spool`, reconnecting within a second, logging
/// each round it spooled (`collected` at debug).
fn agent(url: &str, host: &str, spool: &Path, log: PathBuf, env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args(["--collector", url, "--interval", "1s", "--hostname", host])
        .arg("--spool-dir")
        .arg(spool)
        .args(["--log-level", "info,vigil_agent=debug"])
        .env("VIGIL_AGENT__DELIVERY__BACKOFF_MAX", "1s");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Running::spawn(cmd, log)
}

/// Rounds the agent's log says it spooled.
fn spooled(agent: &Running) -> usize {
    agent
        .log()
        .lines()
        .filter(|l| l.contains(" collected "))
        .count()
}

/// The rounds stored of the process whose rounds are stamped in `[from, to)`, by their
/// `vigil_agent_rounds_total`.
fn rounds_between(samples: &BTreeMap<i64, f64>, from: i64, to: i64) -> Vec<u64> {
    samples.range(from..to).map(|(_, v)| *v as u64).collect()
}

fn segments(spool: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spool)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "seg"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn kill_9_during_an_outage_loses_at_most_one_sync_interval() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let host = "spool-kill";

    // The collector is down: the agent spools.
    let started = now_ms();
    let mut first = agent(&url, host, &spool, dir.path().join("agent-1.log"), &[]);
    wait_for(Duration::from_secs(60), "eight rounds spooled", || {
        (spooled(&first) >= 8).then_some(())
    });
    first.kill9();
    let killed = now_ms();
    let logged = spooled(&first);

    // Restart the agent, then the collector.
    let _second = agent(&url, host, &spool, dir.path().join("agent-2.log"), &[]);
    std::thread::sleep(Duration::from_secs(2));
    let _collector = Collector::start_on(port, &dir.path().join("data"), &[]);
    let samples = wait_for(
        Duration::from_secs(60),
        "both processes' rounds stored",
        || {
            let s = stored_last_15m(&url, "vigil_agent_rounds_total", host);
            (rounds_between(&s, killed, i64::MAX).len() >= 3).then_some(s)
        },
    );

    let before = rounds_between(&samples, started, killed);
    let n = before.len() as u64;
    assert_eq!(
        before,
        (1..=n).collect::<Vec<u64>>(),
        "the killed process's rounds, in order and without a gap"
    );
    let missing = (logged as u64).saturating_sub(n);
    eprintln!("killed after {logged} rounds logged as spooled; {n} stored; {missing} missing");
    assert!(
        missing <= 1,
        "a kill -9 lost {missing} rounds; at most one sync interval (1 s = 1 round) may go"
    );
    let after = rounds_between(&samples, killed, i64::MAX);
    assert_eq!(
        after[..3],
        [1, 2, 3],
        "the second process's rounds taken while the collector was down arrive too"
    );
    // Every round's samples: node series arrive with the same timestamps as the round.
    let load = stored_last_15m(&url, "node_load1", host);
    for ts in samples.range(started..killed).map(|(t, _)| t) {
        assert!(load.contains_key(ts), "node_load1 missing at {ts}");
    }
}

#[test]
fn a_full_spool_drops_the_oldest_rounds_and_counts_them_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let host = "spool-full";
    let agent = agent(
        &url,
        host,
        &spool,
        dir.path().join("agent.log"),
        &[("VIGIL_AGENT__DELIVERY__SPOOL_MAX_BYTES", "65536")],
    );
    wait_for(
        Duration::from_secs(90),
        "the spool to fill and drop",
        || {
            let log = agent.log();
            (log.contains("spool full") && spooled(&agent) >= 15).then_some(())
        },
    );
    let _collector = Collector::start_on(port, &dir.path().join("data"), &[]);
    let connected = now_ms();
    // Rounds well after the backlog drained: nothing is dropped any more.
    let rounds = wait_for(Duration::from_secs(60), "live rounds stored", || {
        let s = stored_last_15m(&url, "vigil_agent_rounds_total", host);
        (s.range(connected + 3000..).count() >= 2).then_some(s)
    });
    let dropped = stored_last_15m(&url, "vigil_agent_dropped_rounds_total", host);
    let dropped_samples = stored_last_15m(&url, "vigil_agent_dropped_samples_total", host);
    let (&last, &count) = rounds.iter().next_back().unwrap();
    let counted = dropped[&last] as u64;
    let count = count as u64;
    let have: Vec<u64> = rounds.values().map(|v| *v as u64).collect();
    let lost: Vec<u64> = (1..=count).filter(|r| !have.contains(r)).collect();
    eprintln!(
        "{count} rounds taken, {} stored, {counted} counted as dropped",
        have.len()
    );
    assert!(counted > 0, "64 KiB holds only a few rounds");
    assert_eq!(
        lost,
        (1..=counted).collect::<Vec<u64>>(),
        "the dropped rounds are exactly the oldest, as many as counted"
    );
    let samples = dropped_samples[&last];
    assert!(
        samples >= counted as f64 * 50.0,
        "dropped samples are counted too: {samples}"
    );
}

#[test]
fn damaged_spool_files_deliver_their_intact_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let host = "spool-damage";
    // 1 MiB of spool makes 64 KiB segments: a few dozen rounds fill more than one.
    let env = [("VIGIL_AGENT__DELIVERY__SPOOL_MAX_BYTES", "1048576")];
    let started = now_ms();
    let mut first = agent(&url, host, &spool, dir.path().join("agent-1.log"), &env);
    wait_for(Duration::from_secs(120), "two segment files", || {
        (segments(&spool).len() >= 2).then_some(())
    });
    assert!(first.terminate().success());
    let stopped = now_ms();
    let taken = spooled(&first) as u64;
    let files = segments(&spool);

    // Flip a byte three quarters into the first segment (inside a round record, past the
    // first record's definitions), and tear the last segment's last record.
    let mut data = std::fs::read(&files[0]).unwrap();
    let at = data.len() * 3 / 4;
    data[at] ^= 0x5a;
    std::fs::write(&files[0], &data).unwrap();
    let last = files.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let second = agent(&url, host, &spool, dir.path().join("agent-2.log"), &env);
    let _collector = Collector::start_on(port, &dir.path().join("data"), &[]);
    let samples = wait_for(
        Duration::from_secs(60),
        "the backlog and live rounds",
        || {
            let s = stored_last_15m(&url, "vigil_agent_rounds_total", host);
            (rounds_between(&s, stopped, i64::MAX).len() >= 2).then_some(s)
        },
    );
    let before = rounds_between(&samples, started, stopped);
    let lost: Vec<u64> = (1..=taken).filter(|r| !before.contains(r)).collect();
    assert_eq!(
        lost.len(),
        2,
        "one flipped round and the torn last one: {lost:?}"
    );
    assert!(lost[0] > 1 && lost[0] < taken, "{lost:?}");
    assert_eq!(lost[1], taken, "the torn round is the last");
    let damaged = stored_last_15m(&url, "vigil_agent_spool_damaged_segments_total", host);
    assert_eq!(damaged.values().last().copied(), Some(2.0));
    assert!(
        second.log().contains("spool segment damaged"),
        "{}",
        second.log()
    );
}
