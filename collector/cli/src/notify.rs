//! `vigil notify test RECEIVER` and `vigil notify outbox`, on the collector's Notify
//! service.
//!
//! ```text
//! $ vigil notify test ops
//! KIND      TARGET                                          RESULT     SECONDS   ANSWER
//! email     email to ops@example.com via smtp.example.com:587 (starttls)
//!                                                           accepted   0.412     250 2.0.0 Ok: queued as 4FD1
//! webhook   webhook to https://hooks.example.com/…          rejected   0.087     HTTP 401 Unauthorized: bad token
//! ```
//!
//! `test` sends a test notification (one firing `VigilTest` alert) to every integration of
//! the receiver at once, bypassing routing and the outbox, and exits with 1 when any did
//! not accept it. `--output json` writes an array of
//! `{"kind","target","result":"accepted"|"retry"|"rejected","answer","seconds"}`; CSV has
//! the same columns.
//!
//! `outbox` lists the notifications waiting for delivery, oldest first; JSON objects carry
//! `id, receiver, kind, group_key, status, alerts, created_at, attempts, next_attempt_at,
//! last_error` (times in Unix seconds, `next_attempt_at` null before the first attempt).

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde::Serialize;
use vigil_proto::v1::notify_client::NotifyClient;
use vigil_proto::v1::{IntegrationAnswer, ListOutboxRequest, OutboxEntry, TestReceiverRequest};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;

/// `vigil notify test RECEIVER | outbox`.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: NotifyAction,
}

/// The actions of `vigil notify`.
#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Send a test notification to every integration of a receiver and print each answer;
    /// exit 1 when any did not accept it
    Test {
        /// The receiver's name, as in [[notify.receivers]]
        #[arg(value_name = "RECEIVER")]
        receiver: String,
    },
    /// List the notifications waiting for delivery, oldest first
    Outbox,
}

/// `vigil notify test` reached the receiver, but not every integration accepted.
#[derive(Debug, thiserror::Error)]
#[error(
    "{failed} of {total} integration(s) of receiver {receiver:?} did not accept the test \
     notification (see RESULT and ANSWER above)"
)]
pub struct NotifyFailure {
    /// The receiver tested.
    pub receiver: String,
    /// Integrations that answered retry or rejected.
    pub failed: usize,
    /// All its integrations.
    pub total: usize,
}

/// Runs one `vigil notify` action.
pub async fn run(target: &Target, args: &NotifyArgs, output: Output) -> anyhow::Result<()> {
    let collector = Collector::connect(target).await?;
    let mut client = NotifyClient::new(collector.channel());
    let mut out = output::stdout();
    match &args.action {
        NotifyAction::Test { receiver } => {
            let answers = client
                .test_receiver(TestReceiverRequest {
                    receiver: receiver.clone(),
                })
                .await
                .map_err(|s| refused(target, s))?
                .into_inner()
                .answers;
            render_answers(&answers, output, &mut out)?;
            out.flush()?;
            let failed = answers.iter().filter(|a| a.result != "accepted").count();
            if failed > 0 {
                return Err(NotifyFailure {
                    receiver: receiver.clone(),
                    failed,
                    total: answers.len(),
                }
                .into());
            }
        }
        NotifyAction::Outbox => {
            let entries = client
                .list_outbox(ListOutboxRequest {})
                .await
                .map_err(|s| refused(target, s))?
                .into_inner()
                .entries;
            if entries.is_empty() && output == Output::Table {
                eprintln!("the outbox is empty: every notification was delivered");
                return Ok(());
            }
            render_outbox(&entries, output, time::now_ms(), &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// The error for a refused Notify call; a collector from before the Notify service
/// answers UNIMPLEMENTED without a message.
fn refused(target: &Target, status: tonic::Status) -> Error {
    if status.code() == tonic::Code::Unimplemented && status.message().is_empty() {
        return Error::from(tonic::Status::unimplemented(format!(
            "the collector at {} has no notify service: it is older than this vigil; upgrade \
             vigil-collector",
            target.url
        )));
    }
    target.refusal(status)
}

#[derive(Serialize)]
struct AnswerRecord<'a> {
    kind: &'a str,
    target: &'a str,
    result: &'a str,
    answer: &'a str,
    seconds: f64,
}

/// Writes the answers of `vigil notify test` in the chosen format.
pub fn render_answers(
    answers: &[IntegrationAnswer],
    output: Output,
    w: &mut dyn Write,
) -> io::Result<()> {
    let records = answers.iter().map(|a| AnswerRecord {
        kind: &a.kind,
        target: &a.target,
        result: &a.result,
        answer: &a.answer,
        seconds: (a.seconds * 1000.0).round() / 1000.0,
    });
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(
            w,
            &["kind", "target", "result", "answer", "seconds"],
            records.map(|r| {
                vec![
                    r.kind.to_owned(),
                    r.target.to_owned(),
                    r.result.to_owned(),
                    r.answer.to_owned(),
                    format!("{:.3}", r.seconds),
                ]
            }),
        ),
        Output::Table => {
            let mut table = output::table(&["KIND", "TARGET", "RESULT", "SECONDS", "ANSWER"], &[3]);
            for a in answers {
                table.add_row(vec![
                    a.kind.clone(),
                    a.target.clone(),
                    a.result.clone(),
                    format!("{:.3}", a.seconds),
                    one_line(&a.answer),
                ]);
            }
            output::write_table(w, &table)
        }
    }
}

#[derive(Serialize)]
struct OutboxRecord<'a> {
    id: &'a str,
    receiver: &'a str,
    kind: &'a str,
    group_key: &'a str,
    status: &'a str,
    alerts: u32,
    created_at: serde_json::Number,
    attempts: u32,
    next_attempt_at: Option<serde_json::Number>,
    last_error: &'a str,
}

impl<'a> OutboxRecord<'a> {
    fn new(e: &'a OutboxEntry) -> Self {
        Self {
            id: &e.id,
            receiver: &e.receiver,
            kind: &e.kind,
            group_key: &e.group_key,
            status: &e.status,
            alerts: e.alerts,
            created_at: output::unix_seconds(e.created_ms),
            attempts: e.attempts,
            next_attempt_at: (e.next_attempt_ms > 0)
                .then(|| output::unix_seconds(e.next_attempt_ms)),
            last_error: &e.last_error,
        }
    }
}

/// Writes the outbox in the chosen format; `now_ms` anchors the table's relative times.
pub fn render_outbox(
    entries: &[OutboxEntry],
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let records = entries.iter().map(OutboxRecord::new);
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(
            w,
            &[
                "id",
                "receiver",
                "kind",
                "group_key",
                "status",
                "alerts",
                "created_at",
                "attempts",
                "next_attempt_at",
                "last_error",
            ],
            records.map(|r| {
                vec![
                    r.id.to_owned(),
                    r.receiver.to_owned(),
                    r.kind.to_owned(),
                    r.group_key.to_owned(),
                    r.status.to_owned(),
                    r.alerts.to_string(),
                    r.created_at.to_string(),
                    r.attempts.to_string(),
                    r.next_attempt_at.map(|n| n.to_string()).unwrap_or_default(),
                    r.last_error.to_owned(),
                ]
            }),
        ),
        Output::Table => {
            let mut table = output::table(
                &[
                    "ID",
                    "RECEIVER",
                    "KIND",
                    "STATUS",
                    "ALERTS",
                    "AGE",
                    "ATTEMPTS",
                    "NEXT",
                    "LAST ERROR",
                ],
                &[4, 6],
            );
            for e in entries {
                let next = if e.next_attempt_ms <= 0 {
                    "now".to_owned()
                } else if e.next_attempt_ms <= now_ms {
                    "due".to_owned()
                } else {
                    in_time(e.next_attempt_ms - now_ms)
                };
                table.add_row(vec![
                    e.id.clone(),
                    e.receiver.clone(),
                    e.kind.clone(),
                    e.status.clone(),
                    e.alerts.to_string(),
                    time::format_ago(e.created_ms, now_ms),
                    e.attempts.to_string(),
                    next,
                    one_line(&e.last_error),
                ]);
            }
            output::write_table(w, &table)
        }
    }
}

/// `in 42s`, `in 5m`, `in 3h`.
fn in_time(ms: i64) -> String {
    let secs = (ms + 999) / 1000;
    match secs {
        ..60 => format!("in {secs}s"),
        60..3600 => format!("in {}m", secs / 60),
        _ => format!("in {}h", secs / 3600),
    }
}

/// Text on one line, cut at 160 characters, for table cells.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> Vec<IntegrationAnswer> {
        vec![
            IntegrationAnswer {
                kind: "email".into(),
                target: "email to ops@example.com via 127.0.0.1:25 (plain)".into(),
                result: "accepted".into(),
                answer: "250 2.0.0 Ok".into(),
                seconds: 0.0123,
            },
            IntegrationAnswer {
                kind: "webhook".into(),
                target: "webhook to http://127.0.0.1:9/…".into(),
                result: "rejected".into(),
                answer: "HTTP 401 Unauthorized:\nbad token".into(),
                seconds: 0.5,
            },
        ]
    }

    fn text(output: Output) -> String {
        let mut out = Vec::new();
        render_answers(&answers(), output, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn answers_as_table_json_and_csv() {
        let table = text(Output::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("KIND"), "{table}");
        assert!(
            lines[1].starts_with("email") && lines[1].contains("accepted"),
            "{table}"
        );
        assert!(
            lines[1].contains("0.012") && lines[1].ends_with("250 2.0.0 Ok"),
            "{table}"
        );
        assert!(
            lines[2].ends_with("HTTP 401 Unauthorized: bad token"),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&text(Output::Json)).unwrap();
        assert_eq!(json[1]["result"], "rejected");
        assert_eq!(json[1]["answer"], "HTTP 401 Unauthorized:\nbad token");
        assert_eq!(json[0]["seconds"], 0.012);
        let csv = text(Output::Csv);
        assert!(
            csv.starts_with("kind,target,result,answer,seconds\n"),
            "{csv}"
        );
    }
}
