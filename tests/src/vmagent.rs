//! vmagent, from Debian's `victoria-metrics` package, as a remote write sender: installs it
//! when missing and runs it on a loopback port with its own scrape configuration and disk
//! queue directory (the package's own service, if any, is never used).

use crate::{Running, free_port, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Where Debian's package puts the binary.
pub const BINARY: &str = "/usr/bin/vmagent";

/// Installs Debian's `victoria-metrics` package when vmagent is missing.
pub fn ensure_installed() {
    crate::packages::ensure_package("victoria-metrics", Path::new(BINARY));
}

/// A running vmagent, killed when dropped.
pub struct Vmagent {
    /// The process.
    pub process: Running,
    /// Its own HTTP port on 127.0.0.1 (`/metrics`, `/targets`).
    pub port: u16,
}

impl Vmagent {
    /// Starts vmagent in `dir` scraping as `scrape_yaml` (a Prometheus configuration with
    /// `scrape_configs`) and writing to `write_url` with bearer `token`, its disk queue in
    /// `dir/vmagent-queue`; waits until its `/health` answers.
    pub fn start(dir: &Path, scrape_yaml: &str, write_url: &str, token: &str) -> Self {
        ensure_installed();
        let config = dir.join("vmagent.yml");
        std::fs::write(&config, scrape_yaml).unwrap();
        let port = free_port();
        let mut cmd = Command::new(BINARY);
        cmd.arg(format!("-promscrape.config={}", config.display()))
            .arg(format!("-remoteWrite.url={write_url}"))
            .arg(format!("-remoteWrite.bearerToken={token}"))
            .arg(format!(
                "-remoteWrite.tmpDataPath={}",
                dir.join("vmagent-queue").display()
            ))
            .arg("-remoteWrite.flushInterval=1s")
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-loggerLevel=WARN");
        let mut process = Running::spawn(cmd, dir.join("vmagent.log"));
        wait_for(Duration::from_secs(30), "vmagent to be healthy", || {
            assert!(process.alive(), "vmagent exited:\n{}", process.log());
            crate::prometheus::http_ok(port, "/health").then_some(())
        });
        Self { process, port }
    }
}
