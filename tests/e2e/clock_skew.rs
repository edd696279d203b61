//! A host whose clock is an hour ahead, with the real binaries: one agent under
//! `faketime +1h` (its monotonic clock left alone), one on time. The skewed host's samples
//! are refused (`limits.max_future` is 10 minutes) and counted for that host; `vigil
//! hosts` and `vigil host` show the skew, `vigil_host_clock_skew_seconds` carries it, and
//! the built-in `HostClockSkew` rule takes it up.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;
use vigil_tests::packages::ensure_package;
use vigil_tests::{Collector, Running, series_values, vigil, vigil_json, wait_for};

fn agent(url: &str, host: &str, dir: &Path, faketime: Option<&str>) -> Running {
    vigil_tests::agent_every_second(url, host, dir, faketime)
}

/// The host's entry in `vigil hosts --output json`.
fn host_entry(url: &str, host: &str) -> Option<serde_json::Value> {
    vigil_json(url, &["hosts"])
        .as_array()?
        .iter()
        .find(|h| h["host"] == host)
        .cloned()
}

#[test]
fn an_agent_an_hour_ahead_is_refused_counted_shown_and_warned_about() {
    ensure_package("faketime", Path::new("/usr/bin/faketime"));
    let dir = tempfile::tempdir().unwrap();
    let (collector, base) = Collector::start_with_http(
        &dir.path().join("data"),
        &[("VIGIL_COLLECTOR__RULES__EVALUATION_INTERVAL", "1s")],
    );
    let url = collector.url();
    let _skewed = agent(&url, "skewed", dir.path(), Some("+1h"));
    let _on_time = agent(&url, "on-time", dir.path(), None);

    let skewed = wait_for(
        Duration::from_secs(30),
        "the skewed host's refusals",
        || {
            host_entry(&url, "skewed").filter(|h| {
                h["samples_refused"].as_u64() > Some(0) && h["clock_skew_seconds"].is_number()
            })
        },
    );
    let skew = skewed["clock_skew_seconds"].as_f64().unwrap();
    assert!((skew - 3600.0).abs() < 30.0, "{skewed}");
    let on_time = wait_for(Duration::from_secs(30), "the on-time host", || {
        host_entry(&url, "on-time").filter(|h| h["clock_skew_seconds"].is_number())
    });
    assert!(
        on_time["clock_skew_seconds"].as_f64().unwrap().abs() < 1.0,
        "{on_time}"
    );
    assert_eq!(on_time["samples_refused"], 0, "{on_time}");

    let table = String::from_utf8_lossy(&vigil(&url, &["hosts"]).stdout).into_owned();
    let line = table.lines().find(|l| l.starts_with("skewed")).unwrap();
    assert!(line.contains("+1h 0m"), "{table}");
    let detail = String::from_utf8_lossy(&vigil(&url, &["host", "skewed"]).stdout).into_owned();
    assert!(
        detail.lines().any(|l| l.starts_with("CLOCK")
            && l.contains("1h 0m ahead; ")
            && l.contains("samples refused")),
        "{detail}"
    );

    // The skew as a series, and the built-in rule pending on it (it fires after 5 minutes).
    let series = wait_for(
        Duration::from_secs(30),
        "vigil_host_clock_skew_seconds",
        || {
            let r = vigil_json(
                &url,
                &["query", r#"vigil_host_clock_skew_seconds{host="skewed"}"#],
            );
            series_values(&r).first().map(|(_, values)| values[0].1)
        },
    );
    assert!((series - 3600.0).abs() < 30.0, "{series}");
    let alerts = wait_for(Duration::from_secs(30), "HostClockSkew pending", || {
        let text = http_get(&base, "/api/v1/alerts");
        (text.contains("HostClockSkew") && text.contains("skewed")).then_some(text)
    });
    assert!(alerts.contains("\"pending\""), "{alerts}");
    assert!(!alerts.contains("on-time"), "{alerts}");
}

/// `GET path` over HTTP/1.0: the body.
fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}
