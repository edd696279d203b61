//! Bad command lines and bad configuration get a clear error naming what was wrong.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::process::Command;
use vigil_tests::{Collector, assert_exit, bin, free_port, stderr, stdout, vigil};

#[test]
fn cli_says_when_the_collector_is_unreachable() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = vigil(&url, &["hosts"]);
    assert_exit(&out, 1, &["cannot reach", &url]);
}

#[test]
fn cli_names_bad_selectors_and_durations() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let out = vigil(&url, &["series", "rate(node_cpu_seconds_total[5m])"]);
    assert_exit(&out, 1, &["expected a series selector"]);
    let out = vigil(&url, &["series", r#"{job=~".*"}"#]);
    let err = stderr(&out);
    assert!(
        err.contains("non-empty matcher") || err.contains("empty string"),
        "{err}"
    );
    let out = vigil(&url, &["query", "node_load1", "--range", "fortnight"]);
    assert_exit(&out, 2, &["fortnight"]);
    let out = vigil(&url, &["query", "node_load1", "--step", "15s"]);
    assert_exit(&out, 2, &["--range"]);
    let out = vigil(&url, &["query", "node_load1", "--at", "yesterday"]);
    assert_exit(&out, 2, &["invalid time \"yesterday\""]);
    let out = vigil(&url, &["query", "rate(node_load1)"]);
    assert_exit(&out, 1, &["cannot evaluate \"rate(node_load1)\": bad_data"]);
    let out = vigil(&url, &["hosts", "--output", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    // An empty store answers with empty results, not errors.
    let out = vigil(&url, &["query", "node_load1", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        r#"{"resultType":"vector","result":[]}"#
    );
    let out = vigil(
        &url,
        &["query", "node_load1[5m]", "--range", "1h", "-o", "json"],
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "a range query of a range vector is refused"
    );
    let out = vigil(&url, &["host", "nowhere"]);
    assert_exit(&out, 1, &["no host named \"nowhere\""]);
}

#[test]
fn collector_config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        "[storage]\ndata_dir = \"x\"\n[limits]\nmax_series_per_hots = 5\n",
    )
    .unwrap();
    let out = Command::new(bin("vigil-collector"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_exit(&out, 2, &["max_series_per_hots"]);

    let out = Command::new(bin("vigil-collector"))
        .args(["--grpc-listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("d"))
        .output()
        .unwrap();
    assert_exit(&out, 2, &["server.grpc_listen"]);

    let out = Command::new(bin("vigil-collector"))
        .args(["--data-dir"])
        .arg(dir.path().join("d"))
        .env("VIGIL_COLLECTOR__HOSTS__DOWN_AFTER", "later")
        .output()
        .unwrap();
    assert_exit(&out, 2, &["\"later\" is not a duration"]);
}

#[test]
fn agent_config_errors_name_the_key_and_once_prints_samples() {
    let out = Command::new(bin("vigil-agent"))
        .args(["--interval", "100ms"])
        .output()
        .unwrap();
    assert_exit(&out, 2, &["interval"]);
    let out = Command::new(bin("vigil-agent"))
        .args(["--label", "1x=y"])
        .output()
        .unwrap();
    assert_exit(&out, 2, &["labels.1x"]);
    let out = Command::new(bin("vigil-agent"))
        .arg("--once")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("node_memory_MemTotal_bytes ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}")),
        "{text}"
    );
}
