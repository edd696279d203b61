//! `vigil-loadgen`: simulated agents against a collector, or the same samples as a file.
//! Parses flags and hands over to [`vigil_tests::loadgen::run`]; see that module for what
//! the flags mean.

use clap::Parser;
use std::process::ExitCode;

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
