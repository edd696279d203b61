//! A host as `--output json` and `--output csv` write it: its registry entry flattened,
//! then its identity.

use std::collections::BTreeMap;

use serde::Serialize;
use vigil_proto::v1::{Hello, HostIdentity};

use super::Row;
use crate::output;

/// Column names of `--output csv`: the keys of the JSON objects, in the same order, with
/// `identity` flattened to `identity_<key>` (empty without one).
pub const CSV_HEADER: [&str; 25] = [
    "host",
    "last_seen",
    "up",
    "os",
    "kernel",
    "arch",
    "cpu_model",
    "logical_cores",
    "memory_bytes",
    "agent_version",
    "machine_id",
    "first_seen",
    "series",
    "labels",
    "peer",
    "clock_skew_seconds",
    "samples_refused",
    "identity_serial",
    "identity_not_before",
    "identity_not_after",
    "identity_joined",
    "identity_token_id",
    "identity_renewals",
    "identity_revoked",
    "identity_key_fingerprint",
];

/// One host as `--output json` writes it (fields in this order); times are Unix seconds.
#[derive(Serialize)]
pub struct HostRecord<'a> {
    pub host: &'a str,
    /// `None` for a host that enrolled but never streamed.
    pub last_seen: Option<serde_json::Number>,
    pub up: bool,
    pub os: &'a str,
    pub kernel: &'a str,
    pub arch: &'a str,
    pub cpu_model: &'a str,
    pub logical_cores: u32,
    pub memory_bytes: u64,
    pub agent_version: &'a str,
    pub machine_id: &'a str,
    pub first_seen: Option<serde_json::Number>,
    pub series: u64,
    pub labels: BTreeMap<&'a str, &'a str>,
    pub peer: &'a str,
    /// The host's clock minus the collector's, seconds; `None` when not known (not heard
    /// from since the collector started, or an agent that does not say when it sends).
    pub clock_skew_seconds: Option<f64>,
    /// Samples refused since the collector started.
    pub samples_refused: u64,
    pub identity: Option<IdentityRecord<'a>>,
}

impl<'a> HostRecord<'a> {
    /// Flattens a host; `no_facts` stands in when it never sent a Hello.
    pub fn new(row: &Row<'a>, no_facts: &'a Hello) -> Self {
        let facts = row
            .registry
            .and_then(|host| host.facts.as_ref())
            .unwrap_or(no_facts);
        let registry = row.registry;
        HostRecord {
            host: row.host,
            last_seen: registry.map(|h| output::unix_seconds(h.last_seen_ms)),
            up: registry.is_some_and(|h| h.up),
            os: &facts.os,
            kernel: &facts.kernel,
            arch: &facts.arch,
            cpu_model: &facts.cpu_model,
            logical_cores: facts.logical_cores,
            memory_bytes: facts.memory_bytes,
            agent_version: &facts.agent_version,
            machine_id: &facts.machine_id,
            first_seen: registry.map(|h| output::unix_seconds(h.first_seen_ms)),
            series: registry.map_or(0, |h| h.series),
            labels: output::label_map(&facts.labels),
            peer: registry.map_or("", |h| h.peer.as_str()),
            clock_skew_seconds: registry
                .filter(|h| h.clock_skew_known)
                .map(|h| h.clock_skew_ms as f64 / 1000.0),
            samples_refused: registry.map_or(0, |h| h.samples_refused),
            identity: row.identity.map(IdentityRecord::new),
        }
    }

    /// The record as a CSV row, labels as `k=v;k=v`.
    pub fn csv_row(&self) -> Vec<String> {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let seconds = |n: &Option<serde_json::Number>| n.as_ref().map(ToString::to_string);
        let mut row = vec![
            self.host.to_owned(),
            seconds(&self.last_seen).unwrap_or_default(),
            self.up.to_string(),
            self.os.to_owned(),
            self.kernel.to_owned(),
            self.arch.to_owned(),
            self.cpu_model.to_owned(),
            self.logical_cores.to_string(),
            self.memory_bytes.to_string(),
            self.agent_version.to_owned(),
            self.machine_id.to_owned(),
            seconds(&self.first_seen).unwrap_or_default(),
            self.series.to_string(),
            labels.join(";"),
            self.peer.to_owned(),
            self.clock_skew_seconds
                .map(output::format_value)
                .unwrap_or_default(),
            self.samples_refused.to_string(),
        ];
        match &self.identity {
            Some(identity) => row.extend(identity.csv_cells()),
            None => row.extend(std::iter::repeat_n(String::new(), 8)),
        }
        row
    }
}

/// A host's identity (its latest certificate) as JSON writes it.
#[derive(Serialize)]
pub struct IdentityRecord<'a> {
    pub serial: &'a str,
    pub not_before: serde_json::Number,
    pub not_after: serde_json::Number,
    pub joined: serde_json::Number,
    pub token_id: &'a str,
    pub renewals: u32,
    /// When it was revoked; `None` when it is not.
    pub revoked: Option<serde_json::Number>,
    pub key_fingerprint: &'a str,
}

impl<'a> IdentityRecord<'a> {
    /// The record of `identity`.
    pub fn new(identity: &'a HostIdentity) -> Self {
        IdentityRecord {
            serial: &identity.serial,
            not_before: output::unix_seconds(identity.not_before_ms),
            not_after: output::unix_seconds(identity.not_after_ms),
            joined: output::unix_seconds(identity.joined_ms),
            token_id: &identity.token_id,
            renewals: identity.renewals,
            revoked: (identity.revoked_ms > 0).then(|| output::unix_seconds(identity.revoked_ms)),
            key_fingerprint: &identity.key_fingerprint,
        }
    }

    /// The `identity_*` CSV cells, in [`CSV_HEADER`]'s order.
    pub fn csv_cells(&self) -> [String; 8] {
        [
            self.serial.to_owned(),
            self.not_before.to_string(),
            self.not_after.to_string(),
            self.joined.to_string(),
            self.token_id.to_owned(),
            self.renewals.to_string(),
            self.revoked
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            self.key_fingerprint.to_owned(),
        ]
    }
}
