//! Network faults between a real agent and the collector, injected by a TCP proxy of the
//! tests' own ([`vigil_tests::fault_proxy`]): a stream stalled with no FIN and no data is
//! noticed by the agent within its documented timeout (an HTTP/2 PING every 20 s, 10 s to
//! answer it, or no Ack within `delivery.ack_timeout`, 30 s), and a stream cut in the
//! middle is reopened at once, and a route that delays every byte by seconds slows the
//! rounds down without breaking the stream. Every round arrives exactly once, in order:
//! rounds carry `vigil_agent_rounds_total` = 1, 2, 3…

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};
use vigil_tests::fault_proxy::FaultProxy;
use vigil_tests::{Collector, Running, assert_every_round, bin, now_ms, stored_last_15m, wait_for};

/// Every round of `host` stored, checked to be 1..=n without a gap or a double; n.
fn all_rounds(url: &str, host: &str) -> u64 {
    assert_every_round(&stored_last_15m(url, "vigil_agent_rounds_total", host))
}

/// A real agent sending every second through `proxy` as `host`, once its first rounds are
/// stored (read from the collector at `url` directly).
fn agent_behind(proxy: &FaultProxy, url: &str, host: &str, dir: &std::path::Path) -> Running {
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args([
        "--collector",
        &proxy.url(),
        "--interval",
        "1s",
        "--hostname",
        host,
    ])
    .arg("--spool-dir")
    .arg(dir.join("spool"))
    .env("VIGIL_AGENT__DELIVERY__BACKOFF_MAX", "1s");
    let agent = Running::spawn(cmd, dir.join("agent.log"));
    wait_for(Duration::from_secs(30), "the agent's first rounds", || {
        (stored_last_15m(url, "vigil_agent_rounds_total", host).len() >= 3).then_some(())
    });
    agent
}

#[test]
fn a_stalled_stream_is_noticed_within_its_timeout_and_a_cut_one_at_once_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let proxy = FaultProxy::start(collector.port);
    let host = "behind-proxy";
    let agent = agent_behind(&proxy, &url, host, dir.path());

    // Stalled: nothing moves and nothing closes.
    let before = proxy.accepted();
    let stalled_at = (Instant::now(), now_ms());
    proxy.stall();
    wait_for(Duration::from_secs(60), "the agent to reconnect", || {
        (proxy.accepted() > before).then_some(())
    });
    let noticed = stalled_at.0.elapsed();
    wait_for(Duration::from_secs(30), "rounds after the stall", || {
        let s = stored_last_15m(&url, "vigil_agent_rounds_total", host);
        (s.range(stalled_at.1 + noticed.as_millis() as i64 + 2_000..)
            .count()
            >= 2)
            .then_some(())
    });
    let after_stall = all_rounds(&url, host);
    assert!(
        noticed < Duration::from_secs(40),
        "a stalled stream took {noticed:?} to notice; documented: about 30 s"
    );

    // Cut in the middle of whatever was being sent.
    let before = proxy.accepted();
    let cut_at = Instant::now();
    proxy.cut();
    wait_for(Duration::from_secs(30), "the agent to reconnect", || {
        (proxy.accepted() > before).then_some(())
    });
    let reopened = cut_at.elapsed();
    wait_for(Duration::from_secs(30), "rounds after the cut", || {
        (all_rounds(&url, host) >= after_stall + 5).then_some(())
    });
    eprintln!(
        "stall noticed after {:.1} s, cut stream reopened after {:.1} s; {} rounds, none lost \
         or doubled",
        noticed.as_secs_f64(),
        reopened.as_secs_f64(),
        all_rounds(&url, host)
    );
    assert!(reopened < Duration::from_secs(5), "{reopened:?}");
    drop(agent);
    drop(proxy);
    drop(collector);
}

#[test]
fn a_slow_route_delays_rounds_but_loses_or_doubles_none() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let proxy = FaultProxy::start(collector.port);
    let host = "slow-route";
    let agent = agent_behind(&proxy, &url, host, dir.path());
    // Four seconds each way: every round and every Ack waits, longer than the interval.
    let before = (proxy.accepted(), all_rounds(&url, host));
    proxy.delay(Duration::from_secs(4));
    std::thread::sleep(Duration::from_secs(3));
    // Three rounds were sent meanwhile; none of those has come through yet.
    assert!(
        all_rounds(&url, host) <= before.1 + 1,
        "the delay let rounds through"
    );
    std::thread::sleep(Duration::from_secs(9));
    proxy.delay(Duration::ZERO);
    wait_for(Duration::from_secs(30), "the rounds sent meanwhile", || {
        (all_rounds(&url, host) >= before.1 + 14).then_some(())
    });
    // The stream rode it out: no reconnection, every round once and in order.
    assert_eq!(proxy.accepted(), before.0, "{}", agent.log());
    drop(agent);
    drop(proxy);
    drop(collector);
}
