//! The receivers of `[[notify.receivers]]`, built once from the configuration (secrets
//! read then), and the integrations that deliver: email, webhook, alertmanager.

use super::config::NotifyConfig;
use super::model::{Notification, Outcome};
use std::collections::BTreeMap;

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
#[derive(Debug)]
pub struct Integration {
    kind: &'static str,
    describe: String,
}

impl Receivers {
    /// Builds every receiver, reading secrets; the error names the receiver and what failed.
    pub fn from_config(config: &NotifyConfig) -> Result<Self, String> {
        let mut by_name = BTreeMap::new();
        for r in &config.receivers {
            let mut integrations = Vec::new();
            for e in &r.email {
                integrations.push(Integration {
                    kind: "email",
                    describe: format!("email to {} via {}:{}", e.to.join(", "), e.host, e.port),
                });
            }
            for _ in &r.webhook {
                integrations.push(Integration {
                    kind: "webhook",
                    describe: "webhook".into(),
                });
            }
            for a in &r.alertmanager {
                integrations.push(Integration {
                    kind: "alertmanager",
                    describe: format!("alertmanager at {}", a.url),
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
    /// `"email"`, `"webhook"` or `"alertmanager"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether it takes refresh notifications (`Notification::refresh`: nothing changed):
    /// only alertmanager, which ends alerts it does not hear about again.
    pub fn takes_refresh(&self) -> bool {
        self.kind == "alertmanager"
    }

    /// Where it delivers, for logs and `vigil notify test` (never a secret).
    pub fn describe(&self) -> String {
        self.describe.clone()
    }

    /// Makes one delivery attempt, bounded by the integration's timeout.
    pub async fn send(&self, notification: &Notification) -> Outcome {
        let _ = notification;
        Outcome::Retry {
            error: format!("{} delivery is not built yet", self.kind),
        }
    }
}
