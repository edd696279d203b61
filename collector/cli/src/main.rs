//! `vigil`: the command-line client of a Vigil collector.
//!
//! Parses the flags, runs one command (see `vigil_cli`), and turns a failure
//! into one `error: ...` line on stderr: exit code 1 when the collector could not be
//! reached or refused the request, 2 for a mistake on the command line (as clap does).

use std::process::ExitCode;

use clap::Parser;
use vigil_cli::{self as cli, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One request at a time: a current-thread runtime is all the CLI needs.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints `err` and picks the exit code.
fn report(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<cli::Error>() {
        // The reader went away (`vigil query ... | head`): nothing to report.
        Some(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        // The message already carries its cause; `{:#}` would repeat it.
        Some(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
        None => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
