//! Side by side with node_exporter 1.5 on this host: a real agent (interrupts switched on)
//! streams to a real collector while Debian's node_exporter is scraped back to back; one
//! agent round is then compared, per node_exporter collector, with the scrapes taken just
//! before and just after it:
//! - the share of node_exporter's metric names that Vigil has;
//! - the share of its label sets (Vigil's `host`, `job` and `instance` set aside);
//! - value agreement: Vigil's value lies between the two scrapes' values (a counter read
//!   between two reads of it; a constant equal to both), widened only for gauges that the
//!   scrapes themselves move (memory, open files, sockets, running threads).
//!
//! It prints the table that goes into the closing note, and requires, for every collector a
//! Vigil source covers and node_exporter reports on this host, all names and label sets
//! (less `compare::LEFT_OUT`) and at least 99% value agreement. The comparison itself is
//! `vigil_tests::node_exporter::compare`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vigil_tests::node_exporter::compare::{Key, Row, compare, key_of, print_table, shortfalls};
use vigil_tests::node_exporter::{self, NodeExporter, Scrape};
use vigil_tests::prom_api::ApiClient;
use vigil_tests::{Collector, Running, bin, now_ms, wait_for};

/// The samples of a `name[range]` matrix: series key → (time ms, value) samples.
fn vigil_matrix(api: &ApiClient, base: &str, query: &str) -> BTreeMap<Key, Vec<(i64, f64)>> {
    let params = [
        ("query".to_owned(), query.to_owned()),
        (
            "time".to_owned(),
            format!("{:.3}", now_ms() as f64 / 1000.0),
        ),
    ];
    let answer = api.get(base, "/api/v1/query", &params);
    assert_eq!(answer.status, 200, "{query}: {}", answer.body);
    let result = answer.body["data"]["result"].as_array().unwrap().clone();
    result
        .iter()
        .map(|series| {
            let labels: BTreeMap<String, String> = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let samples = series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, p[1].as_str().unwrap().parse::<f64>().unwrap())
                })
                .collect();
            (key_of(&labels["__name__"], &labels), samples)
        })
        .collect()
}

/// The agent round whose scrapes are nearest on both sides: (round time, before, after).
/// `durations` holds each round's collection time (ms); node_exporter's `after` scrape
/// starts only once the round's reads are over.
fn bracket<'a>(
    rounds: &BTreeMap<i64, i64>,
    scrapes: &'a [Scrape],
) -> Option<(i64, &'a Scrape, &'a Scrape)> {
    rounds
        .iter()
        .filter_map(|(&t, &took)| {
            let before = scrapes.iter().rev().find(|s| s.end_ms <= t)?;
            let after = scrapes.iter().find(|s| s.start_ms >= t + took + 5)?;
            Some((after.start_ms - before.end_ms, t, before, after))
        })
        .min_by_key(|(gap, ..)| *gap)
        .map(|(_, t, b, a)| (t, b, a))
}

/// Runs node_exporter with `exporter_args` and a real agent (its `[collect]` section
/// `collect`) streaming to a real collector, and compares one agent round with the
/// node_exporter scrapes just before and after it; prints and returns the table, and the
/// names of the round that `/api/v1/metadata` does not describe. `live`: the trees read
/// are this host's (so some gauges move between reads), not a recorded copy.
fn side_by_side(
    what: &str,
    live: bool,
    collect: &str,
    exporter_args: &[&str],
) -> (BTreeMap<&'static str, Row>, Vec<String>) {
    node_exporter::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let (collector, http) = Collector::start_with_http(&dir.path().join("data"), &[]);
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, format!("[collect]\n{collect}")).unwrap();
    let mut cmd = std::process::Command::new(bin("vigil-agent"));
    cmd.arg("--config")
        .arg(&config)
        .args(["--collector", &collector.url(), "--interval", "1s"])
        .args(["--hostname", "parity"])
        .arg("--spool-dir")
        .arg(dir.path().join("spool"))
        .env("RUST_LOG", "info");
    let mut agent = Running::spawn(cmd, dir.path().join("agent.log"));
    let exporter = NodeExporter::start(dir.path(), exporter_args);
    let api = ApiClient::new();

    // Three rounds stored: every source has written at least twice.
    wait_for(Duration::from_secs(60), "three agent rounds", || {
        assert!(agent.alive(), "agent exited:\n{}", agent.log());
        let rounds = vigil_matrix(&api, &http, "node_load1[30s]");
        rounds
            .values()
            .next()
            .is_some_and(|s| s.len() >= 3)
            .then_some(())
    });

    // node_exporter over about three agent rounds, a scrape every 10 ms or so.
    let started = now_ms();
    let mut scrapes = Vec::new();
    while now_ms() - started < 3_500 || scrapes.len() < 3 {
        scrapes.push(exporter.scrape());
        std::thread::sleep(Duration::from_millis(10));
    }
    let last_end = scrapes.last().unwrap().end_ms;
    // The round after the last scrape has reached the collector.
    std::thread::sleep(Duration::from_millis(1_500));

    let durations = vigil_matrix(&api, &http, "vigil_agent_collection_duration_seconds[30s]");
    let rounds: BTreeMap<i64, i64> = durations
        .values()
        .next()
        .expect("the agent's collection durations")
        .iter()
        .filter(|(t, _)| *t >= started && *t <= last_end)
        .map(|&(t, secs)| (t, (secs * 1000.0).ceil() as i64))
        .collect();
    let (t, before, after) = bracket(&rounds, &scrapes).unwrap_or_else(|| {
        panic!(
            "no agent round between two of the {} scrapes ({} rounds)",
            scrapes.len(),
            rounds.len()
        )
    });
    let all = vigil_matrix(&api, &http, r#"{__name__=~"node_.+"}[30s]"#);
    let vigil: BTreeMap<Key, f64> = all
        .into_iter()
        .filter_map(|(key, samples)| {
            let v = samples.iter().find(|(at, _)| *at == t)?.1;
            Some((key, v))
        })
        .collect();
    println!(
        "\nnode_exporter parity, {what}: agent round at {t} ms; node_exporter scrapes {} ms \
         before and {} ms after it ({} scrapes, {} Vigil series in the round)",
        t - before.end_ms,
        after.start_ms - t,
        scrapes.len(),
        vigil.len()
    );
    let rows = compare(before, after, &vigil, live);
    print_table(&rows);

    // The agent described every name it sent (type, help, unit), and the collector serves it.
    let answer = api.get(&http, "/api/v1/metadata", &[]);
    assert_eq!(answer.status, 200, "/api/v1/metadata: {}", answer.body);
    let described = answer.body["data"].as_object().unwrap();
    let names: BTreeSet<&str> = vigil.keys().map(|k| k.0.as_str()).collect();
    let undescribed: Vec<String> = names
        .iter()
        .filter(|n| {
            let entry = described.get(**n).and_then(|e| e.get(0));
            entry.is_none_or(|e| e["help"].as_str().is_none_or(str::is_empty))
        })
        .map(|n| (*n).to_owned())
        .collect();
    println!(
        "metadata: {} of {} Vigil metric names described by /api/v1/metadata{}",
        names.len() - undescribed.len(),
        names.len(),
        if undescribed.is_empty() {
            String::new()
        } else {
            format!("; not: {undescribed:?}")
        }
    );
    (rows, undescribed)
}

/// node_exporter 1.5.0's own defaults where Debian's package changes them (its netdev
/// leaves out `lo`, its filesystem collector every mount under /run, /mnt and /media):
/// the agent follows node_exporter's, as dashboards everywhere else see them.
const UPSTREAM_DEFAULTS: [&str; 2] = [
    "--collector.netdev.device-exclude=",
    "--collector.filesystem.mount-points-exclude=\
     ^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
];

#[test]
fn vigil_matches_node_exporter_per_collector_on_this_host() {
    let (rows, undescribed) = side_by_side(
        "this host",
        true,
        "enable = [\"interrupts\"]\n",
        &[
            "--collector.interrupts",
            UPSTREAM_DEFAULTS[0],
            UPSTREAM_DEFAULTS[1],
        ],
    );
    let mut failures = shortfalls(&rows);
    if !undescribed.is_empty() {
        failures.push(format!("no metadata for {undescribed:?}"));
    }
    assert!(failures.is_empty(), "short of node_exporter: {failures:#?}");
}

/// The recorded `/proc` and `/sys` of the agent's unit tests, read by both: hwmon,
/// thermal_zone and schedstat, which this (virtual) host lacks, and every other collector
/// that reads only those trees, on values that do not move (so they must be equal).
#[test]
fn vigil_matches_node_exporter_per_collector_on_the_recorded_tree() {
    let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/src/collect/testdata");
    let collect = format!(
        "enable = [\"interrupts\"]\nproc_path = \"{tree}/proc\"\nsys_path = \"{tree}/sys\"\n\
         rootfs_path = \"{tree}/rootfs\"\n"
    );
    let paths = [
        format!("--path.procfs={tree}/proc"),
        format!("--path.sysfs={tree}/sys"),
        format!("--path.rootfs={tree}/rootfs"),
    ];
    let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
    args.extend([
        "--collector.disable-defaults",
        "--no-collector.netdev.netlink",
        UPSTREAM_DEFAULTS[0],
    ]);
    for collector in RECORDED {
        args.push(collector);
    }
    let (rows, undescribed) = side_by_side("recorded tree", false, &collect, &args);
    let mut failures = shortfalls(&rows);
    if !undescribed.is_empty() {
        failures.push(format!("no metadata for {undescribed:?}"));
    }
    assert!(failures.is_empty(), "short of node_exporter: {failures:#?}");
}

/// node_exporter's collectors that read only `/proc` and `/sys` (no syscalls, no statfs).
const RECORDED: &[&str] = &[
    "--collector.cpu",
    "--collector.stat",
    "--collector.meminfo",
    "--collector.loadavg",
    "--collector.diskstats",
    "--collector.netdev",
    "--collector.pressure",
    "--collector.vmstat",
    "--collector.netstat",
    "--collector.sockstat",
    "--collector.softnet",
    "--collector.conntrack",
    "--collector.filefd",
    "--collector.entropy",
    "--collector.hwmon",
    "--collector.thermal_zone",
    "--collector.schedstat",
    "--collector.interrupts",
];
