//! Prometheus' target labels end to end: real agents send `job` and `instance` (defaults
//! and set ones), the collector writes `up` 1 while a host reports and 0 once it is silent
//! (here after `kill -9` of its agent), and `[[relabel]]` renames, drops and keeps labels.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;
use vigil_tests::{Agent, Collector, Running, bin, series_values, vigil_json, wait_for};

/// The series of `query` (a range selector) once every one has a sample.
fn series(url: &str, query: &str) -> Vec<(serde_json::Value, Vec<(f64, f64)>)> {
    series_values(&vigil_json(url, &["query", query]))
}

#[test]
fn agents_carry_job_and_instance_up_follows_them_and_relabel_applies() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        r#"
[[relabel]]
source_labels = ["dc"]
target_label = "datacenter"

[[relabel]]
action = "labeldrop"
regex = "dc"

[[relabel]]
action = "drop"
source_labels = ["__name__"]
regex = "node_load(5|15)"
"#,
    )
    .unwrap();
    let collector = Collector::start_with_config(
        vigil_tests::free_port(),
        &dir.path().join("data"),
        &config,
        &[],
    );
    let url = collector.url();
    let _plain = Agent::start(&url, "1s", "e2e-plain", dir.path());
    let agent_config = dir.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            "collector = \"{url}\"\ninterval = \"1s\"\nhostname = \"e2e-edge\"\n\
             job = \"edge\"\ninstance = \"edge-1:9100\"\n[labels]\ndc = \"fra1\"\n\
             [delivery]\nspool_dir = \"{}\"\n",
            dir.path().join("spool-edge").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.arg("--config")
        .arg(&agent_config)
        .env("RUST_LOG", "info");
    let mut edge = Running::spawn(cmd, dir.path().join("agent-edge.log"));

    // Defaults: job="node", instance = the host name, on the samples and on up.
    let plain = wait_for(Duration::from_secs(30), "e2e-plain's up", || {
        let s = series(&url, r#"up{host="e2e-plain"}[30s]"#);
        (s.len() == 1 && !s[0].1.is_empty()).then_some(s)
    });
    assert_eq!(plain[0].0["job"], "node");
    assert_eq!(plain[0].0["instance"], "e2e-plain");
    assert!(plain[0].1.iter().all(|(_, v)| *v == 1.0), "{plain:?}");
    let load = series(&url, r#"node_load1{host="e2e-plain"}[30s]"#);
    assert_eq!(load[0].0["job"], "node");
    assert_eq!(load[0].0["instance"], "e2e-plain");

    // Set ones, relabelled: dc became datacenter; node_load5 and 15 were dropped.
    let edge_load = wait_for(Duration::from_secs(30), "e2e-edge's load", || {
        let s = series(&url, r#"{__name__=~"node_load.*", host="e2e-edge"}[30s]"#);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(edge_load.len(), 1, "only node_load1 is kept: {edge_load:?}");
    let labels = &edge_load[0].0;
    assert_eq!(labels["job"], "edge");
    assert_eq!(labels["instance"], "edge-1:9100");
    assert_eq!(labels["datacenter"], "fra1");
    assert!(labels.get("dc").is_none(), "dc was dropped: {labels}");
    let up = series(&url, r#"up{job="edge"}[30s]"#);
    assert_eq!(up[0].0["instance"], "edge-1:9100");
    assert_eq!(up[0].0["datacenter"], "fra1");

    // Silent after kill -9: up goes to 0 (two intervals and 5 s, then the next
    // housekeeping round), while the other host stays at 1.
    edge.kill9();
    wait_for(Duration::from_secs(60), "e2e-edge's up to be 0", || {
        let s = series(&url, r#"up{host="e2e-edge"}[20s]"#);
        (s.len() == 1 && s[0].1.last().is_some_and(|(_, v)| *v == 0.0)).then_some(())
    });
    let plain = series(&url, r#"up{host="e2e-plain"}[5s]"#);
    assert_eq!(plain[0].1.last().unwrap().1, 1.0, "{plain:?}");
}
