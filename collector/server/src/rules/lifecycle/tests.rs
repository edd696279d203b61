//! The lifecycle with made-up times: no clock, no sleeps.

use super::*;

const MIN: i64 = 60_000;

fn labels(host: &str) -> Labels {
    Labels::new(vec![
        ("alertname".into(), "HighCpu".into()),
        ("host".into(), host.into()),
    ])
}

fn obs(host: &str, value: f64) -> Observation {
    Observation {
        labels: labels(host),
        value,
        annotations: BTreeMap::new(),
        eta_ms: None,
    }
}

fn timing(for_ms: i64, keep_firing_for_ms: i64, hysteresis: bool) -> Timing {
    Timing {
        for_ms,
        keep_firing_for_ms,
        hysteresis,
    }
}

fn state(l: &Lifecycle, host: &str) -> Option<(AlertState, i64, Option<i64>)> {
    l.instances()
        .find(|i| i.labels == labels(host))
        .map(|i| (i.state, i.active_since_ms, i.firing_since_ms))
}

#[test]
fn pending_then_firing_after_for() {
    let mut l = Lifecycle::new(timing(5 * MIN, 0, false));
    let t = l.evaluate(0, vec![obs("a", 95.0)], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Pending)]);
    for minute in 1..5 {
        assert!(
            l.evaluate(minute * MIN, vec![obs("a", 95.0)], &[])
                .is_empty()
        );
        assert_eq!(state(&l, "a"), Some((AlertState::Pending, 0, None)));
    }
    let t = l.evaluate(5 * MIN, vec![obs("a", 97.0)], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Firing)]);
    assert_eq!(state(&l, "a"), Some((AlertState::Firing, 0, Some(5 * MIN))));
    assert_eq!(l.instances().next().unwrap().value, 97.0);
    assert!(l.evaluate(6 * MIN, vec![obs("a", 97.0)], &[]).is_empty());
    let t = l.evaluate(7 * MIN, vec![], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Resolved)]);
    assert_eq!(l.instances().count(), 0);
}

#[test]
fn for_zero_fires_at_once_and_label_sets_are_separate() {
    let mut l = Lifecycle::new(timing(0, 0, false));
    let t = l.evaluate(10, vec![obs("a", 1.0), obs("b", 2.0), obs("a", 3.0)], &[]);
    assert_eq!(
        t,
        vec![
            transition(&labels("a"), Change::Firing),
            transition(&labels("b"), Change::Firing)
        ]
    );
    assert_eq!(state(&l, "a"), Some((AlertState::Firing, 10, Some(10))));
    assert_eq!(
        l.instances().next().unwrap().value,
        1.0,
        "the first of duplicates"
    );
    let t = l.evaluate(20, vec![obs("b", 2.0)], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Resolved)]);
    assert_eq!(state(&l, "b"), Some((AlertState::Firing, 10, Some(10))));
}

#[test]
fn pending_goes_inactive_when_the_condition_stops_and_starts_over() {
    let mut l = Lifecycle::new(timing(3 * MIN, 0, false));
    l.evaluate(0, vec![obs("a", 95.0)], &[]);
    l.evaluate(2 * MIN, vec![obs("a", 95.0)], &[]);
    let t = l.evaluate(3 * MIN - 1, vec![], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Inactive)]);
    l.evaluate(4 * MIN, vec![obs("a", 95.0)], &[]);
    assert_eq!(state(&l, "a"), Some((AlertState::Pending, 4 * MIN, None)));
}

/// A value oscillating around the threshold: 88, 92, 88, 92, … every minute; the alert is
/// `v > 90` for 2m.
fn oscillate(l: &mut Lifecycle, from: i64, to: i64, clear_below: f64) -> Vec<Change> {
    let mut changes = Vec::new();
    for minute in from..to {
        let v = if minute % 2 == 0 { 92.0 } else { 88.0 };
        // The value stays above 90 for the first 3 minutes so the alert can fire.
        let v = if minute < 3 { 92.0 } else { v };
        let observed = if v > 90.0 { vec![obs("a", v)] } else { vec![] };
        let cleared = if v < clear_below {
            vec![Labels::new(vec![("host".into(), "a".into())])]
        } else {
            vec![]
        };
        for t in l.evaluate(minute * MIN, observed, &cleared) {
            changes.push(t.change);
        }
    }
    changes
}

#[test]
fn hovering_value_with_clear_stays_in_one_firing_episode() {
    let mut l = Lifecycle::new(timing(2 * MIN, 0, true));
    let changes = oscillate(&mut l, 0, 60, 80.0);
    assert_eq!(changes, vec![Change::Pending, Change::Firing]);
    assert_eq!(state(&l, "a"), Some((AlertState::Firing, 0, Some(2 * MIN))));
    // Once the value falls below the clear level, it resolves.
    let cleared = vec![Labels::new(vec![
        ("__name__".into(), "cpu".into()),
        ("host".into(), "a".into()),
    ])];
    let t = l.evaluate(61 * MIN, vec![], &cleared);
    assert_eq!(t, vec![transition(&labels("a"), Change::Resolved)]);
}

#[test]
fn clear_for_another_label_set_does_not_resolve() {
    let mut l = Lifecycle::new(timing(0, 0, true));
    l.evaluate(0, vec![obs("a", 95.0)], &[]);
    let other = vec![Labels::new(vec![("host".into(), "b".into())])];
    assert!(l.evaluate(MIN, vec![], &other).is_empty());
    assert_eq!(state(&l, "a"), Some((AlertState::Firing, 0, Some(0))));
}

#[test]
fn hovering_value_without_clear_flaps() {
    let mut l = Lifecycle::new(timing(0, 0, false));
    let changes = oscillate(&mut l, 0, 20, 80.0);
    let fired = changes.iter().filter(|c| **c == Change::Firing).count();
    let resolved = changes.iter().filter(|c| **c == Change::Resolved).count();
    // Minutes 0–2 above; then above on even minutes 4…18: 1 + 8 episodes.
    assert_eq!((fired, resolved), (9, 9));
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let mut l = Lifecycle::new(timing(0, 3 * MIN, false));
    l.evaluate(0, vec![obs("a", 95.0)], &[]);
    for minute in 1..3 {
        assert!(l.evaluate(minute * MIN, vec![], &[]).is_empty());
        assert_eq!(state(&l, "a"), Some((AlertState::Firing, 0, Some(0))));
    }
    // Back within the window: the same episode, and the window starts over, counted
    // (as Prometheus does) from the first evaluation that misses the condition: 5 min.
    assert!(l.evaluate(3 * MIN, vec![obs("a", 96.0)], &[]).is_empty());
    assert!(l.evaluate(5 * MIN, vec![], &[]).is_empty());
    assert!(l.evaluate(7 * MIN, vec![], &[]).is_empty());
    let t = l.evaluate(8 * MIN, vec![], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Resolved)]);
}

#[test]
fn keep_firing_for_does_not_hold_a_pending_alert() {
    let mut l = Lifecycle::new(timing(5 * MIN, 10 * MIN, false));
    l.evaluate(0, vec![obs("a", 95.0)], &[]);
    let t = l.evaluate(MIN, vec![], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Inactive)]);
}

#[test]
fn restored_instance_keeps_its_timers() {
    let mut l = Lifecycle::new(timing(10 * MIN, 0, false));
    l.restore(Instance {
        labels: labels("a"),
        state: AlertState::Pending,
        active_since_ms: 0,
        firing_since_ms: None,
        last_active_ms: 4 * MIN,
        keep_firing_since_ms: None,
        last_notified_ms: None,
        value: 95.0,
        annotations: BTreeMap::new(),
        eta_ms: None,
    });
    assert!(l.evaluate(9 * MIN, vec![obs("a", 95.0)], &[]).is_empty());
    let t = l.evaluate(10 * MIN, vec![obs("a", 95.0)], &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Firing)]);
    assert!(l.mark_notified(&labels("a"), 10 * MIN + 5));
    assert_eq!(
        l.instances().next().unwrap().last_notified_ms,
        Some(10 * MIN + 5)
    );
}

#[test]
fn a_clock_going_back_an_hour_moves_the_timers_back_and_for_goes_on_counting() {
    const HOUR: i64 = 60 * MIN;
    let mut l = Lifecycle::new(timing(5 * MIN, 3 * MIN, false));
    let t0 = 10 * HOUR;
    l.evaluate(t0, vec![obs("a", 95.0), obs("b", 95.0)], &[]);
    for minute in 1..=5 {
        l.evaluate(
            t0 + minute * MIN,
            vec![obs("b", 95.0)]
                .into_iter()
                .chain([obs("a", 95.0)])
                .collect(),
            &[],
        );
    }
    assert_eq!(state(&l, "a").unwrap().0, AlertState::Firing);
    // "c" becomes pending two minutes before the jump.
    l.evaluate(
        t0 + 6 * MIN,
        vec![obs("a", 95.0), obs("b", 95.0), obs("c", 95.0)],
        &[],
    );
    l.evaluate(
        t0 + 7 * MIN,
        vec![obs("a", 95.0), obs("b", 95.0), obs("c", 95.0)],
        &[],
    );
    // The clock steps back an hour between two evaluations a minute apart; the group moves
    // the timers back by what puts this evaluation one interval after the last.
    let back = t0 + 8 * MIN - HOUR;
    l.clock_went_back((t0 + 7 * MIN) + MIN - back);
    let t = l.evaluate(
        back,
        vec![obs("a", 95.0), obs("b", 95.0), obs("c", 95.0)],
        &[],
    );
    assert!(t.is_empty(), "nothing changes at the jump: {t:?}");
    assert_eq!(state(&l, "a").unwrap().0, AlertState::Firing);
    assert_eq!(state(&l, "c").unwrap().0, AlertState::Pending);
    // "c" fires five minutes after it became pending, as the time really ran.
    let all = || vec![obs("a", 95.0), obs("b", 95.0), obs("c", 95.0)];
    assert!(l.evaluate(back + 2 * MIN, all(), &[]).is_empty());
    let t = l.evaluate(back + 3 * MIN, all(), &[]);
    assert_eq!(t, vec![transition(&labels("c"), Change::Firing)]);
    // keep_firing_for counts from after the jump too: "a" stops, and resolves 3 minutes later.
    let without_a = || vec![obs("b", 95.0), obs("c", 95.0)];
    assert!(l.evaluate(back + 4 * MIN, without_a(), &[]).is_empty());
    assert!(l.evaluate(back + 6 * MIN, without_a(), &[]).is_empty());
    let t = l.evaluate(back + 7 * MIN, without_a(), &[]);
    assert_eq!(t, vec![transition(&labels("a"), Change::Resolved)]);
}
