//! `vigil import FILE`: backfill history from an OpenMetrics or Prometheus text file
//! through the collector's Import service, with the same checks as agent ingest.
//!
//! # Layout
//! - `parse`: one line of either text format → a sample, metadata or `# EOF`.
//! - `batch`: the file, line by line in bounded memory → bounded requests in file order.
//! - `pipeline`: requests on the wire, a few at once; the tally of what was stored.
//! - `progress`: the progress bar on a terminal.
//!
//! The file is read on its own thread while requests are in flight, so a file larger than
//! memory streams through. On the first bad line (or a sample the collector refuses) the
//! import stops: every line before it is stored, the summary says how much and where it
//! stopped, and the exit code is 1. Importing the same file again stores nothing twice.

mod batch;
mod parse;
mod pipeline;
mod progress;

use super::auth::{self, Source, Token};
use super::client::{Collector, Target};
use super::output::Output;
use batch::{Batcher, MAX_REQUEST_BYTES};
use pipeline::Tally;
use progress::{Progress, group, per_second};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use tokio::sync::mpsc;
use vigil_proto::v1::import_client::ImportClient;

/// The file reader, for the fuzz targets in tests/fuzz.
#[cfg(feature = "fuzzing")]
pub use batch::{Batcher as FileBatcher, Item, Piece, read};
pub use parse::Format;

/// Arguments of `vigil import`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Every sample needs a timestamp: seconds in OpenMetrics \
    (`m{a=\"b\"} 1.5 1700000000.25`), milliseconds in Prometheus text \
    (`m{a=\"b\"} 1.5 1700000000250`). A series' `host` label names the host it counts \
    against; series without one are stored as they are and count against \"(import)\".\n\n\
    Importing takes an admin token, or an agent token allowed for every host in the file: \
    --token, --token-file or VIGIL_TOKEN (VIGIL_AGENT_TOKEN is still read when none of \
    them is given).\n\n\
    Examples:\n  \
    vigil import history.om\n  \
    zcat dump.prom.gz | vigil import --format prometheus -")]
pub struct ImportArgs {
    /// File to import; `-` reads standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Text format of the file
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "openmetrics")]
    pub format: Format,

    /// Most samples per request
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub batch_samples: usize,
}

/// What went wrong with the input, worded for the person at the terminal (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be opened.
    #[error("cannot open {path}: {reason}")]
    Open {
        /// The file as given.
        path: String,
        /// Why.
        reason: std::io::Error,
    },
    /// A line is bad, or the collector refused a sample on it.
    #[error("line {line}: {message}")]
    Input {
        /// 1-based line number.
        line: u64,
        /// What was wrong.
        message: String,
    },
}

/// Imports the file and prints a summary (stderr; JSON on stdout with `--output json`).
pub async fn run(target: &Target, args: &ImportArgs, output: Output) -> anyhow::Result<()> {
    let (input, size, name) = open(&args.file)?;
    let target = &with_agent_token(target, std::env::var(auth::AGENT_TOKEN_ENV).ok())?;
    let collector = Collector::connect(target).await?;
    let client =
        ImportClient::new(collector.channel()).max_encoding_message_size(2 * MAX_REQUEST_BYTES);
    let progress = Progress::new(size);
    let (tx, rx) = mpsc::channel(pipeline::IN_FLIGHT);
    let (format, batch_samples) = (args.format, args.batch_samples);
    let reader_progress = progress.clone();
    std::thread::spawn(move || {
        let mut unreported = 0u64;
        batch::read(
            input,
            format,
            Batcher::new(batch_samples, MAX_REQUEST_BYTES),
            |n| {
                unreported += n;
                if unreported >= 1 << 16 {
                    reader_progress.read(std::mem::take(&mut unreported));
                }
            },
            |item| tx.blocking_send(item).is_ok(),
        );
    });
    let tally = pipeline::send_all(client, target, rx, &progress).await;
    progress.finish();
    report(&tally, &name, progress.elapsed(), output)?;
    match tally.stop {
        Some(stop) => Err(ImportError::Input {
            line: stop.line,
            message: stop.message,
        }
        .into()),
        None => Ok(()),
    }
}

/// `target`, with the token of `VIGIL_AGENT_TOKEN` (`agent_token`, the variable's value)
/// when no other is given: `vigil import` read its token from there before the global
/// `--token` existed.
fn with_agent_token(target: &Target, agent_token: Option<String>) -> Result<Target, super::Error> {
    let mut target = target.clone();
    if target.token.is_none() {
        target.token = Token::from_env(Source::AgentEnv, agent_token)?;
    }
    Ok(target)
}

/// The input as a buffered reader, its size when known, and its name for messages.
#[allow(clippy::type_complexity)]
fn open(path: &PathBuf) -> Result<(Box<dyn BufRead + Send>, Option<u64>, String), ImportError> {
    if path.as_os_str() == "-" {
        let stdin = BufReader::with_capacity(1 << 20, std::io::stdin());
        return Ok((Box::new(stdin), None, "standard input".into()));
    }
    let name = path.display().to_string();
    let failed = |reason| ImportError::Open {
        path: name.clone(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    let metadata = file.metadata().map_err(failed)?;
    if metadata.is_dir() {
        return Err(failed(std::io::Error::other("it is a directory")));
    }
    let size = metadata.is_file().then_some(metadata.len());
    Ok((
        Box::new(BufReader::with_capacity(1 << 20, file)),
        size,
        name,
    ))
}

/// The summary: one line on stderr, and with `--output json` an object on stdout.
fn report(
    tally: &Tally,
    name: &str,
    elapsed: std::time::Duration,
    output: Output,
) -> Result<(), super::Error> {
    let stored = tally.stored + tally.stored_after_stop;
    let rate = per_second(stored, elapsed);
    let mut line = format!(
        "imported {} samples from {name} in {:.1} s ({} samples/s)",
        group(tally.stored),
        elapsed.as_secs_f64(),
        group(rate)
    );
    if let Some(stop) = &tally.stop {
        line.push_str(&format!(
            "; stopped at line {}: every sample before it is stored",
            stop.line
        ));
        if tally.stored_after_stop > 0 {
            line.push_str(&format!(
                ", and {} from later lines already on their way (importing again after the \
                 fix stores nothing twice)",
                group(tally.stored_after_stop)
            ));
        }
    } else if let Some(lines) = tally.lines {
        line.push_str(&format!("; {} lines read", group(lines)));
    }
    eprintln!("{line}");
    if output == Output::Json {
        let summary = serde_json::json!({
            "imported_samples": tally.stored,
            "imported_after_stop": tally.stored_after_stop,
            "lines": tally.lines,
            "seconds": elapsed.as_secs_f64(),
            "samples_per_second": rate,
            "stopped_at_line": tally.stop.as_ref().map(|s| s.line),
            "error": tally.stop.as_ref().map(|s| s.message.clone()),
        });
        let mut out = super::output::stdout();
        super::output::write_json(&mut out, &summary)?;
        std::io::Write::flush(&mut out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};
    use clap::Parser;

    fn args(argv: &[&str]) -> ImportArgs {
        match Cli::try_parse_from(argv).expect("valid").command {
            Command::Import(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_interface_the_acceptance_check_uses() {
        let a = args(&["vigil", "--collector", "http://c:7070", "import", "h.om"]);
        assert_eq!(a.file, PathBuf::from("h.om"));
        assert_eq!(a.format, Format::OpenMetrics);
        assert_eq!(a.batch_samples, 50_000);
        let a = args(&["vigil", "import", "--format", "prometheus", "-"]);
        assert_eq!((a.file, a.format), (PathBuf::from("-"), Format::Prometheus));
        assert!(Cli::try_parse_from(["vigil", "import", "h.om", "--format", "csv"]).is_err());
    }

    #[test]
    fn the_agent_token_variable_is_a_fallback_for_import() {
        let plain = Target::default();
        let target = with_agent_token(&plain, Some("old".into())).expect("usable");
        let token = target.token.expect("from VIGIL_AGENT_TOKEN");
        assert_eq!(
            (token.secret.expose(), token.source),
            ("old", Source::AgentEnv)
        );
        assert!(
            with_agent_token(&plain, Some(String::new()))
                .expect("unset")
                .token
                .is_none()
        );
        // The global token wins.
        let given = Target {
            token: Token::from_env(Source::Env, Some("new".into())).expect("usable"),
            ..Target::default()
        };
        let token = with_agent_token(&given, Some("old".into()))
            .expect("usable")
            .token
            .expect("kept");
        assert_eq!(token.source, Source::Env);
        assert_eq!(token.secret.expose(), "new");
        // `vigil import FILE --token S` still parses: --token is global now.
        let cli =
            Cli::try_parse_from(["vigil", "import", "h.om", "--token", "s3cret"]).expect("valid");
        assert_eq!(
            cli.token.map(|s| s.expose().to_owned()).as_deref(),
            Some("s3cret")
        );
    }
}
