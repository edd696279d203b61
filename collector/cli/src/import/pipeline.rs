//! Sending requests with a few in flight, and keeping count of what came back.
//!
//! The reader runs on its own thread and hands requests over a bounded channel; this side
//! keeps up to [`IN_FLIGHT`] of them on the wire. The first thing that stops the import
//! (a bad line from the reader, a refused sample, a failed request) stops reading; the
//! requests already on the wire are still awaited, so the tally is exact.

use super::super::client::{Connection, Target};
use super::batch::{Item, Piece};
use super::progress::Progress;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use vigil_proto::v1::ImportResponse;
use vigil_proto::v1::import_client::ImportClient;

/// Requests on the wire at once: enough to keep the collector's store busy while the
/// next request is parsed and sent, few enough to bound memory (each is ≤ 4 MiB).
pub const IN_FLIGHT: usize = 4;

/// Where and why an import stopped early.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// The line the problem is on (for a failed request, its first line).
    pub line: u64,
    /// What was wrong.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Tally {
    /// Samples the collector stored from lines before the stop (all, without a stop).
    pub stored: u64,
    /// Samples stored from lines after the stop, by requests already on the wire.
    pub stored_after_stop: u64,
    /// Lines read, when the input was read to its end.
    pub lines: Option<u64>,
    /// The earliest problem, if any.
    pub stop: Option<Stop>,
}

impl Tally {
    /// Keeps `stop` when it is earlier than the one known.
    fn stop_at(&mut self, stop: Stop) {
        if self.stop.as_ref().is_none_or(|s| stop.line < s.line) {
            self.stop = Some(stop);
        }
    }
}

/// Sends every request from `items` through `client`, with `target`'s token in each (as
/// metadata, from the connection, and in the request's `token` field, which collectors
/// from before `[[auth.tokens]]` read).
pub async fn send_all(
    client: ImportClient<Connection>,
    target: &Target,
    mut items: mpsc::Receiver<Item>,
    progress: &Progress,
) -> Tally {
    let mut tally = Tally::default();
    // (first line, samples stored) of every answered request, to split the count at the stop.
    let mut answered: Vec<(u64, u64)> = Vec::new();
    let mut wire: JoinSet<(u64, Result<ImportResponse, tonic::Status>)> = JoinSet::new();
    let mut reading = true;
    let mut stored = 0u64;
    let token = target.token.as_ref().map_or("", |t| t.secret.expose());
    loop {
        let room = wire.len() < IN_FLIGHT;
        tokio::select! {
            item = items.recv(), if reading && room && tally.stop.is_none() => match item {
                Some(Item::Request(Piece { mut request, first_line, .. })) => {
                    request.token = token.to_owned();
                    let mut client = client.clone();
                    wire.spawn(async move {
                        (first_line, client.write(request).await.map(|r| r.into_inner()))
                    });
                }
                Some(Item::Bad { line, message }) => {
                    reading = false;
                    tally.stop_at(Stop { line, message });
                }
                Some(Item::Done { lines }) => {
                    reading = false;
                    tally.lines = Some(lines);
                }
                None => reading = false,
            },
            Some(joined) = wire.join_next() => {
                let (first_line, answer) = match joined {
                    Ok(answer) => answer,
                    Err(e) => (u64::MAX, Err(tonic::Status::internal(format!("sending task failed: {e}")))),
                };
                match answer {
                    Ok(response) => {
                        stored += response.accepted_samples;
                        progress.stored(stored);
                        answered.push((first_line, response.accepted_samples));
                        if let Some(r) = response.rejection {
                            tally.stop_at(Stop { line: r.line, message: r.message });
                        }
                    }
                    Err(status) => tally.stop_at(Stop {
                        line: first_line,
                        message: target.refusal(status).to_string(),
                    }),
                }
            },
            else => break,
        }
    }
    let stop_line = tally.stop.as_ref().map_or(u64::MAX, |s| s.line);
    for (first_line, n) in answered {
        if first_line > stop_line {
            tally.stored_after_stop += n;
        } else {
            tally.stored += n;
        }
    }
    tally
}
