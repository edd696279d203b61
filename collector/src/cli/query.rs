//! `vigil query SELECTOR`: the raw samples of matching series over a time range, like a
//! Prometheus range-vector selector (`SELECTOR[5m]`) evaluated now.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use vigil_proto::v1::SeriesSamples;

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;

/// Arguments of `vigil query`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Times are RFC 3339 (2026-11-21T05:50:00Z, 2026-11-21T07:50:00+02:00, \
    or 2026-11-21 05:50:00 meaning UTC) or Unix seconds (1795240200.5).\n\n\
    Examples:\n  \
    vigil query 'node_load1{host=\"web-1\"}'\n  \
    vigil query 'node_cpu_seconds_total{mode=\"idle\"}' --since 1h --output csv\n  \
    vigil query node_load1 --start 2026-11-21T05:50:00Z --end 2026-11-21T06:00:00Z"
)]
pub struct QueryArgs {
    /// Prometheus series selector, e.g. 'node_load1{host="web-1"}' or '{__name__=~"node_.+"}'
    #[arg(value_name = "SELECTOR")]
    pub selector: String,

    /// Read this far back from --end, e.g. 30s, 5m, 1h30m, 2d
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        value_parser = time::parse_duration,
        conflicts_with = "start"
    )]
    pub since: Duration,

    /// Start of the range (inclusive) [default: --end minus --since]
    #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
    pub start: Option<i64>,

    /// End of the range (inclusive) [default: now]
    #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
    pub end: Option<i64>,

    /// Most samples to return over all series; 0 means the collector's own limit
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit: u64,
}

impl QueryArgs {
    /// The range `[start, end]` in milliseconds, given the current time.
    fn range(&self, now_ms: i64) -> Result<(i64, i64), Error> {
        let end = self.end.unwrap_or(now_ms);
        let start = self
            .start
            .unwrap_or_else(|| end.saturating_sub(time::duration_ms(self.since)));
        if start > end {
            return Err(Error::EmptyRange {
                start: time::format_utc(start),
                end: time::format_utc(end),
            });
        }
        Ok((start, end))
    }
}

/// Reads the samples of the matching series and prints them.
pub async fn run(target: &Target, args: &QueryArgs, output: Output) -> Result<(), Error> {
    let (start, end) = args.range(time::now_ms())?;
    let mut collector = Collector::connect(target).await?;
    let series = collector
        .samples(&args.selector, start, end, args.limit)
        .await?;
    if series.is_empty() && output == Output::Table {
        eprintln!(
            "no samples of {} between {} and {} (UTC)",
            args.selector,
            time::format_utc(start),
            time::format_utc(end)
        );
        return Ok(());
    }
    let mut out = output::stdout();
    render(&series, output, &mut out)?;
    Ok(out.flush()?)
}

/// Writes `series` in the chosen format.
pub fn render(series: &[SeriesSamples], output: Output, w: &mut dyn Write) -> io::Result<()> {
    match output {
        Output::Json => {
            let matrix: Vec<_> = series.iter().map(MatrixSeries::new).collect();
            output::write_json(w, &matrix)
        }
        Output::Csv => {
            let rows = series.iter().flat_map(|s| {
                let name = output::format_series(&s.labels);
                samples(s).map(move |(ms, v)| {
                    vec![
                        name.clone(),
                        output::unix_seconds(ms).to_string(),
                        output::format_value(v),
                    ]
                })
            });
            output::write_csv(w, &["series", "timestamp", "value"], rows)
        }
        Output::Table => {
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    writeln!(w)?;
                }
                write_series_table(w, s)?;
            }
            Ok(())
        }
    }
}

/// One block per series: its name, then TIME and VALUE columns, values right-aligned.
/// Written by hand rather than with comfy-table: TIME has a fixed width and a long range
/// has many rows.
fn write_series_table(w: &mut dyn Write, series: &SeriesSamples) -> io::Result<()> {
    writeln!(w, "{}", output::format_series(&series.labels))?;
    let rows: Vec<(String, String)> = samples(series)
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

/// `(timestamp_ms, value)` pairs of a series.
fn samples(series: &SeriesSamples) -> impl Iterator<Item = (i64, f64)> + '_ {
    series
        .timestamps_ms
        .iter()
        .copied()
        .zip(series.values.iter().copied())
}

/// One series of a Prometheus matrix result:
/// `{"metric": {...}, "values": [[1700000000.123, "0.5"], ...]}`.
#[derive(Serialize)]
struct MatrixSeries<'a> {
    metric: std::collections::BTreeMap<&'a str, &'a str>,
    values: Vec<(serde_json::Number, String)>,
}

impl<'a> MatrixSeries<'a> {
    fn new(series: &'a SeriesSamples) -> Self {
        MatrixSeries {
            metric: output::label_map(&series.labels),
            values: samples(series)
                .map(|(ms, v)| (output::unix_seconds(ms), output::format_value(v)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use vigil_proto::v1::Label;

    /// 2026-11-21T05:50:00Z in milliseconds.
    const T: i64 = 1_795_240_200_000;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn sample() -> Vec<SeriesSamples> {
        vec![
            SeriesSamples {
                labels: vec![label("__name__", "node_load1"), label("host", "db-1")],
                timestamps_ms: vec![T + 20_123, T + 30_000],
                values: vec![0.1 + 0.2, 8.0],
            },
            SeriesSamples {
                labels: vec![
                    label("__name__", "node_memory_MemAvailable_bytes"),
                    label("host", "web-1"),
                ],
                timestamps_ms: vec![T + 15_000],
                values: vec![1e21],
            },
            SeriesSamples {
                labels: vec![label("__name__", "weird"), label("host", "web-1")],
                timestamps_ms: vec![T, T + 1],
                values: vec![f64::NAN, f64::NEG_INFINITY],
            },
        ]
    }

    fn rendered(output: Output) -> String {
        let mut out = Vec::new();
        render(&sample(), output, &mut out).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json_is_a_prometheus_matrix() {
        assert_eq!(
            rendered(Output::Json),
            concat!(
                r#"[{"metric":{"__name__":"node_load1","host":"db-1"},"#,
                r#""values":[[1795240220.123,"0.30000000000000004"],[1795240230,"8"]]},"#,
                r#"{"metric":{"__name__":"node_memory_MemAvailable_bytes","host":"web-1"},"#,
                r#""values":[[1795240215,"1e+21"]]},"#,
                r#"{"metric":{"__name__":"weird","host":"web-1"},"#,
                r#""values":[[1795240200,"NaN"],[1795240200.001,"-Inf"]]}]"#,
                "\n"
            )
        );
    }

    #[test]
    fn csv() {
        assert_eq!(
            rendered(Output::Csv),
            "series,timestamp,value\n\
             \"node_load1{host=\"\"db-1\"\"}\",1795240220.123,0.30000000000000004\n\
             \"node_load1{host=\"\"db-1\"\"}\",1795240230,8\n\
             \"node_memory_MemAvailable_bytes{host=\"\"web-1\"\"}\",1795240215,1e+21\n\
             \"weird{host=\"\"web-1\"\"}\",1795240200,NaN\n\
             \"weird{host=\"\"web-1\"\"}\",1795240200.001,-Inf\n"
        );
    }

    #[test]
    fn table() {
        assert_eq!(
            rendered(Output::Table),
            "node_load1{host=\"db-1\"}\n\
             TIME                                    VALUE\n\
             2026-11-21 05:50:20.123   0.30000000000000004\n\
             2026-11-21 05:50:30.000                     8\n\
             \n\
             node_memory_MemAvailable_bytes{host=\"web-1\"}\n\
             TIME                      VALUE\n\
             2026-11-21 05:50:15.000   1e+21\n\
             \n\
             weird{host=\"web-1\"}\n\
             TIME                      VALUE\n\
             2026-11-21 05:50:00.000     NaN\n\
             2026-11-21 05:50:00.001    -Inf\n"
        );
    }

    /// Parses `vigil query` arguments the way the binary does.
    fn args(argv: &[&str]) -> Result<QueryArgs, clap::Error> {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            query: QueryArgs,
        }
        let argv = std::iter::once("vigil-query").chain(argv.iter().copied());
        Wrapper::try_parse_from(argv).map(|w| w.query)
    }

    #[test]
    fn range_defaults_to_the_last_five_minutes() {
        let a = args(&["up"]).expect("valid");
        assert_eq!(a.range(T).ok(), Some((T - 300_000, T)));
    }

    #[test]
    fn since_counts_back_from_end() {
        let a = args(&["up", "--since", "1h30m", "--end", "1795240200"]).expect("valid");
        assert_eq!(a.range(T + 999_999).ok(), Some((T - 5_400_000, T)));
    }

    #[test]
    fn start_and_end() {
        let a = args(&[
            "up",
            "--start",
            "2026-11-21T05:40:00Z",
            "--end",
            "1795240200.5",
        ])
        .expect("valid");
        assert_eq!(a.range(0).ok(), Some((T - 600_000, T + 500)));
        let a = args(&["up", "--start", "2026-11-21T05:40:00Z"]).expect("valid");
        assert_eq!(a.range(T).ok(), Some((T - 600_000, T)));
    }

    #[test]
    fn start_after_end_is_refused() {
        let a = args(&["up", "--start", "1795240200", "--end", "1795240100"]).expect("valid");
        let err = a.range(T).expect_err("empty range");
        assert_eq!(
            err.to_string(),
            "--start 2026-11-21 05:50:00.000 is after --end 2026-11-21 05:48:20.000; \
             swap them or use --since"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn since_and_start_conflict() {
        let err = args(&["up", "--since", "5m", "--start", "1795240200"]).expect_err("conflict");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn bad_duration_names_the_value() {
        let err = args(&["up", "--since", "5 parsecs"]).expect_err("bad duration");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            err.to_string().contains(
                "invalid duration \"5 parsecs\": use a number and a unit, like 30s, 5m, 1h30m or 2d"
            ),
            "{err}"
        );
    }
}
