//! `kill -9` of the collector in the middle of ingest loses no acknowledged sample, and a
//! real agent resumes by itself and fills the gap from its spool.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vigil_tests::client::{batch, numbered_series};
use vigil_tests::{
    Agent, Collector, TestAgent, now_s, samples_by_ms, send_signal, series_values, vigil_json,
    wait_for, wait_for_host,
};

const SERIES: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_sample_and_the_agent_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The samples are stamped in 2023: a limits.max_past of a century takes them on any date.
    let mut collector = Collector::start(&data, &[("VIGIL_COLLECTOR__LIMITS__MAX_PAST", "36500d")]);
    let (url, port) = (collector.url(), collector.port);
    let _agent = Agent::start(&url, "1s", "crash-agent", dir.path());

    // Pump acknowledged batches until the collector dies under us.
    let mut client = TestAgent::connect(&url, "crash-pump").await.unwrap();
    let labels: Vec<String> = (0..SERIES).map(|i| i.to_string()).collect();
    let base = 1_700_000_000_000i64;
    let mut acked: BTreeMap<i64, f64> = BTreeMap::new();
    let killer = {
        let pid = collector.process.pid();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            let started = Instant::now();
            send_signal(pid, libc::SIGKILL);
            started
        })
    };
    let mut seq = 0u64;
    loop {
        seq += 1;
        let ts = base + seq as i64 * 1000;
        let samples: Vec<(u64, f64)> = (1..=SERIES)
            .map(|id| (id, seq as f64 + id as f64 / 100.0))
            .collect();
        let mut b = batch(seq, &[], ts, &samples);
        if seq == 1 {
            b.definitions = numbered_series(1, "crash_pump_value", "n", &labels);
        }
        match client.batch(b).await {
            Ok(ack) => {
                assert_eq!(ack.accepted_samples, SERIES);
                acked.insert(ts, seq as f64);
            }
            Err(_) => break,
        }
    }
    let killed_at = killer.join().unwrap();
    collector.process.kill9();
    assert!(
        acked.len() > 20,
        "only {} batches were acknowledged before the kill",
        acked.len()
    );
    std::thread::sleep(Duration::from_secs(3));

    let collector = Collector::start_on(port, &data, &[]);
    let restarted = Instant::now();

    // Every acknowledged sample is there, with its value.
    let result = vigil_json(
        &url,
        &[
            "query",
            "crash_pump_value[100000000s]",
            "--at",
            "1800000000",
        ],
    );
    let series = series_values(&result);
    assert_eq!(series.len(), SERIES as usize);
    for (metric, values) in &series {
        let n: f64 = metric["n"].as_str().unwrap().parse().unwrap();
        let stored = samples_by_ms(values);
        for (ts, seq) in &acked {
            let want = seq + (n + 1.0) / 100.0;
            assert_eq!(
                stored.get(ts),
                Some(&want),
                "series n={n}: acknowledged sample at {ts} lost"
            );
        }
    }

    // The real agent reconnects by itself and re-sends what it spooled while we were down.
    wait_for_host(&url, "crash-agent", true, Duration::from_secs(60));
    let outage = killed_at.elapsed() - restarted.elapsed();
    assert!(outage >= Duration::from_secs(3));
    let values = wait_for(Duration::from_secs(30), "samples after the restart", || {
        let r = vigil_json(&url, &["query", r#"node_load1{host="crash-agent"}[5m]"#]);
        let s = series_values(&r);
        let times: Vec<f64> = s.first()?.1.iter().map(|p| p.0).collect();
        let now = now_s();
        (times.last().is_some_and(|t| now - t < 3.0) && times.len() > 8).then_some(times)
    });
    let widest = values.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        widest < 2.5,
        "a gap of {widest:.1} s in the agent's 1 s series: the outage was not filled from the spool ({values:?})"
    );
    drop(collector);
}
