//! Debian's Alertmanager as a receiver of forwarded alerts.

use crate::packages::ensure_package;
use crate::{Running, free_port, wait_for};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Debian's Alertmanager on a loopback port, with a null receiver, its own storage
/// directory and no clustering; killed when dropped.
pub struct Alertmanager {
    /// The process.
    pub process: Running,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Installs `prometheus-alertmanager` when missing, starts it and waits for `/-/ready`.
    pub fn start() -> Self {
        let binary = Path::new("/usr/bin/prometheus-alertmanager");
        ensure_package("prometheus-alertmanager", binary);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n",
        )
        .unwrap();
        let port = free_port();
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn");
        let mut process = Running::spawn(cmd, dir.path().join("alertmanager.log"));
        wait_for(Duration::from_secs(60), "Alertmanager to be ready", || {
            assert!(process.alive(), "alertmanager exited:\n{}", process.log());
            crate::prometheus::http_ok(port, "/-/ready").then_some(())
        });
        Self {
            process,
            port,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds (a JSON array).
    pub fn alerts(&self) -> serde_json::Value {
        let (status, body) = http_get(self.port, "/api/v2/alerts");
        assert_eq!(status, 200, "GET /api/v2/alerts: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    /// Waits until `/api/v2/alerts` holds an alert whose labels include all of `labels`;
    /// returns that alert.
    pub fn wait_for_alert(&self, labels: &[(&str, &str)], timeout: Duration) -> serde_json::Value {
        let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
        wait_for(timeout, &format!("Alertmanager to hold {want:?}"), || {
            self.alerts().as_array()?.iter().find_map(|a| {
                want.iter()
                    .all(|(k, v)| a["labels"][*k] == *v)
                    .then(|| a.clone())
            })
        })
    }
}

/// A bare HTTP/1.0 GET on 127.0.0.1:`port`: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alertmanager_starts_and_lists_no_alerts() {
        let am = Alertmanager::start();
        assert_eq!(am.alerts(), serde_json::json!([]));
    }
}
