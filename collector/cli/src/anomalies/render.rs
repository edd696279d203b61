//! `vigil anomalies` for people (a table with sparklines), JSON and CSV.
//!
//! The table, after a line naming the window (SERIES is the `metric` label and the labels
//! without a column of their own, `-` for none, as for the built-in rules' series):
//!
//! ```text
//! SCORE   HOST   SERIES   RULE         NOW   EXPECTED   SINCE     TREND
//!  0.97   db-1   -        host_load1     8   0.2..1.5   12m ago   ▁▁▁▁▁▁▁▁▁▁▂▃▄▅▆▇█
//!                                                                           ^^^^^^^
//! ```
//!
//! The line under a sparkline has a character per step (a window has at most 61 steps,
//! so the sparkline has one per step too): `^` where the value was above the expected
//! band, `v` below it, blank inside it or where a step has no value or band. A row whose
//! value never left the band has no second line.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Number;
use vigil_proto::v1::Label;

use super::ranking::{Anomaly, Side};
use super::{AnomaliesArgs, Window};
use crate::output::{self, Output};
use crate::query_result::SPARKLINE_WIDTH;
use crate::sparkline::sparkline;
use crate::{time, units};

/// Labels the SERIES column leaves out: they have columns of their own.
const OWN_COLUMNS: [&str; 3] = ["host", "metric", "anomaly_rule"];

/// Column names of `--output csv`: the JSON keys but `points`, in order.
const CSV_HEADER: [&str; 9] = [
    "score", "labels", "host", "metric", "rule", "since", "value", "lower", "upper",
];

/// Writes `rows` in the chosen format; `min_score` is named in the table's heading.
pub fn render(
    rows: &[Anomaly],
    window: &Window,
    min_score: f64,
    output: Output,
    w: &mut dyn Write,
) -> io::Result<()> {
    match output {
        Output::Json => output::write_json(w, &rows.iter().map(Record::new).collect::<Vec<_>>()),
        Output::Csv => output::write_csv(w, &CSV_HEADER, rows.iter().map(csv_row)),
        Output::Table => write_table(rows, window, min_score, w),
    }
}

/// What to say when no series reached `--min-score`, given how many series anomaly rules
/// watched in the window (the count of `vigil_anomaly_score` series).
pub fn nothing_scored(args: &AnomaliesArgs, window: &Window, watched: f64) -> String {
    let whose = args
        .host
        .as_ref()
        .map_or_else(String::new, |host| format!(" of host {host}"));
    let since = humantime::format_duration(window.since);
    let when = match args.at {
        None => format!("in the last {since}"),
        Some(at) => format!("in the {since} before {} UTC", seconds(at)),
    };
    let headline = format!(
        "no series{whose} scored ≥ {} {when}",
        output::format_value(args.min_score)
    );
    if watched > 0.0 {
        format!(
            "{headline}\n(anomaly rules watched {watched} series{whose} then; a lower \
             --min-score shows weaker anomalies)"
        )
    } else {
        format!(
            "{headline}: no anomaly rule watched any series{whose} then\n(vigil_anomaly_score \
             exists once anomaly rules are loaded in the collector, and `vigil rules` lists \
             them; the built-in ones watch core series)"
        )
    }
}

/// `2026-11-21 05:50:00`: a time to the second.
fn seconds(ms: i64) -> String {
    let full = time::format_utc(ms);
    full.get(..19).map_or(full.clone(), str::to_owned)
}

fn write_table(
    rows: &[Anomaly],
    window: &Window,
    min_score: f64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let steps = window.steps;
    writeln!(
        w,
        "{} to {} UTC, every {}; peak scores ≥ {}; under TREND, ^ marks a value above the \
         expected band and v one below it",
        seconds(steps.start_ms),
        seconds(steps.end_ms),
        humantime::format_duration(std::time::Duration::from_millis(
            steps.step_ms.unsigned_abs()
        )),
        output::format_value(min_score)
    )?;
    let mut table = output::table(
        &[
            "SCORE", "HOST", "SERIES", "RULE", "NOW", "EXPECTED", "SINCE", "TREND",
        ],
        &[0, 4, 5],
    );
    for row in rows {
        let figure = figure(row.label("metric"));
        let (value, lower, upper) = row.latest();
        let expected = match (lower, upper) {
            (None, None) => "-".to_owned(),
            (lower, upper) => format!(
                "{}..{}",
                units::or_dash(lower, figure),
                units::or_dash(upper, figure)
            ),
        };
        table.add_row(vec![
            format!("{:.2}", row.score),
            row.label("host").unwrap_or("-").to_owned(),
            series_name(row),
            row.label("anomaly_rule").unwrap_or("-").to_owned(),
            units::or_dash(value, figure),
            expected,
            since_cell(row, window),
            trend(row, window),
        ]);
    }
    output::write_table(w, &table)
}

/// When the score first reached `--min-score`: "12m ago"; "≥ 1h ago" when it had already
/// at the first evaluation of the window, so maybe before; `-` when the range did not
/// show it.
pub(super) fn since_cell(row: &Anomaly, window: &Window) -> String {
    match row.since_ms {
        None => "-".to_owned(),
        Some(since) if row.since_before => {
            format!("≥ {}", time::format_ago(since, window.at_ms()))
        }
        Some(since) => time::format_ago(since, window.at_ms()),
    }
}

/// The watched series as Prometheus writes a series: its metric name (the `metric` label)
/// and the labels without a column of their own, e.g. `node_disk_io_now{device="sda"}`;
/// `-` when that leaves nothing.
fn series_name(row: &Anomaly) -> String {
    let name = row.label("metric").map(|metric| Label {
        name: "__name__".to_owned(),
        value: metric.to_owned(),
    });
    let labels: Vec<Label> = name
        .into_iter()
        .chain(
            row.labels
                .iter()
                .filter(|(name, _)| !OWN_COLUMNS.contains(&name.as_str()))
                .map(|(name, value)| Label {
                    name: name.clone(),
                    value: value.clone(),
                }),
        )
        .collect();
    if labels.is_empty() {
        // A watched expression that kept only `host`, as the built-in rules' do.
        return "-".to_owned();
    }
    output::format_series(&labels)
}

/// How NOW and EXPECTED write the watched metric's values: bytes and percentages in human
/// units, by the Prometheus naming convention; other numbers to four significant digits.
fn figure(metric: Option<&str>) -> fn(f64) -> String {
    match metric {
        Some(m) if m.ends_with("_bytes") => units::bytes,
        Some(m) if m.ends_with("_percent") => units::percent,
        _ => units::compact,
    }
}

/// The value's sparkline over the window, and under it, when the value left the band,
/// the line of `^` and `v` (see the module's documentation).
pub(super) fn trend(row: &Anomaly, window: &Window) -> String {
    let steps = window.steps;
    let values: Vec<(i64, f64)> = row
        .points
        .iter()
        .filter_map(|p| Some((p.t_ms, p.value?)))
        .collect();
    let line = sparkline(&values, steps, SPARKLINE_WIDTH);
    let mut marks = vec![' '; steps.count().min(SPARKLINE_WIDTH)];
    for point in &row.points {
        let offset = point.t_ms - steps.start_ms;
        if offset < 0 || offset % steps.step_ms != 0 {
            continue;
        }
        let column = usize::try_from(offset / steps.step_ms).unwrap_or(usize::MAX);
        if let Some(mark) = marks.get_mut(column) {
            *mark = match point.side() {
                Side::Above => '^',
                Side::Below => 'v',
                Side::Inside => ' ',
            };
        }
    }
    let marks: String = marks.into_iter().collect();
    let marks = marks.trim_end();
    if marks.is_empty() {
        line
    } else {
        format!("{line}\n{marks}")
    }
}

/// A number as JSON, `null` for none (and for NaN or an infinity, which JSON lacks).
fn number(v: Option<f64>) -> Option<Number> {
    v.and_then(Number::from_f64)
}

/// One row as `--output json` writes it (keys in this order).
#[derive(Serialize)]
struct Record<'a> {
    score: Option<Number>,
    labels: &'a BTreeMap<String, String>,
    host: Option<&'a str>,
    metric: Option<&'a str>,
    rule: Option<&'a str>,
    since: Option<Number>,
    value: Option<Number>,
    lower: Option<Number>,
    upper: Option<Number>,
    /// `[t, value, lower, upper]` per step with any of them.
    points: Vec<[Option<Number>; 4]>,
}

impl<'a> Record<'a> {
    fn new(row: &'a Anomaly) -> Self {
        let (value, lower, upper) = row.latest();
        Record {
            score: number(Some(row.score)),
            labels: &row.labels,
            host: row.label("host"),
            metric: row.label("metric"),
            rule: row.label("anomaly_rule"),
            since: row.since_ms.map(output::unix_seconds),
            value: number(value),
            lower: number(lower),
            upper: number(upper),
            points: row
                .points
                .iter()
                .map(|p| {
                    [
                        Some(output::unix_seconds(p.t_ms)),
                        number(p.value),
                        number(p.lower),
                        number(p.upper),
                    ]
                })
                .collect(),
        }
    }
}

/// One row as CSV: labels as `k=v;k=v`, values as Prometheus writes them, empty cells for
/// none.
fn csv_row(row: &Anomaly) -> Vec<String> {
    let (value, lower, upper) = row.latest();
    let cell = |v: Option<f64>| v.map(output::format_value).unwrap_or_default();
    let labels: Vec<String> = row.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![
        output::format_value(row.score),
        labels.join(";"),
        row.label("host").unwrap_or_default().to_owned(),
        row.label("metric").unwrap_or_default().to_owned(),
        row.label("anomaly_rule").unwrap_or_default().to_owned(),
        row.since_ms
            .map(|ms| output::unix_seconds(ms).to_string())
            .unwrap_or_default(),
        cell(value),
        cell(lower),
        cell(upper),
    ]
}
