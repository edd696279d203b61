//! Tickets in ServiceNow, Znuny and Jira Service Management, with the real collector and
//! the desks' test servers (`vigil_tests::notify_servers::desks`): twenty hosts down are
//! one incident and one ticket holding its correlation value, listed with the incident and
//! resolved in the desk when the hosts return; a create the desk stalls past the client's
//! timeout (for Jira behind a lagging search too) still ends with one ticket; `vigil notify
//! test` opens and resolves a ticket, and each desk's refusals come back in its own words.

use super::*;
use serde_json::json;
use servers::{SECRET_VAR, Server};
use vigil_tests::notify_servers::desks::Ticket;
use vigil_tests::notify_servers::desks::jsm::{self, Jsm};
use vigil_tests::notify_servers::desks::servicenow::{self, ServiceNow};
use vigil_tests::notify_servers::desks::znuny::{self, Znuny};
use vigil_tests::{stderr, stdout};

mod servers;

/// `[notify]` with `receivers` (name, extra keys) of `server`: the first takes every
/// incident, the others are there for `vigil notify test`.
fn config(server: &Server, receivers: &[(&str, &str)]) -> String {
    let mut text = "[notify]\nexternal_url = \"https://vigil.example.com\"\n\
                    [notify.delivery]\nbackoff_initial = \"1s\"\nbackoff_max = \"2s\"\n"
        .to_owned();
    for (name, extra) in receivers {
        text += &server.receiver(name, extra);
    }
    text += &format!(
        "[notify.route]\nreceiver = \"{}\"\nmode = \"incident\"\n",
        receivers[0].0
    );
    for (name, _) in &receivers[1..] {
        text += &format!(
            "[[notify.route.routes]]\nmatchers = ['alertname=\"never\"']\nreceiver = \"{name}\"\n"
        );
    }
    text
}

/// A collector with `notify`, fast incidents and the e2e rules, reading the desk's secret
/// from [`SECRET_VAR`].
fn collector(dir: &Path, server: &Server, notify: &str) -> Collector {
    let config = dir.join("collector.toml");
    std::fs::write(&config, notify).unwrap();
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let mut settings = rules_settings(&rules);
    settings.extend(fast_incidents());
    settings.push((SECRET_VAR, server.secret()));
    Collector::start_with_config(
        free_port(),
        &dir.join("data"),
        &config,
        &env_refs(&settings),
    )
}

/// Twenty hosts go down: one incident, and one ticket that holds its correlation value and
/// is listed with it; they return: the ticket is resolved in the desk, still the only one
/// for the incident. The ticket as it ends.
fn outage_is_one_ticket_resolved_on_return(server: &Server, extra: &str) -> Ticket {
    let dir = tempfile::tempdir().unwrap();
    let c = collector(dir.path(), server, &config(server, &[("desk", extra)]));
    let url = c.url();
    fleet_sends(&url, 3);
    let incident = wait_for(Duration::from_secs(60), "the incident's ticket", || {
        let open = incidents(&url, &["--open"]);
        (open.len() == 1 && !open[0]["tickets"].as_array()?.is_empty()).then(|| open[0].clone())
    });
    let id = incident["id"].as_u64().unwrap();
    assert_eq!(incident["alerts"].as_array().unwrap().len(), 20);
    let tickets = server.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    let opened = tickets[0].clone();
    let (kept, link) = server.kept(&opened);
    assert_eq!(
        incident["tickets"],
        json!([{"receiver": "desk", "id": kept, "url": link}])
    );
    let key = opened.correlation.clone();
    assert!(
        key.starts_with("vigil-") && key.ends_with(&format!("-{id}")),
        "{key}"
    );
    assert_eq!(opened.title, "[critical] HostDown on 20 hosts");

    // They come back: the quiet period passes while they send, the incident resolves.
    fleet_sends(&url, 15);
    let resolved = wait_for(Duration::from_secs(60), "the ticket to resolve", || {
        let t = server.tickets().into_iter().find(|t| t.id == opened.id)?;
        (t.state == server.resolved()).then_some(t)
    });
    let all = incidents(&url, &[]);
    let mine = all.iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(mine["status"], "resolved");
    assert_eq!(mine["tickets"], incident["tickets"]);
    let same_key = server
        .tickets()
        .iter()
        .filter(|t| t.correlation == key)
        .count();
    assert_eq!(same_key, 1, "exactly one ticket for the incident");
    let last = resolved.notes.last().unwrap();
    assert!(last.internal, "{last:?}");
    assert!(
        last.body.contains(&format!("Incident #{id} resolved")),
        "{last:?}"
    );
    assert!(!c.process.log().contains(&server.secret()));
    resolved
}

/// A create the desk stalls past the 2 s timeout (stored after 4 s): the retries look it up
/// until `settle` (and the search lag) passed, find it, and never create a second.
fn stalled_create_is_found_not_repeated(server: &Server, extra: &str) {
    server.stall_first_create(Duration::from_secs(4));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("timeout = \"2s\"\n{extra}");
    let c = collector(dir.path(), server, &config(server, &[("desk", &extra)]));
    let url = c.url();
    import_all_now(&url, dir.path(), &[("incidents_e2e_value", "db-1", 75.0)]);
    let incident = wait_for(Duration::from_secs(60), "the incident's ticket", || {
        let open = incidents(&url, &["--open"]);
        (open.len() == 1 && !open[0]["tickets"].as_array()?.is_empty()).then(|| open[0].clone())
    });
    let tickets = server.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(incident["tickets"][0]["id"], server.kept(&tickets[0]).0);
    let requests = server.requests();
    let creates = requests.iter().filter(|r| server.is_create(r)).count();
    let searches = requests.iter().filter(|r| server.is_search(r)).count();
    assert_eq!(creates, 1, "one create, the stalled one");
    assert!(
        searches >= 2,
        "looked up again after the timeout: {searches}"
    );
    let log = c.process.log();
    assert!(log.contains("timed out"), "{log}");
    assert!(log.contains("searching again before creating"), "{log}");
}

/// `vigil notify test NAME --output json`: the process and the first answer.
fn notify_test(url: &str, name: &str) -> (std::process::Output, Value) {
    let out = vigil(url, &["notify", "test", name, "--output", "json"]);
    let answers: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out, answers[0].clone())
}

/// `vigil notify test desk` is accepted and leaves one resolved test ticket.
fn notify_test_opens_and_resolves(server: &Server, url: &str, kind: &str) {
    let (out, answer) = notify_test(url, "desk");
    assert!(out.status.success(), "{answer} {out:?}");
    assert_eq!(answer["kind"], kind);
    assert_eq!(answer["result"], "accepted", "{answer}");
    let said = answer["answer"].as_str().unwrap();
    assert!(
        said.starts_with("opened and resolved test ticket"),
        "{said}"
    );
    let tickets = server.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(tickets[0].state, server.resolved(), "{tickets:#?}");
    assert!(
        tickets[0]
            .title
            .contains("Test incident from Vigil to receiver desk"),
        "{tickets:#?}"
    );
    assert!(said.contains(&server.kept(&tickets[0]).0), "{said}");
}

/// The answer of a refused `vigil notify test NAME`, checked to be a rejection that shows
/// no secret.
fn rejected(server: &Server, url: &str, name: &str) -> String {
    let (out, answer) = notify_test(url, name);
    assert!(!out.status.success(), "{answer}");
    assert_eq!(answer["result"], "rejected", "{answer}");
    let all = stdout(&out) + &stderr(&out);
    assert!(!all.contains(&server.secret()), "{all}");
    answer["answer"].as_str().unwrap().to_owned()
}

#[test]
fn servicenow_twenty_hosts_down_are_one_incident_resolved_when_they_return() {
    let server = Server::ServiceNow(ServiceNow::start());
    let t = outage_is_one_ticket_resolved_on_return(
        &server,
        "assignment_group = '{{ if eq .Incident.Severity \"critical\" }}Operations{{ else }}Service Desk{{ end }}'\n\
         category = \"hardware\"",
    );
    assert_eq!(t.group, "Operations");
    // critical is urgency 1, impact 1: priority 1.
    assert_eq!(
        (
            &t.fields["urgency"],
            &t.fields["impact"],
            t.priority.as_str()
        ),
        (&json!("1"), &json!("1"), "1")
    );
    assert_eq!(t.fields["category"], "hardware");
    assert_eq!(t.fields["caller_id"], "vigil.integration");
    assert_eq!(t.fields["correlation_display"], "Vigil");
    assert_eq!(t.fields["close_code"], "Solution provided");
}

#[test]
fn servicenow_create_stalled_past_the_timeout_is_found_not_repeated() {
    let server = Server::ServiceNow(ServiceNow::start());
    stalled_create_is_found_not_repeated(&server, "settle = \"6s\"");
}

#[test]
fn servicenow_notify_test_resolves_and_refusals_carry_the_instances_words() {
    let server = Server::ServiceNow(ServiceNow::start());
    let dir = tempfile::tempdir().unwrap();
    let c = collector(dir.path(), &server, &config(&server, &[("desk", "")]));
    let url = c.url();
    notify_test_opens_and_resolves(&server, &url, "servicenow");
    let Server::ServiceNow(desk) = &server else {
        unreachable!()
    };

    desk.refuse_next(servicenow::Refusal::BusinessRule);
    let said = rejected(&server, &url, "desk");
    assert!(
        said.contains(
            "creating a ServiceNow incident: HTTP 403 Forbidden: Operation Failed: \
                       Operation against file 'incident' was aborted by Business Rule"
        ),
        "{said}"
    );

    // A business rule keeps the state and the instance still answers 200.
    desk.ignore_resolves(true);
    let said = rejected(&server, &url, "desk");
    assert!(said.contains("but could not resolve it"), "{said}");
    assert!(said.contains("kept state \"1\""), "{said}");
    assert!(!c.process.log().contains(&server.secret()));
}

#[test]
fn znuny_twenty_hosts_down_are_one_ticket_closed_when_they_return() {
    let server = Server::Znuny(Znuny::start());
    let t = outage_is_one_ticket_resolved_on_return(
        &server,
        "queue = '{{ if eq .Incident.Severity \"critical\" }}Monitoring{{ else }}Misc{{ end }}'\n\
         type = \"Incident\"\nowner = \"oncall\"",
    );
    assert_eq!(t.group, "Monitoring");
    assert_eq!(t.priority, "5 very high");
    assert_eq!(t.assignee, "oncall");
    assert_eq!(t.fields["Type"], "Incident");
    assert_eq!(t.fields["StateType"], "closed");
    // The description is the first article; every article is internal.
    assert!(t.notes[0].body.contains("Firing (20)"), "{:?}", t.notes[0]);
    assert!(t.notes.iter().all(|n| n.internal), "{:#?}", t.notes);
}

#[test]
fn znuny_create_stalled_past_the_timeout_is_found_not_repeated() {
    let server = Server::Znuny(Znuny::start());
    stalled_create_is_found_not_repeated(&server, "settle = \"6s\"");
}

#[test]
fn znuny_notify_test_resolves_and_errors_in_a_200_are_refusals() {
    let server = Server::Znuny(Znuny::start());
    let dir = tempfile::tempdir().unwrap();
    let notify = config(
        &server,
        &[
            ("desk", ""),
            ("no-such-state", "resolved_state = \"resolved\""),
        ],
    );
    let c = collector(dir.path(), &server, &notify);
    let url = c.url();
    notify_test_opens_and_resolves(&server, &url, "znuny");
    let Server::Znuny(desk) = &server else {
        unreachable!()
    };

    // Znuny refuses with HTTP 200 and an Error.
    desk.refuse_next(znuny::Refusal::AccessDenied);
    let said = rejected(&server, &url, "desk");
    assert!(
        said.contains(
            "Znuny answered TicketCreate.AccessDenied: TicketCreate: Can not create \
                       tickets in given Queue or QueueID!"
        ),
        "{said}"
    );
    let said = rejected(&server, &url, "no-such-state");
    assert!(said.contains("but could not resolve it"), "{said}");
    assert!(
        said.contains(
            "TicketUpdate.InvalidParameter: TicketUpdate: Ticket->StateID or \
                       Ticket->State parameter is invalid!"
        ),
        "{said}"
    );
    // A fault (HTTP 500) is worth trying again.
    desk.refuse_next(znuny::Refusal::Fault);
    let (_, answer) = notify_test(&url, "desk");
    assert_eq!(answer["result"], "retry", "{answer}");
    assert!(
        answer["answer"]
            .as_str()
            .unwrap()
            .contains("HTTP 500 Internal Server Error: Ticket could not be created"),
        "{answer}"
    );
    assert!(!c.process.log().contains(&server.secret()));
}

#[test]
fn jsm_twenty_hosts_down_are_one_request_resolved_when_they_return() {
    let server = Server::Jsm(Jsm::start());
    let t = outage_is_one_ticket_resolved_on_return(&server, "");
    assert!(t.correlation.starts_with("vigil-incident-"), "{t:?}");
    assert_eq!(t.priority, "Highest");
    assert_eq!(t.fields["labels"], json!([t.correlation]));
    assert!(t.notes.iter().all(|n| n.internal), "{:#?}", t.notes);
}

#[test]
fn jsm_create_stalled_past_the_timeout_is_found_after_the_search_lag() {
    let desk = Jsm::start();
    // Search shows a request 3 s after it is stored (7 s after it was sent): settle and
    // search_lag together wait 9 s.
    desk.search_lag(Duration::from_secs(3));
    let server = Server::Jsm(desk);
    stalled_create_is_found_not_repeated(&server, "settle = \"5s\"\nsearch_lag = \"4s\"");
}

#[test]
fn jsm_notify_test_resolves_and_refusals_carry_jiras_words() {
    let server = Server::Jsm(Jsm::start());
    let dir = tempfile::tempdir().unwrap();
    let notify = config(
        &server,
        &[
            ("desk", ""),
            ("no-such-transition", "resolve_transition = \"Close\""),
        ],
    );
    let c = collector(dir.path(), &server, &notify);
    let url = c.url();
    notify_test_opens_and_resolves(&server, &url, "jsm");
    let Server::Jsm(desk) = &server else {
        unreachable!()
    };

    desk.refuse_next(jsm::Refusal::Forbidden);
    let said = rejected(&server, &url, "desk");
    assert!(
        said.contains(
            "HTTP 403 Forbidden: You do not have permission to perform this \
                       operation on this service desk."
        ),
        "{said}"
    );
    let said = rejected(&server, &url, "no-such-transition");
    assert!(said.contains("but could not resolve it"), "{said}");
    assert!(
        said.contains(
            "offers no such transition; it offers \"Resolve this issue\": set resolve_transition"
        ),
        "{said}"
    );
    assert!(!c.process.log().contains(&server.secret()));
}
