//! The generic ticket receiver (`[[notify.receivers.ticket]]`), its requests written as
//! templates, pointed at the ServiceNow test server's Table API: twenty hosts down are one
//! incident and one ticket found by its correlation value, with a work note per update and
//! resolved when the hosts return; a create stalled past the timeout is found, not
//! repeated; `vigil notify test` opens and resolves a ticket.

use super::*;
use vigil_tests::notify_servers::desks::servicenow::ServiceNow;

/// A generic receiver speaking ServiceNow's Table API through templates.
fn generic(desk: &ServiceNow, extra: &str) -> String {
    let base = format!("{}/api/now/table/incident", desk.url());
    format!(
        r#"
[notify]
[notify.delivery]
backoff_initial = "1s"
backoff_max = "2s"
[[notify.receivers]]
name = "desk"
[[notify.receivers.ticket]]
headers = {{ Authorization = {{ env = "VIGIL_E2E_GENERIC_AUTH" }} }}
find = {{ method = "GET", url = "{base}?sysparm_query=correlation_id={{{{ .Incident.Correlation }}}}&sysparm_fields=sys_id,correlation_id" }}
found_id = "/result/0/sys_id"
create = {{ url = "{base}", body = '{{"short_description": {{{{ .Incident.TicketTitle | toJson }}}}, "description": {{{{ .Incident.Description | toJson }}}}, "urgency": {{{{ .Incident.Priority | toJson }}}}, "impact": "1", "caller_id": "vigil", "correlation_id": {{{{ .Incident.Correlation | toJson }}}}}}' }}
ticket_id = "/result/sys_id"
update = {{ method = "PATCH", url = "{base}/{{{{ .Incident.TicketID }}}}", body = '{{"work_notes": {{{{ .Incident.Update | toJson }}}}}}' }}
resolve = {{ method = "PATCH", url = "{base}/{{{{ .Incident.TicketID }}}}", body = '{{"state": "6", "close_code": "Solution provided", "close_notes": {{{{ .Incident.Update | toJson }}}}}}' }}
ticket_url = "{}/nav_to.do?uri=incident.do?sys_id={{{{ .Incident.TicketID }}}}"
priorities = {{ critical = "1", error = "1", warning = "2", info = "3", none = "3" }}
{extra}
[notify.route]
receiver = "desk"
mode = "incident"
"#,
        desk.url()
    )
}

fn collector_for(dir: &Path, desk: &ServiceNow, extra: &str) -> Collector {
    let config = dir.join("collector.toml");
    std::fs::write(&config, generic(desk, extra)).unwrap();
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let mut settings = rules_settings(&rules);
    settings.extend(fast_incidents());
    settings.push(("VIGIL_E2E_GENERIC_AUTH", desk.authorization()));
    Collector::start_with_config(
        free_port(),
        &dir.join("data"),
        &config,
        &env_refs(&settings),
    )
}

#[test]
fn a_templated_desk_gets_one_ticket_per_incident_updated_and_resolved() {
    let desk = ServiceNow::start();
    let dir = tempfile::tempdir().unwrap();
    let c = collector_for(dir.path(), &desk, "");
    let url = c.url();

    let test = vigil(&url, &["notify", "test", "desk", "--output", "json"]);
    let answers: Value = serde_json::from_slice(&test.stdout).unwrap_or_default();
    assert_eq!(answers[0]["kind"], "ticket", "{answers}");
    assert_eq!(answers[0]["result"], "accepted", "{answers}");
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].state, "6", "the test ticket is resolved");

    fleet_sends(&url, 3);
    let incident = wait_for(Duration::from_secs(60), "the incident's ticket", || {
        let open = incidents(&url, &["--open"]);
        (open.len() == 1 && !open[0]["tickets"].as_array()?.is_empty()).then(|| open[0].clone())
    });
    let id = incident["id"].as_u64().unwrap();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    let ticket = tickets
        .iter()
        .find(|t| t.correlation.ends_with(&format!("-{id}")))
        .unwrap();
    assert_eq!(incident["tickets"][0]["id"], ticket.id.as_str());
    assert_eq!(
        incident["tickets"][0]["url"],
        format!(
            "{}/nav_to.do?uri=incident.do?sys_id={}",
            desk.url(),
            ticket.id
        )
    );
    assert_eq!(ticket.title, "[critical] HostDown on 20 hosts");
    assert_eq!(ticket.fields["urgency"], "1", "{}", ticket.fields);

    fleet_sends(&url, 15);
    let done = wait_for(Duration::from_secs(60), "the ticket to resolve", || {
        desk.tickets()
            .into_iter()
            .find(|t| t.id == ticket.id && t.state == "6")
    });
    assert!(
        done.fields["close_notes"]
            .as_str()
            .unwrap()
            .contains(&format!("Incident #{id} resolved")),
        "{}",
        done.fields
    );
    let for_incident = desk
        .tickets()
        .into_iter()
        .filter(|t| t.correlation == ticket.correlation)
        .count();
    assert_eq!(for_incident, 1);
}

#[test]
fn a_templated_desk_that_stalls_a_create_still_gets_one_ticket() {
    let desk = ServiceNow::start();
    desk.stall_first_create(Duration::from_secs(4));
    let dir = tempfile::tempdir().unwrap();
    let c = collector_for(dir.path(), &desk, "timeout = \"2s\"\nsettle = \"6s\"");
    let url = c.url();
    import_all_now(&url, dir.path(), &[("incidents_e2e_value", "db-1", 75.0)]);
    let incident = wait_for(Duration::from_secs(60), "the incident's ticket", || {
        let open = incidents(&url, &["--open"]);
        (open.len() == 1 && !open[0]["tickets"].as_array()?.is_empty()).then(|| open[0].clone())
    });
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(incident["tickets"][0]["id"], tickets[0].id.as_str());
    let creates = desk
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(creates, 1, "the create was not repeated");
}
