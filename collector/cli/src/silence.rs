//! `vigil silence add|list|expire`: silences on the collector's Notify service. A silenced
//! alert still fires (and shows in `vigil alerts` as silenced) but is not sent.
//!
//! ```text
//! vigil silence add alertname=DiskFull 'host=~"db-.*"' --for 2h --comment "disk swap"
//! 3f9a0c2e71d4b8a6                              the new silence's id
//! vigil silence list [--all]                    active and pending (--all: expired too)
//! vigil silence expire 3f9a0c2e71d4b8a6
//! ```
//!
//! Matchers and `--for` are checked here first, so a typo is a usage error (exit 2) that
//! names it; the collector checks the rest (for example that the matchers do not match
//! every alert). `--output json` writes silences as objects:
//!
//! ```text
//!   {"id":"3f9a0c2e71d4b8a6","matchers":["alertname=\"DiskFull\""],
//!    "state":"active"|"pending"|"expired",
//!    "starts_at":1795240079.5,"ends_at":1795247279.5,     Unix seconds
//!    "created_by":"ann","comment":"disk swap"}
//! ```
//!
//! `--output csv` has the same columns, matchers joined with `;`.

use std::io::{self, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use vigil_proto::v1::notify_client::NotifyClient;
use vigil_proto::v1::{AddSilenceRequest, ExpireSilenceRequest, ListSilencesRequest, Silence};

use super::client::{Collector, Connection, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;
use vigil_rules::matchers::Matcher;

/// `vigil silence [add … | list | expire ID]`.
#[derive(Debug, Args)]
pub struct SilenceArgs {
    /// What to do; without one, list the silences.
    #[command(subcommand)]
    pub action: Option<SilenceAction>,
}

/// The actions of `vigil silence`.
#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Silence alerts matching every MATCHER for a while; prints the new silence's id
    Add {
        /// Label matchers, all of which must hold: name=value, name!=value, name=~regex,
        /// name!~regex (quote values with spaces: 'summary="disk full"')
        #[arg(required = true, value_name = "MATCHER", value_parser = parse_matcher)]
        matchers: Vec<String>,
        /// How long the silence lasts, such as 30m, 2h or 1d
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_for)]
        duration: Duration,
        /// Why the alerts are silenced
        #[arg(long, value_name = "TEXT")]
        comment: String,
        /// Who silences them (default: with a token, its name on the collector; without,
        /// $USER, else the login name of this process's user)
        #[arg(long, value_name = "NAME")]
        author: Option<String>,
        /// When the silence starts, RFC 3339 or Unix seconds (default: now)
        #[arg(long, value_name = "TIME", value_parser = parse_start)]
        start: Option<i64>,
    },
    /// List active and pending silences (the default)
    List {
        /// Also list expired silences (kept 5 days after their end)
        #[arg(long)]
        all: bool,
    },
    /// End a silence now
    Expire {
        /// The silence's id, as `vigil silence list` shows it
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// The `created_by` of a new silence: `--author` when given; else, with a token, empty,
/// so the collector records the token's name; else the user running `vigil` (`login`).
fn created_by(author: Option<&str>, token: bool, login: impl FnOnce() -> String) -> String {
    match author {
        Some(author) => author.to_owned(),
        None if token => String::new(),
        None => login(),
    }
}

/// The name of the user running `vigil`: `$USER`, else `$LOGNAME` (cron, systemd and
/// containers may set neither), else the `/etc/passwd` entry of the process's uid; empty
/// (the collector then asks for `--author`) when none is found.
fn login_name() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.trim().is_empty()
        {
            return name;
        }
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
        });
    let Some(uid) = uid else {
        return String::new();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() > 2 && fields[2] == uid).then(|| fields[0].to_owned())
            })
        })
        .unwrap_or_default()
}

/// Runs one `vigil silence` action.
pub async fn run(target: &Target, args: &SilenceArgs, output: Output) -> Result<(), Error> {
    let collector = Collector::connect(target).await?;
    let mut client = NotifyClient::new(collector.channel());
    let now = time::now_ms();
    let mut out = output::stdout();
    match &args.action {
        Some(SilenceAction::Add {
            matchers,
            duration,
            comment,
            author,
            start,
        }) => {
            let starts_at_ms = start.unwrap_or(now);
            let request = AddSilenceRequest {
                matchers: matchers.clone(),
                starts_at_ms,
                ends_at_ms: starts_at_ms.saturating_add(time::duration_ms(*duration)),
                created_by: created_by(author.as_deref(), target.token.is_some(), login_name),
                comment: comment.clone(),
            };
            let silence = client
                .add_silence(request)
                .await
                .map_err(|s| refused(target, s))?
                .into_inner()
                .silence
                .unwrap_or_default();
            match output {
                Output::Table => writeln!(out, "{}", silence.id)?,
                _ => render(&[silence], output, now, &mut out)?,
            }
        }
        None => list(&mut client, target, false, output, now, &mut out).await?,
        Some(SilenceAction::List { all }) => {
            list(&mut client, target, *all, output, now, &mut out).await?
        }
        Some(SilenceAction::Expire { id }) => {
            let request = ExpireSilenceRequest { id: id.clone() };
            let silence = client
                .expire_silence(request)
                .await
                .map_err(|s| refused(target, s))?
                .into_inner()
                .silence
                .unwrap_or_default();
            match output {
                Output::Table => writeln!(out, "expired {}", silence.id)?,
                _ => render(&[silence], output, now, &mut out)?,
            }
        }
    }
    Ok(out.flush()?)
}

async fn list(
    client: &mut NotifyClient<Connection>,
    target: &Target,
    include_expired: bool,
    output: Output,
    now: i64,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let silences = client
        .list_silences(ListSilencesRequest { include_expired })
        .await
        .map_err(|s| refused(target, s))?
        .into_inner()
        .silences;
    if silences.is_empty() && output == Output::Table {
        eprintln!(
            "no silence{}",
            if include_expired {
                ""
            } else {
                " is active or pending (--all lists expired ones too)"
            }
        );
        return Ok(());
    }
    Ok(render(&silences, output, now, out)?)
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

/// Writes `silences` in the chosen format; `now_ms` anchors the table's relative times.
pub fn render(
    silences: &[Silence],
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let records = silences.iter().map(SilenceRecord::new);
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(w, &CSV_HEADER, records.map(|r| r.csv_row())),
        Output::Table => {
            let mut table = output::table(
                &[
                    "ID", "MATCHERS", "STATE", "STARTS", "ENDS", "AUTHOR", "COMMENT",
                ],
                &[],
            );
            for s in silences {
                table.add_row(vec![
                    s.id.clone(),
                    format!("{{{}}}", s.matchers.join(", ")),
                    s.state.clone(),
                    when(s.starts_at_ms, now_ms),
                    when(s.ends_at_ms, now_ms),
                    s.created_by.clone(),
                    s.comment.clone(),
                ]);
            }
            output::write_table(w, &table)
        }
    }
}

/// `2026-11-21 05:40:00 (in 2h)` or `… (10m ago)`.
fn when(ms: i64, now_ms: i64) -> String {
    let at = time::format_utc(ms);
    let at = at.get(..19).unwrap_or(&at).to_owned();
    if ms > now_ms {
        format!("{at} ({})", super::alerts::format_in(ms, now_ms))
    } else {
        format!("{at} ({})", time::format_ago(ms, now_ms))
    }
}

/// Column names of `--output csv`: the keys of the JSON objects, in the same order.
const CSV_HEADER: [&str; 7] = [
    "id",
    "matchers",
    "state",
    "starts_at",
    "ends_at",
    "created_by",
    "comment",
];

/// One silence as `--output json` writes it (fields in this order).
#[derive(Serialize)]
struct SilenceRecord<'a> {
    id: &'a str,
    matchers: &'a [String],
    state: &'a str,
    starts_at: serde_json::Number,
    ends_at: serde_json::Number,
    created_by: &'a str,
    comment: &'a str,
}

impl<'a> SilenceRecord<'a> {
    fn new(s: &'a Silence) -> Self {
        SilenceRecord {
            id: &s.id,
            matchers: &s.matchers,
            state: &s.state,
            starts_at: output::unix_seconds(s.starts_at_ms),
            ends_at: output::unix_seconds(s.ends_at_ms),
            created_by: &s.created_by,
            comment: &s.comment,
        }
    }

    fn csv_row(&self) -> Vec<String> {
        vec![
            self.id.to_owned(),
            self.matchers.join(";"),
            self.state.to_owned(),
            self.starts_at.to_string(),
            self.ends_at.to_string(),
            self.created_by.to_owned(),
            self.comment.to_owned(),
        ]
    }
}

/// Checks one matcher as clap parses the command line; the error names it and shows the
/// forms.
fn parse_matcher(text: &str) -> Result<String, String> {
    Matcher::parse(text).map(|m| m.to_string()).map_err(|e| {
        format!(
            "{e}\n  write matchers as name=value, name!=value, name=~regex or name!~regex, \
             such as alertname=DiskFull 'host=~\"db-.*\"'"
        )
    })
}

/// `--for`: a positive duration.
fn parse_for(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{text:?} is not a duration: use a number and a unit, like 30m, 2h, 1h30m or 1d")
    };
    let duration = time::parse_duration(text).map_err(|_| bad())?;
    if duration.is_zero() {
        return Err(format!(
            "{text:?} is no time at all: give how long the silence lasts, like 2h"
        ));
    }
    Ok(duration)
}

/// `--start`: RFC 3339 or Unix seconds.
fn parse_start(text: &str) -> Result<i64, String> {
    time::parse_time(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use clap::Parser;

    const NOW: i64 = 1_795_240_800_000;

    fn silence(id: &str, state: &str, starts: i64, ends: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: vec![r#"alertname="DiskFull""#.into(), r#"host=~"db-.*""#.into()],
            starts_at_ms: starts,
            ends_at_ms: ends,
            created_by: "ann".into(),
            comment: "disk swap".into(),
            state: state.into(),
        }
    }

    fn rendered(output: Output) -> String {
        let silences = [
            silence("3f9a0c2e71d4b8a6", "active", NOW - 600_000, NOW + 7_200_000),
            silence(
                "0000000000000001",
                "expired",
                NOW - 86_400_000,
                NOW - 3_600_000,
            ),
        ];
        let mut out = Vec::new();
        render(&silences, output, NOW, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table() {
        assert_eq!(
            rendered(Output::Table),
            "ID                 MATCHERS                                STATE     STARTS                          ENDS                           AUTHOR   COMMENT\n\
             3f9a0c2e71d4b8a6   {alertname=\"DiskFull\", host=~\"db-.*\"}   active    2026-11-21 05:50:00 (10m ago)   2026-11-21 08:00:00 (in 2h)    ann      disk swap\n\
             0000000000000001   {alertname=\"DiskFull\", host=~\"db-.*\"}   expired   2026-11-20 06:00:00 (1d ago)    2026-11-21 05:00:00 (1h ago)   ann      disk swap\n"
        );
    }

    #[test]
    fn json_and_csv() {
        let json: serde_json::Value = serde_json::from_str(&rendered(Output::Json)).unwrap();
        assert_eq!(json[0]["id"], "3f9a0c2e71d4b8a6");
        assert_eq!(json[0]["matchers"][1], r#"host=~"db-.*""#);
        assert_eq!(json[0]["state"], "active");
        assert_eq!(json[0]["ends_at"], 1_795_248_000);
        assert_eq!(json[1]["state"], "expired");
        let csv = rendered(Output::Csv);
        assert!(csv.starts_with("id,matchers,state,starts_at,ends_at,created_by,comment\n"));
        assert!(csv.contains(
            "3f9a0c2e71d4b8a6,\"alertname=\"\"DiskFull\"\";host=~\"\"db-.*\"\"\",active,"
        ));
    }

    #[test]
    fn bad_matchers_and_durations_are_usage_errors_naming_them() {
        for (args, says) in [
            (
                vec!["silence", "add", "host", "--for", "1h", "--comment", "x"],
                "\"host\": expected name",
            ),
            (
                vec!["silence", "add", "host=~(", "--for", "1h", "--comment", "x"],
                "bad regex",
            ),
            (
                vec![
                    "silence",
                    "add",
                    "host=a",
                    "--for",
                    "2 hours-ish",
                    "--comment",
                    "x",
                ],
                "\"2 hours-ish\" is not a duration",
            ),
            (
                vec!["silence", "add", "host=a", "--for", "0s", "--comment", "x"],
                "no time at all",
            ),
            (vec!["silence", "add", "host=a", "--for", "1h"], "--comment"),
        ] {
            let err = Cli::try_parse_from(std::iter::once("vigil").chain(args.iter().copied()))
                .unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            let text = err.to_string();
            assert!(text.contains(says), "{args:?}: {text}");
        }
        let ok = Cli::try_parse_from([
            "vigil",
            "silence",
            "add",
            "alertname=DiskFull",
            "--for",
            "90m",
            "--comment",
            "swap",
            "--author",
            "ann",
        ])
        .unwrap();
        assert!(matches!(ok.command, crate::Command::Silence(_)));
    }

    #[test]
    fn the_author_is_the_flag_else_the_token_name_else_the_login() {
        let login = || "ann".to_owned();
        assert_eq!(created_by(Some("bob"), true, login), "bob");
        assert_eq!(created_by(Some("bob"), false, login), "bob");
        // Empty: the collector fills in the token's name.
        assert_eq!(created_by(None, true, login), "");
        assert_eq!(created_by(None, false, login), "ann");
    }
}
