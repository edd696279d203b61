//! `vigil hosts`: every host that ever connected (or enrolled), its facts, whether it is
//! up, and its identity: the latest certificate the collector issued it. `vigil hosts
//! revoke|unrevoke HOST` ends a host's stream and refuses its certificates, or lets it
//! join again.
//!
//! Identities come from the Enroll service (`ListIdentities`, read role). A collector
//! without enrollment, or a token that may not list them, gives the hosts without the
//! identity columns. Hosts that enrolled but never streamed are listed too.
//!
//! `--output json` writes one object per host; `identity` is null without one:
//!
//! ```text
//!   {"host":"web-1","last_seen":1795240196.75,"up":true,"os":…,"kernel":…,"arch":…,
//!    "cpu_model":…,"logical_cores":8,"memory_bytes":…,"agent_version":…,"machine_id":…,
//!    "first_seen":…,"series":412,"labels":{…},"peer":"10.0.0.5:51234",
//!    "clock_skew_seconds":-0.012,"samples_refused":0,
//!    "identity":{"serial":"5b1f…","not_before":…,"not_after":…,"joined":…,
//!                "token_id":"0123456789ab","renewals":3,"revoked":null,
//!                "key_fingerprint":"SHA256:…"}}
//! ```
//!
//! (`last_seen` and `first_seen` are null for a host that enrolled but never streamed.)

mod record;
mod revoke;

use std::collections::BTreeMap;
use std::io::{self, Write};

use clap::{Args, Subcommand};
use vigil_proto::v1::enroll_client::EnrollClient;
use vigil_proto::v1::{Hello, Host, HostIdentity, ListIdentitiesRequest};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::{alerts, enroll, time};
use record::{CSV_HEADER, HostRecord};

/// `vigil hosts [revoke HOST | unrevoke HOST]`.
#[derive(Debug, Args)]
pub struct HostsArgs {
    /// What to do; without one, list the hosts.
    #[command(subcommand)]
    pub action: Option<HostsAction>,
}

/// The actions of `vigil hosts`.
#[derive(Debug, Subcommand)]
pub enum HostsAction {
    /// End the host's stream and refuse its certificates from now on (needs an admin token)
    Revoke {
        /// The host, as `vigil hosts` lists it
        #[arg(value_name = "HOST")]
        host: String,
    },
    /// Let a revoked host join again with a new join token (its old certificates stay
    /// revoked)
    Unrevoke {
        /// The host, as `vigil hosts` lists it
        #[arg(value_name = "HOST")]
        host: String,
    },
}

/// Runs `vigil hosts` or one of its actions.
pub async fn run(target: &Target, args: &HostsArgs, output: Output) -> Result<(), Error> {
    match &args.action {
        None => list(target, output).await,
        Some(HostsAction::Revoke { host }) => revoke::run(target, host, true, output).await,
        Some(HostsAction::Unrevoke { host }) => revoke::run(target, host, false, output).await,
    }
}

/// Fetches the host registry and the identities, and prints them.
async fn list(target: &Target, output: Output) -> Result<(), Error> {
    let (hosts, identities) = fetch(target).await?;
    if hosts.is_empty() && identities.as_ref().is_none_or(Vec::is_empty) && output == Output::Table
    {
        eprintln!("no host has connected to the collector yet");
        return Ok(());
    }
    let mut out = output::stdout();
    render(
        &hosts,
        identities.as_deref(),
        output,
        time::now_ms(),
        &mut out,
    )?;
    Ok(out.flush()?)
}

/// The host registry and, when the collector lists them, the identities (both at once).
pub async fn fetch(target: &Target) -> Result<(Vec<Host>, Option<Vec<HostIdentity>>), Error> {
    let collector = Collector::connect(target).await?;
    let mut registry = collector.clone();
    let mut enroll = EnrollClient::new(collector.channel());
    let (hosts, identities) = tokio::join!(
        registry.hosts(),
        enroll.list_identities(ListIdentitiesRequest {})
    );
    let hosts = hosts?;
    let identities = match identities {
        Ok(response) => Some(response.into_inner().identities),
        Err(status) if without_identities(&status) => None,
        Err(status) => return Err(enroll::refused(target, status)),
    };
    Ok((hosts, identities))
}

/// Whether a refused `ListIdentities` just means "no identities to show": a collector
/// without the Enroll service or with enrollment off, or a token that may not list them.
fn without_identities(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unimplemented
            | tonic::Code::PermissionDenied
            | tonic::Code::FailedPrecondition
    )
}

/// A host as listed: its registry entry, its identity, or both.
pub struct Row<'a> {
    /// The host name.
    pub host: &'a str,
    /// Its registry entry; `None` when it enrolled but never streamed.
    pub registry: Option<&'a Host>,
    /// Its latest certificate; `None` when it never enrolled.
    pub identity: Option<&'a HostIdentity>,
}

/// The hosts of the registry and of the identities, merged by name, in name order.
fn rows<'a>(hosts: &'a [Host], identities: &'a [HostIdentity]) -> Vec<Row<'a>> {
    let mut rows: BTreeMap<&str, Row<'a>> = BTreeMap::new();
    for host in hosts {
        rows.entry(&host.host)
            .or_insert(Row {
                host: &host.host,
                registry: None,
                identity: None,
            })
            .registry = Some(host);
    }
    for identity in identities {
        rows.entry(&identity.host)
            .or_insert(Row {
                host: &identity.host,
                registry: None,
                identity: None,
            })
            .identity = Some(identity);
    }
    rows.into_values().collect()
}

/// Writes the hosts in the chosen format; `now_ms` anchors "LAST SEEN" and "CERT EXPIRES"
/// in tables. `identities` is `None` when the collector did not list them: the table then
/// has no identity columns.
pub fn render(
    hosts: &[Host],
    identities: Option<&[HostIdentity]>,
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let no_facts = Hello::default();
    let rows = rows(hosts, identities.unwrap_or_default());
    let records = rows.iter().map(|row| HostRecord::new(row, &no_facts));
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(w, &CSV_HEADER, records.map(|r| r.csv_row())),
        Output::Table => {
            let mut header = vec![
                "HOST",
                "OS",
                "AGENT",
                "LAST SEEN",
                "UP",
                "SERIES",
                "CLOCK",
                "ADDRESS",
            ];
            if identities.is_some() {
                header.extend(["IDENTITY", "CERT EXPIRES", "REVOKED"]);
            }
            let mut table = output::table(&header, &[5, 6]);
            for (row, record) in rows.iter().zip(records) {
                let mut cells = vec![
                    record.host.to_owned(),
                    or_dash(record.os),
                    or_dash(record.agent_version),
                    time::format_ago(row.registry.map_or(0, |h| h.last_seen_ms), now_ms),
                    match row.registry {
                        Some(host) if host.up => "up",
                        Some(_) => "down",
                        None => "-",
                    }
                    .to_owned(),
                    record.series.to_string(),
                    clock(record.clock_skew_seconds),
                    or_dash(record.peer),
                ];
                if identities.is_some() {
                    cells.extend(identity_cells(row.identity, now_ms));
                }
                table.add_row(cells);
            }
            output::write_table(w, &table)
        }
    }
}

/// The CLOCK cell: the host's clock skew, `ok` within a second, else how far ahead (`+`)
/// or behind (`-`); `-` when not known.
pub fn clock(skew_seconds: Option<f64>) -> String {
    match skew_seconds {
        None => "-".to_owned(),
        Some(s) if s.abs() < 1.0 => "ok".to_owned(),
        Some(s) => format!(
            "{}{}",
            if s > 0.0 { "+" } else { "-" },
            super::units::duration(s.abs())
        ),
    }
}

/// The IDENTITY, CERT EXPIRES and REVOKED cells of a host.
fn identity_cells(identity: Option<&HostIdentity>, now_ms: i64) -> [String; 3] {
    let Some(id) = identity else {
        return ["-".to_owned(), "-".to_owned(), "-".to_owned()];
    };
    let expires = if id.not_after_ms > now_ms {
        alerts::format_in(id.not_after_ms, now_ms)
    } else {
        format!("expired {}", time::format_ago(id.not_after_ms, now_ms))
    };
    let revoked = if id.revoked_ms > 0 {
        time::format_ago(id.revoked_ms, now_ms)
    } else {
        "-".to_owned()
    };
    [short_serial(&id.serial), expires, revoked]
}

/// A serial cut to its first 8 hex digits, as tables show it (`-` for none).
pub fn short_serial(serial: &str) -> String {
    match serial.get(..8) {
        _ if serial.is_empty() => "-".to_owned(),
        Some(short) => short.to_owned(),
        None => serial.to_owned(),
    }
}

/// Table cells show `-` rather than nothing for facts an agent did not send.
fn or_dash(s: &str) -> String {
    if s.is_empty() { "-" } else { s }.to_owned()
}

#[cfg(test)]
mod tests;
