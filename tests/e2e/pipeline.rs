//! A real agent streams this machine's metrics to a real collector; values read back
//! through the `vigil` CLI equal what the kernel reports.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::time::Duration;
use vigil_tests::{Agent, Collector, series_values, vigil, vigil_json, wait_for};

fn meminfo_kib(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn cpu_count() -> usize {
    let text = std::fs::read_to_string("/proc/stat").unwrap();
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
}

#[allow(unsafe_code)]
fn root_size_bytes() -> f64 {
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed out-struct of the right type.
    let rc = unsafe { libc::statvfs(c"/".as_ptr(), &mut st) };
    assert_eq!(rc, 0);
    st.f_blocks as f64 * st.f_frsize as f64
}

#[test]
fn host_metrics_read_back_through_the_cli_equal_the_kernels() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let _agent = Agent::start(&url, "1s", "e2e-host", dir.path());

    let hosts = wait_for(Duration::from_secs(30), "the host to be up", || {
        let hosts = vigil_json(&url, &["hosts"]);
        let up = hosts
            .as_array()?
            .iter()
            .any(|h| h["host"] == "e2e-host" && h["up"] == true);
        up.then_some(hosts)
    });
    let host = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "e2e-host")
        .unwrap();
    assert!(
        host["last_seen"].as_f64().unwrap() > 1.7e9,
        "last_seen is unix seconds: {host}"
    );
    assert_eq!(
        host["memory_bytes"].as_f64().unwrap(),
        meminfo_kib("MemTotal") * 1024.0
    );

    // MemTotal: a gauge the kernel reports exactly.
    let mem = wait_for(Duration::from_secs(20), "MemTotal", || {
        let r = vigil_json(
            &url,
            &[
                "query",
                r#"node_memory_MemTotal_bytes{host="e2e-host"}[1m]"#,
            ],
        );
        let series = series_values(&r);
        (series.len() == 1 && !series[0].1.is_empty()).then_some(series)
    });
    assert_eq!(mem[0].0["__name__"], "node_memory_MemTotal_bytes");
    assert_eq!(mem[0].0["host"], "e2e-host");
    assert_eq!(mem[0].1.last().unwrap().1, meminfo_kib("MemTotal") * 1024.0);

    // One idle-seconds series per CPU.
    let cpus = vigil_json(
        &url,
        &[
            "series",
            r#"node_cpu_seconds_total{mode="idle",host="e2e-host"}"#,
        ],
    );
    let cpus = cpus.as_array().unwrap();
    assert_eq!(cpus.len(), cpu_count(), "{cpus:?}");
    assert!(
        cpus.iter()
            .all(|s| s["__name__"] == "node_cpu_seconds_total" && s["mode"] == "idle")
    );

    // The size of `/`.
    let root = vigil_json(
        &url,
        &["query", r#"node_filesystem_size_bytes{mountpoint="/"}[1m]"#],
    );
    let root = series_values(&root);
    assert_eq!(root.len(), 1, "{root:?}");
    assert_eq!(root[0].1.last().unwrap().1, root_size_bytes());

    // Regex selectors over names, as Prometheus spells them.
    let names = vigil_json(&url, &["series", r#"{__name__=~"node_load(1|5|15)"}"#]);
    assert_eq!(names.as_array().unwrap().len(), 3);

    // Counters are as read: never decreasing between collections.
    wait_for(Duration::from_secs(20), "three collections", || {
        let r = vigil_json(
            &url,
            &[
                "query",
                r#"node_cpu_seconds_total{cpu="0",mode="idle"}[1m]"#,
            ],
        );
        let s = series_values(&r);
        (s.len() == 1 && s[0].1.len() >= 3).then_some(())
    });
    let r = vigil_json(
        &url,
        &[
            "query",
            r#"node_cpu_seconds_total{cpu="0",mode="idle"}[1m]"#,
        ],
    );
    let values: Vec<f64> = series_values(&r)[0].1.iter().map(|p| p.1).collect();
    assert!(values.windows(2).all(|w| w[1] >= w[0]), "{values:?}");

    // The agent reports its own cost.
    let own = vigil_json(&url, &["query", "vigil_agent_resident_memory_bytes[1m]"]);
    assert!(series_values(&own)[0].1.last().unwrap().1 > 0.0);

    // Table and CSV outputs are there for people and scripts.
    let table = vigil(&url, &["hosts"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("e2e-host") && text.contains("up"), "{text}");
    let csv = vigil(&url, &["query", "node_load1[1m]", "--output", "csv"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(text.lines().next().unwrap().contains("value"), "{text}");
    assert!(text.lines().count() >= 2, "{text}");
}
