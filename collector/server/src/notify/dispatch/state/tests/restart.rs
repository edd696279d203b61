//! What survives and what is bounded: a restart reloading the saved alerts and log, a
//! flush whose write failed, alerts whose resolution never came, and the cap on held
//! alerts.

use super::*;

/// Applies ops to a map, as the store would.
fn apply(saved: &mut BTreeMap<(Space, Vec<u8>), Vec<u8>>, ops: &[KvOp]) {
    for op in ops {
        match &op.value {
            Some(v) => saved.insert((op.space, op.key.clone()), v.clone()),
            None => saved.remove(&(op.space, op.key.clone())),
        };
    }
}

fn reload(saved: &BTreeMap<(Space, Vec<u8>), Vec<u8>>, now: i64) -> State {
    let scan = |space: Space| {
        saved
            .iter()
            .filter(|((s, _), _)| *s == space)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut s = state();
    s.load(scan(Space::NotifyAlerts), scan(Space::NotifyLog), now);
    s
}

/// Plans a flush, saves its writes, commits it.
fn durable_flush(
    s: &mut State,
    saved: &mut BTreeMap<(Space, Vec<u8>), Vec<u8>>,
    now: i64,
) -> Vec<Notification> {
    let plan = s.plan(now, &not_silenced, &traits);
    apply(saved, &plan.ops);
    let sent = plan.notifications.clone();
    s.commit(plan, now);
    sent
}

#[test]
fn a_restart_neither_repeats_nor_loses_a_notification() {
    let mut saved = BTreeMap::new();
    let mut s = state();
    let a = firing("CpuHigh", "a", 0);
    let b = firing("CpuHigh", "b", 0);
    apply(&mut saved, &s.observe(vec![a.clone(), b.clone()], 0));
    assert_eq!(durable_flush(&mut s, &mut saved, 10 * S).len(), 1);
    // Restart: a and b still fire; nothing is sent again before the repeat interval.
    let mut s = reload(&saved, 20 * S);
    assert_eq!(s.alert_count(), 2);
    apply(&mut saved, &s.observe(vec![a.clone(), b.clone()], 21 * S));
    for t in [20, 30, 90, 150] {
        assert!(
            durable_flush(&mut s, &mut saved, t * S).is_empty(),
            "at {t}s"
        );
    }
    // b resolves, and the collector restarts before the group is flushed.
    apply(
        &mut saved,
        &s.observe(vec![a.clone(), resolved(&b, 160 * S)], 160 * S),
    );
    let mut s = reload(&saved, 170 * S);
    let sent = durable_flush(&mut s, &mut saved, 170 * S);
    assert_eq!(
        sent.len(),
        1,
        "the resolution is sent at once after the restart"
    );
    assert_eq!(
        hosts(&sent[0]),
        [("a".into(), "firing"), ("b".into(), "resolved")]
    );
    // ...and only once, even after another restart.
    let mut s = reload(&saved, 180 * S);
    assert_eq!(s.alert_count(), 1);
    for t in [180, 240, 300] {
        assert!(
            durable_flush(&mut s, &mut saved, t * S).is_empty(),
            "at {t}s"
        );
    }
    // Once a resolves and is announced, nothing is left saved.
    apply(&mut saved, &s.observe(vec![resolved(&a, 310 * S)], 310 * S));
    assert_eq!(durable_flush(&mut s, &mut saved, 360 * S).len(), 1);
    assert!(saved.is_empty(), "{saved:?}");
}

#[test]
fn a_flush_whose_write_failed_is_tried_again() {
    let mut s = state();
    s.observe(vec![firing("CpuHigh", "a", 0)], 0);
    let plan = s.plan(10 * S, &not_silenced, &traits);
    assert_eq!(plan.notifications.len(), 1);
    s.postpone(&plan, 15 * S);
    assert!(flush(&mut s, 14 * S).is_empty());
    assert_eq!(flush(&mut s, 15 * S).len(), 1);
}

#[test]
fn alerts_the_rules_stop_reporting_resolve_after_a_while() {
    let mut s = state();
    let a = firing("CpuHigh", "a", 0);
    s.observe(vec![a.clone()], 0);
    s.observe(vec![a.clone()], 60 * S);
    assert_eq!(flush(&mut s, 70 * S).len(), 1);
    // Reported every minute: an hour without a report is too long.
    assert!(s.expire_stale(60 * S + 59 * 60 * S).is_empty());
    let ops = s.expire_stale(60 * S + 60 * 60 * S);
    assert_eq!(ops.len(), 1);
    let sent = flush(&mut s, 60 * S + 60 * 60 * S);
    assert_eq!(hosts(&sent[0]), [("a".into(), "resolved")]);
    // Reported every 30 minutes: two hours of silence are tolerated.
    let b = firing("CpuHigh", "b", 0);
    let t0 = 10_000 * S;
    s.observe(vec![b.clone()], t0);
    s.observe(vec![b.clone()], t0 + 1800 * S);
    assert!(s.expire_stale(t0 + 1800 * S + 7199 * S).is_empty());
    assert_eq!(s.expire_stale(t0 + 1800 * S + 7200 * S).len(), 1);
}

#[test]
fn held_alerts_are_bounded() {
    let mut s = state_with(ROUTES, &[], 3);
    let alerts: Vec<Alert> = (0..5)
        .map(|i| firing("CpuHigh", &i.to_string(), 0))
        .collect();
    let ops = s.observe(alerts, 0);
    assert_eq!(s.alert_count(), 3);
    assert_eq!(ops.len(), 3);
    assert_eq!(flush(&mut s, 10 * S)[0].alerts.len(), 3);
}
