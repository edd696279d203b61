//! Debian's VictoriaMetrics (single node) as a remote write receiver: installs it when
//! missing, runs it on a loopback port over its own data directory (the package's own
//! service, if any, is never used), stops and restarts it on the same port and directory,
//! and reads back what it holds: PromQL answers and the raw samples of `/api/v1/export`.
//!
//! Also [`http_get`], a blocking GET for any of the HTTP servers of a test (VictoriaMetrics,
//! Prometheus, the collector's API and `/metrics`), with no runtime needed.

use crate::dataset::seconds;
use crate::{Running, free_port, wait_for};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The server binary of Debian's `victoria-metrics` package.
const BINARY: &str = "/usr/bin/victoria-metrics";

/// Installs Debian's `victoria-metrics` package when its server is missing.
pub fn ensure_installed() {
    crate::packages::ensure_package("victoria-metrics", Path::new(BINARY));
}

/// A series as `/api/v1/export` gives it: its labels (`__name__` included) and its raw
/// samples as (Unix milliseconds, value), in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The label set.
    pub labels: BTreeMap<String, String>,
    /// The samples.
    pub samples: Vec<(i64, f64)>,
}

/// A running VictoriaMetrics, killed when dropped.
pub struct Victoria {
    /// The server process.
    pub process: Running,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// Its `-storageDataPath`.
    pub data_dir: PathBuf,
    /// Starts so far (each logs to its own file).
    starts: u32,
}

impl Victoria {
    /// Installs VictoriaMetrics when missing, starts it on a port from [`free_port`] over
    /// `data_dir` and waits until `/health` answers.
    pub fn start(data_dir: &Path) -> Self {
        ensure_installed();
        let port = free_port();
        Self {
            process: launch(port, data_dir, 0),
            port,
            data_dir: data_dir.to_owned(),
            starts: 1,
        }
    }

    /// SIGTERM (VictoriaMetrics flushes what it holds), and wait for the exit.
    pub fn stop(&mut self) {
        if self.process.alive() {
            self.process.terminate();
        }
    }

    /// Stops it if it runs, then starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.process = launch(self.port, &self.data_dir, self.starts);
        self.starts += 1;
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The remote write endpoint, `http://127.0.0.1:<port>/api/v1/write`.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// Makes every sample received so far searchable (`/internal/force_flush`).
    pub fn flush(&self) {
        let (status, body) = http_get(self.port, "/internal/force_flush", &[]);
        assert_eq!(status, 200, "VictoriaMetrics refused to flush: {body}");
    }

    /// `/api/v1/query` of `query` at `time_s` (Unix seconds, fractions allowed), after a
    /// [`flush`](Self::flush); returns the `data` object, panicking on an error answer.
    pub fn query(&self, query: &str, time_s: f64) -> serde_json::Value {
        self.flush();
        let time = format!("{time_s:.3}");
        let (status, body) = http_get(
            self.port,
            "/api/v1/query",
            &[("query", query), ("time", &time)],
        );
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| {
            panic!("VictoriaMetrics answered {status} with no JSON ({e}): {body}")
        });
        assert!(
            status == 200 && answer["status"] == "success",
            "VictoriaMetrics refused {query:?}: {status} {body}"
        );
        answer["data"].clone()
    }

    /// The raw samples of every series matching `selector` between `start_ms` and `end_ms`
    /// (both included), after a [`flush`](Self::flush), sorted by labels.
    pub fn export(&self, selector: &str, start_ms: i64, end_ms: i64) -> Vec<Exported> {
        self.flush();
        let (start, end) = (seconds(start_ms), seconds(end_ms));
        let (status, body) = http_get(
            self.port,
            "/api/v1/export",
            &[("match[]", selector), ("start", &start), ("end", &end)],
        );
        assert_eq!(
            status, 200,
            "VictoriaMetrics refused to export {selector}: {body}"
        );
        let mut series: Vec<Exported> = body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_export_line)
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        series
    }
}

/// One line of `/api/v1/export`: `{"metric":{…},"values":[…],"timestamps":[…]}`. A staleness
/// marker (printed as a bare `NaN`, not JSON) is read as NaN.
fn parse_export_line(line: &str) -> Exported {
    // The labels come first; only the numbers after them may hold a bare NaN.
    let json = match line.find("\"values\":") {
        Some(at) => format!("{}{}", &line[..at], line[at..].replace("NaN", "null")),
        None => line.to_owned(),
    };
    let value: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("not an export line ({e}): {line}"));
    let labels = value["metric"]
        .as_object()
        .unwrap_or_else(|| panic!("export line without metric: {line}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let values = value["values"].as_array().cloned().unwrap_or_default();
    let timestamps = value["timestamps"].as_array().cloned().unwrap_or_default();
    assert_eq!(values.len(), timestamps.len(), "{line}");
    let samples = timestamps
        .iter()
        .zip(&values)
        .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap_or(f64::NAN)))
        .collect();
    Exported { labels, samples }
}

/// Starts the server on `port` over `data_dir`, logging to a file beside the directory
/// (numbered by `start`), and waits until `/health` answers.
fn launch(port: u16, data_dir: &Path, start: u32) -> Running {
    let mut cmd = Command::new(BINARY);
    cmd.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", data_dir.display()))
        // Samples stamped at any date stay: a century.
        .arg("-retentionPeriod=100y")
        // Fresh samples are answered at once, and every answer is computed afresh.
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache")
        .arg("-loggerLevel=WARN");
    let log = data_dir.with_extension(format!("victoria-{start}.log"));
    let mut process = Running::spawn(cmd, log);
    wait_for(
        Duration::from_secs(60),
        "VictoriaMetrics to be healthy",
        || {
            assert!(
                process.alive(),
                "victoria-metrics exited:\n{}",
                process.log()
            );
            crate::prometheus::http_ok(port, "/health").then_some(())
        },
    );
    process
}

/// `GET path?params` on 127.0.0.1:`port` (parameters URL-encoded) as a bare HTTP/1.0
/// request, read to the end: the status (0 when nothing answered) and the body.
pub fn http_get(port: u16, path: &str, params: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let url = reqwest::Url::parse_with_params(&format!("http://127.0.0.1:{port}{path}"), params)
        .unwrap_or_else(|e| panic!("bad request {path} {params:?}: {e}"));
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, format!("nothing listens on 127.0.0.1:{port}"));
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let request = format!("GET {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut raw = Vec::new();
    if let Err(e) = stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.read_to_end(&mut raw))
    {
        return (0, format!("GET {target} on port {port} failed: {e}"));
    }
    let text = String::from_utf8_lossy(&raw);
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
    fn export_lines_are_read_with_staleness_markers() {
        let line = r#"{"metric":{"__name__":"x","site":"NaN"},"values":[1.5,NaN,3],"timestamps":[1000,2000,3000]}"#;
        let e = parse_export_line(line);
        assert_eq!(e.labels["__name__"], "x");
        assert_eq!(e.labels["site"], "NaN");
        assert_eq!(e.samples[0], (1000, 1.5));
        assert!(e.samples[1].1.is_nan());
        assert_eq!(e.samples[2], (3000, 3.0));
    }
}
