//! How far back an import may reach (`limits.max_import_past`, `storage.retention`) and
//! how many hosts it may add (`limits.max_hosts`).

use super::*;

#[test]
fn old_samples_stop_an_import_at_the_bound_they_break() {
    const DAY: i64 = 86_400_000;
    let limits = Limits {
        max_import_past: std::time::Duration::from_secs(86_400),
        ..Limits::default()
    };
    let (_dir, store, b) = backfill(limits);
    let r = b
        .write(
            request(vec![series(
                &[("__name__", "a"), ("host", "web-1")],
                1,
                &[(NOW - DAY, 1.0), (NOW - 2 * DAY, 2.0), (NOW, 3.0)],
            )]),
            &anyone(),
            NOW,
        )
        .expect("write");
    assert_eq!(r.accepted_samples, 1);
    let rejection = r.rejection.expect("rejected");
    assert_eq!(
        (rejection.line, rejection.reason.as_str()),
        (2, "old_timestamp")
    );
    assert_eq!(rejection.code, Code::OutOfRange as i32);
    assert!(
        rejection.message.contains("limits.max_import_past (1d)"),
        "{}",
        rejection.message
    );
    assert_eq!(stored(&store, "a")[0].1, vec![(NOW - DAY, 1.0)]);

    // Without a bound of its own, an import may reach back years, but not past retention.
    let (_dir, _store, b) = backfill(Limits::default());
    let old = request(vec![series(
        &[("__name__", "b")],
        1,
        &[(NOW - 3650 * DAY, 1.0)],
    )]);
    assert_eq!(
        b.write(old.clone(), &anyone(), NOW)
            .expect("write")
            .rejection,
        None
    );
    let b = b.with_retention(std::time::Duration::from_secs(90 * 86_400));
    let rejection = b
        .write(old, &anyone(), NOW)
        .expect("write")
        .rejection
        .expect("rejected");
    assert!(
        rejection.message.contains("storage.retention (90d)"),
        "{}",
        rejection.message
    );
}

#[test]
fn a_new_host_past_max_hosts_stops_an_import_at_its_first_line() {
    let limits = Limits {
        max_hosts: 2,
        ..Limits::default()
    };
    let (_dir, store, b) = backfill(limits);
    let known = Labels::from_pairs(&[("__name__", "seen"), ("host", "old")]);
    store.resolve_series("old", &[known], 10).expect("series");
    let r = b
        .write(
            request(vec![
                series(&[("__name__", "m"), ("host", "old")], 1, &[(1000, 1.0)]),
                // Series without a host label are no host.
                series(&[("__name__", "m")], 2, &[(1000, 2.0)]),
                series(&[("__name__", "m"), ("host", "new-1")], 3, &[(1000, 3.0)]),
                series(&[("__name__", "m"), ("host", "new-2")], 4, &[(1000, 4.0)]),
            ]),
            &anyone(),
            NOW,
        )
        .expect("write");
    assert_eq!(r.accepted_samples, 3);
    let rejection = r.rejection.expect("rejected");
    assert_eq!(
        (rejection.line, rejection.reason.as_str()),
        (4, "host_limit")
    );
    assert_eq!(rejection.code, Code::ResourceExhausted as i32);
    assert!(
        rejection.message.contains("\"new-2\"") && rejection.message.contains("limits.max_hosts"),
        "{}",
        rejection.message
    );
    assert_eq!(store.series_count("new-2").expect("count"), 0);
    // Known hosts go on importing.
    let again = request(vec![series(
        &[("__name__", "m"), ("host", "new-1")],
        1,
        &[(2000, 5.0)],
    )]);
    assert_eq!(
        b.write(again, &anyone(), NOW).expect("write").rejection,
        None
    );
}
