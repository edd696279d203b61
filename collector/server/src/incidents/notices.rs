//! From incident changes to notifications: the receivers of `mode = "incident"` routes
//! (every ticket integration among them) hear of each incident's steps, written to the
//! outbox in the same store write as the incident itself, so `kill -9` neither loses nor
//! repeats one.
//!
//! A receiver takes an incident when a route in `mode = "incident"` takes one of its
//! alerts. The first step it hears of is `opened` (a receiver whose route only takes a
//! later alert hears `opened` then); after that, each step that changes the incident:
//!
//! ```text
//!  timeline entries of one change        step          email/webhook   tickets
//!  opened                                opened        yes             create
//!  resolved                              resolved      send_resolved   resolve
//!  escalated                             escalated     yes             comment + priority
//!  joined                                updated       -               comment
//!  reopened                              reopened      -               comment
//!  acknowledged                          acknowledged  -               comment
//!  alert_resolved, quiet                 (none)
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Change, Event};
use crate::notify::dispatch::route::RouteTree;
use crate::notify::model::{Alert, IncidentNotice, Notification, Step};
use crate::notify::outbox::Outbox;
use crate::notify::receivers::Receivers;
use crate::notify::tickets::book::TicketBook;

/// Where incident notifications go: the notifier's routes, receivers and outbox.
pub struct Sink {
    /// The route tree (its `mode = "incident"` routes).
    pub tree: RouteTree,
    /// The receivers.
    pub receivers: Arc<Receivers>,
    /// The outbox.
    pub outbox: Arc<Outbox>,
    /// Correlation values and the tickets opened.
    pub book: Arc<TicketBook>,
    /// `notify.external_url`.
    pub external_url: String,
}

/// The step a change makes, if it is one receivers hear of.
pub fn step_of(change: &Change) -> Option<Step> {
    let has = |f: fn(&Event) -> bool| change.added.iter().any(|e| f(&e.event));
    if has(|e| matches!(e, Event::Opened { .. })) {
        Some(Step::Opened)
    } else if has(|e| matches!(e, Event::Resolved)) {
        Some(Step::Resolved)
    } else if has(|e| matches!(e, Event::Escalated { .. })) {
        Some(Step::Escalated)
    } else if has(|e| matches!(e, Event::Joined { .. })) {
        Some(Step::Updated)
    } else if has(|e| matches!(e, Event::Reopened)) {
        Some(Step::Reopened)
    } else if has(|e| matches!(e, Event::Acknowledged { .. })) {
        Some(Step::Acknowledged)
    } else {
        None
    }
}

impl Sink {
    /// The notifications of `change` (which gains the receivers told it opened).
    pub fn notices(&self, change: &mut Change, now_ms: i64) -> Vec<Notification> {
        let Some(step) = step_of(change) else {
            return Vec::new();
        };
        let incident = &change.incident;
        let mut wanted: BTreeSet<String> = incident
            .alerts
            .iter()
            .flat_map(|a| self.tree.incident_receivers(&a.labels))
            .filter(|r| self.receivers.get(r).is_some())
            .map(str::to_owned)
            .collect();
        wanted.extend(incident.notified.iter().cloned());
        let mut out = Vec::new();
        let mut told = Vec::new();
        for receiver in wanted {
            let heard = incident.notified.contains(&receiver);
            let step = match (heard, step) {
                (false, Step::Resolved) => continue,
                (false, _) => {
                    told.push(receiver.clone());
                    Step::Opened
                }
                (true, Step::Opened) => continue,
                (true, step) => step,
            };
            out.push(self.notification(&receiver, step, change, now_ms));
        }
        change.incident.notified.extend(told);
        out
    }

    fn notification(
        &self,
        receiver: &str,
        step: Step,
        change: &Change,
        now_ms: i64,
    ) -> Notification {
        let i = &change.incident;
        let mut alerts: Vec<Alert> = i
            .alerts
            .iter()
            .map(|a| Alert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at_ms: a.starts_at_ms,
                ends_at_ms: a.resolved_ms,
                generator_url: String::new(),
            })
            .collect();
        alerts.sort_by_key(Alert::resolved);
        Notification {
            receiver: receiver.to_owned(),
            // One group per incident: the outbox sends an incident's steps in order.
            group_key: format!("incident:{}", i.id),
            group_labels: [("incident".to_owned(), i.id.to_string())].into(),
            alerts,
            external_url: self.external_url.clone(),
            created_ms: now_ms,
            test: false,
            refresh: false,
            group_interval_ms: 0,
            incident: Some(Box::new(IncidentNotice {
                step,
                incident: i.clone(),
                added: change.added.clone(),
                correlation: self.book.correlation(i.id),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IncidentsConfig;
    use crate::incidents::runtime::Incidents;
    use crate::notify::config::NotifyConfig;
    use crate::notify::metrics::NotifyMetrics;
    use vigil_store::memory::MemoryStore;
    use vigil_store::{Space, Store};

    const T0: i64 = 1_700_000_000_000;

    fn alert(name: &str, host: &str, severity: &str, ends: Option<i64>) -> Alert {
        Alert {
            labels: [("alertname", name), ("host", host), ("severity", severity)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            annotations: Default::default(),
            starts_at_ms: T0,
            ends_at_ms: ends,
            generator_url: String::new(),
        }
    }

    /// `ops` hears alert groups; `desk` (critical only) and `chat` hear incidents.
    fn runtime() -> (Incidents, Arc<Outbox>, Arc<dyn Store>) {
        let config: NotifyConfig = toml::from_str(
            r#"
            [[receivers]]
            name = "ops"
            [[receivers.webhook]]
            url = "http://127.0.0.1:9/ops"
            [[receivers]]
            name = "desk"
            [[receivers.webhook]]
            url = "http://127.0.0.1:9/desk"
            [[receivers]]
            name = "chat"
            send_resolved = false
            [[receivers.webhook]]
            url = "http://127.0.0.1:9/chat"
            [route]
            receiver = "ops"
            [[route.routes]]
            matchers = ['severity="critical"']
            receiver = "desk"
            mode = "incident"
            continue = true
            [[route.routes]]
            receiver = "chat"
            mode = "incident"
            continue = true
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let receivers = Arc::new(Receivers::from_config(&config).unwrap());
        let outbox = Arc::new(
            Outbox::open(
                store.clone(),
                receivers.clone(),
                config.delivery.clone(),
                Arc::new(NotifyMetrics::default()),
            )
            .unwrap(),
        );
        let sink = Sink {
            tree: RouteTree::new(config.route.as_ref().unwrap()).unwrap(),
            receivers,
            outbox: outbox.clone(),
            book: Arc::new(TicketBook::in_memory("0a0b0c0d")),
            external_url: "https://vigil.example.com".into(),
        };
        let incidents = Incidents::open(&IncidentsConfig::default(), store.clone(), Some(sink));
        (incidents.unwrap(), outbox, store)
    }

    fn waiting(outbox: &Outbox) -> Vec<(String, Step, u64)> {
        outbox
            .waiting()
            .into_iter()
            .map(|w| {
                let notice = w.entry.notification.incident.unwrap();
                (w.entry.receiver, notice.step, notice.incident.id)
            })
            .collect()
    }

    #[test]
    fn an_incident_is_told_when_it_opens_escalates_and_resolves_to_the_routes_that_take_it() {
        let (incidents, outbox, store) = runtime();
        let warn: Vec<Alert> = ["DiskFull", "SwapFull", "LoadHigh"]
            .into_iter()
            .map(|name| alert(name, "db-0", "warning", None))
            .collect();
        incidents.observe(&warn, T0);
        incidents.tick(T0 + 31_000);
        // Not critical: only chat hears it opened.
        assert_eq!(waiting(&outbox), [("chat".to_owned(), Step::Opened, 1)]);
        let n = &outbox.waiting()[0].entry.notification;
        assert_eq!(n.group_key, "incident:1");
        assert_eq!(n.incident.as_ref().unwrap().correlation, "vigil-0a0b0c0d-1");
        // The incident's record, written with the entry, knows chat was told.
        let saved = super::super::store::load(store.as_ref()).unwrap().0;
        assert!(saved.incidents[0].notified.contains("chat"));

        // A critical alert of the same host joins: chat hears of the escalation, desk
        // (whose route takes the critical alert) hears it opened.
        let mut more = warn.clone();
        more.push(alert("HostDown", "db-0", "critical", None));
        incidents.observe(&more, T0 + 60_000);
        let told = waiting(&outbox);
        assert_eq!(
            told[1..],
            [
                ("chat".to_owned(), Step::Escalated, 1),
                ("desk".to_owned(), Step::Opened, 1)
            ]
        );

        // Every alert resolves; after the quiet period the incident resolves: desk hears
        // it, chat (send_resolved = false) does not get an email or webhook.
        let done: Vec<Alert> = more
            .iter()
            .cloned()
            .map(|mut a| {
                a.ends_at_ms = Some(T0 + 120_000);
                a
            })
            .collect();
        incidents.observe(&done, T0 + 120_000);
        assert_eq!(waiting(&outbox).len(), 3, "alerts resolving tell nobody");
        incidents.tick(T0 + 120_000 + 601_000);
        assert_eq!(
            waiting(&outbox)[3..],
            [("desk".to_owned(), Step::Resolved, 1)]
        );
        assert!(store.kv_scan(Space::Outbox).unwrap().len() == 4);
    }

    #[test]
    fn alert_groups_skip_incident_routes() {
        let config: NotifyConfig = toml::from_str(
            "[[receivers]]\nname = \"a\"\n[[receivers.webhook]]\nurl = \"http://127.0.0.1:9/\"\n\
             [route]\nreceiver = \"a\"\nmode = \"incident\"\n",
        )
        .unwrap();
        let tree = RouteTree::new(config.route.as_ref().unwrap()).unwrap();
        let labels = alert("X", "h", "info", None).labels;
        assert_eq!(tree.incident_receivers(&labels), ["a"]);
        assert!(tree.routes[0].incident);
    }
}
