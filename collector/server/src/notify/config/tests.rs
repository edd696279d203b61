//! `[notify]` parsing and validation.

use super::*;

/// `[notify]` from TOML, validated (the desks' config tests use it too).
pub(crate) fn parse(text: &str) -> Result<NotifyConfig, String> {
    let config: NotifyConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    config.validate()?;
    Ok(config)
}

const EXAMPLE: &str = r#"
    external_url = "https://vigil.example.com"
    [[receivers]]
    name = "ops"
    send_resolved = false
    [[receivers.email]]
    to = ["ops@example.com"]
    from = "vigil@example.com"
    host = "smtp.example.com"
    password = { env = "SMTP_PASSWORD" }
    [[receivers]]
    name = "pager"
    [[receivers.webhook]]
    url = "https://hooks.example.com/x"
    secret = { file = "/etc/vigil/hook.key" }
    headers = { Authorization = { env = "HOOK_TOKEN" } }
    [route]
    receiver = "ops"
    group_by = ["alertname"]
    group_wait = "10s"
    [[route.routes]]
    matchers = ['severity="critical"']
    receiver = "pager"
    continue = true
    [[inhibit_rules]]
    source_matchers = ['alertname="HostDown"']
    target_matchers = ['alertname!="HostDown"']
    equal = ["host"]
"#;

#[test]
fn example_parses() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.receivers.len(), 2);
    assert!(!config.receivers[0].send_resolved);
    assert_eq!(config.receivers[0].email[0].port, 587);
    assert_eq!(config.receivers[0].email[0].tls, SmtpTls::Starttls);
    let route = config.route.unwrap();
    assert_eq!(route.group_wait, Some(Duration::from_secs(10)));
    assert!(route.routes[0].continue_matching);
    assert!(format!("{:?}", config.receivers[1].webhook[0]).contains("<secret"));
}

#[test]
fn errors_name_the_key() {
    for (text, says) in [
        (
            "[[receivers]]\nname = \"a\"\n[[receivers.webhook]]\nurl = \"http://x\"\n",
            "notify.route",
        ),
        (
            "[[receivers]]\nname = \"a\"\n[[receivers.webhook]]\nurl = \"http://x\"\n[route]\nreceiver = \"b\"\n",
            "no receiver is named \"b\"",
        ),
        (
            "[[receivers]]\nname = \"a\"\n[[receivers.email]]\nto = [\"x@y\"]\nfrom = \"v@y\"\nhost = \"smtp.example.com\"\ntls = \"none\"\n[route]\nreceiver = \"a\"\n",
            "loopback",
        ),
        (
            "[[receivers]]\nname = \"a\"\n[[receivers.webhook]]\nurl = \"http://x\"\n[route]\nreceiver = \"a\"\n[[route.routes]]\nmatchers = ['host=~\"(\"']\n",
            "notify.route.routes[0].matchers",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(says), "{text}\n→ {err}");
    }
}

/// A config with one receiver `pager` and one webhook holding `webhook` (its keys).
fn with_webhook(webhook: &str) -> Result<NotifyConfig, String> {
    parse(&format!(
        "[[receivers]]\nname = \"pager\"\n[[receivers.webhook]]\n{webhook}\n\
         [route]\nreceiver = \"pager\"\n"
    ))
}

#[test]
fn credentials_over_http_to_a_remote_host_are_refused_naming_the_receiver() {
    for webhook in [
        r#"url = "http://hooks.example.com/x"
           headers = { Authorization = "Bearer t0k3n-abc" }"#,
        r#"url = "http://hooks.example.com/x"
           headers = { authorization = { env = "HOOK_TOKEN" } }"#,
        r#"url = "http://user:pa55-w0rd@hooks.example.com/x""#,
        r#"url = "http://10.0.0.7:8080/x"
           headers = { Authorization = "Bearer t0k3n-abc" }"#,
    ] {
        let err = with_webhook(webhook).unwrap_err();
        assert!(
            err.starts_with("notify.receivers[0] (\"pager\").webhook[0].url: "),
            "{err}"
        );
        assert!(err.contains("clear text"), "{err}");
        assert!(err.contains("use an https:// URL"), "{err}");
        assert!(err.contains("allow_insecure = true"), "{err}");
        assert!(
            !err.contains("t0k3n-abc") && !err.contains("pa55-w0rd"),
            "{err}"
        );
    }
    let err = with_webhook(r#"url = "http://user:pa55-w0rd@hooks.example.com/x""#).unwrap_err();
    assert!(err.contains("credentials in the URL"), "{err}");
    assert!(err.contains("hooks.example.com"), "{err}");
}

#[test]
fn https_loopback_no_credentials_or_the_opt_in_are_accepted() {
    for webhook in [
        r#"url = "https://hooks.example.com/x"
           headers = { Authorization = "Bearer t" }"#,
        r#"url = "http://127.0.0.1:9000/x"
           headers = { Authorization = "Bearer t" }"#,
        r#"url = "http://localhost:9000/x"
           headers = { Authorization = "Bearer t" }"#,
        r#"url = "http://[::1]:9000/x"
           headers = { Authorization = "Bearer t" }"#,
        r#"url = "http://u:p@127.0.0.2/x""#,
        r#"url = "http://hooks.example.com/x?token=in-the-query"
           headers = { X-Team = "infra" }"#,
        r#"url = "http://hooks.example.com/x"
           headers = { Authorization = "Bearer t" }
           allow_insecure = true"#,
        // From a file or the environment: checked when the notifier reads it.
        r#"url = { env = "HOOK_URL" }
           headers = { Authorization = "Bearer t" }"#,
    ] {
        with_webhook(webhook).unwrap_or_else(|e| panic!("{webhook}\n→ {e}"));
    }
}

#[test]
fn alertmanager_credentials_over_http_are_refused_too() {
    let text = "[[receivers]]\nname = \"am\"\n[[receivers.alertmanager]]\n\
                url = \"http://am.example.com:9093\"\n\
                headers = { Authorization = \"Basic dXNlcjpwYXNz\" }\n\
                [route]\nreceiver = \"am\"\n";
    let err = parse(text).unwrap_err();
    assert!(
        err.starts_with("notify.receivers[0] (\"am\").alertmanager[0].url: "),
        "{err}"
    );
    assert!(err.contains("on this alertmanager"), "{err}");
    let allowed = text.replace("[route]", "allow_insecure = true\n[route]");
    parse(&allowed).unwrap();
}

#[test]
fn previous_secret_needs_a_secret() {
    let err = with_webhook(
        r#"url = "https://hooks.example.com/x"
           previous_secret = "old""#,
    )
    .unwrap_err();
    assert!(
        err.starts_with("notify.receivers[0] (\"pager\").webhook[0].previous_secret: "),
        "{err}"
    );
    let config = with_webhook(
        r#"url = "https://hooks.example.com/x"
           secret = { file = "/etc/vigil/hook.key" }
           previous_secret = { file = "/etc/vigil/hook.key.old" }"#,
    )
    .unwrap();
    let webhook = &config.receivers[0].webhook[0];
    assert!(webhook.previous_secret.is_some());
    assert!(!webhook.allow_insecure);
}

const DESK: &str = r#"
    [[receivers]]
    name = "desk"
    [[receivers.rt]]
    url = "https://rt.example.com"
    token = { env = "RT_TOKEN" }
    [route]
    receiver = "desk"
    mode = "incident"
"#;

#[test]
fn ticket_receivers_parse_and_need_an_incident_route() {
    let c = parse(DESK).unwrap();
    let rt = &c.receivers[0].rt[0];
    assert_eq!(rt.queue, "General");
    assert_eq!(rt.correlation_field, "Vigil Incident");
    assert_eq!(rt.priorities["critical"], "100");
    assert!(c.has_incident_routes());

    let alerts_only = DESK.replace("mode = \"incident\"", "");
    let e = parse(&alerts_only).unwrap_err();
    assert!(e.contains("(\"desk\"): has a ticket integration"), "{e}");
    assert!(e.contains("mode = \"incident\""), "{e}");
}

#[test]
fn ticket_receivers_name_what_is_wrong() {
    let cases = [
        (
            DESK.replace("token = { env = \"RT_TOKEN\" }", ""),
            "rt[0].token: give an RT auth token",
        ),
        (
            DESK.replace("https://rt.example.com", "ftp://rt.example.com"),
            "rt[0].url: \"ftp://rt.example.com\" is not an http:// or https:// URL",
        ),
        (
            DESK.replace("https://rt.example.com", "http://rt.example.com"),
            "rt[0].url: http:// would send an Authorization header in clear text",
        ),
        (
            DESK.replace(
                "token = { env = \"RT_TOKEN\" }",
                "token = { env = \"RT_TOKEN\" }\npriorities = { urgent = \"1\" }",
            ),
            "rt[0].priorities: \"urgent\" is not a severity",
        ),
        (
            r#"
            [[receivers]]
            name = "desk"
            [[receivers.ticket]]
            create = { url = "https://desk.example.com/api/tickets" }
            ticket_id = "/id"
            [route]
            receiver = "desk"
            mode = "incident"
            "#
            .to_owned(),
            "ticket[0].find: set a `find` request",
        ),
        (
            r#"
            [[receivers]]
            name = "desk"
            [[receivers.ticket]]
            create = { url = "https://desk.example.com/api/tickets" }
            ticket_id = "id"
            idempotency_header = "Idempotency-Key"
            [route]
            receiver = "desk"
            mode = "incident"
            "#
            .to_owned(),
            "ticket[0].ticket_id: \"id\" is not a JSON pointer",
        ),
    ];
    for (text, want) in cases {
        let e = parse(&text).unwrap_err();
        assert!(e.contains(want), "want {want:?} in {e}");
    }
}
