//! Real servers that notifications are delivered to, all on 127.0.0.1 and stopped when
//! dropped:
//!
//! - [`SmtpServer`]: Debian's `python3-aiosmtpd` running a small script of ours (plain,
//!   STARTTLS or implicit TLS; optional AUTH PLAIN/LOGIN; a switchable reply), recording
//!   every accepted message, parsed with Python's `email` package, to a JSONL file.
//! - [`HttpReceiver`]: an axum server recording every request, with a switchable answer
//!   and a listener that really goes down (connections refused) and comes back on the
//!   same port.
//! - [`Alertmanager`]: Debian's `prometheus-alertmanager` with a null receiver, for alerts
//!   forwarded to `/api/v2/alerts`.
//!
//! Missing Debian packages are installed with `apt-get` (waiting for the dpkg lock).
//!
//! # Layout
//! - [`smtp`]: [`SmtpServer`] and the messages it received.
//! - [`http`]: [`HttpReceiver`] and the requests it received.
//! - [`alertmanager`]: [`Alertmanager`] and the alerts it holds.

pub mod alertmanager;
pub mod http;
pub mod smtp;

pub use alertmanager::Alertmanager;
pub use http::{HttpReceiver, ReceivedRequest, alert_hosts};
pub use smtp::{ReceivedMail, SmtpOptions, SmtpServer};

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// The value of the first of `headers` named `name`, compared as header names are: without
/// regard to case.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Installs the Debian package `package` unless `present` exists already. One install at
/// a time: tests running at once in the same binary would otherwise see a package's files
/// appear before `apt-get` has finished with it.
pub fn ensure_package(package: &str, present: &Path) {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    if present.exists() {
        return;
    }
    eprintln!("installing Debian's {package} package (once)");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // Another process may hold the dpkg lock: wait for it rather than fail.
    let lock = "DPkg::Lock::Timeout=600";
    let install = [
        "-o",
        lock,
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        package,
    ];
    let installed = apt(&install) || (apt(&["-o", lock, "update", "-qq"]) && apt(&install));
    assert!(
        installed && present.exists(),
        "could not install Debian's {package} package; install it by hand with \
         `apt-get install {package}`"
    );
}
