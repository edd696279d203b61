use super::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn guard(min_free: Option<u64>) -> StorageGuard {
    let g = StorageGuard::default();
    g.configure(Path::new("/srv/vigil-data"), min_free);
    g
}

#[test]
fn under_the_threshold_ingest_is_refused_and_room_brings_it_back_with_hysteresis() {
    let g = guard(Some(100 * MIB));
    g.observe(500 * MIB, 10 * GIB, 0);
    assert_eq!(g.check(0), Ok(()));
    g.observe(99 * MIB, 10 * GIB, 1_000);
    let why = g.check(1_000).unwrap_err();
    assert!(
        why.contains("/srv/vigil-data") && why.contains("99.0 MiB"),
        "{why}"
    );
    assert!(
        why.contains("100.0 MiB") && why.contains("storage.min_free_bytes"),
        "{why}"
    );
    assert_eq!(g.snapshot().state, "read_only");
    // Just over the threshold is not enough: a tenth more is.
    g.observe(105 * MIB, 10 * GIB, 2_000);
    assert!(g.check(2_000).is_err());
    g.observe(111 * MIB, 10 * GIB, 3_000);
    assert_eq!(g.check(3_000), Ok(()));
    let s = g.snapshot();
    assert_eq!((s.state, s.reason.as_str()), ("writable", ""));
    assert_eq!(g.errors(), [1, 0, 0, 0]);
}

#[test]
fn the_default_is_a_gibibyte_or_a_twentieth_of_a_small_disk_and_zero_is_off() {
    let g = guard(None);
    g.observe(900 * MIB, 100 * GIB, 0);
    assert!(g.check(0).is_err());
    assert_eq!(g.snapshot().need_bytes, GIB);
    let g = guard(None);
    g.observe(60 * MIB, 1_000 * MIB, 0);
    assert_eq!(g.snapshot().need_bytes, 50 * MIB);
    assert_eq!(g.check(0), Ok(()));
    let g = guard(Some(0));
    g.observe(0, 10 * GIB, 0);
    assert_eq!(g.check(0), Ok(()));
    assert_eq!(g.snapshot().need_bytes, 0);
}

#[test]
fn the_reserve_for_flushes_and_compactions_raises_the_threshold() {
    let g = guard(Some(10 * MIB));
    g.set_reserve(300 * MIB);
    g.observe(200 * MIB, 10 * GIB, 0);
    assert!(g.check(0).is_err());
    assert_eq!(g.snapshot().need_bytes, 300 * MIB);
}

#[test]
fn a_failed_write_refuses_ingest_then_lets_a_probe_through_and_heals_on_success() {
    let g = guard(Some(10 * MIB));
    g.observe(GIB, 10 * GIB, 0);
    let enospc = StoreError::Engine("IO error: No space left on device: While appending".into());
    g.write_failed(&enospc, 1_000);
    g.write_failed(&enospc, 1_100);
    assert_eq!(g.errors(), [0, 1, 0, 0], "one failure, counted once");
    let why = g.check(2_000).unwrap_err();
    assert!(
        why.contains("No space left") && why.contains("/srv/vigil-data"),
        "{why}"
    );
    assert_eq!(g.snapshot().state, "failed");
    // After the wait a write may try; it succeeds.
    assert_eq!(g.check(1_100 + RETRY_AFTER_MS), Ok(()));
    g.write_ok();
    assert_eq!(g.snapshot().state, "writable");
    assert_eq!(g.check(1_100 + RETRY_AFTER_MS), Ok(()));
    // Another kind of error is counted as io; limits are not storage errors.
    g.write_failed(
        &StoreError::Engine("IO error: Input/output error".into()),
        9_000,
    );
    g.write_failed(
        &StoreError::SeriesLimit {
            host: "h".into(),
            limit: 1,
        },
        9_000,
    );
    assert_eq!(g.errors(), [0, 1, 1, 0]);
}

#[test]
fn a_failed_store_without_room_waits_for_room_before_trying_again() {
    let g = guard(Some(100 * MIB));
    g.observe(GIB, 10 * GIB, 0);
    g.write_failed(&StoreError::Engine("No space left on device".into()), 0);
    g.observe(10 * MIB, 10 * GIB, 1_000);
    assert!(g.check(60_000).is_err(), "no probe while the disk is full");
    g.observe(500 * MIB, 10 * GIB, 61_000);
    assert_eq!(g.check(61_000), Ok(()));
    g.write_ok();
    assert_eq!(g.snapshot().state, "writable");
}

#[test]
fn free_space_is_read_from_the_filesystem() {
    let dir = std::env::temp_dir();
    let (free, total) = free_space(&dir).expect("statvfs");
    assert!(total > 0 && free <= total, "{free} of {total}");
    assert!(free_space(Path::new("/no/such/directory/for/vigil")).is_err());
}

#[test]
fn a_damaged_file_that_stops_writes_names_the_repair_command() {
    let g = guard(Some(MIB));
    let e = StoreError::Engine(
        "Corruption: block checksum mismatch in /srv/vigil-data/000013.sst offset 3".into(),
    );
    g.write_failed(&e, 0);
    let s = g.snapshot();
    assert_eq!(s.state, "failed");
    assert!(s.reason.contains("000013.sst"), "{}", s.reason);
    assert!(
        s.reason
            .contains("vigil-collector repair --data-dir /srv/vigil-data"),
        "{}",
        s.reason
    );
    assert_eq!(g.errors(), [0, 0, 0, 1]);
}
