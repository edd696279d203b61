//! Routing, grouping, resolved notifications, inhibition and restarts, end to end: a real
//! collector evaluates a rule file every second on data loaded with `vigil import`, and its
//! webhooks reach real HTTP receivers on loopback.
//!
//! "Nothing else was sent" is checked against a later notification that must come after
//! (a sentinel alert), never against a pause.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_tests::notify_servers::{HttpReceiver, ReceivedRequest, alert_hosts};
use vigil_tests::{Collector, free_port, import_all_now, vigil_json, vigil_ok, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// A collector config: the rule file evaluated every second, no built-in HostDown, and
/// `notify` (TOML for `[notify]` and below).
fn write_config(dir: &Path, rules: &str, notify: &str) -> PathBuf {
    let rules_file = dir.join("rules.yml");
    std::fs::write(&rules_file, rules).unwrap();
    let config = dir.join("collector.toml");
    let text = format!(
        "[rules]\nfiles = [{:?}]\nevaluation_interval = \"1s\"\nhost_down_after = \"0s\"\n\
         [storage]\nsync = false\n\n{notify}",
        rules_file.display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// `[[notify.receivers]]` with one webhook.
fn webhook_receiver(name: &str, url: &str, send_resolved: bool) -> String {
    format!(
        "[[notify.receivers]]\nname = \"{name}\"\nsend_resolved = {send_resolved}\n\
         [[notify.receivers.webhook]]\nurl = \"{url}/{name}\"\n\n"
    )
}

/// One receiver `ops`, a webhook to `hook` that hears resolutions, taking every alert in
/// one group per alert name.
fn ops_route(hook: &HttpReceiver) -> String {
    format!(
        "{}\
         [notify.route]\nreceiver = \"ops\"\ngroup_by = [\"alertname\"]\n\
         group_wait = \"1s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n",
        webhook_receiver("ops", &hook.url(), true),
    )
}

/// The webhook bodies a receiver got.
fn bodies(receiver: &HttpReceiver) -> Vec<Value> {
    receiver
        .requests()
        .iter()
        .map(ReceivedRequest::json)
        .collect()
}

/// Waits until a body satisfying `check` arrived; returns every body so far.
fn wait_body(receiver: &HttpReceiver, what: &str, check: impl Fn(&Value) -> bool) -> Vec<Value> {
    wait_for(WAIT, what, || {
        let all = bodies(receiver);
        all.iter().any(&check).then_some(all)
    })
}

fn alert_name(body: &Value) -> &str {
    body["groupLabels"]["alertname"]
        .as_str()
        .or_else(|| body["commonLabels"]["alertname"].as_str())
        .unwrap_or("")
}

/// (host, status) of each alert of a body, sorted.
fn hosts(body: &Value) -> Vec<(String, String)> {
    alert_hosts(body)
}

fn firing(hosts_: &[&str]) -> Vec<(String, String)> {
    hosts_
        .iter()
        .map(|h| ((*h).to_owned(), "firing".to_owned()))
        .collect()
}

const ROUTING_RULES: &str = r#"groups:
  - name: routing
    rules:
      - alert: CpuHigh
        expr: routing_cpu > 50
        labels:
          severity: warning
      - alert: DiskFull
        expr: routing_disk > 90
        labels:
          severity: critical
      - alert: Everyone
        expr: routing_everyone > 0
        labels:
          team: all
"#;

#[test]
fn alerts_are_grouped_and_routed_by_label_with_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (HttpReceiver::start(), HttpReceiver::start());
    let notify = format!(
        "{}{}\
         [notify.route]\nreceiver = \"a\"\ngroup_by = [\"alertname\"]\n\
         group_wait = \"1s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n\
         [[notify.route.routes]]\nmatchers = ['severity=\"critical\"']\nreceiver = \"b\"\n\
         [[notify.route.routes]]\nmatchers = ['team=\"all\"']\nreceiver = \"b\"\ncontinue = true\n\
         [[notify.route.routes]]\nmatchers = ['team=\"all\"']\nreceiver = \"a\"\n",
        webhook_receiver("a", &a.url(), true),
        webhook_receiver("b", &b.url(), true),
    );
    let config = write_config(dir.path(), ROUTING_RULES, &notify);
    let c = Collector::start_with_config(free_port(), &dir.path().join("data"), &config, &[]);
    let hosts_ = ["web-1", "web-2", "web-3", "web-4", "web-5"];
    let mut samples: Vec<(&str, &str, f64)> =
        hosts_.iter().map(|h| ("routing_cpu", *h, 90.0)).collect();
    samples.push(("routing_disk", "db-1", 95.0));
    import_all_now(&c.url(), dir.path(), &samples);

    // Five CpuHigh alerts, one group: one message with all of them, to a.
    let to_a = wait_body(&a, "CpuHigh at a", |b| alert_name(b) == "CpuHigh");
    let cpu: Vec<&Value> = to_a.iter().filter(|b| alert_name(b) == "CpuHigh").collect();
    assert_eq!(cpu.len(), 1, "{to_a:#?}");
    assert_eq!(hosts(cpu[0]), firing(&hosts_));
    assert_eq!(cpu[0]["receiver"], "a");
    assert_eq!(cpu[0]["status"], "firing");
    assert_eq!(cpu[0]["groupKey"], r#"{}:{alertname="CpuHigh"}"#);
    // The critical one goes to b.
    let to_b = wait_body(&b, "DiskFull at b", |b| alert_name(b) == "DiskFull");
    let disk: Vec<&Value> = to_b
        .iter()
        .filter(|b| alert_name(b) == "DiskFull")
        .collect();
    assert_eq!(disk.len(), 1);
    assert_eq!(hosts(disk[0]), firing(&["db-1"]));
    assert_eq!(
        disk[0]["groupKey"],
        r#"{}/{severity="critical"}:{alertname="DiskFull"}"#
    );

    // continue: the team="all" alert reaches b and then a. It comes after the others, so
    // once both have it, neither can still be sent something it should not get.
    import_all_now(&c.url(), dir.path(), &[("routing_everyone", "web-1", 1.0)]);
    let to_b = wait_body(&b, "Everyone at b", |b| alert_name(b) == "Everyone");
    let to_a = wait_body(&a, "Everyone at a", |b| alert_name(b) == "Everyone");
    let names = |bodies: &[Value]| -> Vec<String> {
        bodies.iter().map(|b| alert_name(b).to_owned()).collect()
    };
    assert_eq!(names(&to_a), ["CpuHigh", "Everyone"], "{to_a:#?}");
    assert_eq!(names(&to_b), ["DiskFull", "Everyone"], "{to_b:#?}");
}

const VALUE_RULES: &str = r#"groups:
  - name: values
    rules:
      - alert: ValueHigh
        expr: resolved_value > 50
        annotations:
          summary: "{{ $labels.host }} is at {{ $value }}"
"#;

#[test]
fn resolved_alerts_are_sent_only_to_receivers_that_want_them() {
    let dir = tempfile::tempdir().unwrap();
    let (tells, quiet) = (HttpReceiver::start(), HttpReceiver::start());
    let notify = format!(
        "{}{}\
         [notify.route]\nreceiver = \"tells\"\ngroup_by = [\"alertname\"]\n\
         group_wait = \"1s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n\
         [[notify.route.routes]]\nreceiver = \"quiet\"\ncontinue = true\n\
         [[notify.route.routes]]\nreceiver = \"tells\"\n",
        webhook_receiver("tells", &tells.url(), true),
        webhook_receiver("quiet", &quiet.url(), false),
    );
    let config = write_config(dir.path(), VALUE_RULES, &notify);
    let c = Collector::start_with_config(free_port(), &dir.path().join("data"), &config, &[]);
    import_all_now(&c.url(), dir.path(), &[("resolved_value", "web-1", 75.0)]);
    wait_body(&tells, "firing at tells", |b| b["status"] == "firing");
    let first = wait_body(&quiet, "firing at quiet", |b| b["status"] == "firing");
    assert_eq!(
        first[0]["alerts"][0]["annotations"]["summary"],
        "web-1 is at 75"
    );

    // The condition clears: tells hears it resolved.
    import_all_now(&c.url(), dir.path(), &[("resolved_value", "web-1", 10.0)]);
    let told = wait_body(&tells, "resolved at tells", |b| b["status"] == "resolved");
    let resolved = told.iter().find(|b| b["status"] == "resolved").unwrap();
    assert_eq!(
        hosts(resolved),
        [("web-1".to_owned(), "resolved".to_owned())]
    );
    let alert = &resolved["alerts"][0];
    assert_ne!(alert["endsAt"], "0001-01-01T00:00:00Z", "{alert}");
    assert_eq!(alert["startsAt"], first[0]["alerts"][0]["startsAt"]);

    // It fires again: both hear it (a new start is news); quiet never heard it resolved.
    import_all_now(&c.url(), dir.path(), &[("resolved_value", "web-1", 80.0)]);
    let again = wait_for(WAIT, "the second firing at quiet", || {
        let all = bodies(&quiet);
        (all.len() >= 2).then_some(all)
    });
    let statuses: Vec<&str> = again
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["firing", "firing"], "{again:#?}");
    let told = wait_for(WAIT, "the second firing at tells", || {
        let all = bodies(&tells);
        (all.len() >= 3).then_some(all)
    });
    let statuses: Vec<&str> = told.iter().map(|b| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["firing", "resolved", "firing"], "{told:#?}");
}

const INHIBIT_RULES: &str = r#"groups:
  - name: hosts
    rules:
      - alert: HostDown
        expr: inhibit_up == 0
      - alert: CpuHigh
        expr: inhibit_cpu > 50
"#;

#[test]
fn a_down_host_inhibits_its_other_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    let notify = format!(
        "{}\
         [[notify.inhibit_rules]]\nsource_matchers = ['alertname=\"HostDown\"']\n\
         target_matchers = ['alertname!=\"HostDown\"']\nequal = [\"host\"]\n",
        ops_route(&hook),
    );
    let config = write_config(dir.path(), INHIBIT_RULES, &notify);
    let c = Collector::start_with_config(free_port(), &dir.path().join("data"), &config, &[]);
    import_all_now(
        &c.url(),
        dir.path(),
        &[
            ("inhibit_up", "web-1", 0.0),
            ("inhibit_up", "web-2", 1.0),
            ("inhibit_cpu", "web-1", 90.0),
            ("inhibit_cpu", "web-2", 90.0),
        ],
    );
    let all = wait_for(WAIT, "HostDown and CpuHigh", || {
        let all = bodies(&hook);
        let names: Vec<&str> = all.iter().map(alert_name).collect();
        (names.contains(&"HostDown") && names.contains(&"CpuHigh")).then_some(all)
    });
    let cpu = all.iter().find(|b| alert_name(b) == "CpuHigh").unwrap();
    assert_eq!(
        hosts(cpu),
        firing(&["web-2"]),
        "web-1's CpuHigh is inhibited"
    );
    let down = all.iter().find(|b| alert_name(b) == "HostDown").unwrap();
    assert_eq!(hosts(down), firing(&["web-1"]));

    // vigil alerts says why web-1's CpuHigh is not sent.
    let alerts = vigil_json(&c.url(), &["alerts"]);
    let muted = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "CpuHigh" && a["labels"]["host"] == "web-1")
        .unwrap();
    assert_eq!(
        muted["inhibited_by"],
        serde_json::json!([r#"HostDown{host="web-1"}"#]),
        "{alerts}"
    );

    // web-1 comes back: its CpuHigh is no longer muted and is sent with web-2's.
    import_all_now(&c.url(), dir.path(), &[("inhibit_up", "web-1", 1.0)]);
    let all = wait_for(WAIT, "CpuHigh for both hosts", || {
        let all = bodies(&hook);
        all.iter()
            .any(|b| alert_name(b) == "CpuHigh" && hosts(b) == firing(&["web-1", "web-2"]))
            .then_some(all)
    });
    assert!(
        all.iter()
            .filter(|b| alert_name(b) == "CpuHigh")
            .all(|b| b["status"] == "firing"),
        "{all:#?}"
    );
}

#[test]
fn a_restart_does_not_announce_a_firing_alert_again() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    let config = write_config(dir.path(), VALUE_RULES, &ops_route(&hook));
    let port = free_port();
    let mut c = Collector::start_with_config(port, &dir.path().join("data"), &config, &[]);
    import_all_now(&c.url(), dir.path(), &[("resolved_value", "web-1", 75.0)]);
    hook.wait_for(1, WAIT);
    let status = c.process.terminate();
    assert!(
        status.success(),
        "collector exit: {status:?}\n{}",
        c.process.log()
    );

    // Started again while web-1 keeps firing: its alert is evaluated and flushed again...
    let c = Collector::start_with_config(port, &dir.path().join("data"), &config, &[]);
    wait_for(WAIT, "ValueHigh firing after the restart", || {
        let alerts = vigil_json(&c.url(), &["alerts"]);
        alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["state"] == "firing")
            .then_some(())
    });
    // ...and the next notification of the group is the one a new alert causes.
    import_all_now(&c.url(), dir.path(), &[("resolved_value", "web-2", 75.0)]);
    let all = hook.wait_for(2, WAIT);
    let all: Vec<Value> = all.iter().map(ReceivedRequest::json).collect();
    assert_eq!(hosts(&all[0]), firing(&["web-1"]));
    assert_eq!(hosts(&all[1]), firing(&["web-1", "web-2"]), "{all:#?}");
    assert_eq!(
        all[0]["alerts"][0]["startsAt"], all[1]["alerts"][0]["startsAt"],
        "web-1 is the same alert, not a new one"
    );
}

#[test]
fn removing_a_rule_resolves_its_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start();
    let config = write_config(dir.path(), VALUE_RULES, &ops_route(&hook));
    let c = Collector::start_with_config(free_port(), &dir.path().join("data"), &config, &[]);
    import_all_now(&c.url(), dir.path(), &[("resolved_value", "web-1", 75.0)]);
    wait_body(&hook, "firing", |b| b["status"] == "firing");

    // The rule goes away while its condition still holds.
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: values\n    rules: []\n",
    )
    .unwrap();
    vigil_ok(&c.url(), &["rules", "reload"]);
    let all = wait_body(&hook, "resolved", |b| b["status"] == "resolved");
    let statuses: Vec<&str> = all.iter().map(|b| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["firing", "resolved"]);
    assert_eq!(
        hosts(all.last().unwrap()),
        [("web-1".to_owned(), "resolved".to_owned())]
    );
}
