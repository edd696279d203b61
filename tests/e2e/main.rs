//! The end-to-end tests: real `vigil-collector`, `vigil-agent` and `vigil` binaries on
//! loopback ports (see `vigil_tests`), one module per area, all linked into one test
//! binary: one link of tonic, reqwest and the rest instead of one per area. Run one area
//! with `cargo test -p vigil-tests --test e2e crash::`.
//!
//! The tests share one process, so none may change what the process holds for all:
//! environment variables and settings reach the binaries through `Command::env`, never
//! `std::env::set_var`; nothing changes the current directory; ports come from
//! `vigil_tests::free_port`, which never hands one out twice; the rustls crypto provider is
//! installed once, by `vigil_tests::http_client`; Debian packages are installed one at a
//! time.

mod access;
mod agent_check;
mod agent_spool;
mod alerts;
mod anomaly;
mod auth;
mod backup;
mod bad_input;
mod chaos;
mod cli;
mod clock_skew;
mod crash;
mod damaged_files;
mod deploy;
mod desks;
mod disk_full;
mod enroll;
mod fleet;
mod forecast;
mod grafana;
mod hardening;
mod hostile_queries;
mod http_api;
mod http_api_text;
mod import;
mod incidents;
mod memory_budget;
mod network_faults;
mod node_exporter_parity;
mod notify_delivery;
mod notify_receivers;
mod notify_routing;
mod packages;
mod pipeline;
mod promql_compliance;
mod promql_diff;
mod remote_write_in;
mod remote_write_out;
mod rt_harness;
mod rules;
mod storage_crash;
mod targets;
mod tls;
mod top;
mod transport;
