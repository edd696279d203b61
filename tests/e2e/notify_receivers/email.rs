//! Email receivers: plain SMTP on loopback, STARTTLS with AUTH, implicit TLS, and AUTH in
//! clear text (loopback only), against Debian's aiosmtpd.

use super::*;

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
