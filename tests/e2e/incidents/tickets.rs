//! Tickets against Debian's Request Tracker 5 (a real RT on 127.0.0.1 with its own SQLite
//! database): twenty hosts down are one incident and one ticket, commented when another
//! alert joins and resolved when the hosts return; a create that RT stalls past the
//! client's timeout, and a collector killed with `kill -9` between a create and its
//! answer, still end with exactly one ticket; refusals come with RT's own words.

use super::*;
use vigil_tests::notify_servers::Rt5;

/// A collector whose config is `notify` (with the token in `VIGIL_E2E_RT_TOKEN`), fast
/// incidents, and the e2e rule file.
fn collector_with(port: u16, dir: &Path, notify: &str, rt: &Rt5) -> Collector {
    let config = dir.join("collector.toml");
    std::fs::write(&config, notify).unwrap();
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let mut settings = rules_settings(&rules);
    settings.extend(fast_incidents());
    settings.push(("VIGIL_E2E_RT_TOKEN", rt.token().to_owned()));
    Collector::start_with_config(port, &dir.join("data"), &config, &env_refs(&settings))
}

/// One RT receiver `desk` at `url`, every incident routed to it; `extra` goes into its
/// `[[notify.receivers.rt]]` table.
fn desk_config(url: &str, extra: &str) -> String {
    format!(
        r#"
[notify]
external_url = "https://vigil.example.com"
[notify.delivery]
backoff_initial = "1s"
backoff_max = "2s"
[[notify.receivers]]
name = "desk"
[[notify.receivers.rt]]
url = "{url}"
token = {{ env = "VIGIL_E2E_RT_TOKEN" }}
{extra}
[notify.route]
receiver = "desk"
mode = "incident"
"#
    )
}

/// The correlation field's value of an RT ticket as the search lists it.
fn correlation(ticket: &Value) -> String {
    ticket["CustomFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cf| cf["name"] == "Vigil Incident")
        .and_then(|cf| cf["values"][0].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The ticket id RT search lists, as a number.
fn rt_id(ticket: &Value) -> u64 {
    ticket["id"].as_str().unwrap().parse().unwrap()
}

#[test]
fn twenty_hosts_down_are_one_rt_ticket_commented_as_alerts_join_and_resolved_on_return() {
    let rt = Rt5::start();
    let dir = tempfile::tempdir().unwrap();
    let notify = desk_config(
        &rt.url(),
        r#"queue = '{{ if eq .Incident.Severity "critical" }}Databases{{ else }}General{{ end }}'"#,
    );
    let c = collector_with(free_port(), dir.path(), &notify, &rt);
    let url = c.url();
    fleet_sends(&url, 3);

    // One incident, one ticket: in the critical queue, RT's highest priority, found by its
    // correlation field, and listed with the incident.
    let incident = wait_for(Duration::from_secs(60), "the incident's ticket", || {
        let open = incidents(&url, &["--open"]);
        (open.len() == 1 && !open[0]["tickets"].as_array()?.is_empty()).then(|| open[0].clone())
    });
    let id = incident["id"].as_u64().unwrap();
    assert_eq!(incident["alerts"].as_array().unwrap().len(), 20);
    let tickets = rt.all_tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    let ticket = &tickets[0];
    let ticket_id = rt_id(ticket);
    assert_eq!(
        incident["tickets"][0],
        serde_json::json!({
            "receiver": "desk",
            "id": ticket_id.to_string(),
            "url": format!("{}/Ticket/Display.html?id={ticket_id}", rt.url()),
        })
    );
    let key = correlation(ticket);
    assert!(
        key.starts_with("vigil-") && key.ends_with(&format!("-{id}")),
        "{key}"
    );
    assert_eq!(rt.tickets_with_field(&key).len(), 1);
    assert_eq!(ticket["Queue"]["Name"], "Databases", "{ticket}");
    assert_eq!(ticket["Priority"], "100", "{ticket}");
    assert_eq!(
        ticket["Subject"],
        format!("[critical] HostDown on 20 hosts"),
        "{ticket}"
    );

    // Another alert of a down host joins the incident: a comment on the same ticket.
    import_all_now(
        &url,
        dir.path(),
        &[("incidents_e2e_value", "host-00000", 75.0)],
    );
    let comment = wait_for(Duration::from_secs(40), "a comment on the ticket", || {
        rt.history(ticket_id)
            .into_iter()
            .find(|t| t["Type"] == "Comment")
    });
    let text = comment["Content"].as_str().unwrap();
    assert!(text.contains(&format!("Incident #{id} updated")), "{text}");
    assert!(text.contains("ValueHigh"), "{text}");

    // The value falls and the hosts return: after the quiet period (which passes while
    // they send) the incident resolves, and so does the ticket. Still one ticket.
    import_all_now(
        &url,
        dir.path(),
        &[("incidents_e2e_value", "host-00000", 10.0)],
    );
    fleet_sends(&url, 15);
    let resolved = wait_for(Duration::from_secs(60), "the ticket to resolve", || {
        let t = rt.ticket(ticket_id);
        (t["Status"] == "resolved").then_some(t)
    });
    assert_eq!(resolved["Status"], "resolved");
    let all = incidents(&url, &[]);
    let mine = all.iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(mine["status"], "resolved");
    let with_key: Vec<Value> = rt
        .all_tickets()
        .into_iter()
        .filter(|t| correlation(t) == key)
        .collect();
    assert_eq!(with_key.len(), 1, "exactly one ticket for the incident");
}

/// One incident on one host (ValueHigh on db-1).
fn one_incident(url: &str, dir: &Path) -> u64 {
    import_all_now(url, dir, &[("incidents_e2e_value", "db-1", 75.0)]);
    let open = wait_for(Duration::from_secs(30), "the incident", || {
        let open = incidents(url, &["--open"]);
        (open.len() == 1).then_some(open)
    });
    open[0]["id"].as_u64().unwrap()
}

#[test]
fn a_create_rt_stalls_past_the_timeout_is_found_again_not_repeated() {
    let rt = Rt5::start();
    let proxy = rt.stalling_proxy(Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let notify = desk_config(&proxy.url(), "timeout = \"2s\"\nsettle = \"10s\"");
    let c = collector_with(free_port(), dir.path(), &notify, &rt);
    let url = c.url();
    let id = one_incident(&url, dir.path());
    let incident = wait_for(Duration::from_secs(60), "the incident's ticket", || {
        let all = incidents(&url, &["--open"]);
        let mine = all.iter().find(|i| i["id"] == id)?.clone();
        (!mine["tickets"].as_array()?.is_empty()).then_some(mine)
    });
    assert!(proxy.released(), "the stalled create reached RT");
    let tickets = rt.all_tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(
        incident["tickets"][0]["id"], tickets[0]["id"],
        "the ticket RT stored late is the incident's"
    );
    let log = c.process.log();
    assert!(log.contains("searching again before creating"), "{log}");
}

#[test]
fn kill_9_between_a_create_and_its_answer_leaves_one_ticket() {
    let rt = Rt5::start();
    let proxy = rt.stalling_proxy(Duration::from_secs(8));
    let dir = tempfile::tempdir().unwrap();
    let notify = desk_config(&proxy.url(), "timeout = \"30s\"\nsettle = \"15s\"");
    let port = free_port();
    let mut c = collector_with(port, dir.path(), &notify, &rt);
    let id = one_incident(&c.url(), dir.path());
    // The create is on its way (held by the proxy): kill the collector before it hears
    // the answer. The proxy sends the create on, and RT stores it.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!proxy.released());
    c.process.kill9();
    wait_for(Duration::from_secs(20), "RT to store the create", || {
        (proxy.released() && rt.all_tickets().len() == 1).then_some(())
    });
    // Back up: the outbox entry is tried again, finds the ticket and keeps it.
    let c = collector_with(port, dir.path(), &notify, &rt);
    let url = c.url();
    let incident = wait_for(Duration::from_secs(60), "the ticket to be kept", || {
        let all = incidents(&url, &["--open"]);
        let mine = all.iter().find(|i| i["id"] == id)?.clone();
        (!mine["tickets"].as_array()?.is_empty()).then_some(mine)
    });
    let tickets = rt.all_tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(incident["tickets"][0]["id"], tickets[0]["id"]);
}

#[test]
fn notify_test_opens_and_resolves_a_ticket_and_refusals_carry_rts_words() {
    let rt = Rt5::start();
    let dir = tempfile::tempdir().unwrap();
    let rt_url = rt.url();
    let receiver = |name: &str, extra: &str| {
        format!(
            "[[notify.receivers]]\nname = \"{name}\"\n[[notify.receivers.rt]]\nurl = \"{rt_url}\"\n\
             token = {{ env = \"VIGIL_E2E_RT_TOKEN\" }}\n{extra}\n"
        )
    };
    let route = |name: &str| {
        format!(
            "[[notify.route.routes]]\nmatchers = ['alertname=\"never\"']\nreceiver = \"{name}\"\n\
             mode = \"incident\"\n"
        )
    };
    let notify = [
        "[notify]\n".to_owned(),
        receiver("desk", ""),
        receiver("bad-queue", "queue = \"Nope\""),
        receiver("bad-status", "resolved_status = \"nonsense\""),
        receiver("bad-token", "").replace(
            "token = { env = \"VIGIL_E2E_RT_TOKEN\" }",
            "token = \"1-14-00000000000000000000000000000000\"",
        ),
        "[notify.route]\nreceiver = \"desk\"\nmode = \"incident\"\n".to_owned(),
        route("bad-queue"),
        route("bad-status"),
        route("bad-token"),
    ]
    .concat();
    let c = collector_with(free_port(), dir.path(), &notify, &rt);
    let url = c.url();
    let test = |name: &str| {
        let out = vigil(&url, &["notify", "test", name, "--output", "json"]);
        let answers: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out, answers[0].clone())
    };

    let (out, answer) = test("desk");
    assert!(out.status.success(), "{answer} {out:?}");
    assert_eq!(answer["kind"], "rt");
    assert_eq!(answer["result"], "accepted", "{answer}");
    assert_eq!(answer["target"], format!("rt at {rt_url}"));
    let tickets = rt.all_tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["Status"], "resolved", "{tickets:#?}");
    assert!(
        tickets[0]["Subject"]
            .as_str()
            .unwrap()
            .contains("Test incident from Vigil to receiver desk"),
        "{tickets:#?}"
    );

    let (out, answer) = test("bad-queue");
    assert!(!out.status.success());
    assert_eq!(answer["result"], "rejected", "{answer}");
    let said = answer["answer"].as_str().unwrap();
    assert!(
        said.contains("HTTP 403")
            && said.contains("No permission to create tickets in the queue 'Nope'"),
        "{said}"
    );

    // RT answers the status change with 200 and a refusal in its body: read back, refused.
    let (_, answer) = test("bad-status");
    assert_eq!(answer["result"], "rejected", "{answer}");
    let said = answer["answer"].as_str().unwrap();
    assert!(said.contains("RT kept status"), "{said}");
    assert!(said.contains("isn't a valid status"), "{said}");

    let (_, answer) = test("bad-token");
    assert_eq!(answer["result"], "rejected", "{answer}");
    let said = answer["answer"].as_str().unwrap();
    assert!(
        said.contains("HTTP 401") && said.contains("Unauthorized"),
        "{said}"
    );
    assert!(!said.contains("1-14-000000"), "{said}");
    assert!(!c.process.log().contains(rt.token()));
}
