//! Notification templates over a sample notification: Alertmanager-like subjects, ranges,
//! HTML escaping and errors.

use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn data() -> NotificationData {
    let alert = |host: &str, status: &str| AlertData {
        status: status.into(),
        labels: map(&[("alertname", "HighCpu"), ("host", host)]),
        annotations: map(&[("summary", "busy <cpu>")]),
        starts_at: "2023-11-14T22:13:20Z".into(),
        ends_at: "0001-01-01T00:00:00Z".into(),
        generator_url: "http://x".into(),
        fingerprint: "0123456789abcdef".into(),
    };
    NotificationData {
        receiver: "ops".into(),
        status: "firing".into(),
        group_labels: map(&[("alertname", "HighCpu")]),
        common_labels: map(&[("alertname", "HighCpu")]),
        common_annotations: map(&[("summary", "busy <cpu>")]),
        external_url: "https://vigil".into(),
        group_key: "{}:{alertname=\"HighCpu\"}".into(),
        alerts: vec![
            alert("a", "firing"),
            alert("b", "firing"),
            alert("c", "resolved"),
        ],
        incident: map(&[("ID", "12"), ("Severity", "critical")]),
    }
}

fn run(template: &str) -> String {
    expand(template, &data(), false).unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn incident_fields_are_a_map() {
    assert_eq!(
        run("#{{ .Incident.ID }} {{ .Incident.Severity }}{{ .Incident.Nothing }}"),
        "#12 critical"
    );
}

#[test]
fn alertmanager_like_subject() {
    assert_eq!(
        run(
            "[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.alertname }}"
        ),
        "[FIRING:2] HighCpu"
    );
    assert_eq!(run("{{ len .Alerts }}/{{ len .Alerts.Resolved }}"), "3/1");
    assert_eq!(
        run("{{ .Receiver }} {{ .ExternalURL }} {{ .CommonAnnotations.summary }}"),
        "ops https://vigil busy <cpu>"
    );
}

#[test]
fn range_over_alerts_and_maps() {
    assert_eq!(
        run("{{ range .Alerts.Firing }}{{ .Labels.host }}@{{ .StartsAt }} {{ end }}"),
        "a@2023-11-14T22:13:20Z b@2023-11-14T22:13:20Z "
    );
    assert_eq!(
        run("{{ range $k, $v := .GroupLabels }}{{ $k }}={{ $v }};{{ end }}"),
        "alertname=HighCpu;"
    );
    assert_eq!(
        run("{{ range .Alerts }}{{ .Fingerprint }} {{ $.Receiver }}|{{ end }}")
            .matches("0123456789abcdef ops|")
            .count(),
        3
    );
    assert_eq!(
        run("{{ range .Alerts.Resolved }}{{ .Labels.host }}{{ else }}none{{ end }}"),
        "c"
    );
    assert_eq!(
        run("{{ range .CommonLabels.nosuch }}x{{ else }}none{{ end }}"),
        "none"
    );
}

#[test]
fn html_escapes_values_not_text() {
    let html = expand(
        "<b>{{ .CommonAnnotations.summary }}</b>{{ \"<i>\" | safeHtml }}",
        &data(),
        true,
    )
    .unwrap();
    assert_eq!(html, "<b>busy &lt;cpu&gt;</b><i>");
}

#[test]
fn errors_name_the_field_or_variable() {
    let e = expand("{{ .Alertz }}", &data(), false).unwrap_err();
    assert!(e.contains("can't evaluate field Alertz"), "{e}");
    let e = expand(
        "{{ range .Alerts }}{{ .Lables.x }}{{ end }}",
        &data(),
        false,
    )
    .unwrap_err();
    assert!(e.contains("Lables"), "{e}");
    assert!(
        check("{{ $x }}")
            .unwrap_err()
            .contains("undefined variable \"$x\"")
    );
    assert!(check("{{ range $a := .Alerts }}{{ $a.Status }}{{ end }}").is_ok());
    assert!(check("{{ nosuch }}").unwrap_err().contains("not defined"));
}
