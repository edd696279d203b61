//! TLS and mTLS: agents stream over TLS with client certificates whose name is their
//! host; an agent without a certificate, or whose certificate names another host, is
//! refused; the CLI reads over TLS with the CA and a read token (a certificate is an agent
//! identity, not a reader); clear text to a TLS port fails.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vigil_tests::certs::TestCa;
use vigil_tests::{Collector, Running, bin, vigil, wait_for};

/// The read token the CLI uses.
const READ: &str = "tls-reader-secret-0123456789";

/// `vigil --collector URL ARGS…` with `VIGIL_TOKEN` set to `token` when given.
fn vigil_as(url: &str, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("vigil"));
    cmd.args(["--collector", url]).args(args);
    if let Some(token) = token {
        cmd.env("VIGIL_TOKEN", token);
    }
    cmd.output().unwrap()
}

/// Writes ca.pem, collector.{pem,key} (for 127.0.0.1) and tls-agent.{pem,key} into `dir`.
fn make_certificates(dir: &Path) {
    let ca = TestCa::new(dir, "Vigil test CA");
    let loopback = "127.0.0.1".parse().ok();
    ca.leaf(
        dir,
        "collector",
        "vigil-collector",
        &["localhost"],
        loopback,
    );
    ca.leaf(dir, "tls-agent", "tls-agent", &["tls-agent"], None);
}

fn agent(dir: &Path, url: &str, hostname: &str, with_cert: bool) -> Running {
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args([
        "--collector",
        url,
        "--interval",
        "1s",
        "--hostname",
        hostname,
    ])
    .arg("--spool-dir")
    .arg(dir.join(format!("spool-{hostname}-{with_cert}")))
    .env("VIGIL_AGENT__TLS__CA_FILE", dir.join("ca.pem"));
    if with_cert {
        cmd.env("VIGIL_AGENT__TLS__CERT_FILE", dir.join("tls-agent.pem"))
            .env("VIGIL_AGENT__TLS__KEY_FILE", dir.join("tls-agent.key"));
    }
    Running::spawn(cmd, dir.join(format!("agent-{hostname}-{with_cert}.log")))
}

fn hosts_over_tls(dir: &Path, url: &str) -> serde_json::Value {
    let ca = dir.join("ca.pem");
    let args = [
        "--ca-cert",
        ca.to_str().unwrap(),
        "hosts",
        "--output",
        "json",
    ];
    let out = vigil_as(url, Some(READ), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn agents_stream_over_mtls_as_the_host_their_certificate_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certificates(d);
    let path = |f: &str| d.join(f).to_str().unwrap().to_owned();
    let collector = Collector::start(
        &d.join("data"),
        &[
            ("VIGIL_COLLECTOR__TLS__CERT_FILE", &path("collector.pem")),
            ("VIGIL_COLLECTOR__TLS__KEY_FILE", &path("collector.key")),
            ("VIGIL_COLLECTOR__TLS__CLIENT_CA_FILE", &path("ca.pem")),
            (
                "VIGIL_COLLECTOR__AUTH__TOKENS",
                &format!(r#"[{{ name = "reader", role = "read", secret = "{READ}" }}]"#),
            ),
        ],
    );
    let url = format!("https://127.0.0.1:{}", collector.port);

    let _good = agent(d, &url, "tls-agent", true);
    let mut impostor = agent(d, &url, "someone-else", true);
    let mut anonymous = agent(d, &url, "anonymous", false);
    wait_for(
        Duration::from_secs(30),
        "the certified agent up over TLS",
        || {
            let hosts = hosts_over_tls(d, &url);
            hosts
                .as_array()?
                .iter()
                .any(|h| h["host"] == "tls-agent" && h["up"] == true)
                .then_some(())
        },
    );
    wait_for(
        Duration::from_secs(20),
        "both refusals logged by the agents",
        || {
            let (i, a) = (impostor.log(), anonymous.log());
            (i.contains("certificate is for host") && a.contains("client certificate"))
                .then_some(())
        },
    );
    let hosts = hosts_over_tls(d, &url);
    let names: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["tls-agent"],
        "refused agents are not registered"
    );
    assert!(
        impostor.alive() && anonymous.alive(),
        "refused agents keep retrying, they do not crash"
    );

    // Clear text to the TLS port fails; the CLI without the CA says which flag to add.
    let out = vigil(&format!("http://127.0.0.1:{}", collector.port), &["hosts"]);
    assert_eq!(out.status.code(), Some(1));
    let out = vigil(&url, &["hosts"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca-cert"));
    // Over TLS with the CA but neither a token nor a certificate: refused, and told why.
    let ca = path("ca.pem");
    let out = vigil_as(&url, None, &["--ca-cert", &ca, "hosts"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The agent's certificate is an identity for ingest, not for reading.
    let (cert, key) = (path("tls-agent.pem"), path("tls-agent.key"));
    let args = ["--ca-cert", &ca, "--cert", &cert, "--key", &key, "hosts"];
    let out = vigil_as(&url, None, &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_lets_the_collector_listen_beyond_loopback_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certificates(d);
    let out = Command::new(bin("vigil-collector"))
        .args(["--grpc-listen", "0.0.0.0:0", "--data-dir"])
        .arg(d.join("data"))
        .env("VIGIL_COLLECTOR__TLS__CERT_FILE", d.join("missing.pem"))
        .env("VIGIL_COLLECTOR__TLS__KEY_FILE", d.join("collector.key"))
        .env("VIGIL_COLLECTOR__TLS__CLIENT_CA_FILE", d.join("ca.pem"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tls.cert_file") && err.contains("missing.pem"),
        "{err}"
    );

    let out = Command::new(bin("vigil-agent"))
        .args(["--collector", "https://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls.ca_file"));
}
