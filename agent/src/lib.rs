//! # vigil-agent
//!
//! The host agent: collects host metrics and streams them to a collector over gRPC.
//!
//! # Layout
//! - [`collect`]: read CPU, memory, filesystems, disks, network, load and host facts into a sink.
//! - [`own`]: the agent's own cost (RSS, CPU, spool, drops) as `vigil_agent_*` series.
//! - [`spool`]: rounds waiting for acknowledgement, bounded, oldest dropped first.
//! - [`shared`]: the sink and spool between the loops; collection fills, delivery drains.
//! - [`encode`]: a spooled round becomes a `Batch`; host facts become the `Hello`.
//! - [`stream`]: one gRPC stream to the collector, reconnecting with backoff and jitter.
//! - [`enroll`]: joining with a token, the identity directory, renewing the certificate.
//! - [`run`]: wires the loops together; `run(config, shutdown)`.
//! - [`config`]: defaults → file → env → flags, then validation.
//! - [`check`]: `vigil-agent --check`, one line per thing that works or does not.

pub mod check;
pub mod collect;
pub mod config;
pub mod encode;
pub mod enroll;
pub mod metrics_listen;
pub mod own;
pub mod run;
pub mod shared;
pub mod spool;
pub mod stream;
