//! Rendering incidents: the table, one incident with its timeline, JSON's keys, CSV.

use super::*;
use vigil_proto::v1::{IncidentAlert, IncidentTicket, Label, TimelineEntry};

const T0: i64 = 1_795_240_000_000;

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn incident() -> Incident {
    Incident {
        id: 7,
        title: "HostDown on 2 hosts".into(),
        severity: "critical".into(),
        status: "open".into(),
        opened_ms: T0,
        resolved_ms: 0,
        grouping: "fleet".into(),
        grouping_value: "HostDown".into(),
        cause: "aa".into(),
        alerts: vec![
            IncidentAlert {
                fingerprint: "aa".into(),
                labels: vec![label("alertname", "HostDown"), label("host", "web-1")],
                annotations: vec![],
                starts_at_ms: T0 - 60_000,
                joined_ms: T0,
                resolved_ms: 0,
            },
            IncidentAlert {
                fingerprint: "bb".into(),
                labels: vec![label("alertname", "HostDown"), label("host", "web-2")],
                annotations: vec![],
                starts_at_ms: T0 - 30_000,
                joined_ms: T0,
                resolved_ms: T0 + 120_000,
            },
        ],
        timeline: vec![
            TimelineEntry {
                at_ms: T0,
                event: "opened".into(),
                detail: "2 alerts".into(),
            },
            TimelineEntry {
                at_ms: T0 + 120_000,
                event: "alert_resolved".into(),
                detail: "bb".into(),
            },
        ],
        tickets: vec![IncidentTicket {
            receiver: "rt".into(),
            id: "42".into(),
            url: "http://rt/Ticket/Display.html?id=42".into(),
        }],
    }
}

fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_list_is_a_table_with_firing_over_all_alerts() {
    let now = T0 + 10 * 60_000;
    let table = text(|w| render_list(&[incident()], Output::Table, now, w));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID   STATUS   SEVERITY   TITLE"),
        "{table}"
    );
    assert!(lines[1].contains("HostDown on 2 hosts"), "{table}");
    assert!(lines[1].contains("1/2"), "one of two still fires: {table}");
    assert!(lines[1].contains("10m ago"), "{table}");
    assert!(lines[1].contains("rt:42"), "{table}");
}

#[test]
fn json_has_the_documented_keys_and_unix_seconds() {
    let json = text(|w| render_list(&[incident()], Output::Json, T0, w));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let i = &v[0];
    for key in [
        "id",
        "title",
        "severity",
        "status",
        "opened_at",
        "resolved_at",
        "alerts",
        "tickets",
        "timeline",
        "grouping",
        "cause",
    ] {
        assert!(i.get(key).is_some(), "{key} missing: {i}");
    }
    assert_eq!(i["id"], 7);
    assert_eq!(i["status"], "open");
    assert_eq!(i["opened_at"], 1_795_240_000);
    assert!(i["resolved_at"].is_null());
    assert_eq!(i["alerts"][1]["resolved_at"], 1_795_240_120);
    assert_eq!(i["alerts"][0]["labels"]["host"], "web-1");
    assert_eq!(i["tickets"][0]["id"], "42");
    assert_eq!(i["tickets"][0]["receiver"], "rt");
    assert_eq!(i["timeline"][1]["event"], "alert_resolved");
}

#[test]
fn csv_has_one_row_per_incident() {
    let csv = text(|w| render_list(&[incident()], Output::Csv, T0, w));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,status,severity,title,alerts,hosts,opened_at,resolved_at,tickets"
    );
    assert_eq!(
        lines[1],
        "7,open,critical,HostDown on 2 hosts,2,2,1795240000,,rt:42"
    );
}

#[test]
fn one_incident_shows_its_cause_alerts_and_timeline() {
    let shown = text(|w| render_one(&incident(), Output::Table, T0 + 300_000, w));
    assert!(
        shown.starts_with("incident 7: HostDown on 2 hosts\n"),
        "{shown}"
    );
    assert!(
        shown.contains("status open, severity critical, grouped by fleet HostDown"),
        "{shown}"
    );
    assert!(
        shown.contains("ticket 42 on rt http://rt/Ticket/Display.html?id=42"),
        "{shown}"
    );
    let cause = shown.lines().find(|l| l.contains("web-1")).unwrap();
    assert!(cause.starts_with("cause"), "{shown}");
    assert!(shown.contains("alert_resolved"), "{shown}");
}

#[test]
fn the_arguments_parse_as_documented() {
    use clap::Parser;
    let cli = crate::Cli::try_parse_from(["vigil", "incident", "12"]).unwrap();
    assert!(matches!(
        cli.command,
        crate::Command::Incident(IncidentArgs {
            id: Some(12),
            action: None
        })
    ));
    let cli = crate::Cli::try_parse_from(["vigil", "incident", "ack", "12", "--comment", "on it"])
        .unwrap();
    assert!(matches!(
        cli.command,
        crate::Command::Incident(IncidentArgs {
            action: Some(IncidentAction::Ack { id: 12, .. }),
            ..
        })
    ));
    assert!(
        crate::Cli::try_parse_from(["vigil", "incident"]).is_err(),
        "an id is needed"
    );
    assert!(crate::Cli::try_parse_from(["vigil", "incident", "x"]).is_err());
    assert!(crate::Cli::try_parse_from(["vigil", "incidents", "--since", "0s"]).is_err());
    let cli = crate::Cli::try_parse_from(["vigil", "incidents", "--open"]).unwrap();
    assert!(matches!(
        cli.command,
        crate::Command::Incidents(IncidentsArgs { open: true, .. })
    ));
}
