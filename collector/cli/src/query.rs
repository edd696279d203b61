//! `vigil query EXPR`: a PromQL expression evaluated by the collector's engine, at one
//! time (`--at`, default now) or, with `--range`, at every `--step` of a range ending there.
//! Printing is in [`super::query_result`].

use std::io::Write;
use std::time::Duration;
use vigil_promql::time::TimeError;

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::query_result::{self, Evaluation};
use super::sparkline::Steps;
use super::time;

/// Points a range query aims for when `--step` is not given: one per sparkline column
/// (see [`query_result::SPARKLINE_WIDTH`]), and few enough to read in JSON.
const DEFAULT_POINTS: i64 = 60;

/// Most points per series a range query may have: the engine's (and Prometheus's) limit
/// on steps, checked here so the message can speak of `--step`.
const MAX_POINTS: i64 = 11_000;

/// Steps `--step` is rounded up to when it is not given, in milliseconds: the steps
/// Grafana offers, so ranges line up with minutes and hours.
const NICE_STEPS_MS: [i64; 17] = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000,
];

/// Arguments of `vigil query`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Times are RFC 3339 (2026-11-21T05:50:00Z, 2026-11-21T07:50:00+02:00, \
    or 2026-11-21 05:50:00 meaning UTC) or Unix seconds (1795240200.5).\n\n\
    --output json prints the `data` object of Prometheus's /api/v1/query(_range); \
    --output csv prints series,timestamp,value rows.\n\n\
    Examples:\n  \
    vigil query 'node_load1{host=\"web-1\"}'\n  \
    vigil query 'sum by (host) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))' --range 1h\n  \
    vigil query 'node_load1[5m]'              # raw samples of the last 5 minutes\n  \
    vigil query node_load1 --range 30m --step 15s --at 2026-11-21T06:00:00Z --output csv"
)]
pub struct QueryArgs {
    /// PromQL expression, e.g. 'rate(node_network_receive_bytes_total{device="eth0"}[1m])'
    #[arg(value_name = "EXPR")]
    pub expr: String,

    /// Evaluate at this time; with --range, the end of the range [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<i64>,

    /// Evaluate over this much time before --at, e.g. 30m, 6h, 7d, or 900 (seconds): a
    /// range query
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub range: Option<Duration>,

    /// Time between evaluations of a range query [default: about range/60, rounded to
    /// 1s, 2s, 5s, 10s, 15s, 30s, 1m, 2m, 5m, ...]
    #[arg(long, value_name = "DURATION", value_parser = parse_step, requires = "range")]
    pub step: Option<Duration>,
}

impl QueryArgs {
    /// When to evaluate, given the current time.
    fn evaluation(&self, now_ms: i64) -> Result<Evaluation, Error> {
        let at = self.at.unwrap_or(now_ms);
        let Some(range) = self.range else {
            return Ok(Evaluation::Instant(at));
        };
        let range_ms = time::duration_ms(range);
        let step_ms = match self.step {
            Some(step) => time::duration_ms(step),
            None => default_step_ms(range_ms),
        };
        let points = range_ms / step_ms + 1;
        if points > MAX_POINTS {
            let min_step_ms = range_ms / (MAX_POINTS - 1) + 1;
            let min_step =
                Duration::from_secs(u64::try_from((min_step_ms + 999) / 1000).unwrap_or(0));
            return Err(Error::TooManySteps {
                range: humantime::format_duration(range).to_string(),
                step: humantime::format_duration(Duration::from_millis(step_ms as u64)).to_string(),
                points,
                max: MAX_POINTS,
                min_step: humantime::format_duration(min_step).to_string(),
            });
        }
        Ok(Evaluation::Range(Steps {
            start_ms: at.saturating_sub(range_ms),
            end_ms: at,
            step_ms,
        }))
    }
}

/// A `--step`: a duration of at least a millisecond.
fn parse_step(input: &str) -> Result<Duration, Error> {
    let step = parse_span(input)?;
    if step < Duration::from_millis(1) {
        return Err(Error::from(TimeError::InvalidDuration {
            input: input.to_owned(),
        }));
    }
    Ok(step)
}

/// A `--range` or `--step`: `30s`, `5m`, `1h30m`, or a bare number of seconds (`15`,
/// `0.5`), as Prometheus's API takes a step.
fn parse_span(input: &str) -> Result<Duration, Error> {
    match input.trim().parse::<f64>() {
        Ok(seconds) => Duration::try_from_secs_f64(seconds).map_err(|_| {
            Error::from(TimeError::InvalidDuration {
                input: input.to_owned(),
            })
        }),
        Err(_) => time::parse_duration(input).map_err(Error::from),
    }
}

/// An `--at`: a time as [`time::parse_time`] reads it, or `now`.
fn parse_at(input: &str) -> Result<i64, Error> {
    if input.trim().eq_ignore_ascii_case("now") {
        Ok(time::now_ms())
    } else {
        time::parse_time(input).map_err(Error::from)
    }
}

/// About `range / DEFAULT_POINTS`, rounded up to a nice step; whole days past 12 h.
fn default_step_ms(range_ms: i64) -> i64 {
    let raw = range_ms / DEFAULT_POINTS;
    NICE_STEPS_MS
        .iter()
        .copied()
        .find(|&nice| nice >= raw)
        .unwrap_or_else(|| {
            let day = 86_400_000;
            (raw + day - 1) / day * day
        })
}

/// Evaluates the expression and prints the result.
pub async fn run(target: &Target, args: &QueryArgs, output: Output) -> Result<(), Error> {
    let evaluation = args.evaluation(time::now_ms())?;
    let mut collector = Collector::connect(target).await?;
    let result = match evaluation {
        Evaluation::Instant(at) => collector.instant(&args.expr, at).await,
        Evaluation::Range(s) => {
            collector
                .range(&args.expr, s.start_ms, s.end_ms, s.step_ms)
                .await
        }
    }
    .map_err(|e| bad_query(&args.expr, e))?;
    // What the collector could not read (damaged data) goes to stderr, so scripts reading
    // stdout get the rest unchanged.
    for warning in &result.warnings {
        eprintln!("warning: {warning}");
    }
    let no_series =
        matches!(query_result::type_name(&result), "vector" | "matrix") && result.series.is_empty();
    if no_series && output == Output::Table {
        let when = match evaluation {
            Evaluation::Instant(at) => format!("at {}", time::format_utc(at)),
            Evaluation::Range(s) => format!(
                "between {} and {}",
                time::format_utc(s.start_ms),
                time::format_utc(s.end_ms)
            ),
        };
        eprintln!("no series: {} is empty {when} (UTC)", args.expr);
        return Ok(());
    }
    let mut out = output::stdout();
    query_result::render(&result, evaluation, output, &mut out)?;
    Ok(out.flush()?)
}

/// The collector's refusal of the expression, worded with it; other errors as they are.
pub(crate) fn bad_query(expr: &str, err: Error) -> Error {
    match err {
        Error::Status(status) if status.code() == tonic::Code::InvalidArgument => Error::BadQuery {
            expr: expr.to_owned(),
            message: status.message().to_owned(),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// 2026-11-21T05:50:00Z in milliseconds.
    const T: i64 = 1_795_240_200_000;

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
    fn instant_now_by_default() {
        let a = args(&["up"]).expect("valid");
        assert_eq!(a.evaluation(T).ok(), Some(Evaluation::Instant(T)));
        let a = args(&["up", "--at", "2026-11-21T05:40:00Z"]).expect("valid");
        assert_eq!(a.evaluation(0).ok(), Some(Evaluation::Instant(T - 600_000)));
    }

    #[test]
    fn range_ends_at_at() {
        let a = args(&[
            "up",
            "--range",
            "1h",
            "--step",
            "15s",
            "--at",
            "1795240200.5",
        ])
        .expect("valid");
        let expected = Steps {
            start_ms: T + 500 - 3_600_000,
            end_ms: T + 500,
            step_ms: 15_000,
        };
        assert_eq!(a.evaluation(0).ok(), Some(Evaluation::Range(expected)));
    }

    #[test]
    fn default_steps_are_round() {
        assert_eq!(default_step_ms(60_000), 1_000);
        assert_eq!(default_step_ms(5 * 60_000), 5_000);
        assert_eq!(default_step_ms(3_600_000), 60_000);
        assert_eq!(default_step_ms(3 * 3_600_000), 300_000);
        assert_eq!(default_step_ms(7 * 86_400_000), 3 * 3_600_000);
        assert_eq!(default_step_ms(365 * 86_400_000), 7 * 86_400_000);
        let a = args(&["up", "--range", "1h"]).expect("valid");
        let Ok(Evaluation::Range(steps)) = a.evaluation(T) else {
            panic!("a range");
        };
        assert_eq!((steps.start_ms, steps.step_ms), (T - 3_600_000, 60_000));
    }

    #[test]
    fn step_under_a_millisecond_is_refused() {
        let err = args(&["up", "--range", "1m", "--step", "0s"]).expect_err("zero step");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn too_many_points_suggest_a_step() {
        let a = args(&["up", "--range", "7d", "--step", "1s"]).expect("valid");
        let err = a.evaluation(T).expect_err("604801 points");
        assert_eq!(
            err.to_string(),
            "--range 7days at --step 1s is 604801 points per series, more than the 11000 \
             the collector evaluates; use a --step of at least 55s"
        );
        assert_eq!(err.exit_code(), 2);
        let a = args(&["up", "--range", "7d", "--step", "55s"]).expect("valid");
        assert!(a.evaluation(T).is_ok());
    }

    #[test]
    fn bare_numbers_are_seconds_and_now_is_a_time() {
        let a =
            args(&["up", "--range", "90", "--step", "1.5", "--at", "1795240200"]).expect("valid");
        let expected = Steps {
            start_ms: T - 90_000,
            end_ms: T,
            step_ms: 1_500,
        };
        assert_eq!(a.evaluation(0).ok(), Some(Evaluation::Range(expected)));
        let before = time::now_ms();
        let a = args(&["up", "--at", "now"]).expect("valid");
        let Some(at) = a.at else {
            panic!("--at now is a time");
        };
        assert!((before..before + 60_000).contains(&at), "{at}");
        assert!(args(&["up", "--range", "-5"]).is_err());
        assert!(args(&["up", "--range", "NaN"]).is_err());
    }

    #[test]
    fn step_needs_a_range() {
        let err = args(&["up", "--step", "15s"]).expect_err("no range");
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn bad_duration_names_the_value() {
        let err = args(&["up", "--range", "5 parsecs"]).expect_err("bad duration");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            err.to_string().contains(
                "invalid duration \"5 parsecs\": use a number and a unit, like 30s, 5m, 1h30m or 2d"
            ),
            "{err}"
        );
    }

    #[test]
    fn refused_expressions_are_shown_with_advice() {
        let status = tonic::Status::invalid_argument("bad_data: parse error: unexpected end");
        let err = bad_query("sum(", Error::from(status));
        assert_eq!(
            err.to_string(),
            "cannot evaluate \"sum(\": bad_data: parse error: unexpected end\n\
             (check the PromQL; put the expression in single quotes so the shell leaves its \
             quotes and braces alone)"
        );
        let status = tonic::Status::invalid_argument(
            "bad_data: unsupported: aggregation limitk() is not supported",
        );
        assert_eq!(
            bad_query("limitk(1, x)", Error::from(status)).to_string(),
            "cannot evaluate \"limitk(1, x)\": bad_data: unsupported: aggregation limitk() is \
             not supported\n(Vigil evaluates PromQL as Prometheus 2.42 does; write the query \
             without that newer construct)"
        );
        let status = tonic::Status::invalid_argument("bad_data: 1:1: parse error: bad step");
        assert!(
            bad_query("x", Error::from(status))
                .to_string()
                .contains("single quotes")
        );
        let status = tonic::Status::invalid_argument("bad_data: invalid regular expression");
        assert_eq!(
            bad_query("x", Error::from(status)).to_string(),
            "cannot evaluate \"x\": bad_data: invalid regular expression"
        );
        let status = tonic::Status::internal("disk on fire");
        assert_eq!(
            bad_query("up", Error::from(status)).to_string(),
            "disk on fire"
        );
    }
}
