//! # vigil-proto
//!
//! The `vigil.v1` wire protocol shared by the agent, the collector and the CLI.
//!
//! # Layout
//! - `vigil/v1/ingest.proto`: the `Ingest` service, one bidirectional stream per agent
//!   (hello, batches of series definitions and samples, acknowledgements, settings).
//! - `vigil/v1/query.proto`: the `Query` service the `vigil` CLI uses (hosts, series, samples,
//!   and PromQL instant and range queries).
//! - `vigil/v1/import.proto`: the `Import` service behind `vigil import` (backfilled history).
//! - `vigil/v1/forecast.proto`: the `Forecast` service behind `vigil forecast` (threshold
//!   crossing times per series).
//! - `vigil/v1/rules.proto`: the `Rules` service behind `vigil rules` and `vigil alerts`
//!   (groups, rule health, active alerts, reloading the rule files).
//! - `vigil/v1/notify.proto`: the `Notify` service behind `vigil silence` and `vigil notify`
//!   (silences, test notifications, the outbox).
//! - `vigil/v1/admin.proto`: the `Admin` service behind `vigil backup` and `vigil status`.
//! - `vigil/v1/enroll.proto`: the `Enroll` service: agents join with a token and renew
//!   their certificates; `vigil enroll` and `vigil hosts revoke` manage tokens and hosts.
//!
//! Generated code lives in [`v1`]; [`packed`] holds the arithmetic both ends of a packed
//! scrape share, and [`pin`] the CA pin format both ends of enrollment share. Nothing else belongs in this crate.

pub mod packed;
pub mod pin;

/// Generated types and tonic clients/servers for package `vigil.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("vigil.v1");
}

/// Protocol revision this crate speaks, sent in `Hello.protocol` and `Welcome.protocol`:
/// 1 was the first; 2 added compact scrapes (`Scrape.packed`) and `Welcome.protocol`.
pub const PROTOCOL_REVISION: u32 = 2;
