//! `deploy/`: the container images of `deploy/container` and the Kubernetes manifests of
//! `deploy/kubernetes`, judged by what judges them in use: Kubernetes' own OpenAPI schemas
//! (the PyPI package kubernetes-validate, offline), kubectl's kustomize, the real collector
//! and agent loading the configs the manifests carry, and podman building, inspecting and
//! running the images.
//!
//! # Layout
//! - `kubernetes`: the schemas; how the objects fit together and the promises
//!   (`tests/deploy/check_manifests.py`); the ConfigMap's config run by the real collector;
//!   the DaemonSet's environment loaded by the real agent.
//! - `container`: the images built from scratch, their configs and root filesystems, and,
//!   where a container can run, a collector and an agent container streaming over mTLS.

#![allow(clippy::unwrap_used)]

mod container;
mod kubernetes;

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use vigil_tests::{bin, stderr, stdout};

/// The workspace's root directory.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Runs `cmd`, panicking with its output unless it succeeds.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// `vigil ca init --dir DIR --name localhost --ip 127.0.0.1`: a CA and a server certificate
/// for a collector on loopback; returns the CA's fingerprint (`SHA256:…`).
fn ca_init(dir: &Path) -> String {
    let out = run_ok(
        Command::new(bin("vigil"))
            .args(["ca", "init", "--dir"])
            .arg(dir)
            .args([
                "--name",
                "localhost",
                "--ip",
                "127.0.0.1",
                "--output",
                "json",
            ]),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fingerprint = report["ca_fingerprint"].as_str().unwrap().to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{report}");
    fingerprint
}

/// `GET path` on `127.0.0.1:port` with an optional bearer token: the status and the body.
/// HTTP/1.0, so the answer is never chunked and ends when the connection closes.
fn http_get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: localhost\r\n{auth}\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// The host's total memory in bytes, as /proc/meminfo gives it.
fn mem_total_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024.0
}
