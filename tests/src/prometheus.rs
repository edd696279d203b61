//! Debian's Prometheus as a reference implementation: installs it when missing, backfills
//! an OpenMetrics file with `promtool`, and runs the server on a loopback port with its own
//! storage directory and an empty scrape configuration (the package's own service, if any,
//! is never used).

use crate::{Running, free_port, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Installs Debian's `prometheus` package (server and `promtool`) when either is missing.
pub fn ensure_installed() {
    if !Path::new("/usr/bin/prometheus").exists() {
        crate::packages::ensure_package("prometheus", Path::new("/usr/bin/prometheus"));
    }
    crate::packages::ensure_package("prometheus", Path::new("/usr/bin/promtool"));
}

/// Writes TSDB blocks for the OpenMetrics file `input` into `dir`.
pub fn backfill(input: &Path, dir: &Path) {
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(input)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool could not backfill {}:\n{}\n{}",
        input.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running Prometheus server, killed when dropped.
pub struct Prometheus {
    /// The server process.
    pub process: Running,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
}

impl Prometheus {
    /// Starts Prometheus over the TSDB in `data_dir` (kept for ten years, so backfilled
    /// blocks are never dropped) and waits until `/-/ready` answers.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with_config(
            data_dir,
            "global:\n  scrape_interval: 1h\nscrape_configs: []\n",
        )
    }

    /// Starts Prometheus over the TSDB in `data_dir` with the configuration file `yaml`
    /// (scrape configs, `remote_write`…), and waits until `/-/ready` answers.
    pub fn start_with_config(data_dir: &Path, yaml: &str) -> Self {
        let config = data_dir.with_extension("prometheus.yml");
        std::fs::write(&config, yaml).unwrap();
        let port = free_port();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data_dir.display()))
            .arg("--storage.tsdb.retention.time=3650d")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        let log = data_dir.with_extension("prometheus.log");
        let mut process = Running::spawn(cmd, log);
        wait_for(Duration::from_secs(60), "Prometheus to be ready", || {
            assert!(process.alive(), "prometheus exited:\n{}", process.log());
            http_ok(port, "/-/ready").then_some(())
        });
        Self { process, port }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts Prometheus as a remote write receiver (`--web.enable-remote-write-receiver`,
    /// nothing scraped) on `port` over the TSDB in `data_dir`, and waits until `/-/ready`
    /// answers (after its WAL is replayed). Start it with a port from [`free_port`]; to
    /// restart it after an outage, stop the process and call this again with the same port
    /// and directory. Each start logs to its own file beside the directory (its rejections,
    /// such as "Out of order sample from remote write", are logged at error level).
    pub fn start_receiver_on(port: u16, data_dir: &Path) -> Self {
        let config = data_dir.with_extension("receiver.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 1h\nscrape_configs: []\n",
        )
        .unwrap();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data_dir.display()))
            .arg("--storage.tsdb.retention.time=3650d")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--log.level=warn");
        let log = data_dir.with_extension(format!("receiver-{}.log", crate::now_ms()));
        let mut process = Running::spawn(cmd, log);
        wait_for(Duration::from_secs(120), "Prometheus to be ready", || {
            assert!(process.alive(), "prometheus exited:\n{}", process.log());
            http_ok(port, "/-/ready").then_some(())
        });
        Self { process, port }
    }

    /// The remote write endpoint, `http://127.0.0.1:<port>/api/v1/write`.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }
}

/// Whether `GET path` on 127.0.0.1:`port` answers 200 (a bare HTTP/1.0 request, so that no
/// client library or runtime is needed while waiting).
pub fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}
