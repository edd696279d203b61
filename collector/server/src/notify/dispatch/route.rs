//! The route tree of `[notify.route]`, as Alertmanager walks it.
//!
//! The root takes every alert. A route that matches tries its children in order; the first
//! child that takes the alert ends the search unless that child has `continue = true`, in
//! which case the following siblings are tried too. A matching route none of whose
//! children takes the alert takes it itself. So an alert lands on one route or more, each
//! naming one receiver. Unset fields inherit from the parent; the root's defaults are
//! Alertmanager's (one group per route, 30s, 5m, 4h).

use super::super::config::{RouteConfig, RouteMode};
use super::super::model::LabelMap;
use std::time::Duration;
use vigil_rules::matchers::Matchers;

const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// Which labels split a route's alerts into groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by = ["..."]`: every label, so each alert is its own group.
    All,
    /// These labels (none: one group for the whole route).
    Labels(Vec<String>),
}

impl GroupBy {
    /// The labels of `alert` that name its group.
    pub fn group_labels(&self, alert: &LabelMap) -> LabelMap {
        match self {
            GroupBy::All => alert.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| alert.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// One route with every setting resolved (inherited or defaulted).
#[derive(Debug, Clone)]
pub struct Route {
    /// Alertmanager's route key: the matchers of each route from the root down, such as
    /// `{}/{severity="critical"}`. Part of the group key, and so of the notification log's
    /// key: editing a route's place in the tree does not reset the log, editing its
    /// matchers does.
    pub key: String,
    /// Receives this route's notifications.
    pub receiver: String,
    /// What an alert must satisfy to take this route (nothing for the root).
    pub matchers: Matchers,
    /// How the route's alerts are grouped.
    pub group_by: GroupBy,
    /// Wait before the first notification of a new group.
    pub group_wait_ms: i64,
    /// Wait between two notifications of a group about changes.
    pub group_interval_ms: i64,
    /// Wait before an unchanged notification is sent again.
    pub repeat_interval_ms: i64,
    /// Go on with the following siblings after this route took an alert.
    pub continue_matching: bool,
    /// `mode = "incident"`: its receiver hears of incidents, not of alert groups.
    pub incident: bool,
    /// Indexes of the children in [`RouteTree::routes`], in order.
    pub children: Vec<usize>,
}

/// The whole tree, flattened: the root is at index 0.
#[derive(Debug, Clone)]
pub struct RouteTree {
    /// Every route; indexes are stable for the life of the dispatcher.
    pub routes: Vec<Route>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RouteTree {
    /// Builds the tree from a validated root route; the error names a bad matcher.
    pub fn new(root: &RouteConfig) -> Result<Self, String> {
        let defaults = Route {
            key: String::new(),
            receiver: String::new(),
            matchers: Matchers::default(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait_ms: ms(DEFAULT_GROUP_WAIT),
            group_interval_ms: ms(DEFAULT_GROUP_INTERVAL),
            repeat_interval_ms: ms(DEFAULT_REPEAT_INTERVAL),
            continue_matching: false,
            incident: false,
            children: Vec::new(),
        };
        let mut tree = Self { routes: Vec::new() };
        tree.add(root, &defaults, "notify.route")?;
        Ok(tree)
    }

    fn add(&mut self, config: &RouteConfig, parent: &Route, at: &str) -> Result<usize, String> {
        let matchers = Matchers::parse(&config.matchers).map_err(|e| format!("{at}: {e}"))?;
        let mut sorted: Vec<String> = matchers.0.iter().map(ToString::to_string).collect();
        sorted.sort();
        let own_key = format!("{{{}}}", sorted.join(","));
        let key = if parent.key.is_empty() {
            own_key
        } else {
            format!("{}/{own_key}", parent.key)
        };
        let route = Route {
            key,
            receiver: config
                .receiver
                .clone()
                .unwrap_or_else(|| parent.receiver.clone()),
            matchers,
            group_by: match &config.group_by {
                None => parent.group_by.clone(),
                Some(names) if names.iter().any(|n| n == "...") => GroupBy::All,
                Some(names) => GroupBy::Labels(names.clone()),
            },
            group_wait_ms: config.group_wait.map_or(parent.group_wait_ms, ms),
            group_interval_ms: config.group_interval.map_or(parent.group_interval_ms, ms),
            repeat_interval_ms: config.repeat_interval.map_or(parent.repeat_interval_ms, ms),
            continue_matching: config.continue_matching,
            incident: config
                .mode
                .map_or(parent.incident, |m| m == RouteMode::Incident),
            children: Vec::new(),
        };
        let index = self.routes.len();
        self.routes.push(route.clone());
        for (i, child) in config.routes.iter().enumerate() {
            let child = self.add(child, &route, &format!("{at}.routes[{i}]"))?;
            self.routes[index].children.push(child);
        }
        Ok(index)
    }

    /// The routes that take an alert with `labels`, in tree order.
    pub fn matching(&self, labels: &LabelMap) -> Vec<usize> {
        let mut out = Vec::new();
        self.walk(0, labels, &mut out);
        out
    }

    /// The receivers of the `mode = "incident"` routes that take an alert with `labels`.
    pub fn incident_receivers(&self, labels: &LabelMap) -> Vec<&str> {
        self.matching(labels)
            .into_iter()
            .filter(|&i| self.routes[i].incident)
            .map(|i| self.routes[i].receiver.as_str())
            .collect()
    }

    /// Whether any route is in `mode = "incident"`.
    pub fn has_incident_routes(&self) -> bool {
        self.routes.iter().any(|r| r.incident)
    }

    /// Adds the routes under `index` that take the alert; false when `index` itself does
    /// not match.
    fn walk(&self, index: usize, labels: &LabelMap, out: &mut Vec<usize>) -> bool {
        let route = &self.routes[index];
        if !route.matchers.matches(labels) {
            return false;
        }
        let before = out.len();
        for &child in &route.children {
            if self.walk(child, labels, out) && !self.routes[child].continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(index);
        }
        true
    }
}

/// Alertmanager's group key: the route key, `:`, and the group labels as Prometheus
/// writes a label set (`{alertname="X", host="a"}`).
pub fn group_key(route_key: &str, group_labels: &LabelMap) -> String {
    format!("{route_key}:{}", label_set(group_labels))
}

/// `{name="value", …}` with Go's quoting, as `model.LabelSet.String` writes it.
pub fn label_set(labels: &LabelMap) -> String {
    let pairs: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn tree(toml_text: &str) -> RouteTree {
        let config: RouteConfig = toml::from_str(toml_text).unwrap();
        RouteTree::new(&config).unwrap()
    }

    const TREE: &str = r#"
        receiver = "default"
        group_by = ["alertname"]
        group_wait = "10s"
        [[routes]]
        matchers = ['severity="critical"']
        receiver = "pager"
        continue = true
        group_by = ["..."]
        [[routes]]
        matchers = ['team="db"', 'env=~"prod|staging"']
        receiver = "db"
        repeat_interval = "1h"
        [[routes.routes]]
        matchers = ['alertname="DiskFull"']
        receiver = "storage"
        [[routes]]
        matchers = ['team="db"']
        receiver = "never"
    "#;

    fn receivers(t: &RouteTree, l: &LabelMap) -> Vec<String> {
        t.matching(l)
            .into_iter()
            .map(|i| t.routes[i].receiver.clone())
            .collect()
    }

    #[test]
    fn first_match_wins_continue_goes_on_parent_takes_the_rest() {
        let t = tree(TREE);
        assert_eq!(receivers(&t, &labels(&[("alertname", "X")])), ["default"]);
        // A child took it, so the parent does not (continue only goes on to siblings).
        assert_eq!(
            receivers(&t, &labels(&[("severity", "critical")])),
            ["pager"]
        );
        assert_eq!(
            receivers(&t, &labels(&[("team", "db"), ("env", "prod")])),
            ["db"]
        );
        assert_eq!(
            receivers(
                &t,
                &labels(&[("team", "db"), ("env", "prod"), ("severity", "critical")])
            ),
            ["pager", "db"]
        );
        assert_eq!(
            receivers(
                &t,
                &labels(&[("team", "db"), ("env", "prod"), ("alertname", "DiskFull")])
            ),
            ["storage"]
        );
        // team=db without a matching env skips the db route; the next sibling takes it.
        assert_eq!(receivers(&t, &labels(&[("team", "db")])), ["never"]);
    }

    #[test]
    fn unset_fields_inherit_and_keys_read_like_alertmanager() {
        let t = tree(TREE);
        let root = &t.routes[0];
        assert_eq!(root.key, "{}");
        assert_eq!(root.group_wait_ms, 10_000);
        assert_eq!(root.group_interval_ms, 300_000);
        assert_eq!(root.repeat_interval_ms, 4 * 3600 * 1000);
        let pager = &t.routes[1];
        assert_eq!(pager.key, r#"{}/{severity="critical"}"#);
        assert_eq!(pager.group_by, GroupBy::All);
        assert_eq!(pager.group_wait_ms, 10_000);
        let db = &t.routes[2];
        assert_eq!(db.key, r#"{}/{env=~"prod|staging",team="db"}"#);
        let storage = &t.routes[3];
        assert_eq!(
            storage.key,
            r#"{}/{env=~"prod|staging",team="db"}/{alertname="DiskFull"}"#
        );
        assert_eq!(storage.repeat_interval_ms, 3_600_000);
        assert_eq!(
            storage.group_by,
            GroupBy::Labels(vec!["alertname".to_owned()])
        );
        let l = labels(&[("alertname", "X"), ("host", "a")]);
        assert_eq!(
            group_key(&pager.key, &pager.group_by.group_labels(&l)),
            r#"{}/{severity="critical"}:{alertname="X", host="a"}"#
        );
        assert_eq!(
            group_key(&root.key, &root.group_by.group_labels(&l)),
            r#"{}:{alertname="X"}"#
        );
    }

    #[test]
    fn root_defaults_to_one_group() {
        let t = tree("receiver = \"a\"");
        let r = &t.routes[0];
        assert_eq!(r.group_by, GroupBy::Labels(Vec::new()));
        assert_eq!(
            group_key(&r.key, &r.group_by.group_labels(&labels(&[("x", "1")]))),
            "{}:{}"
        );
        assert_eq!(r.group_wait_ms, 30_000);
    }
}
