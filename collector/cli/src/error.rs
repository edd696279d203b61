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

    /// The token from `--token-file` or an environment variable cannot be used (`from`
    /// names which, e.g. `--token-file /etc/vigil/token`).
    #[error("{from}: {reason}")]
    BadToken {
        /// Where the token came from.
        from: String,
        /// What is wrong with it (never the secret).
        reason: String,
    },

    /// A token would cross the network in clear text: `--collector` is `http://` (or a bare
    /// `host:port`) to an address that is not loopback.
    #[error(
        "refusing to send the token from {from} in clear text to {url}: use an https:// \
         collector URL with --ca-cert FILE, or reach the collector through a loopback \
         address (such as an SSH tunnel to 127.0.0.1)"
    )]
    ClearText {
        /// The collector URL.
        url: String,
        /// Where the token came from.
        from: String,
    },

    /// The collector answered `UNAUTHENTICATED`: it wants a token, or did not accept the
    /// one given.
    #[error("{}", unauthenticated(.from.as_deref(), .message))]
    Unauthenticated {
        /// Where the token came from; `None` when none was given.
        from: Option<String>,
        /// The collector's message.
        message: String,
    },

    /// The collector answered `PERMISSION_DENIED`: it knows the caller, whose role does not
    /// allow the command.
    #[error("{}", permission_denied(.from.as_deref(), .message))]
    PermissionDenied {
        /// Where the token came from; `None` when none was given.
        from: Option<String>,
        /// The collector's message.
        message: String,
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
            Error::InvalidUrl { .. }
            | Error::Time(_)
            | Error::TooManySteps { .. }
            | Error::BadToken { .. }
            | Error::ClearText { .. } => 2,
            Error::Unreachable { .. }
            | Error::Status(_)
            | Error::Unauthenticated { .. }
            | Error::PermissionDenied { .. }
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
        "\n(Vigil evaluates PromQL as Prometheus 2.42 does; write the query without that \
         newer construct)"
    } else {
        ""
    }
}

/// What to do about an `UNAUTHENTICATED` answer, given where the token came from (if one
/// was given); the collector's own words follow in parentheses.
fn unauthenticated(from: Option<&str>, message: &str) -> String {
    let mut text = match from {
        None => "the collector requires a token: pass --token or set VIGIL_TOKEN".to_owned(),
        Some(from) => format!(
            "the collector did not accept the token from {from}: check that it is the secret \
             of one of the collector's [[auth.tokens]]"
        ),
    };
    if !message.is_empty() {
        text.push_str(&format!("\n(the collector said: {message})"));
    }
    text
}

/// What a `PERMISSION_DENIED` answer means for the person at the terminal: the collector's
/// message, then which role the command needs.
fn permission_denied(from: Option<&str>, message: &str) -> String {
    let said = if message.is_empty() {
        "the collector refused this command"
    } else {
        message
    };
    let what = match from {
        Some(from) => format!("the role of the token from {from} does not allow this command"),
        None => "this command needs a token whose role allows it: pass --token or set \
                 VIGIL_TOKEN"
            .to_owned(),
    };
    format!(
        "{said}\n({what}; backups, rule reloads, silences and test notifications need an \
         admin token, imports an admin token or an agent token for every host they write)"
    )
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
