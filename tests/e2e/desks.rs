//! The service-desk test servers (`vigil_tests::notify_servers::desks`) driven over HTTP
//! with reqwest, the way a ticket receiver drives them: look the incident up by its
//! correlation value, create one ticket, add a note, escalate, resolve; wrong credentials,
//! a refused write, and a create whose answer comes after the client gave up, which must
//! leave exactly one ticket that the retry's lookup finds.

#![allow(clippy::unwrap_used)]

use reqwest::{Client, Method, Response};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vigil_tests::http_client;
use vigil_tests::notify_servers::desks::jsm::{self, Jsm, JsmOptions};
use vigil_tests::notify_servers::desks::servicenow::{self, ServiceNow, ServiceNowOptions};
use vigil_tests::notify_servers::desks::znuny::{self, Znuny};
use vigil_tests::notify_servers::desks::{Note, Ticket};

/// How long a test waits for a stalled create to land.
const WAIT: Duration = Duration::from_secs(10);

fn client(timeout: Duration) -> Client {
    http_client().timeout(timeout).build().unwrap()
}

/// The status and the JSON body (Null when the body is empty or not JSON).
async fn parts(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Polls `check` until it gives a value (panics after [`WAIT`]).
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn with_correlation<'a>(tickets: &'a [Ticket], value: &str) -> Vec<&'a Ticket> {
    tickets.iter().filter(|t| t.correlation == value).collect()
}

struct Sn {
    http: Client,
    base: String,
    options: ServiceNowOptions,
}

impl Sn {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.options.user, Some(&self.options.password))
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        parts(request.send().await.unwrap()).await
    }

    async fn lookup(&self, incident: &str) -> Vec<Value> {
        let path = format!(
            "/api/now/table/incident?sysparm_query=correlation_id%3D{incident}&sysparm_fields=sys_id,number,state,priority,correlation_id&sysparm_limit=2"
        );
        let (status, body) = self.send(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        body["result"].as_array().unwrap().clone()
    }

    fn create_body(incident: &str) -> Value {
        json!({
            "short_description": format!("Vigil incident {incident}: 3 hosts down"),
            "description": "web-1, web-2, web-3 stopped reporting",
            "urgency": "2", "impact": "2",
            "assignment_group": "287ebd7da9fe198100f92cc8d1d2154e",
            "category": "software",
            "caller_id": "vigil.integration",
            "correlation_id": incident,
            "correlation_display": "Vigil",
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_table_api_keeps_one_incident_per_correlation_id() {
    let desk = ServiceNow::start();
    let sn = Sn {
        http: client(Duration::from_secs(10)),
        base: desk.url(),
        options: ServiceNowOptions::default(),
    };

    // Lookup, create, lookup again.
    assert!(sn.lookup("42").await.is_empty());
    let (status, v1) = sn
        .send(
            Method::GET,
            "/api/now/v1/table/incident?sysparm_query=correlation_id%3D42",
            None,
        )
        .await;
    assert_eq!(
        (status, v1["error"]["message"].as_str()),
        (404, Some("No Record found"))
    );
    let (status, created) = sn
        .send(
            Method::POST,
            "/api/now/table/incident",
            Some(Sn::create_body("42")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let record = &created["result"];
    let sys_id = record["sys_id"].as_str().unwrap().to_owned();
    assert_eq!(record["number"], "INC0010001");
    assert_eq!(
        record["priority"], "3",
        "impact 2 and urgency 2 give priority 3"
    );
    assert_eq!(record["state"], "1");
    assert_eq!(record["correlation_id"], "42");
    assert_eq!(
        record["assignment_group"]["value"],
        "287ebd7da9fe198100f92cc8d1d2154e"
    );
    let found = sn.lookup("42").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["sys_id"], sys_id.as_str());
    // A misspelt field is ignored by the instance: the lookup matches every incident.
    let (_, loose) = sn
        .send(
            Method::GET,
            "/api/now/table/incident?sysparm_query=correlaton_id%3D99",
            None,
        )
        .await;
    assert_eq!(loose["result"].as_array().unwrap().len(), 1);

    // A work note, an escalation, a resolve the data policy refuses, then one it takes.
    let record_path = format!("/api/now/table/incident/{sys_id}");
    let (status, _) = sn
        .send(
            Method::PATCH,
            &record_path,
            Some(json!({"work_notes": "web-4 joined the incident"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, escalated) = sn
        .send(
            Method::PATCH,
            &record_path,
            Some(json!({"urgency": "1", "impact": "1", "work_notes": "escalated: 12 hosts down"})),
        )
        .await;
    assert_eq!(
        (status, escalated["result"]["priority"].as_str()),
        (200, Some("1"))
    );
    let (status, policy) = sn
        .send(Method::PATCH, &record_path, Some(json!({"state": "6"})))
        .await;
    assert_eq!(status, 403, "{policy}");
    assert_eq!(policy["status"], "failure");
    assert!(
        policy["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("Resolution code")
    );
    let resolve = json!({"state": "6", "close_code": "Solution provided", "close_notes": "all hosts back", "work_notes": "resolved by Vigil"});
    let (status, resolved) = sn
        .send(Method::PATCH, &record_path, Some(resolve.clone()))
        .await;
    assert_eq!(
        (status, resolved["result"]["state"].as_str()),
        (200, Some("6"))
    );
    let (_, notes) = sn
        .send(
            Method::GET,
            &format!("/api/now/table/sys_journal_field?sysparm_query=element_id%3D{sys_id}%5Eelement%3Dwork_notes"),
            None,
        )
        .await;
    assert_eq!(notes["result"].as_array().unwrap().len(), 3);
    let ticket = &desk.tickets()[0];
    assert_eq!(
        (
            ticket.state.as_str(),
            ticket.priority.as_str(),
            ticket.correlation.as_str()
        ),
        ("6", "1", "42")
    );
    assert_eq!(
        ticket.notes,
        [
            "web-4 joined the incident",
            "escalated: 12 hosts down",
            "resolved by Vigil"
        ]
        .map(|body| Note {
            body: body.into(),
            internal: true
        })
    );

    // Wrong credentials, a refused write, and a business rule that keeps the state.
    let (status, denied) = parts(
        sn.http
            .get(format!("{}/api/now/table/incident", sn.base))
            .basic_auth(&sn.options.user, Some("wrong"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, denied["error"]["message"].as_str()),
        (401, Some("User Not Authenticated"))
    );
    desk.refuse_next(servicenow::Refusal::Acl);
    let (status, acl) = sn
        .send(
            Method::PATCH,
            &record_path,
            Some(json!({"work_notes": "refused"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        acl["error"]["detail"],
        "ACL Exception Update Failed due to security constraints"
    );
    assert_eq!(desk.tickets()[0].notes.len(), 3);
    let (_, second) = sn
        .send(
            Method::POST,
            "/api/now/table/incident",
            Some(Sn::create_body("43")),
        )
        .await;
    let second_path = format!(
        "/api/now/table/incident/{}",
        second["result"]["sys_id"].as_str().unwrap()
    );
    desk.ignore_resolves(true);
    let (status, kept) = sn.send(Method::PATCH, &second_path, Some(resolve)).await;
    assert_eq!(
        (status, kept["result"]["state"].as_str()),
        (200, Some("1")),
        "200, but the state stays"
    );

    // A create answered after the client gave up: the ticket exists, the retry finds it.
    desk.stall_first_create(Duration::from_millis(1500));
    let impatient = client(Duration::from_millis(300));
    let lost = impatient
        .post(format!("{}/api/now/table/incident", sn.base))
        .basic_auth(&sn.options.user, Some(&sn.options.password))
        .json(&Sn::create_body("44"))
        .send()
        .await
        .unwrap_err();
    assert!(lost.is_timeout(), "{lost}");
    eventually("the stalled incident", || {
        (!with_correlation(&desk.tickets(), "44").is_empty()).then_some(())
    })
    .await;
    assert_eq!(sn.lookup("44").await.len(), 1);
    assert_eq!(with_correlation(&desk.tickets(), "44").len(), 1);
    assert_eq!(desk.tickets().len(), 3);
    let creates = desk
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(creates, 3);
}

struct Zn {
    http: Client,
    base: String,
    login: (String, String),
}

impl Zn {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-OTRS-Header-UserLogin", &self.login.0)
            .header("X-OTRS-Header-Password", &self.login.1);
        if let Some(body) = body {
            request = request.json(&body);
        }
        parts(request.send().await.unwrap()).await
    }

    async fn search(&self, incident: &str) -> Value {
        let body = json!({"DynamicField": {"Name": "VigilIncident", "Equals": incident}});
        let (status, found) = self.send(Method::POST, "/TicketSearch", Some(body)).await;
        assert_eq!(status, 200, "{found}");
        found
    }

    fn create_body(incident: &str) -> Value {
        json!({
            "Ticket": {
                "Title": format!("Vigil incident {incident}: 3 hosts down"),
                "Queue": "Monitoring", "State": "new", "Priority": "3 normal",
                "CustomerUser": "monitoring",
            },
            "Article": {
                "Subject": "3 hosts down", "Body": "web-1, web-2, web-3 stopped reporting",
                "ContentType": "text/plain; charset=utf8", "CommunicationChannel": "Internal",
                "IsVisibleForCustomer": 0,
            },
            "DynamicField": [{"Name": "VigilIncident", "Value": incident}],
        })
    }

    fn note(body: &str) -> Value {
        json!({"Subject": "Vigil", "Body": body, "ContentType": "text/plain; charset=utf8", "CommunicationChannel": "Internal", "IsVisibleForCustomer": 0})
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn znuny_generic_interface_keeps_one_ticket_per_incident_field() {
    let desk = Znuny::start();
    let zn = Zn {
        http: client(Duration::from_secs(10)),
        base: desk.url(),
        login: desk.credentials(),
    };

    assert_eq!(zn.search("42").await, json!({}));
    let (status, created) = zn
        .send(Method::POST, "/Ticket", Some(Zn::create_body("42")))
        .await;
    assert_eq!(status, 200, "{created}");
    assert!(created.get("Error").is_none(), "{created}");
    let id = created["TicketID"].as_str().unwrap().to_owned();
    assert_eq!(created["Ticket"]["State"], "new");
    assert_eq!(
        created["Ticket"]["DynamicField"][0],
        json!({"Name": "VigilIncident", "Value": "42"})
    );
    assert_eq!(zn.search("42").await["TicketID"], json!([id]));

    // A note, an escalation, a close: all TicketUpdate, each answered with the stored ticket.
    let ticket_path = format!("/Ticket/{id}");
    let (_, noted) = zn
        .send(
            Method::PATCH,
            &ticket_path,
            Some(json!({"Article": Zn::note("web-4 joined the incident")})),
        )
        .await;
    assert!(noted["ArticleID"].is_number(), "{noted}");
    let (_, escalated) = zn
        .send(
            Method::PATCH,
            &ticket_path,
            Some(json!({"Ticket": {"Priority": "5 very high"}, "Article": Zn::note("escalated: 12 hosts down")})),
        )
        .await;
    assert_eq!(
        escalated["Ticket"]["Priority"], "5 very high",
        "{escalated}"
    );
    let (_, closed) = zn
        .send(
            Method::PATCH,
            &ticket_path,
            Some(json!({"Ticket": {"State": "closed successful"}, "Article": Zn::note("resolved by Vigil")})),
        )
        .await;
    assert_eq!(closed["Ticket"]["StateType"], "closed", "{closed}");
    let (status, read) = zn
        .send(
            Method::GET,
            &format!("{ticket_path}?DynamicFields=1&AllArticles=1"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["Ticket"][0]["Article"].as_array().unwrap().len(), 4);
    let ticket = &desk.tickets()[0];
    assert_eq!(
        (
            ticket.state.as_str(),
            ticket.priority.as_str(),
            ticket.group.as_str(),
            ticket.correlation.as_str()
        ),
        ("closed successful", "5 very high", "Monitoring", "42")
    );
    assert!(ticket.notes.iter().all(|n| n.internal));

    // Refusals arrive as HTTP 200 with an Error body; transport failures as 500.
    let wrong = Zn {
        http: zn.http.clone(),
        base: zn.base.clone(),
        login: (zn.login.0.clone(), "wrong".into()),
    };
    let (status, denied) = wrong
        .send(Method::POST, "/Ticket", Some(Zn::create_body("43")))
        .await;
    assert_eq!(
        (status, denied["Error"]["ErrorCode"].as_str()),
        (200, Some("TicketCreate.AuthFail"))
    );
    let mut untitled = Zn::create_body("43");
    untitled["Ticket"]["Title"] = json!("");
    let (status, missing) = zn.send(Method::POST, "/Ticket", Some(untitled)).await;
    assert_eq!(
        (status, missing["Error"]["ErrorCode"].as_str()),
        (200, Some("TicketCreate.MissingParameter"))
    );
    desk.refuse_next(znuny::Refusal::AccessDenied);
    let (status, refused) = zn
        .send(
            Method::PATCH,
            &ticket_path,
            Some(json!({"Ticket": {"State": "open"}})),
        )
        .await;
    assert_eq!(
        (status, refused["Error"]["ErrorCode"].as_str()),
        (200, Some("TicketUpdate.AccessDenied"))
    );
    assert_eq!(desk.tickets()[0].state, "closed successful");
    let (status, _) = zn.send(Method::DELETE, &ticket_path, None).await;
    assert_eq!(status, 500, "no route for DELETE");

    // A create answered after the client gave up: the ticket exists, the retry finds it.
    desk.stall_first_create(Duration::from_millis(1500));
    let impatient = client(Duration::from_millis(300));
    let lost = impatient
        .post(format!("{}/Ticket", zn.base))
        .header("X-OTRS-Header-UserLogin", &zn.login.0)
        .header("X-OTRS-Header-Password", &zn.login.1)
        .json(&Zn::create_body("44"))
        .send()
        .await
        .unwrap_err();
    assert!(lost.is_timeout(), "{lost}");
    eventually("the stalled ticket", || {
        (!with_correlation(&desk.tickets(), "44").is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        zn.search("44").await["TicketID"].as_array().unwrap().len(),
        1
    );
    assert_eq!(desk.tickets().len(), 2);

    // The trap the web service avoids: a flat query-string search is ignored by
    // TicketSearch, which then matches every ticket.
    let (_, everything) = zn
        .send(
            Method::POST,
            "/TicketSearch?DynamicField_VigilIncident=42",
            None,
        )
        .await;
    assert_eq!(everything["TicketID"].as_array().unwrap().len(), 2);
}

struct Js {
    http: Client,
    base: String,
    options: JsmOptions,
}

impl Js {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.options.email, Some(&self.options.api_token))
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        parts(request.send().await.unwrap()).await
    }

    async fn lookup(&self, incident: &str, reconcile: &[u64]) -> Vec<Value> {
        let body = json!({
            "jql": format!("project = VIG AND labels = \"vigil-incident-{incident}\""),
            "fields": ["summary", "status", "labels", "priority"],
            "maxResults": 2,
            "reconcileIssues": reconcile,
        });
        let (status, found) = self
            .send(Method::POST, "/rest/api/3/search/jql", Some(body))
            .await;
        assert_eq!(status, 200, "{found}");
        found["issues"].as_array().unwrap().clone()
    }

    fn create_body(incident: &str) -> Value {
        json!({
            "serviceDeskId": "1",
            "requestTypeId": "10",
            "requestFieldValues": {
                "summary": format!("Vigil incident {incident}: 3 hosts down"),
                "description": "web-1, web-2, web-3 stopped reporting",
                "priority": {"name": "High"},
                "labels": [format!("vigil-incident-{incident}")],
            },
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_service_management_keeps_one_request_per_label() {
    let desk = Jsm::start();
    let js = Js {
        http: client(Duration::from_secs(10)),
        base: desk.url(),
        options: JsmOptions::default(),
    };

    assert!(js.lookup("42", &[]).await.is_empty());
    let (status, created) = js
        .send(
            Method::POST,
            "/rest/servicedeskapi/request",
            Some(Js::create_body("42")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["issueKey"], "VIG-1");
    assert_eq!(created["currentStatus"]["status"], "Waiting for support");
    let key = "VIG-1";
    let found = js.lookup("42", &[]).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0]["key"].as_str(),
            found[0]["fields"]["priority"]["name"].as_str()
        ),
        (Some(key), Some("High"))
    );

    // An internal comment, an escalation, a resolve through the agent transitions.
    let (status, comment) = js
        .send(
            Method::POST,
            &format!("/rest/servicedeskapi/request/{key}/comment"),
            Some(json!({"body": "web-4 joined the incident", "public": false})),
        )
        .await;
    assert_eq!((status, comment["public"].as_bool()), (201, Some(false)));
    let (status, _) = js
        .send(
            Method::PUT,
            &format!("/rest/api/3/issue/{key}"),
            Some(json!({"fields": {"priority": {"name": "Highest"}}})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, transitions) = js
        .send(
            Method::GET,
            &format!("/rest/api/3/issue/{key}/transitions"),
            None,
        )
        .await;
    let resolve = transitions["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Resolve this issue")
        .unwrap()["id"]
        .clone();
    let (status, _) = js
        .send(
            Method::POST,
            &format!("/rest/api/3/issue/{key}/transitions"),
            Some(json!({"transition": {"id": resolve}})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, customer) = js
        .send(
            Method::GET,
            &format!("/rest/servicedeskapi/request/{key}/transition"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(customer["values"][0]["name"], "Reopen");
    let ticket = &desk.tickets()[0];
    assert_eq!(
        (
            ticket.state.as_str(),
            ticket.priority.as_str(),
            ticket.correlation.as_str()
        ),
        ("Resolved", "Highest", "vigil-incident-42")
    );
    assert_eq!(
        ticket.notes,
        [Note {
            body: "web-4 joined the incident".into(),
            internal: true
        }]
    );

    // Wrong token, a missing summary, a refused write.
    let (status, denied) = parts(
        js.http
            .get(format!("{}/rest/servicedeskapi/request/{key}", js.base))
            .basic_auth(&js.options.email, Some("wrong"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{denied}");
    let mut blank = Js::create_body("43");
    blank["requestFieldValues"]["summary"] = json!("");
    let (status, invalid) = js
        .send(Method::POST, "/rest/servicedeskapi/request", Some(blank))
        .await;
    assert_eq!(status, 400);
    assert!(
        invalid["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Summary"),
        "{invalid}"
    );
    desk.refuse_next(jsm::Refusal::Forbidden);
    let (status, refused) = js
        .send(
            Method::POST,
            &format!("/rest/servicedeskapi/request/{key}/comment"),
            Some(json!({"body": "refused", "public": false})),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        refused["errorMessage"].is_string() && refused["i18nErrorMessage"]["i18nKey"].is_string()
    );
    assert_eq!(desk.tickets()[0].notes.len(), 1);

    // Search is eventually consistent: a new request shows only when reconciled by id.
    desk.search_lag(Duration::from_secs(60));
    let (_, lagging) = js
        .send(
            Method::POST,
            "/rest/servicedeskapi/request",
            Some(Js::create_body("43")),
        )
        .await;
    let lagging_id: u64 = lagging["issueId"].as_str().unwrap().parse().unwrap();
    assert!(js.lookup("43", &[]).await.is_empty());
    assert_eq!(js.lookup("43", &[lagging_id]).await.len(), 1);
    desk.search_lag(Duration::ZERO);

    // A create answered after the client gave up: the request exists, the retry finds it.
    desk.stall_first_create(Duration::from_millis(1500));
    let impatient = client(Duration::from_millis(300));
    let lost = impatient
        .post(format!("{}/rest/servicedeskapi/request", js.base))
        .basic_auth(&js.options.email, Some(&js.options.api_token))
        .json(&Js::create_body("44"))
        .send()
        .await
        .unwrap_err();
    assert!(lost.is_timeout(), "{lost}");
    eventually("the stalled request", || {
        (!with_correlation(&desk.tickets(), "vigil-incident-44").is_empty()).then_some(())
    })
    .await;
    assert_eq!(js.lookup("44", &[]).await.len(), 1);
    assert_eq!(desk.tickets().len(), 3);
}
