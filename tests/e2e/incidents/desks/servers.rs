//! The desks' test servers as these tests drive them: one enum over ServiceNow, Znuny and
//! Jira Service Management, with the receiver table that points the collector at each, and
//! what a test reads back (tickets, requests, the id and link Vigil keeps).

use std::time::Duration;
use vigil_tests::notify_servers::desks::jsm::{Jsm, JsmOptions};
use vigil_tests::notify_servers::desks::servicenow::{ServiceNow, ServiceNowOptions};
use vigil_tests::notify_servers::desks::znuny::Znuny;
use vigil_tests::notify_servers::desks::{DeskRequest, Ticket};

/// The variable the collector reads the desk's password or API token from.
pub const SECRET_VAR: &str = "VIGIL_E2E_DESK_SECRET";

/// One of the desks' test servers.
pub enum Server {
    ServiceNow(ServiceNow),
    Znuny(Znuny),
    Jsm(Jsm),
}

impl Server {
    /// The password or API token the desk accepts.
    pub fn secret(&self) -> String {
        match self {
            Server::ServiceNow(_) => ServiceNowOptions::default().password,
            Server::Znuny(d) => d.credentials().1,
            Server::Jsm(_) => JsmOptions::default().api_token,
        }
    }

    /// A receiver `name` with one integration of this desk; `extra` goes into its table.
    pub fn receiver(&self, name: &str, extra: &str) -> String {
        let table = match self {
            Server::ServiceNow(d) => format!(
                "[[notify.receivers.servicenow]]\ninstance_url = \"{}\"\n\
                 username = \"{}\"\ncaller_id = \"vigil.integration\"\n",
                d.url(),
                ServiceNowOptions::default().user
            ),
            Server::Znuny(d) => format!(
                "[[notify.receivers.znuny]]\nurl = \"{}\"\nusername = \"{}\"\n\
                 customer_user = \"monitoring\"\n",
                d.url(),
                d.credentials().0
            ),
            Server::Jsm(d) => {
                let o = JsmOptions::default();
                let transition = if extra.contains("resolve_transition") {
                    ""
                } else {
                    "resolve_transition = \"Resolve this issue\"\n"
                };
                format!(
                    "[[notify.receivers.jsm]]\nurl = \"{}\"\nemail = \"{}\"\n\
                     service_desk_id = \"{}\"\nrequest_type_id = {}\nproject = \"{}\"\n\
                     {transition}",
                    d.url(),
                    o.email,
                    o.service_desk_id,
                    o.request_type_id,
                    o.project_key
                )
            }
        };
        let secret = match self {
            Server::Jsm(_) => "api_token",
            _ => "password",
        };
        format!(
            "[[notify.receivers]]\nname = \"{name}\"\n{table}{secret} = {{ env = \"{SECRET_VAR}\" }}\n\
             {extra}\n"
        )
    }

    pub fn tickets(&self) -> Vec<Ticket> {
        match self {
            Server::ServiceNow(d) => d.tickets(),
            Server::Znuny(d) => d.tickets(),
            Server::Jsm(d) => d.tickets(),
        }
    }

    pub fn requests(&self) -> Vec<DeskRequest> {
        match self {
            Server::ServiceNow(d) => d.requests(),
            Server::Znuny(d) => d.requests(),
            Server::Jsm(d) => d.requests(),
        }
    }

    pub fn stall_first_create(&self, wait: Duration) {
        match self {
            Server::ServiceNow(d) => d.stall_first_create(wait),
            Server::Znuny(d) => d.stall_first_create(wait),
            Server::Jsm(d) => d.stall_first_create(wait),
        }
    }

    /// The id Vigil keeps for ticket `t` and the link it shows.
    pub fn kept(&self, t: &Ticket) -> (String, String) {
        match self {
            Server::ServiceNow(d) => (
                t.id.clone(),
                format!("{}/nav_to.do?uri=incident.do?sys_id={}", d.url(), t.id),
            ),
            Server::Znuny(d) => {
                let site = d
                    .url()
                    .split("/nph-genericinterface.pl/")
                    .next()
                    .unwrap()
                    .to_owned();
                (
                    t.id.clone(),
                    format!("{site}/index.pl?Action=AgentTicketZoom;TicketID={}", t.id),
                )
            }
            Server::Jsm(d) => (t.number.clone(), format!("{}/browse/{}", d.url(), t.number)),
        }
    }

    /// The state a resolved ticket is in.
    pub fn resolved(&self) -> &'static str {
        match self {
            Server::ServiceNow(_) => "6",
            Server::Znuny(_) => "closed successful",
            Server::Jsm(_) => "Resolved",
        }
    }

    /// Whether `r` is a create.
    pub fn is_create(&self, r: &DeskRequest) -> bool {
        r.method == "POST"
            && match self {
                Server::ServiceNow(_) => r.path == "/api/now/table/incident",
                Server::Znuny(_) => r.path.ends_with("/Webservice/Vigil/Ticket"),
                Server::Jsm(_) => r.path == "/rest/servicedeskapi/request",
            }
    }

    /// Whether `r` is a lookup by the correlation value.
    pub fn is_search(&self, r: &DeskRequest) -> bool {
        match self {
            Server::ServiceNow(_) => {
                r.method == "GET"
                    && r.path == "/api/now/table/incident"
                    && r.param("sysparm_query").is_some()
            }
            Server::Znuny(_) => r.path.ends_with("/TicketSearch"),
            Server::Jsm(_) => r.path == "/rest/api/3/search/jql",
        }
    }
}
