//! `vigil rules`: the collector's rule groups and how each rule is doing; `vigil rules
//! check FILE...` validates rule files offline, like `promtool check rules`; `vigil rules
//! reload` has the collector re-read its rule files.
//!
//! `--output json` of the listing writes one array, an object per group:
//!
//! ```text
//!   {"name":"node","file":"/etc/vigil/rules/node.yml",
//!    "interval":30,                       seconds
//!    "last_evaluation":1795240188,        Unix seconds; null if never
//!    "rules":[{"name":"HighCpu",
//!              "kind":"alert"|"forecast"|"record",
//!              "query":"cpu_busy > 90",    for a forecast, its expression
//!              "clear":"cpu_busy < 80",    Vigil's hysteresis; null if none
//!              "for":300,"keep_firing_for":60,               seconds
//!              "labels":{…},"annotations":{…},               as written
//!              "forecast":{"threshold":0.9,"direction":"above","lookback":604800,
//!                          "horizon":259200,"model":"auto","season":null},  or null
//!              "health":"ok"|"err"|"unknown","last_error":null,
//!              "last_evaluation":1795240188,                  Unix seconds; null if never
//!              "evaluation_time":0.0015,                      seconds
//!              "firing":1,"pending":0},…]}
//! ```
//!
//! `--output csv` has a row per rule: its group, file and the rule's scalar fields.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use vigil_proto::v1::rules_client::RulesClient;
use vigil_proto::v1::{AlertState, ListRulesRequest, RuleGroup, RuleHealth, RuleKind, RuleStatus};

use super::alerts::refused;
use super::client::{Collector, Target};
use super::output::{self, Output};
use super::time;

mod check;
mod reload;

pub use check::RulesFailure;

/// `vigil rules [list | check FILE... | reload]`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// What to do; without one, list the rules.
    #[command(subcommand)]
    pub action: Option<RulesAction>,
}

/// The actions of `vigil rules`.
#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// List every group and rule with its health, last evaluation and error (the default)
    List,
    /// Check rule files without a collector, like `promtool check rules`; exit 1 on problems
    Check {
        /// Rule files to check
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Have the collector re-read its rule files; on a bad file it keeps the old rules
    Reload,
}

/// Runs one `vigil rules` action.
pub async fn run(target: &Target, args: &RulesArgs, output: Output) -> anyhow::Result<()> {
    match &args.action {
        None | Some(RulesAction::List) => list(target, output).await?,
        Some(RulesAction::Check { files }) => check::run(files, output)?,
        Some(RulesAction::Reload) => reload::run(target, output).await?,
    }
    Ok(())
}

/// Fetches the groups and prints them.
async fn list(target: &Target, output: Output) -> Result<(), super::Error> {
    let collector = Collector::connect(target).await?;
    let mut client = RulesClient::new(collector.channel());
    let response = client.list_rules(ListRulesRequest {}).await;
    let groups = response
        .map_err(|s| refused(target, s))?
        .into_inner()
        .groups;
    if groups.is_empty() && output == Output::Table {
        eprintln!(
            "the collector runs no rules (list rule files under [rules] files in its config)"
        );
        return Ok(());
    }
    let mut out = output::stdout();
    render(&groups, output, time::now_ms(), &mut out)?;
    Ok(out.flush()?)
}

/// Writes `groups` in the chosen format; `now_ms` anchors LAST EVAL in tables.
pub fn render(
    groups: &[RuleGroup],
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let records: Vec<GroupRecord<'_>> = groups.iter().map(GroupRecord::new).collect();
    match output {
        Output::Json => output::write_json(w, &records),
        Output::Csv => {
            let rows = records
                .iter()
                .flat_map(|g| g.rules.iter().map(|r| r.csv_row(g)));
            output::write_csv(w, &CSV_HEADER, rows)
        }
        Output::Table => {
            let header = [
                "GROUP",
                "RULE",
                "KIND",
                "HEALTH",
                "LAST EVAL",
                "EVAL TIME",
                "ALERTS",
                "ERROR",
            ];
            let mut table = output::table(&header, &[5]);
            for group in groups {
                for rule in &group.rules {
                    let record = RuleRecord::new(rule);
                    let evaluated = rule.last_evaluation_ms != 0;
                    table.add_row(vec![
                        group.name.clone(),
                        rule.name.clone(),
                        record.kind.to_owned(),
                        record.health.to_owned(),
                        time::format_ago(rule.last_evaluation_ms, now_ms),
                        if evaluated {
                            format_seconds(rule.evaluation_seconds)
                        } else {
                            "-".to_owned()
                        },
                        alerts_cell(record.firing, record.pending),
                        rule.last_error.clone().if_empty("-"),
                    ]);
                }
            }
            output::write_table(w, &table)
        }
    }
}

/// `1 firing, 2 pending`, `-` for none.
fn alerts_cell(firing: usize, pending: usize) -> String {
    match (firing, pending) {
        (0, 0) => "-".to_owned(),
        (f, 0) => format!("{f} firing"),
        (0, p) => format!("{p} pending"),
        (f, p) => format!("{f} firing, {p} pending"),
    }
}

/// An evaluation time for people: `0.5µs`, `42µs`, `1.5ms`, `250ms`, `2.35s`.
fn format_seconds(seconds: f64) -> String {
    if seconds < 0.000_01 {
        format!("{:.1}µs", seconds * 1e6)
    } else if seconds < 0.001 {
        format!("{:.0}µs", seconds * 1e6)
    } else if seconds < 0.01 {
        format!("{:.1}ms", seconds * 1e3)
    } else if seconds < 1.0 {
        format!("{:.0}ms", seconds * 1e3)
    } else {
        format!("{seconds:.2}s")
    }
}

/// A string, or `dash` when it is empty.
trait IfEmpty {
    fn if_empty(self, dash: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, dash: &str) -> String {
        if self.is_empty() {
            dash.to_owned()
        } else {
            self
        }
    }
}

/// Column names of `--output csv`.
const CSV_HEADER: [&str; 13] = [
    "group",
    "file",
    "interval",
    "name",
    "kind",
    "query",
    "for",
    "health",
    "last_error",
    "last_evaluation",
    "evaluation_time",
    "firing",
    "pending",
];

/// One group as `--output json` writes it (fields in this order).
#[derive(Serialize)]
struct GroupRecord<'a> {
    name: &'a str,
    file: &'a str,
    interval: serde_json::Number,
    last_evaluation: Option<serde_json::Number>,
    rules: Vec<RuleRecord<'a>>,
}

impl<'a> GroupRecord<'a> {
    fn new(group: &'a RuleGroup) -> Self {
        GroupRecord {
            name: &group.name,
            file: &group.file,
            interval: seconds(group.interval_seconds),
            last_evaluation: unix_or_null(group.last_evaluation_ms),
            rules: group.rules.iter().map(RuleRecord::new).collect(),
        }
    }
}

/// One rule as `--output json` writes it (fields in this order).
#[derive(Serialize)]
struct RuleRecord<'a> {
    name: &'a str,
    kind: &'static str,
    query: &'a str,
    clear: Option<&'a str>,
    #[serde(rename = "for")]
    for_: serde_json::Number,
    keep_firing_for: serde_json::Number,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
    forecast: Option<ForecastRecord<'a>>,
    /// Only on anomaly rules (the other kinds' JSON is as it was before they existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    anomaly: Option<AnomalyRecord<'a>>,
    health: &'static str,
    last_error: Option<&'a str>,
    last_evaluation: Option<serde_json::Number>,
    evaluation_time: serde_json::Number,
    firing: usize,
    pending: usize,
}

/// The `anomaly:` block of an anomaly rule, and its detectors.
#[derive(Serialize)]
struct AnomalyRecord<'a> {
    model: &'a str,
    threshold: f64,
    step: serde_json::Number,
    warmup: serde_json::Number,
    alerting: bool,
    watched_series: u64,
    restored_series: u64,
}

/// The `forecast:` block of a forecast rule.
#[derive(Serialize)]
struct ForecastRecord<'a> {
    threshold: f64,
    direction: &'a str,
    lookback: serde_json::Number,
    horizon: serde_json::Number,
    model: &'a str,
    season: Option<&'a str>,
}

impl<'a> RuleRecord<'a> {
    fn new(rule: &'a RuleStatus) -> Self {
        let non_empty = |s: &'a str| (!s.is_empty()).then_some(s);
        let count = |state| rule.alerts.iter().filter(|a| a.state() == state).count();
        RuleRecord {
            name: &rule.name,
            kind: match rule.kind() {
                RuleKind::Threshold | RuleKind::Unspecified => "alert",
                RuleKind::Forecast => "forecast",
                RuleKind::Anomaly => "anomaly",
                RuleKind::Record => "record",
            },
            query: &rule.query,
            clear: non_empty(&rule.clear),
            for_: seconds(rule.for_seconds),
            keep_firing_for: seconds(rule.keep_firing_for_seconds),
            labels: output::label_map(&rule.labels),
            annotations: output::label_map(&rule.annotations),
            forecast: rule.forecast.as_ref().map(|f| ForecastRecord {
                threshold: f.threshold,
                direction: &f.direction,
                lookback: seconds(f.lookback_seconds),
                horizon: seconds(f.horizon_seconds),
                model: &f.model,
                season: non_empty(&f.season),
            }),
            anomaly: rule.anomaly.as_ref().map(|a| AnomalyRecord {
                model: &a.model,
                threshold: a.threshold,
                step: seconds(a.step_seconds),
                warmup: seconds(a.warmup_seconds),
                alerting: a.alerting,
                watched_series: a.watched_series,
                restored_series: a.restored_series,
            }),
            health: match rule.health() {
                RuleHealth::Unknown => "unknown",
                RuleHealth::Ok => "ok",
                RuleHealth::Err => "err",
            },
            last_error: non_empty(&rule.last_error),
            last_evaluation: unix_or_null(rule.last_evaluation_ms),
            evaluation_time: seconds(rule.evaluation_seconds),
            firing: count(AlertState::Firing),
            pending: count(AlertState::Pending),
        }
    }

    fn csv_row(&self, group: &GroupRecord<'_>) -> Vec<String> {
        let number =
            |n: &Option<serde_json::Number>| n.as_ref().map_or_else(String::new, |n| n.to_string());
        vec![
            group.name.to_owned(),
            group.file.to_owned(),
            group.interval.to_string(),
            self.name.to_owned(),
            self.kind.to_owned(),
            self.query.to_owned(),
            self.for_.to_string(),
            self.health.to_owned(),
            self.last_error.unwrap_or_default().to_owned(),
            number(&self.last_evaluation),
            self.evaluation_time.to_string(),
            self.firing.to_string(),
            self.pending.to_string(),
        ]
    }
}

/// Seconds as a JSON number: whole ones without `.0` (`300`, `0.0015`); 0 if not finite.
fn seconds(s: f64) -> serde_json::Number {
    if s.fract() == 0.0 && s.abs() < 9e15 {
        serde_json::Number::from(s as i64)
    } else {
        serde_json::Number::from_f64(s).unwrap_or_else(|| 0.into())
    }
}

/// Unix seconds, or null for 0 ("never").
fn unix_or_null(ms: i64) -> Option<serde_json::Number> {
    (ms != 0).then(|| output::unix_seconds(ms))
}

#[cfg(test)]
mod tests;
