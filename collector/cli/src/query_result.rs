//! Printing a PromQL result (`vigil query`) as JSON, CSV or a table.
//!
//! JSON is exactly the `data` object of Prometheus's `/api/v1/query(_range)`:
//!
//! ```text
//! {"resultType":"vector","result":[{"metric":{"host":"a"},"value":[1795240200.5,"0.25"]}]}
//! {"resultType":"matrix","result":[{"metric":{...},"values":[[1795240200,"1"],...]}]}
//! {"resultType":"scalar","result":[1795240200,"0.25"]}      (and "string" likewise)
//! ```
//!
//! CSV has the columns `series,timestamp,value`: one row per sample, the series written as
//! `name{label="value", ...}`, the timestamp in Unix seconds; a scalar or string has an
//! empty `series`. Tables: a vector is one row per series (SERIES, VALUE); a range query
//! is one row per series with a sparkline and its MIN, MAX and LAST; a range-vector
//! selector evaluated at one time (`node_load1[5m]`) lists every sample of each series.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Number;
use vigil_proto::v1::{QueryResult, ResultType, SeriesSamples};

use super::output::{self, Output};
use super::sparkline::{Steps, sparkline};
use super::time;
use super::units;

/// Widest sparkline, in characters: room for the default ~61 points of a range query.
pub const SPARKLINE_WIDTH: usize = 72;

/// How the query was asked, which decides how a table looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// At one time (unix ms).
    Instant(i64),
    /// At every step of a range.
    Range(Steps),
}

/// Writes `result` in the chosen format.
pub fn render(
    result: &QueryResult,
    evaluation: Evaluation,
    output: Output,
    w: &mut dyn Write,
) -> io::Result<()> {
    match output {
        Output::Json => output::write_json(w, &Data::new(result)),
        Output::Csv => write_csv(result, w),
        Output::Table => write_table(result, evaluation, w),
    }
}

/// Prometheus's name of a result type.
pub fn type_name(result: &QueryResult) -> &'static str {
    match result.result_type() {
        ResultType::Scalar => "scalar",
        ResultType::String => "string",
        ResultType::Vector => "vector",
        ResultType::Matrix | ResultType::Unspecified => "matrix",
    }
}

/// `(timestamp_ms, value)` pairs of a series.
pub fn points(series: &SeriesSamples) -> impl Iterator<Item = (i64, f64)> + '_ {
    series
        .timestamps_ms
        .iter()
        .copied()
        .zip(series.values.iter().copied())
}

/// The `data` object of the Prometheus API.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    result_type: &'static str,
    result: Json<'a>,
}

/// The `result` member, whose shape depends on the type.
#[derive(Serialize)]
#[serde(untagged)]
enum Json<'a> {
    /// Scalar and string: `[time, "value"]`.
    Single((Number, String)),
    /// `[{"metric": {...}, "value": [time, "value"]}]`.
    Vector(Vec<VectorSample<'a>>),
    /// `[{"metric": {...}, "values": [[time, "value"], ...]}]`.
    Matrix(Vec<MatrixSeries<'a>>),
}

#[derive(Serialize)]
struct VectorSample<'a> {
    metric: BTreeMap<&'a str, &'a str>,
    value: (Number, String),
}

#[derive(Serialize)]
struct MatrixSeries<'a> {
    metric: BTreeMap<&'a str, &'a str>,
    values: Vec<(Number, String)>,
}

/// A sample as the API writes it: `[1795240200.5, "0.25"]`.
fn json_point((t, v): (i64, f64)) -> (Number, String) {
    (output::unix_seconds(t), output::format_value(v))
}

impl<'a> Data<'a> {
    fn new(result: &'a QueryResult) -> Self {
        let result_type = type_name(result);
        let json = match result.result_type() {
            ResultType::Scalar => Json::Single(json_point((result.time_ms, result.scalar))),
            ResultType::String => {
                Json::Single((output::unix_seconds(result.time_ms), result.string.clone()))
            }
            ResultType::Vector => Json::Vector(
                result
                    .series
                    .iter()
                    .filter_map(|s| {
                        Some(VectorSample {
                            metric: output::label_map(&s.labels),
                            value: json_point(points(s).next()?),
                        })
                    })
                    .collect(),
            ),
            ResultType::Matrix | ResultType::Unspecified => Json::Matrix(
                result
                    .series
                    .iter()
                    .map(|s| MatrixSeries {
                        metric: output::label_map(&s.labels),
                        values: points(s).map(json_point).collect(),
                    })
                    .collect(),
            ),
        };
        Data {
            result_type,
            result: json,
        }
    }
}

fn write_csv(result: &QueryResult, w: &mut dyn Write) -> io::Result<()> {
    const HEADER: [&str; 3] = ["series", "timestamp", "value"];
    let mut single = |value: String| {
        let row = vec![
            String::new(),
            output::unix_seconds(result.time_ms).to_string(),
            value,
        ];
        output::write_csv(w, &HEADER, [row])
    };
    match result.result_type() {
        ResultType::Scalar => single(output::format_value(result.scalar)),
        ResultType::String => single(result.string.clone()),
        _ => {
            let rows = result.series.iter().flat_map(|s| {
                let name = output::format_series(&s.labels);
                points(s).map(move |(t, v)| {
                    vec![
                        name.clone(),
                        output::unix_seconds(t).to_string(),
                        output::format_value(v),
                    ]
                })
            });
            output::write_csv(w, &HEADER, rows)
        }
    }
}

fn write_table(result: &QueryResult, evaluation: Evaluation, w: &mut dyn Write) -> io::Result<()> {
    match (result.result_type(), evaluation) {
        (ResultType::Scalar, _) => writeln!(w, "{}", output::format_value(result.scalar)),
        (ResultType::String, _) => writeln!(w, "{}", result.string),
        (ResultType::Vector, _) => {
            let mut table = output::table(&["SERIES", "VALUE"], &[1]);
            for s in &result.series {
                let value = points(s).next().map_or(f64::NAN, |p| p.1);
                table.add_row(vec![
                    output::format_series(&s.labels),
                    output::format_value(value),
                ]);
            }
            output::write_table(w, &table)
        }
        (_, Evaluation::Range(steps)) => write_sparklines(&result.series, steps, w),
        (_, Evaluation::Instant(_)) => {
            for (i, s) in result.series.iter().enumerate() {
                if i > 0 {
                    writeln!(w)?;
                }
                write_samples(w, s)?;
            }
            Ok(())
        }
    }
}

/// One row per series: its name, a sparkline over the range, and MIN, MAX, LAST to four
/// significant digits (JSON and CSV have the exact values).
fn write_sparklines(series: &[SeriesSamples], steps: Steps, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{} to {} UTC, every {}",
        time::format_utc(steps.start_ms),
        time::format_utc(steps.end_ms),
        humantime::format_duration(std::time::Duration::from_millis(
            u64::try_from(steps.step_ms).unwrap_or(0)
        ))
    )?;
    let mut table = output::table(&["SERIES", "TREND", "MIN", "MAX", "LAST"], &[2, 3, 4]);
    for s in series {
        let numbers = || points(s).map(|p| p.1).filter(|v| !v.is_nan());
        let min = numbers().fold(f64::INFINITY, f64::min);
        let max = numbers().fold(f64::NEG_INFINITY, f64::max);
        let last = points(s).last().map_or(f64::NAN, |p| p.1);
        let (min, max) = if numbers().next().is_none() {
            (f64::NAN, f64::NAN)
        } else {
            (min, max)
        };
        let points: Vec<(i64, f64)> = points(s).collect();
        table.add_row(vec![
            output::format_series(&s.labels),
            sparkline(&points, steps, SPARKLINE_WIDTH),
            units::compact(min),
            units::compact(max),
            units::compact(last),
        ]);
    }
    output::write_table(w, &table)
}

/// One block per series: its name, then TIME and VALUE columns, values right-aligned.
/// Written by hand rather than with comfy-table: TIME has a fixed width and a long range
/// has many rows.
fn write_samples(w: &mut dyn Write, series: &SeriesSamples) -> io::Result<()> {
    writeln!(w, "{}", output::format_series(&series.labels))?;
    let rows: Vec<(String, String)> = points(series)
        .map(|(ms, v)| (time::format_utc(ms), output::format_value(v)))
        .collect();
    if rows.is_empty() {
        return writeln!(w, "(no samples)");
    }
    let time_width = rows.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    let value_width = rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0).max(5);
    writeln!(w, "{:<time_width$}   {:>value_width$}", "TIME", "VALUE")?;
    for (t, v) in rows {
        writeln!(w, "{t:<time_width$}   {v:>value_width$}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
