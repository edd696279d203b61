//! Many agents at once: every batch of every agent is acknowledged and stored, and a host
//! whose agent stops is shown as down while the others stay up.

#![allow(clippy::unwrap_used)]

use std::time::Duration;
use vigil_tests::client::{batch, numbered_series};
use vigil_tests::{Agent, Collector, TestAgent, vigil_json, wait_for, wait_for_host};

const AGENTS: usize = 100;
const BATCHES: u64 = 20;
const SERIES: u64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_agents_stream_at_once_and_a_stopped_one_shows_down() {
    let dir = tempfile::tempdir().unwrap();
    // The samples are stamped in 2023: a limits.max_past of a century takes them on any date.
    let collector = Collector::start(
        &dir.path().join("data"),
        &[("VIGIL_COLLECTOR__LIMITS__MAX_PAST", "36500d")],
    );
    let url = collector.url();
    let mut real = Agent::start(&url, "1s", "real-agent", dir.path());

    let base = 1_700_000_000_000i64;
    let mut tasks = Vec::new();
    for a in 0..AGENTS {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut agent = TestAgent::connect(&url, &format!("fleet-{a:03}"))
                .await
                .unwrap();
            let names: Vec<String> = (0..SERIES).map(|i| format!("c{i}")).collect();
            let mut stored = 0;
            for seq in 1..=BATCHES {
                let samples: Vec<(u64, f64)> = (1..=SERIES)
                    .map(|id| (id, (a as u64 * 1000 + seq) as f64))
                    .collect();
                let mut b = batch(seq, &[], base + seq as i64 * 10_000, &samples);
                if seq == 1 {
                    b.definitions = numbered_series(1, "fleet_value", "core", &names);
                }
                let ack = agent.batch(b).await.unwrap();
                assert_eq!(ack.rejected_samples, 0, "{ack:?}");
                stored += ack.accepted_samples;
            }
            stored
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, AGENTS as u64 * BATCHES * SERIES);

    let hosts = vigil_json(&url, &["hosts"]);
    let fleet = hosts
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["host"].as_str().unwrap().starts_with("fleet-"))
        .count();
    assert_eq!(fleet, AGENTS);
    let series = vigil_json(&url, &["series", "fleet_value", "--limit", "100000"]);
    assert_eq!(series.as_array().unwrap().len(), AGENTS * SERIES as usize);
    let one = vigil_json(
        &url,
        &[
            "query",
            r#"fleet_value{host="fleet-042",core="c7"}[1000s]"#,
            "--at",
            "1700001000",
        ],
    );
    let values: Vec<&str> = one["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap())
        .collect();
    let want: Vec<String> = (1..=BATCHES).map(|s| (42_000 + s).to_string()).collect();
    assert_eq!(values, want);

    // The real agent is up; once stopped it shows down, and the collector still answers.
    wait_for_host(&url, "real-agent", true, Duration::from_secs(20));
    assert!(
        real.process.terminate().success(),
        "the agent stops cleanly on SIGTERM"
    );
    wait_for(
        Duration::from_secs(20),
        "the stopped agent shown down",
        || {
            let hosts = vigil_json(&url, &["hosts"]);
            hosts
                .as_array()?
                .iter()
                .any(|h| h["host"] == "real-agent" && h["up"] == false)
                .then_some(())
        },
    );
}
