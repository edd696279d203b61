//! `vigil incidents`, `vigil incident ID` and `vigil incident ack ID`: the collector's
//! incidents (firing alerts grouped by host, topology, or the same alert across the
//! fleet), from its Incidents service.
//!
//! ```text
//! vigil incidents [--open] [--since 7d]      open ones, and those resolved since
//! vigil incident 12                          one, its alerts and its timeline
//! vigil incident ack 12 --comment "on it"    mark it as taken (admin)
//! ```
//!
//! `--output json` writes incidents as objects: `id`, `title`, `severity`, `status`
//! (`open`, `acknowledged`, `resolved`), `opened_at`, `resolved_at` (Unix seconds, null
//! while open), `grouping`, `cause`, `alerts` ([{fingerprint, labels, starts_at, resolved_at}]),
//! `timeline` ([{at, event, detail}]) and `tickets` ([{receiver, id, url}]).

use std::io::{self, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use vigil_proto::v1::incidents_client::IncidentsClient;
use vigil_proto::v1::{
    AcknowledgeIncidentRequest, GetIncidentRequest, Incident, ListIncidentsRequest,
};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;

/// `vigil incidents`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  vigil incidents\n  vigil incidents --open\n  \
    vigil incidents --since 30d --output json"
)]
pub struct IncidentsArgs {
    /// Only the open (and acknowledged) ones
    #[arg(long)]
    pub open: bool,
    /// Also those opened or resolved within this long, e.g. 1d or 30d
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_since)]
    pub since: Duration,
}

/// `vigil incident ID` or `vigil incident ack ID`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  \
    vigil incident 12\n  vigil incident ack 12 --comment \"switch replaced, watching\""
)]
pub struct IncidentArgs {
    /// Acknowledge instead of showing
    #[command(subcommand)]
    pub action: Option<IncidentAction>,
    /// The incident's id, as `vigil incidents` shows it
    #[arg(value_name = "ID", required = true)]
    pub id: Option<u64>,
}

/// What `vigil incident` can do besides showing one.
#[derive(Debug, Subcommand)]
pub enum IncidentAction {
    /// Mark an open incident as being handled (needs the admin role)
    Ack {
        /// The incident's id
        #[arg(value_name = "ID")]
        id: u64,
        /// What you say about it (shown in its timeline)
        #[arg(long, value_name = "TEXT", default_value = "")]
        comment: String,
    },
}

fn parse_since(input: &str) -> Result<Duration, String> {
    let since = time::parse_duration(input).map_err(|e| e.to_string())?;
    if since.is_zero() {
        return Err("must be longer than zero, like 1d or 30d".to_owned());
    }
    Ok(since)
}

/// Runs `vigil incidents`.
pub async fn list(target: &Target, args: &IncidentsArgs, output: Output) -> Result<(), Error> {
    let collector = Collector::connect(target).await?;
    let mut client = IncidentsClient::new(collector.channel());
    let now = time::now_ms();
    let request = ListIncidentsRequest {
        open_only: args.open,
        since_ms: now - time::duration_ms(args.since),
    };
    let incidents = client
        .list_incidents(request)
        .await
        .map_err(|s| target.refusal(s))?
        .into_inner()
        .incidents;
    let mut out = output::stdout();
    if incidents.is_empty() && output == Output::Table {
        eprintln!(
            "no incident {}",
            if args.open {
                "is open".to_owned()
            } else {
                format!(
                    "is open or was in the last {}",
                    humantime::format_duration(args.since)
                )
            }
        );
        return Ok(());
    }
    render_list(&incidents, output, now, &mut out)?;
    Ok(out.flush()?)
}

/// Runs `vigil incident`.
pub async fn one(target: &Target, args: &IncidentArgs, output: Output) -> Result<(), Error> {
    let collector = Collector::connect(target).await?;
    let mut client = IncidentsClient::new(collector.channel());
    let now = time::now_ms();
    let incident = match (&args.action, args.id) {
        (Some(IncidentAction::Ack { id, comment }), _) => {
            client
                .acknowledge_incident(AcknowledgeIncidentRequest {
                    id: *id,
                    comment: comment.clone(),
                })
                .await
                .map_err(|s| target.refusal(s))?
                .into_inner()
                .incident
        }
        (None, Some(id)) => {
            client
                .get_incident(GetIncidentRequest { id })
                .await
                .map_err(|s| target.refusal(s))?
                .into_inner()
                .incident
        }
        (None, None) => {
            return Err(Error::from(tonic::Status::invalid_argument(
                "give an incident's id (vigil incident 12), or ack ID; vigil incidents lists them",
            )));
        }
    };
    let incident = incident.unwrap_or_default();
    let mut out = output::stdout();
    render_one(&incident, output, now, &mut out)?;
    Ok(out.flush()?)
}

/// One incident as `--output json` writes it.
#[derive(Serialize)]
struct Record<'a> {
    id: u64,
    title: &'a str,
    severity: &'a str,
    status: &'a str,
    opened_at: serde_json::Number,
    resolved_at: Option<serde_json::Number>,
    grouping: String,
    cause: &'a str,
    alerts: Vec<AlertRecord<'a>>,
    timeline: Vec<EntryRecord<'a>>,
    tickets: Vec<TicketRecord<'a>>,
}

#[derive(Serialize)]
struct AlertRecord<'a> {
    fingerprint: &'a str,
    labels: std::collections::BTreeMap<&'a str, &'a str>,
    starts_at: serde_json::Number,
    resolved_at: Option<serde_json::Number>,
}

#[derive(Serialize)]
struct EntryRecord<'a> {
    at: serde_json::Number,
    event: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
struct TicketRecord<'a> {
    receiver: &'a str,
    id: &'a str,
    url: &'a str,
}

fn optional(ms: i64) -> Option<serde_json::Number> {
    (ms > 0).then(|| output::unix_seconds(ms))
}

impl<'a> Record<'a> {
    fn new(i: &'a Incident) -> Self {
        Record {
            id: i.id,
            title: &i.title,
            severity: &i.severity,
            status: &i.status,
            opened_at: output::unix_seconds(i.opened_ms),
            resolved_at: optional(i.resolved_ms),
            grouping: format!("{}:{}", i.grouping, i.grouping_value),
            cause: &i.cause,
            alerts: i
                .alerts
                .iter()
                .map(|a| AlertRecord {
                    fingerprint: &a.fingerprint,
                    labels: output::label_map(&a.labels),
                    starts_at: output::unix_seconds(a.starts_at_ms),
                    resolved_at: optional(a.resolved_ms),
                })
                .collect(),
            timeline: i
                .timeline
                .iter()
                .map(|e| EntryRecord {
                    at: output::unix_seconds(e.at_ms),
                    event: &e.event,
                    detail: &e.detail,
                })
                .collect(),
            tickets: i
                .tickets
                .iter()
                .map(|t| TicketRecord {
                    receiver: &t.receiver,
                    id: &t.id,
                    url: &t.url,
                })
                .collect(),
        }
    }
}

const CSV_HEADER: [&str; 9] = [
    "id",
    "status",
    "severity",
    "title",
    "alerts",
    "hosts",
    "opened_at",
    "resolved_at",
    "tickets",
];

fn hosts(i: &Incident) -> usize {
    i.alerts
        .iter()
        .filter_map(|a| a.labels.iter().find(|l| l.name == "host").map(|l| &l.value))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn firing(i: &Incident) -> usize {
    i.alerts.iter().filter(|a| a.resolved_ms == 0).count()
}

fn tickets(i: &Incident) -> String {
    i.tickets
        .iter()
        .map(|t| format!("{}:{}", t.receiver, t.id))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a list of incidents.
pub fn render_list(
    incidents: &[Incident],
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    match output {
        Output::Json => {
            output::write_json(w, &incidents.iter().map(Record::new).collect::<Vec<_>>())
        }
        Output::Csv => output::write_csv(
            w,
            &CSV_HEADER,
            incidents.iter().map(|i| {
                vec![
                    i.id.to_string(),
                    i.status.clone(),
                    i.severity.clone(),
                    i.title.clone(),
                    i.alerts.len().to_string(),
                    hosts(i).to_string(),
                    output::unix_seconds(i.opened_ms).to_string(),
                    optional(i.resolved_ms)
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    tickets(i),
                ]
            }),
        ),
        Output::Table => {
            let mut table = output::table(
                &[
                    "ID", "STATUS", "SEVERITY", "TITLE", "ALERTS", "HOSTS", "OPENED", "RESOLVED",
                    "TICKETS",
                ],
                &[0, 4, 5],
            );
            for i in incidents {
                table.add_row(vec![
                    i.id.to_string(),
                    i.status.clone(),
                    i.severity.clone(),
                    i.title.clone(),
                    format!("{}/{}", firing(i), i.alerts.len()),
                    hosts(i).to_string(),
                    time::format_ago(i.opened_ms, now_ms),
                    if i.resolved_ms > 0 {
                        time::format_ago(i.resolved_ms, now_ms)
                    } else {
                        "-".to_owned()
                    },
                    match tickets(i) {
                        t if t.is_empty() => "-".to_owned(),
                        t => t,
                    },
                ]);
            }
            output::write_table(w, &table)
        }
    }
}

/// Writes one incident: a summary, its alerts and its timeline.
pub fn render_one(i: &Incident, output: Output, now_ms: i64, w: &mut dyn Write) -> io::Result<()> {
    if output != Output::Table {
        return render_list(std::slice::from_ref(i), output, now_ms, w);
    }
    writeln!(w, "incident {}: {}", i.id, i.title)?;
    writeln!(
        w,
        "status {}, severity {}, grouped by {} {}, opened {}{}",
        i.status,
        i.severity,
        i.grouping,
        i.grouping_value,
        time::format_ago(i.opened_ms, now_ms),
        if i.resolved_ms > 0 {
            format!(", resolved {}", time::format_ago(i.resolved_ms, now_ms))
        } else {
            String::new()
        }
    )?;
    for t in &i.tickets {
        writeln!(w, "ticket {} on {} {}", t.id, t.receiver, t.url)?;
    }
    writeln!(w)?;
    let mut alerts = output::table(&["", "ALERT", "LABELS", "SINCE", "RESOLVED"], &[]);
    for a in &i.alerts {
        let name = a
            .labels
            .iter()
            .find(|l| l.name == "alertname")
            .map(|l| l.value.clone())
            .unwrap_or_default();
        let rest: Vec<String> = a
            .labels
            .iter()
            .filter(|l| l.name != "alertname")
            .map(|l| format!("{}={}", l.name, l.value))
            .collect();
        alerts.add_row(vec![
            if a.fingerprint == i.cause {
                "cause"
            } else {
                ""
            }
            .to_owned(),
            name,
            rest.join(","),
            time::format_ago(a.starts_at_ms, now_ms),
            if a.resolved_ms > 0 {
                time::format_ago(a.resolved_ms, now_ms)
            } else {
                "-".to_owned()
            },
        ]);
    }
    output::write_table(w, &alerts)?;
    writeln!(w)?;
    let mut timeline = output::table(&["WHEN", "EVENT", "DETAIL"], &[]);
    for e in &i.timeline {
        let at = time::format_utc(e.at_ms);
        timeline.add_row(vec![
            at.get(..19).unwrap_or(&at).to_owned(),
            e.event.clone(),
            e.detail.clone(),
        ]);
    }
    output::write_table(w, &timeline)
}

#[cfg(test)]
mod tests;
