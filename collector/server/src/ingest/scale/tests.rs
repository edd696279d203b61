use super::*;

const NOW: i64 = 1_800_000_000_000;

#[test]
fn ack_histogram_counts_every_ack_cumulatively() {
    let ack = AckTimes::default();
    for seconds in [0.0005, 0.003, 0.003, 0.7, 500.0] {
        ack.observe(seconds, NOW);
    }
    let h = ack.histogram();
    assert_eq!(h.count, 5);
    assert!((h.sum - 500.7065).abs() < 1e-6, "{h:?}");
    let at = |le: f64| h.buckets.iter().find(|(b, _)| *b == le).map(|(_, n)| *n);
    assert_eq!(at(0.001), Some(1));
    assert_eq!(at(0.005), Some(3));
    assert_eq!(at(1.0), Some(4));
    assert_eq!(at(100.0), Some(4));
    assert_eq!(h.buckets.last(), Some(&(f64::INFINITY, 5)));
    assert_eq!(h.buckets.len(), ACK_BUCKETS.len() + 1);
}

#[test]
fn quantiles_cover_the_last_minute_only() {
    let ack = AckTimes::default();
    assert_eq!(ack.recent_quantile(0.5, NOW), None);
    // Two minutes ago: slow, and forgotten by now.
    for _ in 0..100 {
        ack.observe(30.0, NOW - 120_000);
    }
    for _ in 0..99 {
        ack.observe(0.015, NOW - 20_000);
    }
    ack.observe(3.0, NOW);
    assert_eq!(ack.recent_count(NOW), 100);
    let p50 = ack.recent_quantile(0.5, NOW).unwrap();
    assert!((0.01..=0.02).contains(&p50), "{p50}");
    let p99 = ack.recent_quantile(0.99, NOW).unwrap();
    assert!((0.01..=0.02).contains(&p99), "{p99}");
    let max = ack.recent_quantile(1.0, NOW).unwrap();
    assert!((2.0..=5.0).contains(&max), "{max}");
    // A minute later only the newest slice's ack is left, then none.
    assert_eq!(ack.recent_count(NOW + 55_000), 1);
    assert_eq!(ack.recent_count(NOW + 70_000), 0);
    // The since-start histogram keeps everything.
    assert_eq!(ack.histogram().count, 200);
}

#[test]
fn above_the_last_bound_reads_as_the_last_bound() {
    let ack = AckTimes::default();
    ack.observe(1000.0, NOW);
    assert_eq!(ack.recent_quantile(0.99, NOW), Some(100.0));
}

#[test]
fn waiting_counts_batches_until_their_guard_drops() {
    let ack = AckTimes::default();
    let first = ack.arrived();
    let second = ack.arrived();
    assert_eq!(ack.waiting(), 2);
    drop(first);
    assert_eq!(ack.waiting(), 1);
    drop(second);
    assert_eq!(ack.waiting(), 0);
}

#[test]
fn series_created_since_the_first_reading_and_per_second() {
    let tally = SeriesTally::default();
    assert_eq!((tally.created(), tally.per_second()), (0, 0.0));
    tally.observe(1000, NOW);
    assert_eq!((tally.created(), tally.per_second()), (0, 0.0));
    for i in 1..=12 {
        tally.observe(1000 + i * 500, NOW + i as i64 * 10_000);
    }
    assert_eq!(tally.created(), 6000);
    // 50 new series a second all along: measured over the last minute.
    assert_eq!(tally.per_second(), 50.0);
    // Then nothing new for a minute and a half.
    for i in 1..=9 {
        tally.observe(7000, NOW + 120_000 + i * 10_000);
    }
    assert_eq!(tally.created(), 6000);
    assert_eq!(tally.per_second(), 0.0);
    // A reading from before the last one (a status racing housekeeping) is ignored.
    tally.observe(6500, NOW);
    assert_eq!(tally.created(), 6000);
}

#[test]
fn stream_shares_add_up_and_go_back() {
    let memory = StreamMemory::default();
    let mut a = memory.share();
    let mut b = memory.share();
    a.set(100, 10);
    b.set(50, 5);
    a.set(80, 20);
    assert_eq!(memory.ids.load(Ordering::Relaxed), 130);
    assert_eq!(memory.scrapes.load(Ordering::Relaxed), 25);
    drop(a);
    assert_eq!(memory.ids.load(Ordering::Relaxed), 50);
    drop(b);
    assert_eq!(memory.ids.load(Ordering::Relaxed), 0);
    assert_eq!(memory.scrapes.load(Ordering::Relaxed), 0);
}

#[test]
fn memory_parts_do_not_overlap_and_other_is_the_rest() {
    let scale = Scale::default();
    let mut share = scale.streams.share();
    share.set(40, 7);
    let stats = StoreStats {
        memory: StoreMemory {
            memtables: 1000,
            index_memtables: 100,
            block_cache: 5000,
            block_cache_pinned: 10,
            table_readers: 300,
            index_table_readers: 30,
        },
        ..StoreStats::default()
    };
    scale.observe_store(&stats, NOW);
    let parts = scale.memory(10_000);
    assert_eq!(
        parts,
        [
            ("series_index", 170),
            ("head", 907),
            ("block_cache", 5000),
            ("table_readers", 270),
            ("other", 10_000 - 6347),
        ]
    );
    // Estimates above the resident size leave nothing for "other".
    assert_eq!(scale.memory(10).last(), Some(&("other", 0)));
}
