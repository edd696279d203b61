//! The receivers end to end: a real collector configured with email, webhook and
//! alertmanager receivers, `vigil notify test RECEIVER`, and real servers on loopback
//! (aiosmtpd, an HTTP receiver, Debian's Alertmanager) checking what arrived. Secrets
//! (SMTP password, HMAC key, tokens in headers and URLs) never show in the collector's log
//! or in `vigil`'s output.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use vigil_tests::certs::TestCa;
use vigil_tests::notify_servers::{Alertmanager, HttpReceiver, SmtpOptions, SmtpServer};
use vigil_tests::{
    Collector, assert_exit, free_port, import_now, now_s, stderr, stdout, vigil, vigil_json,
    wait_for,
};

const WAIT: Duration = Duration::from_secs(30);

/// Starts a collector whose config file holds `notify` (the `[notify]` tables).
fn collector(dir: &Path, notify: &str, env: &[(&str, &str)]) -> Collector {
    let config = dir.join("collector.toml");
    std::fs::write(&config, notify).unwrap();
    Collector::start_with_config(free_port(), &dir.join("data"), &config, env)
}

/// `vigil notify test RECEIVER --output json`: the answers and the whole output.
fn notify_test(c: &Collector, receiver: &str) -> (Output, Vec<Value>) {
    let out = vigil(&c.url(), &["notify", "test", receiver, "--output", "json"]);
    let answers = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    (out, answers)
}

/// Asserts none of `secrets` appears in the collector's log or the CLI's output.
fn assert_no_secret(c: &Collector, outputs: &[&Output], secrets: &[&str]) {
    let log = c.process.log();
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "collector log shows {secret:?}:\n{log}"
        );
        for out in outputs {
            let all = stdout(out) + &stderr(out);
            assert!(!all.contains(secret), "vigil shows {secret:?}:\n{all}");
        }
    }
}

/// Writes ca.pem and smtp.{pem,key} (for 127.0.0.1 and localhost) into `dir`.
fn certificates(dir: &Path) {
    let ca = TestCa::new(dir, "Vigil notify test CA");
    let loopback = "127.0.0.1".parse().ok();
    ca.leaf(dir, "smtp", "vigil-test-smtp", &["localhost"], loopback);
}

mod email;
mod webhook;
