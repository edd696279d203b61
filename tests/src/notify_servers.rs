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
//! Missing Debian packages are installed through [`crate::packages`].
//!
//! # Layout
//! - [`smtp`]: [`SmtpServer`] and the messages it received.
//! - [`http`]: [`HttpReceiver`] and the requests it received.
//! - [`alertmanager`]: [`Alertmanager`] and the alerts it holds.
//! - [`rt`]: [`Rt5`], Debian's Request Tracker 5 with its own SQLite database, and a
//!   proxy that stalls its first create.
//! - [`desks`]: ServiceNow's Table API, Znuny's GenericInterface and Jira Service
//!   Management, each a test server speaking the vendor's documented requests and errors.

pub mod alertmanager;
pub mod desks;
pub mod http;
pub mod rt;
pub mod smtp;

pub use alertmanager::Alertmanager;
pub use http::{HttpReceiver, ReceivedRequest, alert_hosts};
pub use rt::Rt5;
pub use smtp::{ReceivedMail, SmtpOptions, SmtpServer};

/// The value of the first of `headers` named `name`, compared as header names are: without
/// regard to case.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
