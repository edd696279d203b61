//! `vigil-loadgen`: simulated agents against a collector, or the same samples as a file.
//! Parses flags and hands over to [`vigil_tests::loadgen::run`]; see that module for what
//! the flags mean.

use clap::Parser;
use std::process::ExitCode;

/// jemalloc, as the collector has: ten thousand simulated agents allocate and free their
/// batches on every thread, and with glibc's malloc the loadgen took about a quarter of
/// the machine while a fleet created its series (`tests/bench/fleet_scale.sh`), CPU the
/// collector it measures would otherwise have.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static HEAP: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    match vigil_tests::loadgen::run(vigil_tests::loadgen::Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        // The report says what was refused or which streams failed.
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("vigil-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
