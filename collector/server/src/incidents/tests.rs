//! The correlation engine at made-up times: a fleet outage is one incident, unrelated
//! alerts are two, a down host absorbs its other alerts, topology finds the cause, and an
//! incident goes quiet, reopens, resolves and survives a restart.

use std::time::Duration;

use super::correlate::Engine;
use super::*;
use crate::notify::model::Alert;

const T0: i64 = 1_700_000_000_000;
const S: i64 = 1_000;
const MIN: i64 = 60 * S;

fn alert(name: &str, host: Option<&str>, extra: &[(&str, &str)]) -> Alert {
    let mut labels: LabelMap = BTreeMap::new();
    labels.insert("alertname".into(), name.into());
    if let Some(h) = host {
        labels.insert("host".into(), h.into());
    }
    for (k, v) in extra {
        labels.insert((*k).into(), (*v).into());
    }
    Alert {
        labels,
        annotations: BTreeMap::new(),
        starts_at_ms: T0,
        ends_at_ms: None,
        generator_url: String::new(),
    }
}

fn resolved(mut a: Alert, at: i64) -> Alert {
    a.ends_at_ms = Some(at);
    a
}

fn down(host: &str) -> Alert {
    alert("HostDown", Some(host), &[("severity", "critical")])
}

fn settings() -> Settings {
    Settings {
        topology_labels: vec!["rack".into()],
        ..Settings::default()
    }
}

fn events(change: &Change) -> Vec<&Event> {
    change.added.iter().map(|e| &e.event).collect()
}

#[test]
fn twenty_hosts_down_at_once_are_one_incident_that_absorbs_their_other_alerts() {
    let mut engine = Engine::new(settings(), Vec::new(), 1);
    let hosts: Vec<String> = (0..20).map(|i| format!("web-{i:02}")).collect();
    let mut batch: Vec<Alert> = hosts.iter().map(|h| down(h)).collect();
    // Three of them also lose their exporter's alert in the same evaluation.
    batch.extend(
        hosts[..3]
            .iter()
            .map(|h| alert("ExporterDown", Some(h), &[("severity", "warning")])),
    );
    assert!(
        engine.observe(&batch, T0).is_empty(),
        "waits open_after first"
    );
    assert_eq!(engine.pending(), 23);
    let changes = engine.tick(T0 + 30 * S);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let incident = &changes[0].incident;
    assert_eq!(incident.id, 1);
    assert_eq!(
        incident.grouping,
        Grouping::Fleet {
            alertname: "HostDown".into()
        }
    );
    assert_eq!(incident.title, "HostDown on 20 hosts");
    assert_eq!(incident.severity, Severity::Critical);
    assert_eq!(incident.alerts.len(), 23);
    assert_eq!(incident.status, Status::Open);
    assert!(matches!(events(&changes[0])[0], Event::Opened { alerts } if alerts.len() == 20));
    assert!(
        matches!(events(&changes[0])[1], Event::Joined { .. }),
        "the absorbed ones"
    );

    // A 21st host goes down two minutes later: it joins, nothing new opens.
    let changes = engine.observe(&[down("web-20")], T0 + 150 * S);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].incident.id, 1);
    assert_eq!(changes[0].incident.title, "HostDown on 21 hosts");
    assert!(matches!(events(&changes[0])[..], [Event::Joined { .. }]));
    assert_eq!(engine.open().count(), 1);
}

#[test]
fn unrelated_alerts_on_two_hosts_are_two_incidents() {
    let mut engine = Engine::new(settings(), Vec::new(), 1);
    let a = alert("DiskFull", Some("db-1"), &[("severity", "warning")]);
    let b = alert("HighCpu", Some("web-1"), &[("severity", "warning")]);
    engine.observe(&[a.clone(), b], T0);
    let changes = engine.tick(T0 + 30 * S);
    assert_eq!(changes.len(), 2);
    let mut titles: Vec<&str> = changes.iter().map(|c| c.incident.title.as_str()).collect();
    titles.sort_unstable();
    assert_eq!(titles, ["DiskFull on db-1", "HighCpu on web-1"]);
    // Another alert of db-1 within the window joins db-1's incident at once.
    let mut c = alert("SlowQueries", Some("db-1"), &[("severity", "critical")]);
    c.starts_at_ms = T0 + 5 * MIN;
    let changes = engine.observe(&[c], T0 + 5 * MIN);
    assert_eq!(changes.len(), 1);
    let db = &changes[0].incident;
    assert_eq!(db.title, "DiskFull on db-1 and 1 more alert");
    assert_eq!(db.severity, Severity::Critical);
    assert!(matches!(
        events(&changes[0])[..],
        [
            Event::Joined { .. },
            Event::Escalated {
                from: Severity::Warning,
                to: Severity::Critical
            }
        ]
    ));
    // Past the window, a new alert of db-1 is a new incident.
    let late = alert("Swap", Some("db-1"), &[]);
    assert!(engine.observe(&[late], T0 + 40 * MIN).is_empty());
    let changes = engine.tick(T0 + 41 * MIN);
    assert_eq!(changes[0].incident.id, 3);
    let _ = a;
}

#[test]
fn a_down_host_absorbs_its_later_alerts_and_is_their_cause() {
    let mut engine = Engine::new(settings(), Vec::new(), 1);
    engine.observe(&[alert("HighLoad", Some("h"), &[])], T0);
    engine.tick(T0 + 30 * S);
    let changes = engine.observe(&[down("h")], T0 + MIN);
    assert_eq!(changes[0].incident.id, 1, "joins the host's incident");
    assert_eq!(changes[0].incident.title, "HostDown on h and 1 more alert");
    let cause = changes[0].incident.cause.clone().unwrap();
    assert_eq!(cause, down("h").fingerprint());
    // Long after the window, while the host is still down, its alerts still join.
    let changes = engine.observe(&[alert("NtpDrift", Some("h"), &[])], T0 + 60 * MIN);
    assert_eq!(changes[0].incident.id, 1);
}

#[test]
fn hosts_whose_stale_metrics_alerted_first_stay_one_incident_when_host_down_follows() {
    // 50 hosts stop: two stale-metrics alerts fire on each, then, 40 s later (after
    // open_after), HostDown on each. One incident, caused by a HostDown.
    let mut engine = Engine::new(settings(), Vec::new(), 1);
    let hosts: Vec<String> = (0..50).map(|i| format!("db-{i:02}")).collect();
    let stale: Vec<Alert> = hosts
        .iter()
        .flat_map(|h| {
            [
                alert("ExporterStale", Some(h), &[("severity", "warning")]),
                alert("MetricsLate", Some(h), &[("severity", "warning")]),
            ]
        })
        .collect();
    engine.observe(&stale, T0);
    let opened = engine.tick(T0 + 31 * S);
    assert_eq!(opened.len(), 1, "{opened:#?}");
    let id = opened[0].incident.id;
    assert_eq!(opened[0].incident.alerts.len(), 100);
    let first = opened[0].incident.title.clone();
    assert!(first.ends_with(" on 50 hosts"), "{first}");
    let mut all = stale.clone();
    all.extend(hosts.iter().map(|h| {
        let mut a = down(h);
        a.starts_at_ms = T0 + 40 * S;
        a
    }));
    let joined = engine.observe(&all, T0 + 40 * S);
    assert_eq!(joined.len(), 1, "{joined:#?}");
    let incident = &joined[0].incident;
    assert_eq!(incident.id, id);
    assert_eq!(incident.alerts.len(), 150);
    assert_eq!(incident.severity, Severity::Critical);
    // The down hosts explain the stale metrics: the title follows the cause.
    let opened_by = first.trim_end_matches(" on 50 hosts");
    assert_eq!(
        incident.title,
        format!("HostDown on 50 hosts, after {opened_by}")
    );
    assert!(events(&joined[0]).contains(&&Event::Escalated {
        from: Severity::Warning,
        to: Severity::Critical
    }));
    assert_eq!(engine.pending(), 0);
    assert_eq!(engine.open().count(), 1);
}

#[test]
fn a_shared_rack_groups_hosts_and_the_rack_alert_is_the_cause() {
    let mut engine = Engine::new(settings(), Vec::new(), 1);
    let switch = alert(
        "SwitchDown",
        None,
        &[("rack", "r7"), ("severity", "critical")],
    );
    let mut switch_later = switch.clone();
    switch_later.starts_at_ms = T0 + 20 * S;
    let hosts = [
        alert("PacketLoss", Some("a"), &[("rack", "r7")]),
        alert("HighLatency", Some("b"), &[("rack", "r7")]),
    ];
    engine.observe(&hosts, T0);
    engine.observe(&[switch_later], T0 + 20 * S);
    let changes = engine.tick(T0 + 30 * S);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let incident = &changes[0].incident;
    assert_eq!(incident.alerts.len(), 3);
    assert_eq!(
        incident.cause.as_deref(),
        Some(switch.fingerprint().as_str())
    );
    assert_eq!(
        incident.title,
        "SwitchDown at rack=r7 (2 hosts) and 2 more alerts"
    );
    // Another rack's alert is another incident.
    engine.observe(
        &[alert("PacketLoss", Some("c"), &[("rack", "r8")])],
        T0 + MIN,
    );
    let changes = engine.tick(T0 + 2 * MIN);
    assert_eq!(changes[0].incident.id, 2);
}

#[test]
fn quiet_then_reopened_then_resolved() {
    let settings = Settings {
        quiet_period: Duration::from_secs(600),
        ..settings()
    };
    let mut engine = Engine::new(settings, Vec::new(), 1);
    let a = alert("DiskFull", Some("db-1"), &[]);
    engine.observe(std::slice::from_ref(&a), T0);
    engine.tick(T0 + 30 * S);
    let changes = engine.observe(&[resolved(a.clone(), T0 + 5 * MIN)], T0 + 5 * MIN);
    assert!(matches!(
        events(&changes[0])[..],
        [Event::AlertResolved { .. }, Event::Quiet]
    ));
    assert!(changes[0].incident.is_open(), "waits the quiet period");
    // It fires again within the quiet period: reopened, same incident.
    let changes = engine.observe(std::slice::from_ref(&a), T0 + 10 * MIN);
    assert!(matches!(
        events(&changes[0])[..],
        [Event::Reopened, Event::Joined { .. }]
    ));
    assert!(engine.tick(T0 + 30 * MIN).is_empty(), "firing: not quiet");
    engine.observe(&[resolved(a.clone(), T0 + 31 * MIN)], T0 + 31 * MIN);
    assert!(engine.tick(T0 + 40 * MIN).is_empty());
    let changes = engine.tick(T0 + 41 * MIN);
    assert_eq!(changes.len(), 1);
    let over = &changes[0].incident;
    assert_eq!(over.status, Status::Resolved);
    assert_eq!(over.resolved_ms, Some(T0 + 41 * MIN));
    assert!(matches!(events(&changes[0])[..], [Event::Resolved]));
    assert_eq!(engine.open().count(), 0);
    // After it resolved, the same alert opens a new incident.
    engine.observe(&[a], T0 + 50 * MIN);
    assert_eq!(engine.tick(T0 + 51 * MIN)[0].incident.id, 2);
}

#[test]
fn a_blip_shorter_than_open_after_opens_nothing() {
    let mut engine = Engine::new(settings(), Vec::new(), 1);
    let a = alert("Flap", Some("x"), &[]);
    engine.observe(std::slice::from_ref(&a), T0);
    engine.observe(&[resolved(a, T0 + 10 * S)], T0 + 10 * S);
    assert!(engine.tick(T0 + MIN).is_empty());
    assert_eq!(engine.next_id(), 1);
}

#[test]
fn open_incidents_survive_a_restart_and_ids_go_on() {
    let mut engine = Engine::new(settings(), Vec::new(), 1);
    let a = alert("DiskFull", Some("db-1"), &[]);
    engine.observe(std::slice::from_ref(&a), T0);
    let stored = engine.tick(T0 + 30 * S)[0].incident.clone();
    // The stored record, as JSON and back.
    let json = serde_json::to_string(&stored).unwrap();
    let back: Incident = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stored);

    let mut restarted = Engine::new(settings(), vec![back], 1);
    assert_eq!(restarted.next_id(), 2);
    let changes = restarted.observe(&[resolved(a, T0 + MIN)], T0 + MIN);
    assert_eq!(
        changes[0].incident.id, 1,
        "the restored incident hears its alert resolve"
    );
    let ack = restarted
        .acknowledge(1, "ops", "on it", T0 + 2 * MIN)
        .unwrap();
    assert_eq!(ack.incident.status, Status::Acknowledged);
    assert!(matches!(
        events(&ack)[..],
        [Event::Acknowledged { by, comment }] if by == "ops" && comment == "on it"
    ));
    let err = restarted.acknowledge(9, "ops", "", T0).unwrap_err();
    assert!(err.contains("incident 9 is not open"), "{err}");
}

#[test]
fn severity_words_people_use() {
    let of = |s: &str| Severity::of(&BTreeMap::from([("severity".to_owned(), s.to_owned())]));
    assert_eq!(of("CRITICAL"), Severity::Critical);
    assert_eq!(of("page"), Severity::Critical);
    assert_eq!(of("warning"), Severity::Warning);
    assert_eq!(of("info"), Severity::Info);
    assert_eq!(of("whatever"), Severity::None);
    assert!(Severity::Critical > Severity::Error && Severity::Error > Severity::Warning);
}
