//! `vigil-agent --check` against a real collector that requires a token: the right token
//! passes every check (exit 0) and stores no sample; a wrong token, no token, no collector
//! listening and a spool directory that cannot be created each fail (exit 1) on a line
//! that names the problem and what to do; memory only is a warning, not a failure.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use vigil_tests::{Collector, bin, free_port};

const AGENT: &str = "check-agent-secret-0123456789";
const READ: &str = "check-reader-secret-0123456789";
const HOST: &str = "check-host";

/// Runs `vigil-agent --check` for `HOST` against `url` with `spool` as its spool directory
/// and `token` (none when `None`); returns the exit code and what it printed.
fn check(url: &str, spool: &Path, token: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args([
        "--check",
        "--collector",
        url,
        "--hostname",
        HOST,
        "--spool-dir",
    ])
    .arg(spool)
    .env_remove("VIGIL_AGENT_CONFIG")
    .env_remove("VIGIL_AGENT__TOKEN");
    if let Some(token) = token {
        cmd.env("VIGIL_AGENT__TOKEN", token);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.stderr.is_empty(),
        "--check prints on stdout only: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in stdout.lines() {
        assert!(
            ["ok    ", "warn  ", "FAIL  "]
                .iter()
                .any(|w| line.starts_with(w)),
            "every line starts with ok, warn or FAIL: {line:?}"
        );
    }
    (out.status.code().unwrap(), stdout)
}

/// The one line about `subject` (`collector`, `spool`…).
fn line<'a>(out: &'a str, subject: &str) -> &'a str {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l[6..].starts_with(&format!("{subject} ")))
        .collect();
    assert_eq!(lines.len(), 1, "one {subject} line in:\n{out}");
    lines[0]
}

fn collector(dir: &Path) -> Collector {
    Collector::start(
        &dir.join("data"),
        &[(
            "VIGIL_COLLECTOR__AUTH__TOKENS",
            &format!(
                r#"[{{ name = "agents", role = "agent", secret = "{AGENT}" }},
                    {{ name = "reader", role = "read", secret = "{READ}" }}]"#
            ),
        )],
    )
}

/// The `series` count the collector has for `HOST`, or None when it does not know it.
fn stored_series(url: &str) -> Option<u64> {
    let out = Command::new(bin("vigil"))
        .args(["--collector", url, "hosts", "--output", "json"])
        .env("VIGIL_TOKEN", READ)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == HOST)
        .map(|h| h["series"].as_u64().unwrap())
}

#[test]
fn the_right_token_passes_every_check_and_sends_no_sample() {
    let dir = tempfile::tempdir().unwrap();
    let collector = collector(dir.path());
    let url = collector.url();
    let spool = dir.path().join("state/spool");

    let (code, out) = check(&url, &spool, Some(AGENT));
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().all(|l| l.starts_with("ok    ")), "{out}");
    assert!(line(&out, "config").contains("no --config file"), "{out}");
    assert!(
        line(&out, "spool").contains("can be created and written"),
        "{out}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "the check leaves no directory behind"
    );
    let collector_line = line(&out, "collector");
    assert!(
        collector_line.starts_with(&format!(
            "ok    collector {url}: authenticated, host {HOST}"
        )),
        "{out}"
    );
    assert!(line(&out, "collect").contains(" series"), "{out}");
    assert!(!out.contains(AGENT), "the token is never printed");

    // The Hello registered the host, as any Hello does; no sample was sent.
    assert_eq!(stored_series(&url), Some(0));

    // An existing directory is "writable"; memory only warns and still passes.
    std::fs::create_dir_all(&spool).unwrap();
    let (code, out) = check(&url, &spool, Some(AGENT));
    assert_eq!(code, 0, "{out}");
    assert!(line(&out, "spool").ends_with("(writable)"), "{out}");
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "probe removed"
    );
    let (code, out) = check(&url, Path::new(""), Some(AGENT));
    assert_eq!(code, 0, "{out}");
    let spool_line = line(&out, "spool");
    assert!(spool_line.starts_with("warn  spool memory only"), "{out}");
    assert!(spool_line.contains("delivery.spool_dir"), "{out}");
}

#[test]
fn a_wrong_or_missing_token_fails_on_the_collector_line() {
    let dir = tempfile::tempdir().unwrap();
    let collector = collector(dir.path());
    let url = collector.url();
    let spool = dir.path().join("spool");

    let (code, out) = check(&url, &spool, Some("not-the-secret-0123456789"));
    assert_eq!(code, 1, "{out}");
    let failed = line(&out, "collector");
    assert!(
        failed.starts_with(&format!("FAIL  collector {url}: UNAUTHENTICATED: ")),
        "{out}"
    );
    assert!(
        failed.ends_with("(check token or VIGIL_AGENT__TOKEN)"),
        "{out}"
    );
    assert!(
        !out.contains("not-the-secret"),
        "the token is never printed"
    );
    assert!(
        line(&out, "spool").starts_with("ok    "),
        "only the collector fails: {out}"
    );
    assert!(line(&out, "collect").starts_with("ok    "), "{out}");

    let (code, out) = check(&url, &spool, None);
    assert_eq!(code, 1, "{out}");
    let failed = line(&out, "collector");
    assert!(
        failed.starts_with(&format!("FAIL  collector {url}: UNAUTHENTICATED: ")),
        "{out}"
    );
    assert!(
        failed.ends_with("(set token or VIGIL_AGENT__TOKEN)"),
        "{out}"
    );
    assert_eq!(
        stored_series(&url),
        None,
        "a refused Hello registers nothing"
    );
}

#[test]
fn no_collector_or_no_spool_directory_fails_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on a port free_port hands out.
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, out) = check(&url, &dir.path().join("spool"), Some(AGENT));
    assert_eq!(code, 1, "{out}");
    let failed = line(&out, "collector");
    assert!(
        failed.starts_with(&format!("FAIL  collector {url}: cannot connect: ")),
        "{out}"
    );
    assert!(failed.contains("is the collector running"), "{out}");
    assert!(line(&out, "spool").starts_with("ok    "), "{out}");

    // A spool directory under a regular file can be neither created nor written, even by
    // root (which permission bits would not stop).
    let collector = collector(dir.path());
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, "a file").unwrap();
    let (code, out) = check(&collector.url(), &blocker.join("spool"), Some(AGENT));
    assert_eq!(code, 1, "{out}");
    let failed = line(&out, "spool");
    assert!(failed.starts_with("FAIL  spool "), "{out}");
    assert!(failed.contains("cannot create it"), "{out}");
    assert!(failed.contains("delivery.spool_dir / --spool-dir"), "{out}");
    assert!(line(&out, "collector").starts_with("ok    "), "{out}");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "a file");
}
