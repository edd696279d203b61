//! Routes with `mode = "incident"`: twenty hosts going down make one webhook and one email
//! about the incident when it opens and one of each when it resolves, where a route in
//! the default mode makes one per alert group.

use super::*;
use vigil_tests::notify_servers::{HttpReceiver, SmtpOptions, SmtpServer};

#[test]
fn an_outage_is_one_incident_notification_when_it_opens_and_one_when_it_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let (incident_hook, alert_hook) = (HttpReceiver::start(), HttpReceiver::start());
    let smtp = SmtpServer::start(SmtpOptions::default());
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[notify]
external_url = "https://vigil.example.com"
[[notify.receivers]]
name = "oncall"
[[notify.receivers.webhook]]
url = "{}/incident"
[[notify.receivers.email]]
to = ["oncall@example.com"]
from = "vigil@example.com"
host = "127.0.0.1"
port = {}
tls = "none"
[[notify.receivers]]
name = "per-alert"
[[notify.receivers.webhook]]
url = "{}/alerts"
[notify.route]
receiver = "per-alert"
group_by = ["alertname", "host"]
group_wait = "1s"
[[notify.route.routes]]
receiver = "oncall"
mode = "incident"
continue = true
[[notify.route.routes]]
receiver = "per-alert"
"#,
            incident_hook.url(),
            smtp.port,
            alert_hook.url()
        ),
    )
    .unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let mut settings = rules_settings(&rules);
    settings.extend(fast_incidents());
    let c = Collector::start_with_config(
        free_port(),
        &dir.path().join("data"),
        &config,
        &env_refs(&settings),
    );
    let url = c.url();
    fleet_sends(&url, 3);

    // Opened: one webhook with the incident, one email listing the alerts and timeline.
    let opened = incident_hook.wait_for(1, Duration::from_secs(40)).remove(0);
    let body = opened.json();
    assert_eq!(body["kind"], "incident", "{body}");
    assert_eq!(body["event"], "opened");
    assert_eq!(body["version"], "1");
    assert_eq!(body["receiver"], "oncall");
    assert!(
        body["correlation"].as_str().unwrap().starts_with("vigil-"),
        "{body}"
    );
    let incident = &body["incident"];
    assert_eq!(incident["title"], "HostDown on 20 hosts");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["status"], "open");
    assert_eq!(incident["alerts"].as_array().unwrap().len(), 20);
    assert_eq!(incident["timeline"][0]["event"], "opened");
    let id = incident["id"].as_u64().unwrap();
    let mail = smtp.wait_for(1, Duration::from_secs(20)).remove(0);
    assert_eq!(
        mail.subject,
        format!("[OPENED] Incident #{id} (critical): HostDown on 20 hosts")
    );
    let text = mail.text.unwrap();
    assert!(text.contains("Firing (20)"), "{text}");
    assert!(text.contains("HostDown{host=\"host-00000\""), "{text}");
    assert!(text.contains("Timeline"), "{text}");
    assert!(
        text.contains(&format!("https://vigil.example.com/api/v1/incidents/{id}")),
        "{text}"
    );

    // The route in the default mode had one notification per host.
    let per_alert = alert_hook.wait_for(20, Duration::from_secs(20));
    assert_eq!(per_alert.len(), 20);

    // They come back: after the quiet period, one resolution of each kind.
    fleet_sends(&url, 15);
    let both = incident_hook.wait_for(2, Duration::from_secs(60));
    let resolved = both[1].json();
    assert_eq!(resolved["event"], "resolved", "{resolved}");
    assert_eq!(resolved["incident"]["id"], id);
    assert_eq!(resolved["incident"]["status"], "resolved");
    let mails = smtp.wait_for(2, Duration::from_secs(20));
    assert!(
        mails[1]
            .subject
            .starts_with(&format!("[RESOLVED] Incident #{id} ")),
        "{}",
        mails[1].subject
    );
    // Nothing else reached the incident receiver about this incident.
    std::thread::sleep(Duration::from_secs(2));
    let about_it = incident_hook
        .requests()
        .iter()
        .filter(|r| r.json()["incident"]["id"] == id)
        .count();
    assert_eq!(about_it, 2);
}
