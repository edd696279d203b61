//! # vigil-collector
//!
//! The collector: receives agents' streams, stores samples in RocksDB, answers queries;
//! and the `vigil` command-line client.
//!
//! # Layout
//! - [`config`]: defaults → file → env → flags, then validation.
//! - [`ingest`]: the Ingest gRPC service; [`ingest::session`] turns batches into stored samples.
//! - [`limits`]: what an agent may send, and the checks that say what was wrong.
//! - [`registry`]: hosts, their facts, first/last seen, up or down.
//! - [`store`]: the storage trait; [`store::rocks`] is the RocksDB engine behind it.
//! - [`selector`]: Prometheus-style series selectors.
//! - [`promql`]: the PromQL engine shared by the CLI, the rules and the HTTP API.
//! - [`query`]: the Query gRPC service the CLI reads through.
//! - [`http`]: the Prometheus-compatible HTTP API.
//! - [`rules`]: alerting and recording rules evaluated on the engine.
//! - [`forecast`]: models that predict when a series crosses a threshold.
//! - [`import`]: the Import gRPC service behind `vigil import`.
//! - [`notify`]: routing, grouping, silences, the durable outbox and the receivers.
//! - [`admin`]: the Admin gRPC service behind `vigil backup` and `vigil status`.
//! - [`tls`]: TLS for the listener; agent identity from client certificates.
//! - [`server`]: wires it together; `run(config, shutdown)`.
//! - [`cli`]: the `vigil` command-line client (one command per file).
//! - [`error`]: the domain error and its one mapping to a gRPC status.

pub mod admin;
pub mod cli;
pub mod config;
pub mod error;
pub mod forecast;
pub mod http;
pub mod import;
pub mod ingest;
pub mod limits;
pub mod notify;
pub mod promql;
pub mod query;
pub mod registry;
pub mod rules;
pub mod selector;
pub mod server;
pub mod store;
pub mod tls;
