//! # vigil-tests
//!
//! Support for end-to-end tests that start the real `vigil-collector`, `vigil-agent` and
//! `vigil` binaries on `127.0.0.1` ports with temporary data directories, and stop them by
//! PID when dropped.
//!
//! # Layout
//! - [`free_port`] ([`ports`]): ports for test servers that nothing else takes meanwhile.
//! - [`Collector`], [`Agent`]: running binaries, killed on drop.
//! - [`vigil`]: runs the CLI and returns its output; [`import_now`] loads samples with it.
//! - [`TestAgent`]: a hand-driven Ingest client, for exact and hostile traffic.
//! - [`certs`]: a CA and certificates for TLS tests.
//! - [`notify_servers`]: SMTP, webhook and Alertmanager servers that notifications reach.
//! - [`packages`]: Debian packages those servers and Prometheus come from, installed when missing.
//! - [`rng`]: the seeded generator behind every synthetic dataset.
//! - [`dataset`], [`prometheus`], [`prom_api`], [`promql_corpus`], [`promql_requests`],
//!   [`promql_compare`]: the PromQL differential test against Prometheus.
//! - [`loadgen`]: the `vigil-loadgen` load generator (simulated fleets, peer datasets).
//! - [`victoria`], [`remote_receiver`]: remote write receivers (VictoriaMetrics, a
//!   recording one in the test process).
//! - [`vmagent`]: vmagent as a remote write sender into the collector.
//! - `e2e/main.rs`: the tests, one module per area, linked into one binary.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod certs;
pub mod client;
pub mod dataset;
pub mod fault_proxy;
pub mod loadgen;
pub mod node_exporter;
pub mod notify_servers;
pub mod packages;
pub mod ports;
pub mod prom_api;
pub mod prometheus;
pub mod promql_compare;
pub mod promql_compliance;
pub mod promql_corpus;
pub mod promql_requests;
pub mod remote_receiver;
pub mod rng;
pub mod tmpfs;
pub mod victoria;
pub mod vmagent;
pub use client::TestAgent;
pub use ports::free_port;

/// Path of a workspace binary, built next to this test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`; scripts/test.sh does it)",
        path.display()
    );
    path
}

/// A real agent sending every second to `url` as `host`, spooling under `dir`
/// (`spool-HOST`, log `agent-HOST.log`), reconnecting within a second. With `skew`
/// (`"+1h"`, `"+120s"`), under Debian's libfaketime preloaded into the agent itself, its
/// monotonic clock left alone (through the `faketime` wrapper a kill of the wrapper would
/// leave the agent running).
pub fn agent_every_second(url: &str, host: &str, dir: &Path, skew: Option<&str>) -> Running {
    let mut cmd = Command::new(bin("vigil-agent"));
    if let Some(skew) = skew {
        packages::ensure_package("faketime", Path::new("/usr/bin/faketime"));
        let lib = std::fs::read_dir("/usr/lib")
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path().join("faketime/libfaketime.so.1"))
            .find(|p| p.exists())
            .expect("libfaketime.so.1 under /usr/lib/*/faketime (apt-get install faketime)");
        cmd.env("LD_PRELOAD", lib)
            .env("FAKETIME", skew)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
    cmd.args(["--collector", url, "--interval", "1s", "--hostname", host])
        .arg("--spool-dir")
        .arg(dir.join(format!("spool-{host}")))
        .env("VIGIL_AGENT__DELIVERY__BACKOFF_MAX", "1s");
    Running::spawn(cmd, dir.join(format!("agent-{host}.log")))
}

/// Polls `check` every 100 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `signal` to process `pid`, which must be a child this test started (a pid is
/// reused once its process is reaped).
pub fn send_signal(pid: u32, signal: libc::c_int) {
    #[allow(unsafe_code)]
    // SAFETY: kill(2) takes two integers; no memory is touched.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// A running process, killed (SIGKILL) when dropped.
pub struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`, and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`libc::SIGHUP`, …) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        send_signal(self.pid(), signal);
    }

    /// SIGTERM, then wait up to 10 s for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "process did not stop within 10 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A collector on a loopback port with its own data directory.
pub struct Collector {
    pub process: Running,
    pub port: u16,
    pub data_dir: PathBuf,
}

impl Collector {
    /// Starts a collector on a fresh port and waits until it accepts connections.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), data_dir, env)
    }

    /// Starts a collector on `port`.
    pub fn start_on(port: u16, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(port, data_dir, env, &[])
    }

    /// Starts a collector that also serves the Prometheus HTTP API on a fresh port; returns
    /// it and the API's base URL (`http://127.0.0.1:<port>`), once both accept connections.
    pub fn start_with_http(data_dir: &Path, env: &[(&str, &str)]) -> (Self, String) {
        let http_port = free_port();
        let listen = format!("127.0.0.1:{http_port}");
        let collector =
            Self::start_with_args(free_port(), data_dir, env, &["--http-listen", &listen]);
        wait_for(Duration::from_secs(10), "the HTTP API to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", http_port)).ok()
        });
        (collector, format!("http://{listen}"))
    }

    /// Starts a collector on `port` with the config file `config`.
    pub fn start_with_config(
        port: u16,
        data_dir: &Path,
        config: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_with_args(port, data_dir, env, &["--config", config.to_str().unwrap()])
    }

    /// Starts a collector on `port` with extra command-line arguments.
    pub fn start_with_args(
        port: u16,
        data_dir: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let mut cmd = Command::new(bin("vigil-collector"));
        cmd.arg("--grpc-listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let log = data_dir.with_extension(format!("collector-{port}.log"));
        let mut process = Running::spawn(cmd, log);
        wait_for(Duration::from_secs(30), "the collector to listen", || {
            assert!(process.alive(), "collector exited:\n{}", process.log());
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Self {
            process,
            port,
            data_dir: data_dir.to_owned(),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Starts a collector with the HTTP API (see [`Collector::start_with_http`]) and imports
/// the OpenMetrics file `file` into it with `vigil import`; returns it and the API's URL.
pub fn collector_with_import(data_dir: &Path, file: &Path) -> (Collector, String) {
    let (collector, url) = Collector::start_with_http(data_dir, &[]);
    let out = vigil(&collector.url(), &["import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "vigil import failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (collector, url)
}

/// A real agent streaming to a collector.
pub struct Agent {
    pub process: Running,
}

impl Agent {
    /// Starts `vigil-agent --collector URL --interval DUR --hostname NAME`, spooling in
    /// `log_dir/spool-NAME`.
    pub fn start(url: &str, interval: &str, hostname: &str, log_dir: &Path) -> Self {
        let mut cmd = Command::new(bin("vigil-agent"));
        cmd.args([
            "--collector",
            url,
            "--interval",
            interval,
            "--hostname",
            hostname,
        ])
        .arg("--spool-dir")
        .arg(log_dir.join(format!("spool-{hostname}")))
        .env("RUST_LOG", "info");
        let log = log_dir.join(format!("agent-{hostname}.log"));
        Self {
            process: Running::spawn(cmd, log),
        }
    }
}

/// `metric{host=HOST}` over the last 15 minutes as the CLI reads it, by time in ms.
pub fn stored_last_15m(url: &str, metric: &str, host: &str) -> BTreeMap<i64, f64> {
    let query = format!(r#"{metric}{{host="{host}"}}[15m]"#);
    let result = vigil_json(url, &["query", &query]);
    series_values(&result)
        .first()
        .map(|(_, values)| samples_by_ms(values))
        .unwrap_or_default()
}

/// Checks that `samples` of `vigil_agent_rounds_total` hold every round 1, 2, … n once and
/// in order (none lost, none doubled); returns n.
pub fn assert_every_round(samples: &BTreeMap<i64, f64>) -> u64 {
    let rounds: Vec<u64> = samples.values().map(|v| *v as u64).collect();
    let last = rounds.last().copied().unwrap_or(0);
    assert_eq!(
        rounds,
        (1..=last).collect::<Vec<u64>>(),
        "every round, in order, none missing or doubled"
    );
    last
}

/// Runs `vigil --collector URL ARGS…` and returns its output.
pub fn vigil(url: &str, args: &[&str]) -> Output {
    Command::new(bin("vigil"))
        .arg("--collector")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

/// Runs the CLI with `--output json` and parses stdout; panics with stderr on failure.
pub fn vigil_json(url: &str, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = vigil(url, &all);
    assert!(
        out.status.success(),
        "vigil {all:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "vigil {all:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The series of the instant query `expr` through `vigil query`, as (labels, value).
pub fn query_vector(url: &str, expr: &str) -> Vec<(serde_json::Value, f64)> {
    let data = vigil_json(url, &["query", expr]);
    data["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{expr}: {data}"))
        .iter()
        .map(|s| {
            let v = s["value"][1].as_str().unwrap().parse::<f64>().unwrap();
            (s["metric"].clone(), v)
        })
        .collect()
}

/// Waits until `vigil hosts` shows `host` as up (or down, with `up` false).
pub fn wait_for_host(url: &str, host: &str, up: bool, timeout: Duration) {
    let state = if up { "up" } else { "down" };
    wait_for(timeout, &format!("host {host} to be {state}"), || {
        let hosts = vigil_json(url, &["hosts"]);
        hosts
            .as_array()?
            .iter()
            .any(|h| h["host"] == host && h["up"] == up)
            .then_some(())
    });
}

/// The samples of every series in a `vigil query --output json` result (the Prometheus
/// `data` object of a matrix, or of a vector: one sample each), as (seconds, value).
pub fn series_values(result: &serde_json::Value) -> Vec<(serde_json::Value, Vec<(f64, f64)>)> {
    result["result"]
        .as_array()
        .unwrap_or_else(|| panic!("not a vector or matrix: {result}"))
        .iter()
        .map(|s| {
            let one = [s["value"].clone()];
            let values = s["values"]
                .as_array()
                .map_or(&one[..], |v| &v[..])
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_f64().unwrap(),
                        pair[1].as_str().unwrap().parse::<f64>().unwrap(),
                    )
                })
                .collect();
            (s["metric"].clone(), values)
        })
        .collect()
}

/// The samples of one series from [`series_values`], keyed by their time in milliseconds.
pub fn samples_by_ms(values: &[(f64, f64)]) -> BTreeMap<i64, f64> {
    values
        .iter()
        .map(|(t, v)| ((t * 1000.0).round() as i64, *v))
        .collect()
}

/// Time since the Unix epoch, by the wall clock (what the collector stamps with).
fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    since_epoch().as_millis() as i64
}

/// The current time in Unix seconds.
pub fn now_s() -> f64 {
    since_epoch().as_secs_f64()
}

/// A command's stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that a command exited with `code` and wrote every one of `needles` to stderr;
/// returns its stderr.
pub fn assert_exit(out: &Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(needles.iter().all(|n| err.contains(n)), "{err}");
    err
}

/// Runs `vigil --collector URL ARGS…`; panics with its stderr unless it succeeds.
pub fn vigil_ok(url: &str, args: &[&str]) -> Output {
    let out = vigil(url, args);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// Imports `text` (OpenMetrics) through `vigil import`, the file going in `dir`; panics
/// with the CLI's stderr if it is refused.
pub fn import_text(url: &str, dir: &Path, text: &str) {
    let file = dir.join("import.om");
    std::fs::write(&file, text).unwrap();
    vigil_ok(url, &["import", file.to_str().unwrap()]);
}

/// Imports samples `name{host="…"} value`, all stamped now, in one `vigil import` (so one
/// rule evaluation sees them all); panics with the CLI's stderr if it is refused.
pub fn import_all_now(url: &str, dir: &Path, samples: &[(&str, &str, f64)]) {
    let now = now_s();
    let mut text = String::new();
    for (name, host, value) in samples {
        text.push_str(&format!("{name}{{host=\"{host}\"}} {value} {now:.3}\n"));
    }
    text.push_str("# EOF\n");
    import_text(url, dir, &text);
}

/// Imports one sample `name{host="…"} value`, stamped now, through `vigil import`.
pub fn import_now(url: &str, dir: &Path, name: &str, host: &str, value: f64) {
    import_all_now(url, dir, &[(name, host, value)]);
}

/// Collector settings that evaluate the rule file `rules` every second (no fsync).
pub fn rules_settings(rules: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "VIGIL_COLLECTOR__RULES__FILES",
            format!("[{:?}]", rules.display().to_string()),
        ),
        ("VIGIL_COLLECTOR__RULES__EVALUATION_INTERVAL", "1s".into()),
        ("VIGIL_COLLECTOR__STORAGE__SYNC", "false".into()),
    ]
}

/// Borrows owned settings (such as [`rules_settings`]) as the `(name, value)` pairs
/// [`Collector::start`] takes.
pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A builder for HTTP clients in tests. In a workspace build, reqwest's rustls support is
/// switched on without a built-in crypto provider (the collector brings its own for
/// webhooks), and a client then needs a process-wide provider: ring is installed first.
pub fn http_client() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Err only when another provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}
