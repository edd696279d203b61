//! `kill -9` of the collector never loses an acknowledged sample, neither in the middle of
//! heavy ingest (several streams, old timestamps, the block compactor busy meanwhile) nor
//! in the middle of block compaction (killed again and again while it runs). After each
//! restart the store opens cleanly and every acknowledged sample is there, with its value,
//! counted per series.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vigil_proto::v1::{Batch, Scrape};
use vigil_tests::client::{TestAgent, numbered_series};
use vigil_tests::{Collector, now_ms, samples_by_ms, series_values, vigil_json};

const PASS_STARTED: &str = "compacting closed windows into blocks";
const PASS_DONE: &str = "compacted recent samples into blocks";

/// Waits (without blocking the runtime the pumps run on) until the collector logged `needle`.
async fn wait_for_log(collector: &Collector, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !collector.process.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the collector did not log {needle:?} within {timeout:?}:\n{}",
            collector.process.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Windows of one minute compacted every 200 ms: with timestamps days in the past, every
/// window but the newest is closed and the compactor always has work.
const FAST_COMPACTION: [(&str, &str); 3] = [
    ("VIGIL_COLLECTOR__STORAGE__BLOCK_DURATION", "1m"),
    ("VIGIL_COLLECTOR__STORAGE__COMPACTION_INTERVAL", "200ms"),
    ("VIGIL_COLLECTOR__STORAGE__SYNC", "false"),
];

/// Two days ago, on a whole minute.
fn base_ms() -> i64 {
    (now_ms() - 2 * 86_400_000) / 60_000 * 60_000
}

/// The value series `n` of stream `stream` has at `ts`: distinct per series and sample.
fn value(stream: usize, n: u64, ts: i64) -> f64 {
    (ts / 1000) as f64 + n as f64 / 100.0 + stream as f64 * 1e6
}

/// Acknowledged samples: (host, n) → timestamp → value.
type Acked = BTreeMap<(String, u64), BTreeMap<i64, f64>>;

/// A batch of `scrapes` scrapes 1 s apart from `first_ts`, of `series` series.
fn heavy_batch(stream: usize, seq: u64, first_ts: i64, scrapes: i64, series: u64) -> Batch {
    Batch {
        metadata: Vec::new(),
        seq,
        definitions: if seq == 1 {
            let labels: Vec<String> = (0..series).map(|i| i.to_string()).collect();
            numbered_series(1, "storage_crash_value", "n", &labels)
        } else {
            Vec::new()
        },
        scrapes: (0..scrapes)
            .map(|k| {
                let ts = first_ts + k * 1000;
                Scrape {
                    timestamp_ms: ts,
                    series_ids: (1..=series).collect(),
                    values: (1..=series).map(|id| value(stream, id - 1, ts)).collect(),
                    packed: Vec::new(),
                }
            })
            .collect(),
        sent_ms: 0,
    }
}

/// Sends batches on one stream until the collector goes away; returns what was acknowledged.
async fn pump(url: String, stream: usize, series: u64, first_ts: i64, max_batches: u64) -> Acked {
    let host = format!("crash-heavy-{stream}");
    let mut acked = Acked::new();
    let Ok(mut client) = TestAgent::connect(&url, &host).await else {
        return acked;
    };
    let scrapes = 10;
    for seq in 1..=max_batches {
        let ts = first_ts + (seq as i64 - 1) * scrapes * 1000;
        match client
            .batch(heavy_batch(stream, seq, ts, scrapes, series))
            .await
        {
            Ok(ack) => {
                assert_eq!(ack.accepted_samples, series * scrapes as u64);
                for n in 0..series {
                    let per = acked.entry((host.clone(), n)).or_default();
                    for k in 0..scrapes {
                        let t = ts + k * 1000;
                        per.insert(t, value(stream, n, t));
                    }
                }
            }
            Err(_) => break,
        }
    }
    acked
}

/// Reads every `storage_crash_value` series and checks each acknowledged sample, by count
/// and value per series.
fn check_every_acked_sample(url: &str, acked: &Acked) {
    let (first, last) = acked
        .values()
        .flat_map(|m| [m.keys().next().copied(), m.keys().last().copied()])
        .flatten()
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let at_s = last / 1000 + 1;
    let range_s = at_s - first / 1000 + 1;
    let result = vigil_json(
        url,
        &[
            "query",
            &format!("storage_crash_value[{range_s}s]"),
            "--at",
            &at_s.to_string(),
        ],
    );
    let mut stored: BTreeMap<(String, u64), BTreeMap<i64, f64>> = BTreeMap::new();
    for (metric, values) in series_values(&result) {
        let host = metric["host"].as_str().unwrap().to_owned();
        let n: u64 = metric["n"].as_str().unwrap().parse().unwrap();
        stored.insert((host, n), samples_by_ms(&values));
    }
    let mut checked = 0;
    for (key, samples) in acked {
        let have = stored
            .get(key)
            .unwrap_or_else(|| panic!("series {key:?} is missing after the restart"));
        assert!(
            have.len() >= samples.len(),
            "series {key:?}: {} acknowledged samples, {} stored",
            samples.len(),
            have.len()
        );
        for (ts, want) in samples {
            assert_eq!(
                have.get(ts),
                Some(want),
                "series {key:?}: acknowledged sample at {ts} lost or changed"
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_heavy_ingest_and_compaction_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut collector = Collector::start(&data, &FAST_COMPACTION);
    let (url, port) = (collector.url(), collector.port);
    let base = base_ms();
    let pumps: Vec<_> = (0..4)
        .map(|stream| {
            // Streams write different stretches of time, so several windows fill at once.
            let first = base + stream as i64 * 3_600_000;
            tokio::spawn(pump(url.clone(), stream, 200, first, u64::MAX))
        })
        .collect();
    // Kill once the compactor has had closed windows to work on for a while.
    wait_for_log(&collector, PASS_DONE, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    collector.process.kill9();
    let mut acked = Acked::new();
    for p in pumps {
        acked.extend(p.await.unwrap());
    }
    let total: usize = acked.values().map(BTreeMap::len).sum();
    assert!(
        total > 20_000,
        "only {total} samples were acknowledged before the kill"
    );

    let collector = Collector::start_on(port, &data, &FAST_COMPACTION);
    check_every_acked_sample(&url, &acked);
    // And again once the compactor has moved everything closed into blocks.
    wait_for_log(&collector, PASS_DONE, Duration::from_secs(120)).await;
    check_every_acked_sample(&url, &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_block_compaction_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Load with compaction out of the way (first pass after an hour).
    let quiet = [
        ("VIGIL_COLLECTOR__STORAGE__BLOCK_DURATION", "1m"),
        ("VIGIL_COLLECTOR__STORAGE__COMPACTION_INTERVAL", "1h"),
        ("VIGIL_COLLECTOR__STORAGE__SYNC", "false"),
    ];
    let collector = Collector::start(&data, &quiet);
    let (url, port) = (collector.url(), collector.port);
    let base = base_ms();
    let mut acked = Acked::new();
    for stream in 0..2 {
        let first = base + stream as i64 * 600_000;
        acked.extend(pump(url.clone(), stream, 250, first, 120).await);
    }
    let total: usize = acked.values().map(BTreeMap::len).sum();
    assert_eq!(total, 2 * 250 * 120 * 10, "every batch is acknowledged");
    drop(collector);

    // Restart with fast compaction and kill while a pass runs, again and again, until a
    // pass gets to finish before the kill (then nothing is left to compact).
    let mut interrupted = 0;
    let mut finished = false;
    let mut delay = Duration::from_millis(30);
    for _ in 0..8 {
        let mut collector = Collector::start_on(port, &data, &FAST_COMPACTION);
        wait_for_log(&collector, PASS_STARTED, Duration::from_secs(30)).await;
        let started = Instant::now();
        tokio::time::sleep(delay).await;
        collector.process.kill9();
        // Read the log only once the process is gone: a pass that finished between a
        // read and the kill would otherwise count as interrupted, and the next start,
        // with nothing left to compact, would wait for a pass in vain.
        finished = collector.process.log().contains(PASS_DONE);
        eprintln!(
            "killed {:?} after a pass started (finished before the kill: {finished})",
            started.elapsed()
        );
        if finished {
            break;
        }
        interrupted += 1;
        delay += Duration::from_millis(100);
    }
    assert!(
        interrupted >= 2,
        "only {interrupted} of the kills landed in the middle of a compaction pass"
    );

    let collector = Collector::start_on(port, &data, &FAST_COMPACTION);
    check_every_acked_sample(&url, &acked);
    if !finished {
        wait_for_log(&collector, PASS_DONE, Duration::from_secs(120)).await;
        check_every_acked_sample(&url, &acked);
    }
}
