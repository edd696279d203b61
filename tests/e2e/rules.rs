//! The rules runtime end to end: a rule file on disk, data through `vigil import`, alerts
//! read back as `ALERTS` series with `vigil query`. Pending → firing → resolved, hysteresis,
//! alert state across a clean restart and a `kill -9`, the built-in HostDown rule when an
//! agent stops, and a SIGHUP reload with a bad file that keeps the old rules running.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use vigil_tests::query_vector as query;
use vigil_tests::{
    Agent, Collector, env_refs, import_now, now_s, rules_settings, wait_for, wait_for_host,
};

/// A collector evaluating `rules` every second, with the given extra settings.
fn collector(dir: &Path, name: &str, rules: &Path, extra: &[(&str, &str)]) -> Collector {
    let settings = rules_settings(rules);
    let mut env = env_refs(&settings);
    env.extend_from_slice(extra);
    Collector::start(&dir.join(name), &env)
}

/// Waits until `expr` returns exactly `n` series; returns them.
fn wait_count(url: &str, expr: &str, n: usize, secs: u64) -> Vec<(Value, f64)> {
    wait_for(
        Duration::from_secs(secs),
        &format!("{n} series from {expr}"),
        || {
            let found = query(url, expr);
            (found.len() == n).then_some(found)
        },
    )
}

const RULES: &str = r#"
groups:
  - name: e2e
    rules:
      - alert: HighValue
        expr: rules_e2e_value > 50
        for: 3s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.host }} is at {{ $value }}"
      - alert: StickyValue
        expr: rules_e2e_value > 50
        clear: rules_e2e_value < 20
"#;

#[test]
fn alerts_go_pending_firing_resolved_and_keep_their_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let mut c = collector(dir.path(), "data", &rules, &[]);
    import_now(&c.url(), dir.path(), "rules_e2e_value", "web-1", 90.0);

    let pending = wait_count(&c.url(), r#"ALERTS{alertname="HighValue"}"#, 1, 15);
    let pending_seen = now_s();
    assert_eq!(pending[0].0["alertstate"], "pending", "{pending:?}");
    assert_eq!(pending[0].0["host"], "web-1");
    assert_eq!(pending[0].0["severity"], "page");
    let firing = wait_for(Duration::from_secs(15), "HighValue to fire", || {
        let found = query(&c.url(), r#"ALERTS{alertname="HighValue"}"#);
        (found.len() == 1 && found[0].0["alertstate"] == "firing").then_some(found)
    });
    assert_eq!(firing[0].1, 1.0);
    let since = query(&c.url(), r#"ALERTS_FOR_STATE{alertname="HighValue"}"#)[0].1;
    assert!(
        since <= pending_seen && since > pending_seen - 15.0,
        "{since} vs {pending_seen}"
    );
    assert!(now_s() - since >= 3.0, "fired before for: 3s passed");
    let sticky = wait_count(
        &c.url(),
        r#"ALERTS{alertname="StickyValue",alertstate="firing"}"#,
        1,
        10,
    );
    assert_eq!(sticky[0].0["host"], "web-1");

    // A clean restart, then a kill -9: the alert is still firing, since the same time,
    // and not announced again.
    c.process.terminate();
    for round in 0..2 {
        c = collector(dir.path(), "data", &rules, &[]);
        std::thread::sleep(Duration::from_secs(3));
        let after = query(&c.url(), r#"ALERTS_FOR_STATE{alertname="HighValue"}"#);
        assert_eq!(after.len(), 1);
        assert_eq!(
            after[0].1, since,
            "round {round}: the for timer started over"
        );
        let alerts = query(&c.url(), r#"ALERTS{alertname="HighValue"}"#);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].0["alertstate"], "firing");
        let log = c.process.log();
        assert!(
            !log.contains("alert firing"),
            "round {round}: announced again:\n{log}"
        );
        assert!(!log.contains("alert pending"), "round {round}:\n{log}");
        if round == 0 {
            c.process.kill9();
        }
    }

    // Between the thresholds: HighValue resolves, StickyValue (hysteresis) keeps firing.
    import_now(&c.url(), dir.path(), "rules_e2e_value", "web-1", 40.0);
    wait_count(&c.url(), r#"ALERTS{alertname="HighValue"}"#, 0, 10);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        query(
            &c.url(),
            r#"ALERTS{alertname="StickyValue",alertstate="firing"}"#
        )
        .len(),
        1
    );
    // Below the clear level: it resolves too.
    import_now(&c.url(), dir.path(), "rules_e2e_value", "web-1", 10.0);
    wait_count(&c.url(), r#"ALERTS{alertname="StickyValue"}"#, 0, 10);
    assert!(c.process.log().contains("alert resolved"));
}

#[test]
fn host_down_fires_when_an_agent_stops_and_resolves_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("none.yml");
    std::fs::write(&rules, "groups: []\n").unwrap();
    let c = collector(
        dir.path(),
        "data",
        &rules,
        &[("VIGIL_COLLECTOR__RULES__HOST_DOWN_AFTER", "3s")],
    );
    let host = "e2e-down-1";
    let mut agent = Agent::start(&c.url(), "1s", host, dir.path());
    wait_for_host(&c.url(), host, true, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(4));
    let selector = format!(r#"ALERTS{{alertname="HostDown",host="{host}"}}"#);
    assert!(query(&c.url(), &selector).is_empty(), "down while sending");

    agent.process.kill9();
    let down = wait_count(&c.url(), &selector, 1, 20);
    assert_eq!(down[0].0["alertstate"], "firing");
    assert_eq!(down[0].0["severity"], "critical");
    let since = query(&c.url(), &selector.replace("ALERTS", "ALERTS_FOR_STATE"))[0].1;

    // A restart while the host is down: the alert goes on, since the same time, without
    // being announced again (the grace after a start is for hosts not yet alerting).
    let mut c = c;
    c.process.terminate();
    let c = collector(
        dir.path(),
        "data",
        &rules,
        &[("VIGIL_COLLECTOR__RULES__HOST_DOWN_AFTER", "3s")],
    );
    std::thread::sleep(Duration::from_secs(2));
    let after = query(&c.url(), &selector.replace("ALERTS", "ALERTS_FOR_STATE"));
    assert_eq!(after.len(), 1, "HostDown resolved by the restart");
    assert_eq!(after[0].1, since);
    assert!(
        !c.process.log().contains("alert firing"),
        "{}",
        c.process.log()
    );

    let _agent = Agent::start(&c.url(), "1s", host, dir.path());
    wait_count(&c.url(), &selector, 0, 20);
    assert!(c.process.log().contains("alert resolved"));
}

/// The log without terminal colours.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn hangup(c: &Collector) {
    c.process.signal(libc::SIGHUP);
}

/// When `ALERTS{alertname=…}` was last written (unix seconds).
fn last_written(url: &str, alert: &str) -> f64 {
    let found = query(url, &format!(r#"timestamp(ALERTS{{alertname="{alert}"}})"#));
    assert_eq!(found.len(), 1, "{alert}: {found:?}");
    found[0].1
}

#[test]
fn reload_with_a_bad_file_keeps_the_old_rules_running() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    let always =
        "groups:\n  - name: r\n    rules:\n      - alert: Always\n        expr: vector(1)\n";
    std::fs::write(&rules, always).unwrap();
    let c = collector(dir.path(), "data", &rules, &[]);
    wait_count(
        &c.url(),
        r#"ALERTS{alertname="Always",alertstate="firing"}"#,
        1,
        15,
    );
    let since = query(&c.url(), r#"ALERTS_FOR_STATE{alertname="Always"}"#)[0].1;

    std::fs::write(
        &rules,
        "groups:\n  - name: r\n    rules:\n      - alert: Bad\n        expr: sum((\n",
    )
    .unwrap();
    hangup(&c);
    wait_for(
        Duration::from_secs(10),
        "the failed reload to be logged",
        || c.process.log().contains("rules not reloaded").then_some(()),
    );
    let before = last_written(&c.url(), "Always");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        last_written(&c.url(), "Always") > before,
        "the old rule stopped"
    );

    let both = format!("{always}      - alert: Second\n        expr: vector(2) > 1\n");
    std::fs::write(&rules, both).unwrap();
    hangup(&c);
    wait_count(
        &c.url(),
        r#"ALERTS{alertname="Second",alertstate="firing"}"#,
        1,
        10,
    );
    let kept = query(&c.url(), r#"ALERTS_FOR_STATE{alertname="Always"}"#)[0].1;
    assert_eq!(
        kept, since,
        "an unchanged rule keeps its state across a reload"
    );
    let log = plain(&c.process.log());
    assert!(
        log.contains("rules reloaded files=1 rules=2 unchanged=1"),
        "{log}"
    );

    // A removed rule's alert leaves ALERTS at once (a staleness marker), not 5 minutes later.
    std::fs::write(
        &rules,
        "groups:\n  - name: r\n    rules:\n      - alert: Second\n        expr: vector(2) > 1\n",
    )
    .unwrap();
    hangup(&c);
    wait_count(&c.url(), r#"ALERTS{alertname="Always"}"#, 0, 10);
    assert_eq!(query(&c.url(), r#"ALERTS{alertname="Second"}"#).len(), 1);
}
