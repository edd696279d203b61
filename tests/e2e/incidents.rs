//! Incidents end to end with the real binaries: twenty load-generator hosts that stop at
//! once make one incident, which resolves when they come back and the quiet period has
//! passed; unrelated alerts on two hosts make two; acknowledging takes admin; an open
//! incident survives `kill -9`.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vigil_tests::{
    Collector, bin, env_refs, free_port, import_all_now, rules_settings, vigil, vigil_json,
    wait_for,
};

const RULES: &str = r#"groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: ValueHigh
        expr: incidents_e2e_value > 50
        labels:
          severity: warning
"#;

mod desks;
mod generic;
mod notify;
mod outage;
mod tickets;

/// Hosts are down after 5 s, incidents open 2 s after their first alert and resolve 5 s
/// after their last; no built-in anomaly rules.
fn fast_incidents() -> [(&'static str, String); 4] {
    [
        ("VIGIL_COLLECTOR__RULES__HOST_DOWN_AFTER", "5s".to_owned()),
        ("VIGIL_COLLECTOR__INCIDENTS__OPEN_AFTER", "2s".to_owned()),
        ("VIGIL_COLLECTOR__INCIDENTS__QUIET_PERIOD", "5s".to_owned()),
        (
            "VIGIL_COLLECTOR__RULES__DEFAULT_ANOMALY_RULES",
            "false".to_owned(),
        ),
    ]
}

fn collector(port: u16, dir: &Path) -> Collector {
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let mut settings = rules_settings(&rules);
    settings.extend(fast_incidents());
    Collector::start_on(port, &dir.join("data"), &env_refs(&settings))
}

fn incidents(url: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["incidents"];
    all.extend_from_slice(args);
    vigil_json(url, &all).as_array().unwrap().clone()
}

/// Twenty hosts send for a few seconds, then stop (loadgen exits).
fn fleet_sends(url: &str, seconds: u64) {
    let out = Command::new(bin("vigil-loadgen"))
        .args([
            "--collector",
            url,
            "--hosts",
            "20",
            "--series-per-host",
            "20",
        ])
        .args(["--interval", "1s", "--duration", &format!("{seconds}s")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn twenty_hosts_down_at_once_are_one_incident_that_resolves_when_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector(free_port(), dir.path());
    let url = c.url();
    fleet_sends(&url, 3);
    // Five seconds later all twenty are down: one fleet incident.
    let open = wait_for(
        Duration::from_secs(40),
        "one incident for the outage",
        || {
            let found = incidents(&url, &["--open"]);
            (found.len() == 1 && found[0]["alerts"].as_array().unwrap().len() == 20)
                .then_some(found)
        },
    );
    let incident = &open[0];
    assert_eq!(incident["title"], "HostDown on 20 hosts", "{incident}");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["status"], "open");
    assert!(incident["resolved_at"].is_null());
    assert!(incident["tickets"].as_array().unwrap().is_empty());
    let id = incident["id"].as_u64().unwrap();

    // The timeline and the alerts of one incident.
    let shown = vigil(&url, &["incident", &id.to_string()]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{shown:?}");
    assert!(
        text.starts_with(&format!("incident {id}: HostDown on 20 hosts")),
        "{text}"
    );
    assert!(text.contains("opened"), "{text}");

    // They come back: the alerts resolve, the quiet period passes, the incident resolves.
    fleet_sends(&url, 15);
    let resolved = wait_for(Duration::from_secs(60), "the incident to resolve", || {
        let all = incidents(&url, &[]);
        let mine = all.iter().find(|i| i["id"] == id)?.clone();
        (mine["status"] == "resolved").then_some(mine)
    });
    let events: Vec<&str> = resolved["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"opened"), "{events:?}");
    assert!(events.contains(&"quiet"), "{events:?}");
    assert_eq!(events.last(), Some(&"resolved"), "{events:?}");
    assert!(resolved["resolved_at"].as_f64().unwrap() > 0.0);
    // (They went down again when the second run stopped: a new incident, not this one.)
}

#[test]
fn unrelated_alerts_are_two_incidents_ack_takes_a_token_and_they_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = collector(port, dir.path());
    let url = c.url();
    import_all_now(
        &url,
        dir.path(),
        &[
            ("incidents_e2e_value", "db-1", 75.0),
            ("incidents_e2e_value", "web-1", 80.0),
        ],
    );
    let open = wait_for(Duration::from_secs(30), "two incidents", || {
        let found = incidents(&url, &["--open"]);
        (found.len() == 2).then_some(found)
    });
    let mut titles: Vec<&str> = open.iter().map(|i| i["title"].as_str().unwrap()).collect();
    titles.sort_unstable();
    assert_eq!(titles, ["ValueHigh on db-1", "ValueHigh on web-1"]);
    let id = open[0]["id"].as_u64().unwrap();

    let acked = vigil_json(
        &url,
        &["incident", "ack", &id.to_string(), "--comment", "on it"],
    );
    assert_eq!(acked[0]["status"], "acknowledged", "{acked}");
    let last = acked[0]["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event"], "acknowledged");
    assert!(
        last["detail"].as_str().unwrap().ends_with(": on it"),
        "{last}"
    );
    let unknown = vigil(&url, &["incident", "ack", "999"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("incident 999 is not open"),
        "{unknown:?}"
    );

    // kill -9: the open incidents, the acknowledgement and the ids come back.
    c.process.kill9();
    let c = collector(port, dir.path());
    let back = incidents(&c.url(), &["--open"]);
    assert_eq!(back.len(), 2, "{back:?}");
    let mine = back.iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(mine["status"], "acknowledged");
    // A new incident after the restart takes a new id.
    import_all_now(&url, dir.path(), &[("incidents_e2e_value", "app-1", 90.0)]);
    let three = wait_for(Duration::from_secs(30), "a third incident", || {
        let found = incidents(&url, &["--open"]);
        (found.len() == 3).then_some(found)
    });
    let ids: Vec<u64> = three.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.iter().max(), Some(&3), "{ids:?}");
}
