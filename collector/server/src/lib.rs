//! # vigil-collector
//!
//! The collector: receives agents' streams, stores their samples, evaluates rules on them,
//! notifies people, and answers queries over gRPC (the `vigil` CLI) and HTTP (Grafana,
//! promtool). Storage is [`vigil_store::Store`], RocksDB by default ([`vigil_rocks`]);
//! queries run on [`vigil_promql`]; rule files are read by [`vigil_rules`]; forecasts come
//! from [`vigil_forecast`].
//!
//! # Layout
//! - [`config`]: defaults → file → env → flags, then validation.
//! - [`auth`]: tokens, roles and client certificates: who may call what.
//! - [`tls`]: TLS for the listener; agent identity from client certificates.
//! - [`enroll`]: join tokens, agents' certificates (join, renew), revoking hosts.
//! - [`transport`]: connection caps, timeouts and header/stream limits of both listeners.
//! - [`limits`]: what an agent may send, and the checks that say what was wrong.
//! - [`ingest`]: the Ingest gRPC service; [`ingest::session`] turns batches into stored samples.
//! - [`import`]: the Import gRPC service behind `vigil import`, with ingest's checks.
//! - [`registry`]: hosts, their facts, first/last seen, up or down.
//! - [`rules`]: alerting, recording, forecast and host-down rules evaluated on the engine.
//! - [`forecast`]: the Forecast gRPC service behind `vigil forecast`.
//! - [`notify`]: routing, grouping, silences, the durable outbox and the receivers.
//! - [`incidents`]: firing alerts grouped into incidents: the engine, its store, the
//!   Incidents gRPC service.
//! - [`query`]: the Query gRPC service the CLI reads through.
//! - [`http`]: the Prometheus-compatible HTTP API.
//! - [`remote_write`]: Prometheus remote write 1.0: forwarding to remotes, and the wire format.
//! - [`metadata`]: the latest type, help and unit per metric name, from agents.
//! - [`own_metrics`]: the collector's own series, stored and served at `/metrics`.
//! - [`backup`]: a checkpoint of the store with its manifest (`vigil backup`).
//! - [`admin`]: the Admin gRPC service behind `vigil backup` and `vigil status`.
//! - [`error`]: the domain error and its one mapping to a gRPC status.
//! - [`slots`]: the query slots and time limit shared by HTTP queries, gRPC queries and
//!   forecasts.
//! - [`server`]: wires it together; `run(config, shutdown)`.

pub mod admin;
pub mod auth;
pub mod backup;
pub mod config;
pub mod damage;
pub mod enroll;
pub mod error;
pub mod forecast;
pub mod http;
pub mod import;
pub mod incidents;
pub mod ingest;
pub mod limits;
pub mod memory;
pub mod memory_budget;
pub mod metadata;
pub mod notify;
pub mod own_metrics;
pub mod query;
pub mod registry;
pub mod relabel;
pub mod remote_write;
pub mod rules;
#[cfg(feature = "rocks")]
pub mod server;
pub mod slots;
pub mod storage_guard;
pub mod tls;
pub mod transport;
pub mod up;
