//! The receivers end to end: a real collector configured with email, webhook and
//! alertmanager receivers, `vigil notify test RECEIVER`, and real servers on loopback
//! (aiosmtpd, an HTTP receiver, Debian's Alertmanager) checking what arrived. Secrets
//! (SMTP password, HMAC key, tokens in headers and URLs) never show in the collector's log
//! or in `vigil`'s output.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use vigil_tests::certs::TestCa;
use vigil_tests::notify_servers::{Alertmanager, HttpReceiver, SmtpOptions, SmtpServer};
use vigil_tests::{
    Collector, assert_exit, free_port, import_now, now_s, stderr, stdout, vigil, vigil_json,
    wait_for,
};

const WAIT: Duration = Duration::from_secs(30);

/// Starts a collector whose config file holds `notify` (the `[notify]` tables).
fn collector(dir: &Path, notify: &str, env: &[(&str, &str)]) -> Collector {
    let config = dir.join("collector.toml");
    std::fs::write(&config, notify).unwrap();
    Collector::start_with_config(free_port(), &dir.join("data"), &config, env)
}

/// `vigil notify test RECEIVER --output json`: the answers and the whole output.
fn notify_test(c: &Collector, receiver: &str) -> (Output, Vec<Value>) {
    let out = vigil(&c.url(), &["notify", "test", receiver, "--output", "json"]);
    let answers = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    (out, answers)
}

/// Asserts none of `secrets` appears in the collector's log or the CLI's output.
fn assert_no_secret(c: &Collector, outputs: &[&Output], secrets: &[&str]) {
    let log = c.process.log();
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "collector log shows {secret:?}:\n{log}"
        );
        for out in outputs {
            let all = stdout(out) + &stderr(out);
            assert!(!all.contains(secret), "vigil shows {secret:?}:\n{all}");
        }
    }
}

/// Writes ca.pem and smtp.{pem,key} (for 127.0.0.1 and localhost) into `dir`.
fn certificates(dir: &Path) {
    let ca = TestCa::new(dir, "Vigil notify test CA");
    let loopback = "127.0.0.1".parse().ok();
    ca.leaf(dir, "smtp", "vigil-test-smtp", &["localhost"], loopback);
}

#[test]
fn email_on_loopback_has_subject_recipients_and_both_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(SmtpOptions::default());
    let notify = format!(
        r#"
[notify]
external_url = "https://vigil.example.com"
[[notify.receivers]]
name = "mail"
[[notify.receivers.email]]
to = ["ops@example.com", "Oncall <oncall@example.com>"]
from = "Vigil <vigil@example.com>"
host = "127.0.0.1"
port = {}
tls = "none"
headers = {{ X-Vigil-Team = "infra" }}
[[notify.receivers]]
name = "custom"
[[notify.receivers.email]]
to = ["custom@example.com"]
from = "vigil@example.com"
host = "127.0.0.1"
port = {}
tls = "none"
subject = '{{{{ .Status | toUpper }}}}: {{{{ range .Alerts }}}}{{{{ .Labels.alertname }}}} {{{{ end }}}}for {{{{ .Receiver }}}}'
text = """
{{{{ len .Alerts.Firing }}}} firing at {{{{ .ExternalURL }}}}
{{{{ range .Alerts -}}}}
- {{{{ .Annotations.summary }}}} since {{{{ .StartsAt }}}}
{{{{ range $name, $value := .Labels }}}}  {{{{ $name }}}}: {{{{ $value }}}}
{{{{ end }}}}{{{{ end -}}}}
"""
html = ""
[notify.route]
receiver = "mail"
"#,
        smtp.port, smtp.port
    );
    let c = collector(dir.path(), &notify, &[]);
    let (out, answers) = notify_test(&c, "mail");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["kind"], "email");
    assert_eq!(answers[0]["result"], "accepted");
    assert!(
        answers[0]["answer"].as_str().unwrap().starts_with("250"),
        "{answers:?}"
    );
    assert_eq!(
        answers[0]["target"],
        "email to ops@example.com, Oncall <oncall@example.com> via 127.0.0.1:{port} (plain)"
            .replace("{port}", &smtp.port.to_string())
    );

    let mail = smtp.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.mail_from, "vigil@example.com");
    assert_eq!(mail.rcpt_tos, ["ops@example.com", "oncall@example.com"]);
    assert_eq!(
        mail.subject, "[TEST] [FIRING:1] VigilTest (receiver=mail)",
        "{}",
        mail.data
    );
    assert_eq!(mail.header("X-Vigil-Team"), Some("infra"));
    assert!(mail.header("Message-ID").is_some(), "{}", mail.data);
    let body = mail.text.unwrap();
    assert!(body.contains("1 firing (receiver mail)"), "{body}");
    assert!(body.contains("    alertname = VigilTest"), "{body}");
    assert!(
        body.contains("    summary = Test notification from Vigil to receiver mail"),
        "{body}"
    );
    assert!(body.contains("  Started: "), "{body}");
    assert!(body.contains("Vigil: https://vigil.example.com"), "{body}");
    let html = mail.html.unwrap();
    assert!(html.contains("<td>VigilTest</td>"), "{html}");
    assert!(
        html.contains("href=\"https://vigil.example.com\""),
        "{html}"
    );

    // The table form names the same.
    let table = vigil(&c.url(), &["notify", "test", "mail"]);
    assert!(table.status.success());
    let table = stdout(&table);
    assert!(table.starts_with("KIND"), "{table}");
    assert!(
        table.lines().nth(1).unwrap().contains("accepted"),
        "{table}"
    );
    smtp.wait_for(2, WAIT);

    // The operator's templates, over Alertmanager's notification data; no HTML part.
    let (out, answers) = notify_test(&c, "custom");
    assert!(out.status.success(), "{answers:?}");
    let mail = smtp.wait_for(3, WAIT).remove(2);
    assert_eq!(mail.rcpt_tos, ["custom@example.com"]);
    assert_eq!(mail.subject, "FIRING: VigilTest for custom");
    let body = mail.text.unwrap();
    assert!(
        body.starts_with("1 firing at https://vigil.example.com\n- Test notification from Vigil to receiver custom since 20"),
        "{body}"
    );
    assert!(
        body.contains("\n  alertname: VigilTest\n  receiver: custom\n"),
        "{body}"
    );
    assert_eq!(mail.html, None, "{}", mail.data);

    // SMTP 4xx is worth a retry, 5xx is final; both show the server's reply.
    smtp.set_reply(Some("451 4.3.0 mailbox busy, try later"));
    let (out, answers) = notify_test(&c, "mail");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(answers[0]["result"], "retry", "{answers:?}");
    assert!(
        answers[0]["answer"].as_str().unwrap().contains("451"),
        "{answers:?}"
    );
    assert!(
        answers[0]["answer"]
            .as_str()
            .unwrap()
            .contains("mailbox busy"),
        "{answers:?}"
    );
    smtp.set_reply(Some("550 5.7.1 relaying denied"));
    let (_, answers) = notify_test(&c, "mail");
    assert_eq!(answers[0]["result"], "rejected", "{answers:?}");
    assert!(
        answers[0]["answer"]
            .as_str()
            .unwrap()
            .contains("relaying denied"),
        "{answers:?}"
    );
    assert_eq!(smtp.messages().len(), 3);
}

#[test]
fn email_over_starttls_with_auth_from_env_and_file_never_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let password = "Sm7p-pa55word-e2e";
    let smtp = SmtpServer::start(SmtpOptions {
        starttls: Some((dir.path().join("smtp.pem"), dir.path().join("smtp.key"))),
        auth: Some(("vigil".into(), password.into())),
        ..SmtpOptions::default()
    });
    let password_file = dir.path().join("smtp.pass");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let email = |name: &str, password: &str| {
        format!(
            r#"
[[notify.receivers]]
name = "{name}"
[[notify.receivers.email]]
to = ["{name}@example.com"]
from = "vigil@example.com"
host = "127.0.0.1"
port = {port}
tls = "starttls"
ca_file = {ca:?}
username = "vigil"
password = {password}
"#,
            port = smtp.port,
            ca = dir.path().join("ca.pem").display().to_string(),
        )
    };
    let notify = [
        email("from-env", "{ env = \"VIGIL_E2E_SMTP_PASSWORD\" }"),
        email(
            "from-file",
            &format!("{{ file = {:?} }}", password_file.display().to_string()),
        ),
        email("wrong", "\"Wr0ng-pa55word-e2e\""),
        "[notify.route]\nreceiver = \"from-env\"\n".to_owned(),
    ]
    .concat();
    let c = collector(
        dir.path(),
        &notify,
        &[("VIGIL_E2E_SMTP_PASSWORD", password)],
    );

    let (env_out, answers) = notify_test(&c, "from-env");
    assert!(env_out.status.success(), "{answers:?} {}", stderr(&env_out));
    assert!(
        answers[0]["target"]
            .as_str()
            .unwrap()
            .ends_with("(starttls)"),
        "{answers:?}"
    );
    let (file_out, answers) = notify_test(&c, "from-file");
    assert!(
        file_out.status.success(),
        "{answers:?} {}",
        stderr(&file_out)
    );
    let mails = smtp.wait_for(2, WAIT);
    for (mail, to) in mails
        .iter()
        .zip(["from-env@example.com", "from-file@example.com"])
    {
        assert_eq!(mail.rcpt_tos, [to]);
        assert!(mail.tls, "sent without STARTTLS");
        assert_eq!(mail.auth_login.as_deref(), Some("vigil"));
        assert!(mail.subject.contains("VigilTest"), "{}", mail.subject);
    }

    // A wrong password is refused for good (SMTP 535), and shown nowhere.
    let (wrong_out, answers) = notify_test(&c, "wrong");
    assert_eq!(wrong_out.status.code(), Some(1));
    assert_eq!(answers[0]["result"], "rejected", "{answers:?}");
    assert!(
        answers[0]["answer"].as_str().unwrap().contains("535"),
        "{answers:?}"
    );
    assert!(
        stderr(&wrong_out).contains("1 of 1 integration(s) of receiver \"wrong\""),
        "{}",
        stderr(&wrong_out)
    );
    assert_eq!(smtp.messages().len(), 2);
    assert_no_secret(
        &c,
        &[&env_out, &file_out, &wrong_out],
        &[password, "Wr0ng-pa55word-e2e"],
    );
}

/// HMAC-SHA256(key, "<timestamp>.<body>") as the `X-Vigil-Signature` header writes it.
fn expected_signature(key: &str, timestamp: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let tag = ring::hmac::sign(&key, &message);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[test]
fn webhook_is_alertmanager_json_signed_with_headers_and_reports_4xx_and_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = HttpReceiver::start();
    let (key, token, url_token) = ("hmac-K3y-e2e", "Bearer t0ken-e2e", "urlT0ken-e2e");
    let notify = format!(
        r#"
[notify]
external_url = "https://vigil.example.com"
[[notify.receivers]]
name = "hook"
[[notify.receivers.webhook]]
url = "{}/hooks/vigil?token={url_token}"
secret = {{ env = "VIGIL_E2E_HOOK_KEY" }}
headers = {{ Authorization = {{ env = "VIGIL_E2E_HOOK_TOKEN" }}, X-Team = "infra" }}
timeout = "5s"
[notify.route]
receiver = "hook"
"#,
        receiver.url()
    );
    let c = collector(
        dir.path(),
        &notify,
        &[("VIGIL_E2E_HOOK_KEY", key), ("VIGIL_E2E_HOOK_TOKEN", token)],
    );
    let before = now_s();
    let (ok_out, answers) = notify_test(&c, "hook");
    assert!(ok_out.status.success(), "{answers:?} {}", stderr(&ok_out));
    assert_eq!(answers[0]["kind"], "webhook");
    assert_eq!(answers[0]["result"], "accepted");
    assert_eq!(answers[0]["answer"], "HTTP 200 OK: ok");
    assert_eq!(
        answers[0]["target"],
        format!("webhook to http://127.0.0.1:{}/…", receiver.port())
    );

    let request = receiver.wait_for(1, WAIT).remove(0);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/hooks/vigil?token={url_token}"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(
        request.header("user-agent").unwrap().starts_with("vigil/"),
        "{:?}",
        request.headers
    );
    assert_eq!(request.header("authorization"), Some(token));
    assert_eq!(request.header("x-team"), Some("infra"));

    // The signature: a fresh timestamp, and the HMAC of "<timestamp>.<body>".
    let timestamp = request.header("x-vigil-timestamp").unwrap();
    let seconds: f64 = timestamp.parse().unwrap();
    assert!(
        seconds >= before.floor() - 1.0 && seconds <= now_s() + 1.0,
        "timestamp {timestamp}"
    );
    assert_eq!(
        request.header("x-vigil-signature").unwrap(),
        expected_signature(key, timestamp, &request.body)
    );
    assert_ne!(
        request.header("x-vigil-signature").unwrap(),
        expected_signature("another key", timestamp, &request.body)
    );

    // Alertmanager's webhook JSON, version 4.
    let body = request.json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["externalURL"], "https://vigil.example.com");
    assert_eq!(body["truncatedAlerts"], 0);
    assert_eq!(
        body["groupLabels"],
        serde_json::json!({"alertname": "VigilTest"})
    );
    assert_eq!(body["commonLabels"]["alertname"], "VigilTest");
    assert_eq!(body["commonLabels"]["receiver"], "hook");
    assert!(body["commonAnnotations"]["summary"].is_string(), "{body}");
    assert!(
        body["groupKey"].as_str().unwrap().contains("VigilTest"),
        "{body}"
    );
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "VigilTest");
    assert!(alert["annotations"]["summary"].is_string());
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    let starts = alert["startsAt"].as_str().unwrap();
    assert!(starts.ends_with('Z') && starts.contains('T'), "{starts}");
    assert_eq!(alert["generatorURL"], "");
    let fingerprint = alert["fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 16, "{fingerprint}");
    assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()));

    // 4xx: rejected, with the receiver's answer.
    receiver.set_response(401, "bad token for this hook");
    let (rejected_out, answers) = notify_test(&c, "hook");
    assert_eq!(rejected_out.status.code(), Some(1));
    assert_eq!(answers[0]["result"], "rejected");
    assert_eq!(
        answers[0]["answer"],
        "HTTP 401 Unauthorized: bad token for this hook"
    );
    // 5xx: worth a retry.
    receiver.set_status(503);
    let (retry_out, answers) = notify_test(&c, "hook");
    assert_eq!(retry_out.status.code(), Some(1));
    assert_eq!(answers[0]["result"], "retry");
    assert!(
        answers[0]["answer"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 503 Service Unavailable"),
        "{answers:?}"
    );
    // A receiver that echoes a secret does not get it printed.
    receiver.set_response(400, &format!("refusing {token} and {url_token}"));
    let (echo_out, answers) = notify_test(&c, "hook");
    assert_eq!(answers[0]["result"], "rejected");
    assert_eq!(
        answers[0]["answer"],
        "HTTP 400 Bad Request: refusing <secret> and <secret>"
    );
    assert_eq!(receiver.requests().len(), 4);
    assert_no_secret(
        &c,
        &[&ok_out, &rejected_out, &retry_out, &echo_out],
        &[key, token, url_token],
    );
}

#[test]
fn alertmanager_shows_forwarded_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start();
    let notify = format!(
        r#"
[[notify.receivers]]
name = "am"
[[notify.receivers.alertmanager]]
url = "{}/"
[notify.route]
receiver = "am"
"#,
        am.url()
    );
    let c = collector(dir.path(), &notify, &[]);
    let (out, answers) = notify_test(&c, "am");
    assert!(out.status.success(), "{answers:?} {}", stderr(&out));
    assert_eq!(answers[0]["kind"], "alertmanager");
    assert_eq!(
        answers[0]["target"],
        format!("alertmanager at {}", am.url())
    );
    assert_eq!(answers[0]["result"], "accepted");
    assert!(
        answers[0]["answer"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 200"),
        "{answers:?}"
    );
    let alert = am.wait_for_alert(&[("alertname", "VigilTest"), ("receiver", "am")], WAIT);
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    assert_eq!(
        alert["annotations"]["summary"],
        "Test notification from Vigil to receiver am"
    );
    assert_eq!(alert["receivers"][0]["name"], "null", "{alert}");
}

#[test]
fn a_receiver_that_is_down_is_retry_and_an_unknown_one_names_those_that_exist() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = HttpReceiver::start();
    let notify = format!(
        r#"
[[notify.receivers]]
name = "hook"
[[notify.receivers.webhook]]
url = "{}/hook"
[[notify.receivers]]
name = "pager"
[[notify.receivers.webhook]]
url = "{}/pager"
[notify.route]
receiver = "hook"
"#,
        receiver.url(),
        receiver.url()
    );
    let c = collector(dir.path(), &notify, &[]);
    receiver.down();
    let (out, answers) = notify_test(&c, "hook");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(answers[0]["result"], "retry", "{answers:?}");
    let error = answers[0]["answer"].as_str().unwrap();
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");

    receiver.up();
    let (out, answers) = notify_test(&c, "hook");
    assert!(out.status.success(), "{answers:?}");
    assert_eq!(receiver.wait_for(1, WAIT)[0].path, "/hook");

    let out = vigil(&c.url(), &["notify", "test", "nosuch"]);
    assert_exit(
        &out,
        1,
        &["no receiver is named \"nosuch\"; the receivers are: hook, pager"],
    );
}

#[test]
fn email_over_implicit_tls_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let smtp = SmtpServer::start(SmtpOptions {
        implicit_tls: Some((dir.path().join("smtp.pem"), dir.path().join("smtp.key"))),
        ..SmtpOptions::default()
    });
    let email = |name: &str, ca: &str| {
        format!(
            "[[notify.receivers]]\nname = \"{name}\"\n[[notify.receivers.email]]\n\
             to = [\"{name}@example.com\"]\nfrom = \"vigil@example.com\"\n\
             host = \"127.0.0.1\"\nport = {}\ntls = \"tls\"\n{ca}\n",
            smtp.port
        )
    };
    let ca = format!(
        "ca_file = {:?}",
        dir.path().join("ca.pem").display().to_string()
    );
    let notify = [
        email("trusted", &ca),
        // Without the test CA the certificate is not trusted: a TLS error, retried.
        email("untrusted", ""),
        "[notify.route]\nreceiver = \"trusted\"\n".to_owned(),
    ]
    .concat();
    let c = collector(dir.path(), &notify, &[]);
    let (out, answers) = notify_test(&c, "trusted");
    assert!(out.status.success(), "{answers:?}");
    assert!(answers[0]["target"].as_str().unwrap().ends_with("(tls)"));
    let mail = smtp.wait_for(1, WAIT).remove(0);
    assert!(mail.tls);
    assert_eq!(mail.rcpt_tos, ["trusted@example.com"]);

    let (out, answers) = notify_test(&c, "untrusted");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(answers[0]["result"], "retry", "{answers:?}");
    let error = answers[0]["answer"].as_str().unwrap().to_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn a_webhook_that_answers_too_late_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = HttpReceiver::start();
    let notify = format!(
        "[[notify.receivers]]\nname = \"slow\"\n[[notify.receivers.webhook]]\n\
         url = \"{}/slow\"\ntimeout = \"1s\"\n[notify.route]\nreceiver = \"slow\"\n",
        receiver.url()
    );
    let c = collector(dir.path(), &notify, &[]);
    receiver.set_delay(Duration::from_secs(5));
    let (out, answers) = notify_test(&c, "slow");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(answers[0]["result"], "retry", "{answers:?}");
    let error = answers[0]["answer"].as_str().unwrap();
    assert!(
        error.contains("timed out") || error.contains("no answer within 1s"),
        "{error}"
    );
    // Bounded by the timeout, not by the receiver's 5 s.
    assert!(answers[0]["seconds"].as_f64().unwrap() < 4.0, "{answers:?}");
}

#[test]
fn vigil_notify_outbox_lists_what_waits_until_the_receiver_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = HttpReceiver::start();
    receiver.down();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: outbox\n    rules:\n      - alert: OutboxHigh\n        \
         expr: outbox_e2e_value > 50\n",
    )
    .unwrap();
    let notify = format!(
        "[rules]\nfiles = [{:?}]\nevaluation_interval = \"1s\"\n[storage]\nsync = false\n\
         [[notify.receivers]]\nname = \"hook\"\n[[notify.receivers.webhook]]\n\
         url = \"{}/hook\"\n[notify.route]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\n\
         [notify.delivery]\nbackoff_initial = \"1s\"\nbackoff_max = \"2s\"\n",
        rules.display().to_string(),
        receiver.url()
    );
    let c = collector(dir.path(), &notify, &[]);
    import_now(&c.url(), dir.path(), "outbox_e2e_value", "db-1", 75.0);

    let entry = wait_for(WAIT, "a failed attempt in the outbox", || {
        let entries = vigil_json(&c.url(), &["notify", "outbox"]);
        let entry = entries.as_array()?.first()?.clone();
        (entry["attempts"].as_u64()? >= 1).then_some(entry)
    });
    assert_eq!(entry["receiver"], "hook", "{entry}");
    assert_eq!(entry["kind"], "webhook");
    assert_eq!(entry["status"], "firing");
    assert_eq!(entry["alerts"], 1);
    assert!(!entry["group_key"].as_str().unwrap().is_empty(), "{entry}");
    assert!(entry["created_at"].as_f64().unwrap() <= now_s());
    let error = entry["last_error"].as_str().unwrap();
    assert!(error.contains("cannot connect"), "{entry}");

    let table = vigil(&c.url(), &["notify", "outbox"]);
    assert!(table.status.success());
    let table = stdout(&table);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("LAST ERROR"),
        "{table}"
    );
    assert!(
        lines[1].contains("hook") && lines[1].contains("webhook"),
        "{table}"
    );
    assert!(lines[1].contains("cannot connect"), "{table}");

    receiver.up();
    let got = receiver.wait_for(1, WAIT);
    assert_eq!(
        got[0].json()["alerts"][0]["labels"]["alertname"],
        "OutboxHigh"
    );
    wait_for(WAIT, "an empty outbox", || {
        let out = vigil(&c.url(), &["notify", "outbox"]);
        (out.status.success() && stderr(&out).contains("the outbox is empty")).then_some(())
    });
}

#[test]
fn email_auth_in_clear_text_works_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(SmtpOptions {
        auth: Some(("vigil".into(), "L00pback-pass".into())),
        ..SmtpOptions::default()
    });
    let notify = format!(
        "[[notify.receivers]]\nname = \"local\"\n[[notify.receivers.email]]\n\
         to = [\"local@example.com\"]\nfrom = \"vigil@example.com\"\nhost = \"127.0.0.1\"\n\
         port = {}\ntls = \"none\"\nusername = \"vigil\"\npassword = \"L00pback-pass\"\n\
         [notify.route]\nreceiver = \"local\"\n",
        smtp.port
    );
    let c = collector(dir.path(), &notify, &[]);
    let (out, answers) = notify_test(&c, "local");
    assert!(out.status.success(), "{answers:?}");
    let mail = smtp.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.auth_login.as_deref(), Some("vigil"));
    assert!(!mail.tls);
    assert_no_secret(&c, &[&out], &["L00pback-pass"]);

    // The same to a host that is not loopback does not even start.
    let config = dir.path().join("remote.toml");
    std::fs::write(&config, notify.replace("127.0.0.1", "smtp.example.com")).unwrap();
    let out = std::process::Command::new(vigil_tests::bin("vigil-collector"))
        .args(["--config", config.to_str().unwrap(), "--data-dir"])
        .arg(dir.path().join("remote-data"))
        .args(["--grpc-listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = stderr(&out) + &stdout(&out);
    assert!(
        stderr.contains("only allowed to a loopback host"),
        "{stderr}"
    );
    assert!(!stderr.contains("L00pback-pass"), "{stderr}");
}
