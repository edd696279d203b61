//! Webhook and Alertmanager receivers: signed Alertmanager JSON, answers that are refused,
//! late or down, the outbox while a receiver is away, delivery ids and key rotation, and
//! Debian's Alertmanager.

use super::*;
use vigil_tests::notify_servers::ReceivedRequest;

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
    assert_eq!(request.header("x-vigil-delivery").map(str::len), Some(36));

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

/// The `sha256=<hex>` values of a request's `X-Vigil-Signature`, split as the webhook
/// module's documentation tells receivers to.
fn signatures(request: &ReceivedRequest) -> Vec<String> {
    let header = request.header("x-vigil-signature").unwrap_or_default();
    header.split(',').map(|v| v.trim().to_owned()).collect()
}

#[test]
fn a_retried_delivery_keeps_its_id_across_a_restart_and_both_keys_sign_it() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = HttpReceiver::start();
    receiver.set_status(503);
    let (new_key, old_key) = ("n3w-hmac-K3y-e2e", "0ld-hmac-K3y-e2e");
    let old_key_file = dir.path().join("hook.key.old");
    std::fs::write(&old_key_file, format!("{old_key}\n")).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: ids\n    rules:\n      - alert: DeliveryIdHigh\n        \
         expr: delivery_id_e2e_value > 50\n",
    )
    .unwrap();
    let notify = format!(
        r#"[rules]
files = [{rules:?}]
evaluation_interval = "1s"
[storage]
sync = false
[[notify.receivers]]
name = "hook"
[[notify.receivers.webhook]]
url = "{url}/hook"
secret = {{ env = "VIGIL_E2E_HOOK_KEY" }}
previous_secret = {{ file = {old:?} }}
timeout = "5s"
[notify.route]
receiver = "hook"
group_wait = "0s"
repeat_interval = "1h"
[notify.delivery]
backoff_initial = "100ms"
backoff_max = "500ms"
"#,
        rules = rules.display().to_string(),
        url = receiver.url(),
        old = old_key_file.display().to_string(),
    );
    let env = [("VIGIL_E2E_HOOK_KEY", new_key)];
    let mut c = collector(dir.path(), &notify, &env);
    import_now(&c.url(), dir.path(), "delivery_id_e2e_value", "db-1", 75.0);

    // The first attempt fails (503) and is retried: two requests, one delivery id.
    let failed = receiver.wait_for(2, WAIT);
    let id = failed[0].header("x-vigil-delivery").unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(failed[1].header("x-vigil-delivery"), Some(id.as_str()));

    // The collector stops with the notification still in its outbox; once started again
    // it delivers it, with the same id.
    let first_log = c.process.log();
    c.process.terminate();
    receiver.set_ok();
    let before_restart = receiver.requests().len();
    let c = collector(dir.path(), &notify, &env);
    let all = receiver.wait_for(before_restart + 1, WAIT);
    assert!(
        c.process
            .log()
            .contains("delivering notifications left by the previous run"),
        "{}",
        c.process.log()
    );
    for request in &all {
        assert_eq!(
            request.json()["alerts"][0]["labels"]["alertname"],
            "DeliveryIdHigh"
        );
        assert_eq!(request.header("x-vigil-delivery"), Some(id.as_str()));
        // Both keys sign every attempt, the new one first.
        let timestamp = request.header("x-vigil-timestamp").unwrap();
        assert_eq!(
            signatures(request),
            [
                expected_signature(new_key, timestamp, &request.body),
                expected_signature(old_key, timestamp, &request.body)
            ]
        );
    }
    wait_for(WAIT, "an empty outbox", || {
        let out = vigil(&c.url(), &["notify", "outbox"]);
        (out.status.success() && stderr(&out).contains("the outbox is empty")).then_some(())
    });

    // Every `vigil notify test` is a delivery of its own.
    let (first_test, _) = notify_test(&c, "hook");
    let (second_test, _) = notify_test(&c, "hook");
    let tests = receiver.wait_for(all.len() + 2, WAIT);
    let test_ids: Vec<&str> = tests[all.len()..]
        .iter()
        .map(|r| r.header("x-vigil-delivery").unwrap())
        .collect();
    assert_ne!(test_ids[0], test_ids[1]);
    assert!(!test_ids.contains(&id.as_str()));

    let log = first_log + &c.process.log();
    for secret in [new_key, old_key] {
        assert!(
            !log.contains(secret),
            "collector log shows {secret:?}:\n{log}"
        );
    }
    assert_no_secret(&c, &[&first_test, &second_test], &[new_key, old_key]);
}

#[test]
fn a_token_over_http_to_a_remote_host_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    let notify = "[[notify.receivers]]\nname = \"remote\"\n[[notify.receivers.webhook]]\n\
                  url = \"http://hooks.example.com/vigil\"\n\
                  headers = { Authorization = \"Bearer t0ken-in-clear\" }\n\
                  [notify.route]\nreceiver = \"remote\"\n";
    std::fs::write(&config, notify).unwrap();
    let out = std::process::Command::new(vigil_tests::bin("vigil-collector"))
        .args(["--config", config.to_str().unwrap()])
        .arg("--grpc-listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("notify.receivers[0] (\"remote\").webhook[0].url"),
        "{err}"
    );
    assert!(
        err.contains("https://") && err.contains("allow_insecure = true"),
        "{err}"
    );
    assert!(!err.contains("t0ken-in-clear"), "{err}");
    assert!(!dir.path().join("data").exists(), "the store was opened");
}

#[test]
fn a_request_cut_by_the_network_is_retried_with_the_same_delivery_id() {
    // The receiver behind a fault-injecting proxy takes its time to answer; the proxy
    // cuts the connection while it waits. The collector cannot know whether the
    // notification was taken in, so it sends it again, with the same delivery id for the
    // receiver to see it is the same one.
    let dir = tempfile::tempdir().unwrap();
    let receiver = HttpReceiver::start();
    receiver.set_delay(Duration::from_secs(3));
    let proxy = vigil_tests::fault_proxy::FaultProxy::start(receiver.port());
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: cut\n    rules:\n      - alert: CutHigh\n        \
         expr: cut_e2e_value > 50\n",
    )
    .unwrap();
    let notify = format!(
        r#"[rules]
files = [{rules:?}]
evaluation_interval = "1s"
[[notify.receivers]]
name = "hook"
[[notify.receivers.webhook]]
url = "{url}/hook"
timeout = "10s"
[notify.route]
receiver = "hook"
group_wait = "0s"
repeat_interval = "1h"
[notify.delivery]
backoff_initial = "100ms"
backoff_max = "500ms"
"#,
        rules = rules.display().to_string(),
        url = proxy.url(),
    );
    let c = collector(dir.path(), &notify, &[]);
    import_now(&c.url(), dir.path(), "cut_e2e_value", "db-1", 75.0);
    let first = receiver.wait_for(1, WAIT).remove(0);
    receiver.set_delay(Duration::ZERO);
    proxy.cut();
    let both = receiver.wait_for(2, WAIT);
    let id = first.header("x-vigil-delivery").unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(both[1].header("x-vigil-delivery"), Some(id));
    assert_eq!(both[1].body, first.body, "the same notification");
    wait_for(WAIT, "an empty outbox", || {
        let out = vigil(&c.url(), &["notify", "outbox"]);
        (out.status.success() && stderr(&out).contains("the outbox is empty")).then_some(())
    });
    let ids: std::collections::BTreeSet<String> = receiver
        .requests()
        .iter()
        .filter_map(|r| r.header("x-vigil-delivery").map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 1, "one notification, however many attempts");
}
