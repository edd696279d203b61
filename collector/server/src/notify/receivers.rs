//! The receivers of `[[notify.receivers]]`, built once from the configuration (secrets
//! read then), and the integrations that deliver: [`email`](super::email),
//! [`webhook`](super::webhook) and [`alertmanager`](super::alertmanager), one file each.
//! This module only dispatches to them and bounds each attempt by its timeout.
//!
//! Each attempt belongs to a *delivery* with an id ([`Integration::deliver`]): the outbox
//! passes the id stored with its entry, so retries carry the same one.

use super::alertmanager::AlertmanagerTarget;
use super::config::NotifyConfig;
use super::email::Email;
use super::model::{Notification, Outcome, Step};
use super::tickets::book::TicketBook;
use super::tickets::generic::Generic;
use super::tickets::jsm::Jsm;
use super::tickets::rt::Rt;
use super::tickets::servicenow::ServiceNow;
use super::tickets::znuny::Znuny;
use super::tickets::{Desk, TicketIntegration};
use super::webhook::{Webhook, new_delivery_id};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Every configured receiver by name.
#[derive(Debug, Default)]
pub struct Receivers {
    by_name: BTreeMap<String, Receiver>,
}

/// One receiver: where its notifications go.
#[derive(Debug)]
pub struct Receiver {
    /// Its name.
    pub name: String,
    /// Whether resolved alerts are sent to it.
    pub send_resolved: bool,
    /// Its integrations; a notification is one outbox entry per integration.
    pub integrations: Vec<Integration>,
}

/// One way of delivering: an email, webhook or alertmanager integration.
pub struct Integration {
    delivery: Delivery,
    timeout: Duration,
}

enum Delivery {
    Email(Box<Email>),
    Webhook(Webhook),
    Alertmanager(AlertmanagerTarget),
    Ticket(Box<TicketIntegration>),
}

impl Receivers {
    /// Builds every receiver, reading secrets, with tickets kept in memory only (tests);
    /// the error names the receiver and what failed.
    pub fn from_config(config: &NotifyConfig) -> Result<Self, String> {
        Self::with_book(config, Arc::new(TicketBook::in_memory("00000000")))
    }

    /// Builds every receiver, reading secrets; ticket integrations keep their tickets in
    /// `book`. The error names the receiver and what failed.
    pub fn with_book(config: &NotifyConfig, book: Arc<TicketBook>) -> Result<Self, String> {
        let mut by_name = BTreeMap::new();
        for (i, r) in config.receivers.iter().enumerate() {
            let at =
                |kind: &str, j: usize| format!("notify.receivers[{i}] ({:?}).{kind}[{j}]", r.name);
            let mut integrations = Vec::new();
            for (j, e) in r.email.iter().enumerate() {
                let email = Email::new(e).map_err(|err| format!("{}.{err}", at("email", j)))?;
                integrations.push(Integration {
                    delivery: Delivery::Email(Box::new(email)),
                    timeout: e.timeout,
                });
            }
            for (j, w) in r.webhook.iter().enumerate() {
                let webhook =
                    Webhook::new(w).map_err(|err| format!("{}.{err}", at("webhook", j)))?;
                integrations.push(Integration {
                    delivery: Delivery::Webhook(webhook),
                    timeout: w.timeout,
                });
            }
            for (j, a) in r.alertmanager.iter().enumerate() {
                let target = AlertmanagerTarget::new(a)
                    .map_err(|err| format!("{}.{err}", at("alertmanager", j)))?;
                integrations.push(Integration {
                    delivery: Delivery::Alertmanager(target),
                    timeout: a.timeout,
                });
            }
            let mut desks: Vec<(&str, usize, Result<Desk, String>, Duration)> = Vec::new();
            for (j, c) in r.rt.iter().enumerate() {
                desks.push((
                    "rt",
                    j,
                    Rt::new(c).map(|d| Desk::Rt(Box::new(d))),
                    c.timeout,
                ));
            }
            for (j, c) in r.servicenow.iter().enumerate() {
                desks.push((
                    "servicenow",
                    j,
                    ServiceNow::new(c).map(|d| Desk::ServiceNow(Box::new(d))),
                    c.timeout,
                ));
            }
            for (j, c) in r.znuny.iter().enumerate() {
                desks.push((
                    "znuny",
                    j,
                    Znuny::new(c).map(|d| Desk::Znuny(Box::new(d))),
                    c.timeout,
                ));
            }
            for (j, c) in r.jsm.iter().enumerate() {
                desks.push((
                    "jsm",
                    j,
                    Jsm::new(c).map(|d| Desk::Jsm(Box::new(d))),
                    c.timeout,
                ));
            }
            for (j, c) in r.ticket.iter().enumerate() {
                desks.push((
                    "ticket",
                    j,
                    Generic::new(c).map(|d| Desk::Generic(Box::new(d))),
                    c.timeout,
                ));
            }
            for (kind, j, desk, timeout) in desks {
                let desk = desk.map_err(|err| format!("{}.{err}", at(kind, j)))?;
                let index = integrations.len();
                integrations.push(Integration {
                    delivery: Delivery::Ticket(Box::new(TicketIntegration {
                        desk,
                        receiver: r.name.clone(),
                        index,
                        book: book.clone(),
                    })),
                    // A step is several requests (find, create, read back): each is bound
                    // by `timeout`, the whole step by four of them.
                    timeout: timeout * 4,
                });
            }
            by_name.insert(
                r.name.clone(),
                Receiver {
                    name: r.name.clone(),
                    send_resolved: r.send_resolved,
                    integrations,
                },
            );
        }
        Ok(Self { by_name })
    }

    /// The receiver named `name`.
    pub fn get(&self, name: &str) -> Option<&Receiver> {
        self.by_name.get(name)
    }

    /// Every receiver, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Receiver> {
        self.by_name.values()
    }
}

impl Receiver {
    /// Whether any of its integrations takes refresh notifications.
    pub fn needs_refresh(&self) -> bool {
        self.integrations.iter().any(Integration::takes_refresh)
    }
}

impl Integration {
    /// `"email"`, `"webhook"`, `"alertmanager"`, or a desk: `"rt"`, `"servicenow"`,
    /// `"znuny"`, `"jsm"`, `"ticket"`.
    pub fn kind(&self) -> &'static str {
        match &self.delivery {
            Delivery::Email(_) => "email",
            Delivery::Webhook(_) => "webhook",
            Delivery::Alertmanager(_) => "alertmanager",
            Delivery::Ticket(t) => t.desk.kind(),
        }
    }

    /// Whether it is a service-desk integration (it follows incidents only).
    pub fn is_ticket(&self) -> bool {
        matches!(self.delivery, Delivery::Ticket(_))
    }

    /// Whether notification `n` is for it. Refreshes go only to integrations that take
    /// them; alert groups to email, webhook and alertmanager; incidents to tickets (every
    /// step) and to email and webhook (opened, escalated, and resolved when the receiver
    /// has `send_resolved`).
    pub fn takes(&self, n: &Notification, send_resolved: bool) -> bool {
        if n.refresh {
            return self.takes_refresh();
        }
        match (&n.incident, &self.delivery) {
            (None, Delivery::Ticket(_)) => false,
            (None, _) => true,
            (Some(_), Delivery::Ticket(_)) => true,
            (Some(_), Delivery::Alertmanager(_)) => false,
            (Some(notice), _) => {
                notice.step.tells_people() && (send_resolved || notice.step != Step::Resolved)
            }
        }
    }

    /// Whether it takes refresh notifications (`Notification::refresh`: nothing changed):
    /// only alertmanager, which ends alerts it does not hear about again.
    pub fn takes_refresh(&self) -> bool {
        matches!(self.delivery, Delivery::Alertmanager(_))
    }

    /// The bound on one attempt (`timeout` in its configuration).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Where it delivers, for logs and `vigil notify test` (never a secret).
    pub fn describe(&self) -> String {
        match &self.delivery {
            Delivery::Email(e) => e.describe(),
            Delivery::Webhook(w) => w.describe(),
            Delivery::Alertmanager(a) => a.describe(),
            Delivery::Ticket(t) => t.desk.describe(),
        }
    }

    /// Makes one attempt of a new delivery (`vigil notify test`: each call is a delivery of
    /// its own, with a new id), bounded by the integration's timeout.
    pub async fn send(&self, notification: &Notification) -> Outcome {
        if let Delivery::Ticket(t) = &self.delivery {
            // A test opens a ticket and resolves it.
            let attempt = t.test(&notification.external_url, notification.created_ms);
            return match tokio::time::timeout(self.timeout, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry {
                    error: format!(
                        "no answer within {} (the integration's timeout)",
                        humantime::format_duration(self.timeout)
                    ),
                },
            };
        }
        self.deliver(notification, &new_delivery_id()).await
    }

    /// Makes one attempt of the delivery `delivery`, bounded by the integration's timeout.
    /// `delivery` is the id every attempt of it carries (webhooks and emails send it as
    /// `X-Vigil-Delivery`, emails also as their `Message-ID`); the outbox keeps it with the
    /// entry.
    pub async fn deliver(&self, notification: &Notification, delivery: &str) -> Outcome {
        let attempt = async {
            match &self.delivery {
                Delivery::Email(e) => e.send(notification, delivery).await,
                Delivery::Webhook(w) => w.send(notification, delivery).await,
                Delivery::Alertmanager(a) => a.send(notification).await,
                Delivery::Ticket(t) => t.deliver(notification, delivery).await,
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry {
                error: format!(
                    "no answer within {} (the integration's timeout)",
                    humantime::format_duration(self.timeout)
                ),
            },
        }
    }
}

impl fmt::Debug for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Integration")
            .field("kind", &self.kind())
            .field("target", &self.describe())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receivers(text: &str) -> Result<Receivers, String> {
        let config: NotifyConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        Receivers::from_config(&config)
    }

    #[test]
    fn builds_every_integration_in_order() {
        let r = receivers(
            r#"
            [[receivers]]
            name = "ops"
            [[receivers.email]]
            to = ["ops@example.com"]
            from = "vigil@example.com"
            host = "127.0.0.1"
            tls = "none"
            [[receivers.webhook]]
            url = "http://127.0.0.1:9/hook?token=t0ps3cret"
            [[receivers.alertmanager]]
            url = "http://127.0.0.1:9093/"
            "#,
        )
        .unwrap();
        let ops = r.get("ops").unwrap();
        let kinds: Vec<&str> = ops.integrations.iter().map(Integration::kind).collect();
        assert_eq!(kinds, ["email", "webhook", "alertmanager"]);
        assert!(ops.needs_refresh());
        assert!(!ops.integrations[1].takes_refresh());
        assert_eq!(
            ops.integrations[1].describe(),
            "webhook to http://127.0.0.1:9/…"
        );
        assert_eq!(
            ops.integrations[2].describe(),
            "alertmanager at http://127.0.0.1:9093"
        );
        assert!(!format!("{r:?}").contains("t0ps3cret"));
    }

    #[test]
    fn builds_the_service_desks_in_order_without_showing_secrets() {
        let r = receivers(
            r#"
            [[receivers]]
            name = "desk"
            [[receivers.servicenow]]
            instance_url = "https://acme.service-now.com/"
            token = "sn-t0ken-value"
            [[receivers.znuny]]
            url = "https://desk.example.com/otrs/nph-genericinterface.pl/Webservice/Vigil"
            username = "vigil"
            password = "znuny-pa55word"
            customer_user = "monitoring"
            [[receivers.jsm]]
            url = "https://acme.atlassian.net"
            email = "vigil@acme.example"
            api_token = "jsm-api-t0ken"
            service_desk_id = 1
            request_type_id = 10
            project = "OPS"
            timeout = "2s"
            "#,
        )
        .unwrap();
        let desk = r.get("desk").unwrap();
        let kinds: Vec<&str> = desk.integrations.iter().map(Integration::kind).collect();
        assert_eq!(kinds, ["servicenow", "znuny", "jsm"]);
        assert!(desk.integrations.iter().all(Integration::is_ticket));
        let targets: Vec<String> = desk
            .integrations
            .iter()
            .map(Integration::describe)
            .collect();
        assert_eq!(
            targets,
            [
                "servicenow at https://acme.service-now.com",
                "znuny at https://desk.example.com/otrs/nph-genericinterface.pl/Webservice/Vigil",
                "jsm at https://acme.atlassian.net",
            ]
        );
        // Each step is bound by four requests' worth of the integration's timeout.
        assert_eq!(desk.integrations[2].timeout(), Duration::from_secs(8));
        let shown = format!("{r:?}");
        for secret in ["sn-t0ken-value", "znuny-pa55word", "jsm-api-t0ken"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn errors_name_the_receiver_and_key_but_no_secret() {
        let err = receivers(
            r#"
            [[receivers]]
            name = "pager"
            [[receivers.webhook]]
            url = "http://127.0.0.1:9/hook"
            headers = { Authorization = { env = "VIGIL_TEST_UNSET_TOKEN_VAR" } }
            "#,
        )
        .unwrap_err();
        assert!(
            err.starts_with("notify.receivers[0] (\"pager\").webhook[0].headers.Authorization"),
            "{err}"
        );
        assert!(err.contains("VIGIL_TEST_UNSET_TOKEN_VAR"), "{err}");
        let err = receivers(
            r#"
            [[receivers]]
            name = "mail"
            [[receivers.email]]
            to = ["ops@example.com"]
            from = "vigil@example.com"
            host = "127.0.0.1"
            tls = "none"
            subject = "{{ .Alertz }}"
            "#,
        )
        .unwrap_err();
        assert!(err.contains("(\"mail\").email[0].subject"), "{err}");
        assert!(err.contains("Alertz"), "{err}");
    }

    #[test]
    fn a_url_read_from_a_file_is_checked_for_clear_text_credentials_too() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("url");
        std::fs::write(&url, "http://hooks.example.com/T0k3nInPath").unwrap();
        let err = receivers(&format!(
            "[[receivers]]\nname = \"pager\"\n[[receivers.webhook]]\nurl = {{ file = {:?} }}\n\
             headers = {{ Authorization = \"Bearer s3cr3t-t0k3n\" }}\n",
            url.display().to_string()
        ))
        .unwrap_err();
        assert!(
            err.starts_with("notify.receivers[0] (\"pager\").webhook[0].url: "),
            "{err}"
        );
        assert!(err.contains("allow_insecure = true"), "{err}");
        assert!(
            !err.contains("s3cr3t-t0k3n") && !err.contains("T0k3nInPath"),
            "{err}"
        );
    }
}
