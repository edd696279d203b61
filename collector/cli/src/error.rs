//! What can go wrong in the `vigil` CLI, worded for the person at the terminal, and the exit
//! code each failure gets.

use std::io;

/// A failure of a `vigil` command. The `Display` text is the whole message the user sees
/// after `error: `; it names the input that was wrong and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The collector could not be reached at all (refused, timed out, bad host name...).
    #[error(
        "cannot reach the collector at {url}: {reason} \
         (is vigil-collector running? set --collector or VIGIL_COLLECTOR)"
    )]
    Unreachable {
        /// The collector URL that was tried.
        url: String,
        /// Why, in a few lowercase words (e.g. "connection refused").
        reason: String,
    },

    /// `--collector` is not a URL tonic can connect to.
    #[error("invalid collector URL {url:?}: {reason}; use a URL like http://127.0.0.1:7070")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The collector answered with a gRPC error; its message names what was wrong (for
    /// example the part of the selector it could not parse), so it is shown as it is.
    #[error("{}", status_message(.0))]
    Status(Box<tonic::Status>),

    /// A duration (`--range`, `--step`, `--window`) or a time (`--at`) on the command
    /// line could not be parsed; the message lists the forms accepted.
    #[error(transparent)]
    Time(#[from] vigil_promql::time::TimeError),

    /// `--range` divided by `--step` is more points than the engine evaluates per series.
    #[error(
        "--range {range} at --step {step} is {points} points per series, more than the \
         {max} the collector evaluates; use a --step of at least {min_step}"
    )]
    TooManySteps {
        /// The range, as given.
        range: String,
        /// The step, as given.
        step: String,
        /// How many points that is.
        points: i64,
        /// The most the engine takes.
        max: i64,
        /// The smallest step that fits.
        min_step: String,
    },

    /// The collector refused a PromQL expression (it does not parse, uses something Vigil
    /// does not evaluate, or has a bad argument); `message` is the engine's, kind first.
    #[error("cannot evaluate {expr:?}: {message}{}", advice(.message))]
    BadQuery {
        /// The expression as given.
        expr: String,
        /// The collector's message, e.g. `bad_data: parse error: unexpected end of input`.
        message: String,
    },

    /// `vigil host NAME` names a host the collector has never heard from.
    #[error(
        "no host named {host:?} has connected to this collector; `vigil hosts` lists the known hosts"
    )]
    UnknownHost {
        /// The name as given.
        host: String,
    },

    /// Writing the result to stdout failed.
    #[error("cannot write the output: {0}")]
    Write(#[from] io::Error),
}

impl Error {
    /// The process exit code for this failure: 2 for a mistake on the command line (as clap
    /// uses for usage errors), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InvalidUrl { .. } | Error::Time(_) | Error::TooManySteps { .. } => 2,
            Error::Unreachable { .. }
            | Error::Status(_)
            | Error::BadQuery { .. }
            | Error::UnknownHost { .. }
            | Error::Write(_) => 1,
        }
    }

    /// Whether stdout was closed by the reader (e.g. `vigil query ... | head`); not worth
    /// an error message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Write(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Error::Status(Box::new(status))
    }
}

/// What to do about a refused expression, on a line of its own; nothing when the engine's
/// message says it all.
fn advice(message: &str) -> &'static str {
    if message.contains("parse error") {
        "\n(check the PromQL; put the expression in single quotes so the shell leaves its \
         quotes and braces alone)"
    } else if message.contains("unsupported") {
        "\n(Vigil evaluates a subset of PromQL; write the query without that construct)"
    } else {
        ""
    }
}

/// The server's message, or the code's description when the server sent none.
fn status_message(status: &tonic::Status) -> String {
    if status.message().is_empty() {
        status.code().description().to_owned()
    } else {
        status.message().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_the_server_message() {
        let err = Error::from(tonic::Status::invalid_argument(
            "bad selector \"up{\": unexpected end of input",
        ));
        assert_eq!(
            err.to_string(),
            "bad selector \"up{\": unexpected end of input"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn status_without_message_shows_the_code() {
        let err = Error::from(tonic::Status::unimplemented(""));
        assert_eq!(
            err.to_string(),
            "Operation is not implemented or not supported"
        );
    }

    #[test]
    fn unreachable_says_what_to_do() {
        let err = Error::Unreachable {
            url: "http://127.0.0.1:7070".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach the collector at http://127.0.0.1:7070: connection refused \
             (is vigil-collector running? set --collector or VIGIL_COLLECTOR)"
        );
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let err = Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(err.is_broken_pipe());
        assert!(!Error::from(io::Error::other("disk full")).is_broken_pipe());
    }
}
