//! # vigil-agent
//!
//! The host agent: collects host metrics and streams them to a collector over gRPC.
//!
//! # Layout
//! - [`collect`]: read CPU, memory, filesystems, disks, network, load and host facts into a sink.
//! - [`own`]: the agent's own cost (RSS, CPU, spool, drops) as `vigil_agent_*` series.
//! - [`encode`]: a spooled round becomes a `Batch`; host facts become the `Hello`.
//! - [`spool`]: rounds waiting for acknowledgement, bounded, oldest dropped first.
//! - [`stream`]: one gRPC stream to the collector, reconnecting with backoff and jitter.
//! - [`run`]: wires the loops together; `run(config, shutdown)`.
//! - [`config`]: defaults → file → env → flags, then validation.

pub mod collect;
pub mod config;
pub mod encode;
pub mod own;
pub mod run;
pub mod spool;
pub mod stream;
