//! Delivery end to end: the durable outbox and silences, with a real collector evaluating
//! a rule file every second on data loaded with `vigil import`, and its webhook reaching a
//! real HTTP receiver on loopback that goes down (connections refused), answers 4xx, or
//! comes back.
//!
//! What waits in the outbox is read from the collector's Notify service (`ListOutbox`), so
//! the tests know a notification is stored and failing before they act; "nothing else was
//! sent" is checked after a later event that must come after it, never after a pause.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_proto::v1::notify_client::NotifyClient;
use vigil_proto::v1::{ListOutboxRequest, OutboxEntry};
use vigil_tests::notify_servers::{HttpReceiver, ReceivedRequest, alert_hosts};
use vigil_tests::{
    Collector, assert_exit, free_port, import_all_now, vigil, vigil_json, vigil_ok, wait_for,
};

const WAIT: Duration = Duration::from_secs(40);

const RULES: &str = r#"groups:
  - name: delivery
    rules:
      - alert: DiskFull
        expr: delivery_disk > 90
        labels:
          severity: page
        annotations:
          summary: "disk of {{ $labels.host }} at {{ $value }}%"
"#;

/// A collector config: [`RULES`] every second, one webhook receiver `hook` at `url`, one
/// group per host sent at once, and quick retries.
fn write_config(dir: &Path, url: &str) -> PathBuf {
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let config = dir.join("collector.toml");
    let text = format!(
        r#"[rules]
files = [{rules:?}]
evaluation_interval = "1s"
host_down_after = "0s"
[storage]
sync = false

[[notify.receivers]]
name = "hook"
[[notify.receivers.webhook]]
url = "{url}/hook"
timeout = "2s"

[notify.route]
receiver = "hook"
group_by = ["alertname", "host"]
group_wait = "0s"
group_interval = "1s"
repeat_interval = "1h"

[notify.delivery]
backoff_initial = "100ms"
backoff_max = "1s"
"#,
        rules = rules.display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Imports `delivery_disk{host=…}` samples stamped now, in one `vigil import`.
fn import(url: &str, dir: &Path, samples: &[(&str, f64)]) {
    let samples: Vec<(&str, &str, f64)> = samples
        .iter()
        .map(|&(host, value)| ("delivery_disk", host, value))
        .collect();
    import_all_now(url, dir, &samples);
}

/// What waits in the collector's outbox, oldest first.
fn outbox(url: &str) -> Vec<OutboxEntry> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = NotifyClient::new(channel);
        client
            .list_outbox(ListOutboxRequest {})
            .await
            .unwrap()
            .into_inner()
            .entries
    })
}

/// Waits until the outbox holds `n` entries and delivery to the receiver has failed (while
/// it fails, one entry at a time probes it, so the others may not have been tried yet).
fn wait_failing(url: &str, n: usize) -> Vec<OutboxEntry> {
    wait_for(
        WAIT,
        &format!("{n} outbox entries, delivery failing"),
        || {
            let entries = outbox(url);
            (entries.len() == n && entries.iter().any(|e| e.attempts > 0)).then_some(entries)
        },
    )
}

/// (host, status) of every alert of every body received, sorted, duplicates kept.
fn delivered(receiver: &HttpReceiver) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = receiver
        .requests()
        .iter()
        .flat_map(|r| alert_hosts(&r.json()))
        .collect();
    out.sort();
    out
}

/// Waits until the receiver got every one of `expected` (host, status) pairs; returns all.
fn wait_delivered(receiver: &HttpReceiver, expected: &[(&str, &str)]) -> Vec<(String, String)> {
    wait_for(WAIT, &format!("notifications {expected:?}"), || {
        let got = delivered(receiver);
        expected
            .iter()
            .all(|(h, s)| got.iter().any(|(gh, gs)| gh == h && gs == s))
            .then_some(got)
    })
}

/// The value of `vigil query EXPR` when it has exactly one series.
fn query_one(url: &str, expr: &str) -> Option<f64> {
    let result = vigil_json(url, &["query", expr]);
    let series = result["result"].as_array()?;
    if series.len() != 1 {
        return None;
    }
    series[0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_receiver_that_was_down_gets_every_firing_and_resolved_notification() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    hook.down();
    let config = write_config(dir.path(), &hook.url());
    let c = Collector::start_with_config(free_port(), &dir.path().join("data"), &config, &[]);
    let url = c.url();

    import(&url, dir.path(), &[("a", 95.0), ("b", 96.0), ("c", 97.0)]);
    let waiting = wait_failing(&url, 3);
    assert!(
        waiting
            .iter()
            .all(|e| e.status == "firing" && e.kind == "webhook")
    );
    assert!(
        waiting
            .iter()
            .any(|e| e.attempts > 0 && !e.last_error.is_empty()),
        "{waiting:?}"
    );

    // a resolves while the receiver is still down: its resolved notification waits too.
    import(&url, dir.path(), &[("a", 10.0), ("b", 96.0), ("c", 97.0)]);
    let waiting = wait_failing(&url, 4);
    assert_eq!(
        waiting.iter().filter(|e| e.status == "resolved").count(),
        1,
        "{waiting:?}"
    );

    hook.up();
    let got = wait_delivered(
        &hook,
        &[
            ("a", "firing"),
            ("b", "firing"),
            ("c", "firing"),
            ("a", "resolved"),
        ],
    );
    wait_for(WAIT, "an empty outbox", || {
        outbox(&url).is_empty().then_some(())
    });
    // The firing notification of a came before its resolution.
    let order: Vec<String> = hook
        .requests()
        .iter()
        .map(ReceivedRequest::json)
        .filter(|b| b["groupLabels"]["host"] == "a")
        .map(|b| b["status"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(order, ["firing", "resolved"], "{got:?}");
    assert!(
        c.process.log().contains("will retry"),
        "retries are logged:\n{}",
        c.process.log()
    );
}

#[test]
fn a_collector_killed_while_the_receiver_is_down_delivers_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    hook.down();
    let config = write_config(dir.path(), &hook.url());
    let port = free_port();
    let mut c = Collector::start_with_config(port, &dir.path().join("data"), &config, &[]);
    let url = c.url();

    import(&url, dir.path(), &[("a", 95.0), ("b", 96.0)]);
    let before: Vec<String> = wait_failing(&url, 2)
        .into_iter()
        .map(|e| e.group_key)
        .collect();
    c.process.kill9();
    assert!(hook.requests().is_empty());

    hook.up();
    let c = Collector::start_with_config(port, &dir.path().join("data"), &config, &[]);
    // Still waiting, or already delivered: never lost.
    wait_delivered(&hook, &[("a", "firing"), ("b", "firing")]);
    let keys: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.json()["groupKey"].as_str().unwrap_or("").to_owned())
        .collect();
    for key in &before {
        assert!(keys.contains(key), "{key} not delivered; got {keys:?}");
    }
    assert!(
        c.process
            .log()
            .contains("delivering notifications left by the previous run"),
        "{}",
        c.process.log()
    );
    wait_for(WAIT, "an empty outbox", || {
        outbox(&url).is_empty().then_some(())
    });
}

#[test]
fn a_4xx_answer_is_not_retried_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    hook.set_response(422, "unknown route");
    let config = write_config(dir.path(), &hook.url());
    let c = Collector::start_with_config(free_port(), &dir.path().join("data"), &config, &[]);
    let url = c.url();

    import(&url, dir.path(), &[("a", 95.0)]);
    hook.wait_for(1, WAIT);
    // Housekeeping writes the counters every 10 s; by the time they show the rejection a
    // retry (backoff 100 ms) would long have happened.
    let rejected = wait_for(WAIT, "the rejection counted", || {
        query_one(
            &url,
            r#"vigil_notifications_total{receiver="hook",result="rejected"}"#,
        )
    });
    assert_eq!(rejected, 1.0);
    assert_eq!(hook.requests().len(), 1, "a 4xx was retried");
    assert!(outbox(&url).is_empty());
    assert_eq!(
        query_one(&url, r#"vigil_notify_outbox_depth{receiver="hook"}"#),
        Some(0.0)
    );
    let log = c.process.log();
    assert!(
        log.contains("not retried") && log.contains("unknown route"),
        "the rejection is logged with the receiver's answer:\n{log}"
    );
}

/// The silence ids `vigil alerts` shows for the DiskFull alert of `host`.
fn silenced_by(url: &str, host: &str) -> Option<Vec<String>> {
    let alerts = vigil_json(url, &["alerts"]);
    let alert = alerts
        .as_array()?
        .iter()
        .find(|a| a["labels"]["host"] == host && a["state"] == "firing")?
        .clone();
    Some(
        alert["silenced_by"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    )
}

#[test]
fn silences_mute_alerts_survive_restarts_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    let config = write_config(dir.path(), &hook.url());
    let port = free_port();
    let mut c = Collector::start_with_config(port, &dir.path().join("data"), &config, &[]);
    let url = c.url();

    let out = vigil_ok(
        &url,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "host=a",
            "--for",
            "2h",
            "--comment",
            "disk swap",
            "--author",
            "ann",
        ],
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(id.len(), 16, "{id:?}");

    let listed = vigil_json(&url, &["silence", "list"]);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["created_by"], "ann");
    assert_eq!(listed[0]["comment"], "disk swap");
    assert_eq!(
        listed[0]["matchers"],
        serde_json::json!([r#"alertname="DiskFull""#, r#"host="a""#])
    );
    let table = String::from_utf8(vigil(&url, &["silence", "list"]).stdout).unwrap();
    assert!(
        table.starts_with("ID ") && table.contains(&id) && table.contains("disk swap"),
        "{table}"
    );

    // a fires first and is silenced; b fires after it and is sent. Had a been sent, it
    // would have come first.
    import(&url, dir.path(), &[("a", 95.0)]);
    let ids = wait_for(WAIT, "a silenced in vigil alerts", || {
        silenced_by(&url, "a")
    });
    assert_eq!(ids, std::slice::from_ref(&id));
    import(&url, dir.path(), &[("a", 95.0), ("b", 96.0)]);
    wait_delivered(&hook, &[("b", "firing")]);
    assert_eq!(delivered(&hook), [("b".to_owned(), "firing".to_owned())]);
    let table = String::from_utf8(vigil(&url, &["alerts"]).stdout).unwrap();
    assert!(
        table.contains(&format!("firing (silenced by {id})")),
        "{table}"
    );

    // The silence survives a restart.
    c.process.terminate();
    let c = Collector::start_with_config(port, &dir.path().join("data"), &config, &[]);
    let listed = vigil_json(&url, &["silence", "list"]);
    assert_eq!(listed[0]["id"], id.as_str());
    let ids = wait_for(WAIT, "a silenced after the restart", || {
        silenced_by(&url, "a")
    });
    assert_eq!(ids, std::slice::from_ref(&id));

    // Expired, it no longer mutes a, and is listed only with --all.
    vigil_ok(&url, &["silence", "expire", &id]);
    assert_eq!(
        vigil_json(&url, &["silence", "list"]),
        serde_json::json!([])
    );
    let all = vigil_json(&url, &["silence", "list", "--all"]);
    assert_eq!(all[0]["state"], "expired");
    import(&url, dir.path(), &[("a", 95.0), ("b", 96.0)]);
    wait_delivered(&hook, &[("a", "firing")]);
    assert_eq!(silenced_by(&url, "a"), Some(vec![]));
    drop(c);
}

#[test]
fn bad_silences_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    let config = write_config(dir.path(), &hook.url());
    let c = Collector::start_with_config(free_port(), &dir.path().join("data"), &config, &[]);
    let url = c.url();
    let add = |args: &[&str]| vigil(&url, &[&["silence", "add"][..], args].concat());

    // Mistakes on the command line: usage errors naming the bad value and the forms.
    let out = add(&["host", "--for", "1h", "--comment", "x"]);
    assert_exit(&out, 2, &["\"host\"", "name=value"]);
    let out = add(&["host=~\"(\"", "--for", "1h", "--comment", "x"]);
    assert_exit(&out, 2, &["bad regex"]);
    let out = add(&["host=a", "--for", "soon", "--comment", "x"]);
    assert_exit(&out, 2, &["\"soon\" is not a duration", "2h"]);

    // What only the collector can judge: refused with the reason.
    let out = add(&["host=~\".*\"", "--for", "1h", "--comment", "x"]);
    assert_exit(&out, 1, &["would silence every alert"]);
    let out = vigil(&url, &["silence", "expire", "0123456789abcdef"]);
    assert_exit(&out, 1, &["no silence has the id \"0123456789abcdef\""]);
    assert_eq!(
        vigil_json(&url, &["silence", "list", "--all"]),
        serde_json::json!([])
    );
}
