//! The CLI for people against a real collector: `vigil query EXPR` (instant, range, raw
//! samples, errors), `vigil top` and `vigil host`, on exact data sent by a [`TestAgent`]
//! (so every figure is known) and on a real agent.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use vigil_tests::client::{Def, batch};
use vigil_tests::{
    Agent, Collector, TestAgent, assert_exit, now_ms, send_signal, series_values, stderr, stdout,
    vigil, vigil_json, wait_for,
};

fn close(actual: &serde_json::Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|a| (a - expected).abs() <= 1e-6 * expected.abs().max(1.0))
}

/// The series `web-1` reports, with stream-local ids.
const DEFS: [Def<'static>; 14] = [
    (
        1,
        "node_cpu_seconds_total",
        &[("cpu", "0"), ("mode", "idle")],
    ),
    (
        2,
        "node_cpu_seconds_total",
        &[("cpu", "1"), ("mode", "idle")],
    ),
    (
        3,
        "node_cpu_seconds_total",
        &[("cpu", "0"), ("mode", "user")],
    ),
    (4, "node_memory_MemTotal_bytes", &[]),
    (5, "node_memory_MemAvailable_bytes", &[]),
    (
        6,
        "node_filesystem_size_bytes",
        &[
            ("device", "/dev/vda1"),
            ("fstype", "ext4"),
            ("mountpoint", "/"),
        ],
    ),
    (
        7,
        "node_filesystem_avail_bytes",
        &[
            ("device", "/dev/vda1"),
            ("fstype", "ext4"),
            ("mountpoint", "/"),
        ],
    ),
    (
        8,
        "node_filesystem_size_bytes",
        &[
            ("device", "tmpfs"),
            ("fstype", "tmpfs"),
            ("mountpoint", "/run"),
        ],
    ),
    (
        9,
        "node_filesystem_avail_bytes",
        &[
            ("device", "tmpfs"),
            ("fstype", "tmpfs"),
            ("mountpoint", "/run"),
        ],
    ),
    (10, "node_disk_read_bytes_total", &[("device", "vda")]),
    (11, "node_disk_written_bytes_total", &[("device", "vda")]),
    (
        12,
        "node_network_receive_bytes_total",
        &[("device", "eth0")],
    ),
    (13, "node_network_receive_bytes_total", &[("device", "lo")]),
    (14, "node_load1", &[]),
];

/// Six scrapes of web-1, 10 s apart, the last at `t0`: counters grow linearly, so every
/// rate is exact whatever the extrapolation. CPU: idle rates 0.5 and 1.0 → 25% busy;
/// memory 75%; `/` 90% full (the full tmpfs is not a disk); disk read 1 KiB/s, write
/// 2 KiB/s; eth0 receives 100 B/s (lo is not counted); load1 0.5, 1.0, ... 3.0.
async fn send_web_1(url: &str, t0: i64) -> TestAgent {
    let mut agent = TestAgent::connect(url, "web-1").await.unwrap();
    for i in 0..6u64 {
        let k = i as f64;
        let samples = [
            (1, 1e6 + 5.0 * k),
            (2, 1e6 + 10.0 * k),
            (3, 1e6 + 7.5 * k),
            (4, 1000.0),
            (5, 250.0),
            (6, 1000.0),
            (7, 100.0),
            (8, 100.0),
            (9, 0.0),
            (10, 1e9 + 10_240.0 * k),
            (11, 1e9 + 20_480.0 * k),
            (12, 1e9 + 1000.0 * k),
            (13, 1e9 + 1e6 * k),
            (14, 0.5 * (k + 1.0)),
        ];
        let defs: &[Def<'_>] = if i == 0 { &DEFS } else { &[] };
        let ts = t0 - 50_000 + 10_000 * i as i64;
        let ack = agent.batch(batch(i + 1, defs, ts, &samples)).await.unwrap();
        assert_eq!(ack.rejected_samples, 0, "{ack:?}");
    }
    agent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_evaluates_promql_at_a_time_and_over_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let t0 = now_ms() / 1000 * 1000;
    let _web = send_web_1(&url, t0).await;
    let at = (t0 / 1000).to_string();

    // Instant: a vector in the Prometheus data shape, the name dropped by rate().
    let r = vigil_json(
        &url,
        &[
            "query",
            r#"rate(node_disk_read_bytes_total{device="vda"}[1m])"#,
            "--at",
            &at,
        ],
    );
    assert_eq!(r["resultType"], "vector");
    let result = r["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{r}");
    assert_eq!(
        result[0]["metric"],
        serde_json::json!({"device": "vda", "host": "web-1", "instance": "web-1", "job": "node"})
    );
    assert_eq!(result[0]["value"][0], serde_json::json!(t0 / 1000));
    let rate: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((rate - 1024.0).abs() < 1e-6, "{rate}");

    // A range: one point per step where the series has a sample (none 60 s back).
    let range = [
        "query",
        "node_load1",
        "--range",
        "1m",
        "--step",
        "10s",
        "--at",
        &at,
    ];
    let r = vigil_json(&url, &range);
    assert_eq!(r["resultType"], "matrix");
    let series = series_values(&r);
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].0["__name__"], "node_load1");
    let t = (t0 / 1000) as f64;
    let expected: Vec<(f64, f64)> = (0..6)
        .map(|i| (t - 50.0 + 10.0 * i as f64, 0.5 * (i as f64 + 1.0)))
        .collect();
    assert_eq!(series[0].1, expected);

    // The same range as a table: one sparkline row; as CSV: one row per point.
    let out = vigil(&url, &range);
    let table = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let row = table
        .lines()
        .find(|l| l.contains("web-1"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" ▁▂▄▅▇█"), "{table}");
    assert!(row.ends_with("0.5     3      3"), "{table}");
    let out = vigil(&url, &[&range[..], &["-o", "csv"]].concat());
    let csv = stdout(&out);
    assert_eq!(csv.lines().count(), 7, "{csv}");
    assert_eq!(
        csv.lines().nth(6).unwrap(),
        format!(
            "\"node_load1{{host=\"\"web-1\"\", instance=\"\"web-1\"\", job=\"\"node\"\"}}\",{},3",
            t0 / 1000
        )
    );

    // A range-vector selector at one time is the raw samples.
    let r = vigil_json(
        &url,
        &["query", r#"node_load1{host="web-1"}[1m]"#, "--at", &at],
    );
    assert_eq!(r["resultType"], "matrix");
    assert_eq!(series_values(&r)[0].1, expected);

    // Scalars, and a parse error that says what to do.
    let r = vigil_json(&url, &["query", "1 + 1", "--at", &at]);
    assert_eq!(
        r,
        serde_json::json!({"resultType": "scalar", "result": [t0 / 1000, "2"]})
    );
    let out = vigil(&url, &["query", "sum(node_load1"]);
    let err = assert_exit(
        &out,
        1,
        &["cannot evaluate \"sum(node_load1\": bad_data: parse error"],
    );
    assert!(err.contains("single quotes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_and_host_show_usage_computed_by_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let t0 = now_ms() / 1000 * 1000 - 1000;
    let _web = send_web_1(&url, t0).await;
    let _idle = TestAgent::connect(&url, "idle-box").await.unwrap();

    let rows = vigil_json(&url, &["top"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let web = &rows[0];
    assert_eq!(web["host"], "web-1", "busiest first: {rows:?}");
    assert_eq!(web["up"], true);
    assert!(close(&web["cpu_percent"], 25.0), "{web}");
    assert!(close(&web["memory_percent"], 75.0), "{web}");
    assert!(close(&web["fullest_filesystem_percent"], 90.0), "{web}");
    assert!(close(&web["disk_read_bytes_per_second"], 1024.0), "{web}");
    assert!(close(&web["disk_write_bytes_per_second"], 2048.0), "{web}");
    assert!(
        close(&web["network_receive_bytes_per_second"], 100.0),
        "{web}"
    );
    assert_eq!(
        web["network_transmit_bytes_per_second"],
        serde_json::Value::Null
    );
    assert_eq!(web["load1"], 3.0);
    assert_eq!(rows[1]["host"], "idle-box");
    assert_eq!(rows[1]["up"], true);
    assert_eq!(rows[1]["cpu_percent"], serde_json::Value::Null);

    let by_name = vigil_json(&url, &["top", "--sort", "host"]);
    assert_eq!(by_name[0]["host"], "idle-box");
    let table = stdout(&vigil(&url, &["top"]));
    let row = table.lines().nth(1).unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "web-1", "up", "25.0%", "75.0%", "90.0%", "1.0", "KiB/s", "2.0", "KiB/s", "100", "B/s",
            "-", "3.00"
        ],
        "{table}"
    );

    let host = vigil_json(&url, &["host", "web-1"]);
    assert_eq!(host["host"], "web-1");
    assert_eq!(host["os"], "TestOS");
    assert_eq!(host["up"], true);
    assert!(close(&host["usage"]["cpu_percent"], 25.0), "{host}");
    let fs = host["filesystems"].as_array().unwrap();
    assert_eq!(fs.len(), 2, "{host}");
    assert_eq!(fs[0]["mountpoint"], "/");
    assert_eq!(fs[0]["size_bytes"], 1000.0);
    assert!(close(&fs[0]["used_percent"], 90.0), "{host}");
    assert_eq!(fs[1]["mountpoint"], "/run");
    assert!(close(&fs[1]["used_percent"], 100.0), "{host}");
    assert!(
        close(&host["disks"][0]["write_bytes_per_second"], 2048.0),
        "{host}"
    );
    let nics = host["interfaces"].as_array().unwrap();
    assert_eq!(nics[0]["device"], "eth0");
    assert!(close(&nics[1]["receive_bytes_per_second"], 1e5), "{host}");
    // A test agent sends no `vigil_agent_*` series: every agent figure is missing.
    assert!(host["agent"]["spool_rounds"].is_null(), "{host}");

    let out = vigil(&url, &["host", "web-1"]);
    let text = stdout(&out);
    assert!(text.starts_with("web-1   up, last seen"), "{text}");
    assert!(text.contains("OS          TestOS"), "{text}");
    assert!(
        text.lines().any(|l| l.split_whitespace().eq([
            "/",
            "ext4",
            "/dev/vda1",
            "1000",
            "B",
            "90.0%"
        ])),
        "{text}"
    );

    let out = vigil(&url, &["host", "web-2"]);
    assert_exit(&out, 1, &["no host named \"web-2\"", "vigil hosts"]);
}

#[test]
fn top_shows_a_real_agent() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let _agent = Agent::start(&url, "1s", "real-1", dir.path());
    let row = wait_for(Duration::from_secs(30), "CPU figures for real-1", || {
        let rows = vigil_json(&url, &["top"]);
        let row = rows
            .as_array()?
            .iter()
            .find(|r| r["host"] == "real-1")?
            .clone();
        row["cpu_percent"].as_f64().map(|_| row)
    });
    assert_eq!(row["up"], true);
    for key in [
        "cpu_percent",
        "memory_percent",
        "fullest_filesystem_percent",
    ] {
        let v = row[key].as_f64().unwrap_or_else(|| panic!("{key}: {row}"));
        assert!((0.0..=100.0).contains(&v), "{key}: {row}");
    }
    assert!(row["load1"].as_f64().unwrap() >= 0.0, "{row}");
    let host = vigil_json(&url, &["host", "real-1"]);
    let fs = host["filesystems"].as_array().unwrap();
    assert!(
        fs.iter()
            .any(|f| f["mountpoint"] == "/" && f["size_bytes"].as_f64().unwrap() > 0.0),
        "{host}"
    );
    assert!(host["memory_bytes"].as_u64().unwrap() > 0, "{host}");
    // The agent's own figures: a real agent reports its spool and version every round.
    assert!(host["agent"]["spool_rounds"].is_u64(), "{host}");
    assert!(
        host["agent"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{host}"
    );
    // Its process groups: at least `other`, with its processes counted.
    assert!(
        host["process_groups"]
            .as_array()
            .is_some_and(|groups| groups
                .iter()
                .any(|g| g["group"] == "other" && g["processes"].as_f64().is_some())),
        "{host}"
    );
}

#[test]
fn top_watch_redraws_until_interrupted() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let mut child = std::process::Command::new(vigil_tests::bin("vigil"))
        .args([
            "--collector",
            &collector.url(),
            "top",
            "--watch",
            "1",
            "-o",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // One JSON document per refresh: an empty fleet twice.
    assert_eq!(lines.next().unwrap().unwrap(), "[]");
    assert_eq!(lines.next().unwrap().unwrap(), "[]");
    send_signal(child.id(), libc::SIGINT);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "Ctrl-C ends the watch cleanly: {status:?}"
    );
}
