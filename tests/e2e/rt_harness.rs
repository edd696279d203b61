//! The Request Tracker harness itself (`vigil_tests::notify_servers::Rt5`): a real RT 5
//! from Debian takes a ticket through REST 2.0 with root's token, finds it by the
//! correlation field, comments on it, resolves it and shows its history; answers a change
//! it refused with 200 and the refusal in its body; listens on 127.0.0.1 only; still stores
//! a create its client gave up on behind the stalling proxy; and leaves no process behind.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use vigil_tests::notify_servers::Rt5;
use vigil_tests::wait_for;

/// A client authenticating as root with the harness's token.
fn client(timeout: Duration) -> reqwest::Client {
    vigil_tests::http_client().timeout(timeout).build().unwrap()
}

/// `POST /REST/2.0/ticket` in General with the correlation field set to `key`, through
/// `base` (RT or a proxy in front of it).
async fn create(
    rt: &Rt5,
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/REST/2.0/ticket"))
        .header("Authorization", format!("token {}", rt.token()))
        .json(&json!({
            "Queue": rt.queue(),
            "Subject": "disk / on web-1 is 97% full",
            "Content": "Disk / on web-1 is 97% full.\nSince 10:02 UTC.",
            "ContentType": "text/plain",
            "Priority": 80,
            "Owner": "root",
            "Requestor": "ops@example.com",
            "CustomFields": { rt.correlation_field(): key },
        }))
        .send()
        .await
}

/// The processes of group `group` that are still running (not zombies).
fn live_processes_in_group(group: u32) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) S ppid pgrp …"
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
            fields.first() != Some(&"Z") && fields.get(2) == Some(&group.to_string().as_str())
        })
        .collect()
}

/// The local addresses of the sockets listening on TCP `port`, from /proc/net/tcp{,6}, in
/// the kernel's hex form (127.0.0.1 is `0100007F`).
fn listening_addresses(port: u16) -> Vec<String> {
    let port = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let (addr, p) = fields.get(1)?.split_once(':')?;
                    // State 0A: LISTEN.
                    (p == port && fields.get(3) == Some(&"0A")).then(|| addr.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_is_created_found_commented_resolved_and_its_history_read() {
    let rt = Rt5::start();
    let (url, token) = (rt.url(), format!("token {}", rt.token()));
    let http = client(Duration::from_secs(30));
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        listening_addresses(port),
        ["0100007F"],
        "RT listens on 127.0.0.1 only"
    );

    let created = create(&rt, &http, &url, "incident-42").await.unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    let id: u64 = body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["type"], "ticket");

    let found = rt.tickets_with_field("incident-42");
    assert_eq!(found.len(), 1, "{found:?}");
    let ticket = &found[0];
    assert_eq!(ticket["id"], id.to_string());
    assert_eq!(ticket["Status"], "new");
    assert_eq!(ticket["Queue"]["Name"], "General");
    assert_eq!(ticket["Owner"]["Name"], "root");
    assert_eq!(ticket["Priority"], "80");
    assert_eq!(ticket["CustomFields"][0]["name"], rt.correlation_field());
    assert_eq!(ticket["CustomFields"][0]["values"], json!(["incident-42"]));
    assert!(rt.tickets_with_field("incident-4").is_empty());
    assert!(rt.mail().contains("To: ops@example.com"), "{}", rt.mail());

    let comment = http
        .post(format!("{url}/REST/2.0/ticket/{id}/comment"))
        .header("Authorization", &token)
        .header("Content-Type", "text/plain")
        .body("Still firing: 98%.")
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), 201);
    assert_eq!(
        comment.json::<Value>().await.unwrap(),
        json!(["Comments added"])
    );

    let resolve = http
        .put(format!("{url}/REST/2.0/ticket/{id}"))
        .header("Authorization", &token)
        .json(&json!({ "Status": "resolved" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resolve.status(), 200);
    let expected = format!("Ticket {id}: Status changed from 'new' to 'resolved'");
    assert_eq!(resolve.json::<Value>().await.unwrap(), json!([expected]));
    assert_eq!(rt.ticket(id)["Status"], "resolved");

    // A refusal is a 200 too, with the reason in the list of messages.
    let refused = http
        .put(format!("{url}/REST/2.0/ticket/{id}"))
        .header("Authorization", &token)
        .json(&json!({ "Status": "nonsense" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 200);
    let refusal = format!("Ticket {id}: Status 'nonsense' isn't a valid status for this ticket.");
    assert_eq!(refused.json::<Value>().await.unwrap(), json!([refusal]));
    assert_eq!(rt.ticket(id)["Status"], "resolved");

    let history = rt.history(id);
    let of_type =
        |kind: &str| -> Vec<&Value> { history.iter().filter(|t| t["Type"] == kind).collect() };
    assert_eq!(
        of_type("Create")[0]["Content"],
        "Disk / on web-1 is 97% full.\nSince 10:02 UTC."
    );
    assert_eq!(of_type("Comment").len(), 1);
    assert_eq!(of_type("Comment")[0]["Content"], "Still firing: 98%.");
    let statuses: Vec<(&Value, &Value)> = of_type("Status")
        .iter()
        .map(|t| (&t["OldValue"], &t["NewValue"]))
        .collect();
    assert_eq!(statuses, [(&json!("new"), &json!("resolved"))]);

    // Basic auth as root works as well as the token.
    let basic = http
        .get(format!("{url}/REST/2.0/ticket/{id}"))
        .basic_auth(rt.username(), Some(rt.password()))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    assert_eq!(rt.all_tickets().len(), 1);

    let group = rt.pid();
    assert!(
        live_processes_in_group(group).len() > 1,
        "master and workers"
    );
    drop(rt);
    assert_eq!(live_processes_in_group(group), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_held_past_the_clients_timeout_is_stored_all_the_same() {
    let rt = Rt5::start();
    let proxy = rt.stalling_proxy(Duration::from_secs(3));
    let impatient = client(Duration::from_secs(1));

    let gave_up = create(&rt, &impatient, &proxy.url(), "held").await;
    assert!(gave_up.unwrap_err().is_timeout());
    assert!(!proxy.released());
    wait_for(
        Duration::from_secs(30),
        "the held create to be stored",
        || (rt.tickets_with_field("held").len() == 1).then_some(()),
    );
    assert!(proxy.released());

    // Only the first create is held.
    let next = create(&rt, &impatient, &proxy.url(), "not held")
        .await
        .unwrap();
    assert_eq!(next.status(), 201);
    assert_eq!(rt.tickets_with_field("not held").len(), 1);
    assert_eq!(rt.all_tickets().len(), 2);
}
