//! The memory budget with the real collector inside a memory cgroup of the test's own
//! (v2 `memory.max`, or v1 `memory.limit_in_bytes` where the machine has cgroup v1):
//!
//! - without `limits.max_memory_bytes`, the budget is 60 % of the cgroup's limit;
//! - with a budget, a flood of new series (40 load generator hosts × 10,000 series at once)
//!   is refused with `RESOURCE_EXHAUSTED` naming the budget once the collector passes 90 %
//!   of it, while a real agent's existing series keep flowing; the collector is not
//!   OOM-killed, and every sample the load generator had acknowledged is stored.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_tests::{
    Collector, Running, assert_every_round, bin, free_port, stored_last_15m, vigil_json, wait_for,
};

const MIB: u64 = 1 << 20;

/// A memory cgroup made for the test, removed when dropped (after its processes end).
struct Cgroup {
    dir: PathBuf,
    /// The file a process is moved in by writing its pid.
    procs: PathBuf,
}

impl Cgroup {
    /// A cgroup limited to `bytes` of memory.
    fn new(name: &str, bytes: u64) -> Self {
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let (dir, limit_file) = if v2 {
            let dir = Path::new("/sys/fs/cgroup").join(name);
            (dir, "memory.max")
        } else {
            let dir = Path::new("/sys/fs/cgroup/memory").join(name);
            (dir, "memory.limit_in_bytes")
        };
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("creating the cgroup {} (needs root): {e}", dir.display()));
        std::fs::write(dir.join(limit_file), bytes.to_string()).unwrap();
        let procs = dir.join("cgroup.procs");
        Self { dir, procs }
    }

    /// The collector started inside the cgroup (a shell moves itself in, then becomes the
    /// collector), over `data`, with its HTTP API on `http`.
    fn collector(&self, port: u16, http: u16, data: &Path, env: &[(&str, &str)]) -> Collector {
        let script = format!("echo $$ > {} && exec \"$0\" \"$@\"", self.procs.display());
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(bin("vigil-collector"))
            .args(["--grpc-listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data)
            .args(["--http-listen", &format!("127.0.0.1:{http}")])
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = Running::spawn(cmd, data.with_extension("collector.log"));
        wait_for(Duration::from_secs(30), "the collector to listen", || {
            assert!(process.alive(), "collector exited:\n{}", process.log());
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Collector {
            process,
            port,
            data_dir: data.to_owned(),
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `vigil_collector_samples_accepted_total` from `/metrics`.
fn accepted(http: u16) -> u64 {
    let (_, text) = vigil_tests::victoria::http_get(http, "/metrics", &[]);
    text.lines()
        .find_map(|l| l.strip_prefix("vigil_collector_samples_accepted_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap() as u64
}

#[test]
fn without_a_setting_the_budget_is_a_share_of_the_cgroups_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cgroup = Cgroup::new(
        &format!("vigil-test-budget-{}", std::process::id()),
        512 * MIB,
    );
    let collector = cgroup.collector(free_port(), free_port(), &dir.path().join("data"), &[]);
    let status = vigil_json(&collector.url(), &["status"]);
    assert_eq!(
        status["memory_budget_bytes"].as_u64(),
        Some((512.0 * MIB as f64 * 0.6) as u64),
        "{status}"
    );
    drop(collector);
}

#[test]
fn past_the_budget_new_series_are_refused_existing_ones_flow_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let cgroup = Cgroup::new(
        &format!("vigil-test-flood-{}", std::process::id()),
        768 * MIB,
    );
    let (port, http) = (free_port(), free_port());
    let budget = (160 * MIB).to_string();
    let env = [("VIGIL_COLLECTOR__LIMITS__MAX_MEMORY_BYTES", budget.as_str())];
    let mut collector = cgroup.collector(port, http, &dir.path().join("data"), &env);
    let url = collector.url();
    let host = "mem-agent";
    let mut agent = Command::new(bin("vigil-agent"));
    agent
        .args(["--collector", &url, "--interval", "1s", "--hostname", host])
        .arg("--spool-dir")
        .arg(dir.path().join("spool"));
    let agent = Running::spawn(agent, dir.path().join("agent.log"));
    wait_for(Duration::from_secs(30), "the agent's first rounds", || {
        (stored_last_15m(&url, "vigil_agent_rounds_total", host).len() >= 3).then_some(())
    });

    // 400,000 new series at once.
    let out = Command::new(bin("vigil-loadgen"))
        .args([
            "--collector",
            &url,
            "--hosts",
            "40",
            "--series-per-host",
            "10000",
        ])
        .args(["--interval", "10s", "--duration", "30s", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let why = report["first_rejection"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("code 8:") && why.contains("memory budget of 160 MiB"),
        "{report}"
    );
    assert!(collector.process.alive(), "{}", collector.process.log());
    // Every sample was acknowledged or refused in so many words, none left hanging; every
    // acknowledged one is stored (the agent's count with them).
    assert_eq!(report["lost_samples"], 0, "{report}");
    let acked = report["acked_samples"].as_u64().unwrap();
    let stored = accepted(http);
    assert!(stored >= acked, "{acked} acknowledged, {stored} stored");
    // The agent's series went on throughout, every round once.
    let before = stored_last_15m(&url, "vigil_agent_rounds_total", host).len();
    wait_for(Duration::from_secs(30), "more agent rounds", || {
        (stored_last_15m(&url, "vigil_agent_rounds_total", host).len() >= before + 3).then_some(())
    });
    assert_every_round(&stored_last_15m(&url, "vigil_agent_rounds_total", host));
    let log = collector.process.log();
    assert!(
        log.contains("new series are refused until memory drops"),
        "{log}"
    );
    drop(agent);
    collector.process.kill9();
}
