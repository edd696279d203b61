//! The dispatcher's rules with made-up times: grouping, timers, dedup, resolved alerts,
//! silences, inhibition and refreshes; restarts and the bound on held alerts are in
//! `restart`.

mod restart;

use super::*;
use crate::notify::config::{InhibitRuleConfig, RouteConfig};
use crate::notify::model::Notification;
use vigil_store::Space;

const S: i64 = 1000;

fn labels(pairs: &[(&str, &str)]) -> LabelMap {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn firing(name: &str, host: &str, starts: i64) -> Alert {
    Alert {
        labels: labels(&[("alertname", name), ("host", host)]),
        annotations: labels(&[("summary", &format!("{name} on {host}"))]),
        starts_at_ms: starts,
        ends_at_ms: None,
        generator_url: String::new(),
    }
}

fn with(mut alert: Alert, name: &str, value: &str) -> Alert {
    alert.labels.insert(name.to_owned(), value.to_owned());
    alert
}

fn resolved(alert: &Alert, at: i64) -> Alert {
    Alert {
        ends_at_ms: Some(at),
        ..alert.clone()
    }
}

/// Group by alertname, wait 10 s, interval 60 s, repeat 1 h; critical also to "pager".
const ROUTES: &str = r#"
    receiver = "ops"
    group_by = ["alertname"]
    group_wait = "10s"
    group_interval = "60s"
    repeat_interval = "1h"
    [[routes]]
    matchers = ['severity="critical"']
    receiver = "pager"
    continue = true
    [[routes]]
    matchers = ['team="quiet"']
    receiver = "quiet"
"#;

fn state_with(routes: &str, inhibit: &[InhibitRuleConfig], max: usize) -> State {
    let config: RouteConfig = toml::from_str(routes).unwrap();
    let rules = inhibit
        .iter()
        .map(|r| InhibitRule::new(r).unwrap())
        .collect();
    State::new(
        super::super::route::RouteTree::new(&config).unwrap(),
        rules,
        "https://vigil.example".into(),
        max,
    )
}

fn state() -> State {
    state_with(ROUTES, &[], 1000)
}

/// ops, pager: send resolved; quiet: does not; am: takes refreshes.
fn traits(name: &str) -> ReceiverTraits {
    ReceiverTraits {
        send_resolved: name != "quiet",
        needs_refresh: name == "am",
    }
}

fn not_silenced(_: &LabelMap) -> bool {
    false
}

/// Plans and commits a flush at `now`; returns the notifications.
fn flush(state: &mut State, now: i64) -> Vec<Notification> {
    flush_with(state, now, &not_silenced)
}

fn flush_with(
    state: &mut State,
    now: i64,
    silenced: &dyn Fn(&LabelMap) -> bool,
) -> Vec<Notification> {
    let plan = state.plan(now, silenced, &traits);
    let notifications = plan.notifications.clone();
    state.commit(plan, now);
    notifications
}

fn hosts(n: &Notification) -> Vec<(String, &'static str)> {
    n.alerts
        .iter()
        .map(|a| {
            (
                a.labels["host"].clone(),
                if a.resolved() { "resolved" } else { "firing" },
            )
        })
        .collect()
}

#[test]
fn a_group_waits_then_sends_all_its_alerts_at_once() {
    let mut s = state();
    for (i, host) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        s.observe(vec![firing("CpuHigh", host, i as i64 * S)], i as i64 * S);
    }
    assert!(flush(&mut s, 9 * S).is_empty(), "group_wait has not passed");
    let sent = flush(&mut s, 10 * S);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let n = &sent[0];
    assert_eq!(n.receiver, "ops");
    assert_eq!(n.group_key, r#"{}:{alertname="CpuHigh"}"#);
    assert_eq!(n.group_labels, labels(&[("alertname", "CpuHigh")]));
    assert_eq!(n.alerts.len(), 5);
    assert_eq!(n.external_url, "https://vigil.example");
    assert_eq!(n.group_interval_ms, 60 * S);
    assert!(!n.refresh && !n.test);
    assert_eq!(n.created_ms, 10 * S);
    // Another alert name is another group.
    s.observe(vec![firing("DiskFull", "a", 20 * S)], 20 * S);
    let sent = flush(&mut s, 30 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].group_key, r#"{}:{alertname="DiskFull"}"#);
}

#[test]
fn changes_wait_for_the_group_interval_and_unchanged_alerts_for_the_repeat_interval() {
    let mut s = state();
    s.observe(vec![firing("CpuHigh", "a", 0)], 0);
    assert_eq!(flush(&mut s, 10 * S).len(), 1);
    // A new alert of the group: sent at the next group interval, with the old one.
    s.observe(
        vec![firing("CpuHigh", "a", 0), firing("CpuHigh", "b", 20 * S)],
        20 * S,
    );
    assert!(flush(&mut s, 69 * S).is_empty());
    let sent = flush(&mut s, 70 * S);
    assert_eq!(
        hosts(&sent[0]),
        [("a".into(), "firing"), ("b".into(), "firing")]
    );
    // Nothing changes: nothing until the repeat interval (1 h after the last one).
    let mut now = 70 * S;
    let mut repeats = Vec::new();
    while now < 70 * S + 3600 * S {
        now += 60 * S;
        for n in flush(&mut s, now) {
            repeats.push((now, n.alerts.len()));
        }
    }
    assert_eq!(repeats, [(70 * S + 3600 * S, 2)]);
    // Annotations changing is not news.
    let mut a = firing("CpuHigh", "a", 0);
    a.annotations.insert("summary".into(), "now 99%".into());
    s.observe(vec![a], now + S);
    assert!(flush(&mut s, now + 60 * S).is_empty());
}

#[test]
fn resolved_alerts_go_to_receivers_that_want_them_then_leave() {
    let mut s = state();
    let a = firing("CpuHigh", "a", 0);
    let b = firing("CpuHigh", "b", 0);
    let q = with(firing("Batch", "a", 0), "team", "quiet");
    s.observe(vec![a.clone(), b.clone(), q.clone()], 0);
    assert_eq!(flush(&mut s, 10 * S).len(), 2);
    s.observe(
        vec![resolved(&a, 30 * S), b.clone(), resolved(&q, 30 * S)],
        30 * S,
    );
    let sent = flush(&mut s, 70 * S);
    assert_eq!(
        sent.len(),
        1,
        "quiet does not want resolved alerts: {sent:?}"
    );
    assert_eq!(sent[0].status(), "firing");
    assert_eq!(
        hosts(&sent[0]),
        [("b".into(), "firing"), ("a".into(), "resolved")]
    );
    assert_eq!(sent[0].alerts[1].ends_at_ms, Some(30 * S));
    // The resolved alert left its group; the quiet group is gone.
    assert_eq!(s.alert_count(), 1);
    assert!(flush(&mut s, 130 * S).is_empty());
    s.observe(vec![resolved(&b, 140 * S)], 140 * S);
    let sent = flush(&mut s, 190 * S);
    assert_eq!(sent[0].status(), "resolved");
    assert_eq!(hosts(&sent[0]), [("b".into(), "resolved")]);
    assert_eq!(s.alert_count(), 0);
    assert!(flush(&mut s, 10_000 * S).is_empty());
}

#[test]
fn an_alert_that_fires_and_resolves_unseen_is_not_announced() {
    let mut s = state();
    let a = firing("CpuHigh", "a", 0);
    s.observe(vec![a.clone()], 0);
    s.observe(vec![resolved(&a, 5 * S)], 5 * S);
    assert!(flush(&mut s, 10 * S).is_empty());
    assert_eq!(s.alert_count(), 0);
    // A resolution for an alert never seen is ignored.
    s.observe(vec![resolved(&firing("CpuHigh", "z", 0), 20 * S)], 20 * S);
    assert_eq!(s.alert_count(), 0);
}

#[test]
fn an_alert_that_fires_again_is_news() {
    let mut s = state();
    let a = firing("CpuHigh", "a", 0);
    let b = firing("CpuHigh", "b", 0);
    let q = with(firing("Batch", "a", 0), "team", "quiet");
    let q2 = with(firing("Batch", "b", 0), "team", "quiet");
    s.observe(vec![a.clone(), b.clone(), q.clone(), q2.clone()], 0);
    assert_eq!(flush(&mut s, 10 * S).len(), 2);
    // q resolves (quiet does not hear of it) and fires again with a new start.
    s.observe(vec![resolved(&q, 20 * S)], 20 * S);
    assert!(flush(&mut s, 70 * S).is_empty());
    s.observe(
        vec![firing("Batch", "a", 80 * S).clone()]
            .into_iter()
            .map(|x| with(x, "team", "quiet"))
            .collect(),
        80 * S,
    );
    let sent = flush(&mut s, 130 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].receiver, "quiet");
    assert_eq!(sent[0].alerts.len(), 2);
}

#[test]
fn routes_send_critical_alerts_to_the_pager_and_continue_to_the_next_sibling() {
    let routes = r#"
        receiver = "ops"
        group_by = ["alertname"]
        group_wait = "10s"
        [[routes]]
        matchers = ['severity="critical"']
        receiver = "pager"
        continue = true
        [[routes]]
        matchers = ['team="db"']
        receiver = "db"
    "#;
    let mut s = state_with(routes, &[], 100);
    let critical = with(firing("CpuHigh", "a", 0), "severity", "critical");
    let both = with(
        with(firing("DiskFull", "a", 0), "severity", "critical"),
        "team",
        "db",
    );
    s.observe(vec![critical, both, firing("Other", "a", 0)], 0);
    let mut sent: Vec<(String, String)> = flush(&mut s, 10 * S)
        .into_iter()
        .map(|n| (n.receiver, n.group_key))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            (
                "db".into(),
                r#"{}/{team="db"}:{alertname="DiskFull"}"#.into()
            ),
            ("ops".into(), r#"{}:{alertname="Other"}"#.into()),
            (
                "pager".into(),
                r#"{}/{severity="critical"}:{alertname="CpuHigh"}"#.into()
            ),
            (
                "pager".into(),
                r#"{}/{severity="critical"}:{alertname="DiskFull"}"#.into()
            ),
        ]
    );
}

#[test]
fn silenced_alerts_are_left_out_and_sent_once_the_silence_ends() {
    let mut s = state();
    s.observe(
        vec![firing("CpuHigh", "a", 0), firing("CpuHigh", "b", 0)],
        0,
    );
    let silence_b = |l: &LabelMap| l.get("host").is_some_and(|h| h == "b");
    let sent = flush_with(&mut s, 10 * S, &silence_b);
    assert_eq!(hosts(&sent[0]), [("a".into(), "firing")]);
    assert!(flush_with(&mut s, 70 * S, &silence_b).is_empty());
    let sent = flush(&mut s, 130 * S);
    assert_eq!(
        hosts(&sent[0]),
        [("a".into(), "firing"), ("b".into(), "firing")]
    );
    // Everything silenced: nothing is sent and the log stays.
    let all = |_: &LabelMap| true;
    assert!(flush_with(&mut s, 190 * S, &all).is_empty());
    assert!(flush(&mut s, 250 * S).is_empty());
}

#[test]
fn a_down_host_inhibits_its_other_alerts() {
    let rule = InhibitRuleConfig {
        source_matchers: vec![r#"alertname="HostDown""#.into()],
        target_matchers: vec![r#"alertname!="HostDown""#.into()],
        equal: vec!["host".into()],
    };
    let mut s = state_with(ROUTES, &[rule], 1000);
    let down = firing("HostDown", "a", 0);
    s.observe(
        vec![
            down.clone(),
            firing("CpuHigh", "a", 0),
            firing("CpuHigh", "b", 0),
        ],
        0,
    );
    assert_eq!(
        s.inhibited_by(&firing("CpuHigh", "a", 0).labels),
        [r#"HostDown{host="a"}"#]
    );
    assert!(s.inhibited_by(&down.labels).is_empty());
    let mut sent = flush(&mut s, 10 * S);
    sent.sort_by(|x, y| x.group_key.cmp(&y.group_key));
    assert_eq!(sent.len(), 2);
    assert_eq!(hosts(&sent[0]), [("b".into(), "firing")]);
    assert_eq!(sent[1].group_labels["alertname"], "HostDown");
    // The host comes back: its alert is no longer muted.
    s.observe(vec![resolved(&down, 20 * S)], 20 * S);
    assert!(s.inhibited_by(&firing("CpuHigh", "a", 0).labels).is_empty());
    let sent = flush(&mut s, 70 * S);
    assert_eq!(sent.len(), 2, "{sent:?}");
}

#[test]
fn alertmanager_receivers_get_unchanged_alerts_at_every_interval() {
    let mut s = state_with(
        "receiver = \"am\"\ngroup_wait = \"10s\"\ngroup_interval = \"60s\"\nrepeat_interval = \"1h\"",
        &[],
        1000,
    );
    s.observe(vec![firing("CpuHigh", "a", 0)], 0);
    let first = flush(&mut s, 10 * S);
    assert!(!first[0].refresh);
    let again = flush(&mut s, 70 * S);
    assert_eq!(again.len(), 1);
    assert!(again[0].refresh);
    assert_eq!(again[0].alerts.len(), 1);
    // A refresh does not push the repeat back.
    for minute in 2..60 {
        assert!(flush(&mut s, 10 * S + minute * 60 * S)[0].refresh);
    }
    assert!(!flush(&mut s, 10 * S + 3600 * S)[0].refresh);
}

#[test]
fn group_by_everything_makes_one_group_per_alert_and_old_alerts_do_not_wait() {
    let mut s = state_with(
        "receiver = \"ops\"\ngroup_by = [\"...\"]\ngroup_wait = \"30s\"",
        &[],
        10,
    );
    // Started 40 s ago (longer than group_wait): sent at once.
    s.observe(vec![firing("A", "a", 0), firing("A", "b", 0)], 40 * S);
    let sent = flush(&mut s, 40 * S);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].group_key, r#"{}:{alertname="A", host="a"}"#);
}

#[test]
fn after_the_clock_goes_back_an_hour_a_new_alert_waits_one_group_interval_not_the_hour() {
    let mut s = state();
    let t = 10 * 3600 * S;
    s.observe(vec![firing("CpuHigh", "a", t)], t);
    assert_eq!(flush(&mut s, t + 10 * S).len(), 1);
    // The clock steps back an hour; a new alert joins the group.
    let back = t + 20 * S - 3600 * S;
    s.observe(
        vec![firing("CpuHigh", "a", t), firing("CpuHigh", "b", back)],
        back,
    );
    assert!(flush(&mut s, back).is_empty());
    let sent = flush(&mut s, back + 60 * S);
    assert_eq!(
        sent.len(),
        1,
        "the group flushed one interval later, not an hour later"
    );
    assert_eq!(
        hosts(&sent[0]),
        [("a".into(), "firing"), ("b".into(), "firing")]
    );
}
