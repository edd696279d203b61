//! `vigil anomalies`: the series the collector's anomaly rules scored highest over a window,
//! with their value now, the band the detector expected it in, since when they have been
//! anomalous, and a sparkline marking where the value left the band.
//!
//! For every watched series and evaluation step, an anomaly rule writes four series with
//! the same labels: the watched series' labels without `__name__`, `metric="<its name>"`
//! when it had one, and `anomaly_rule="<the rule>"`:
//!
//! ```text
//! vigil_anomaly_score   the anomaly score in [0, 1]; 0.5 is the default alert threshold
//! vigil_anomaly_value   the watched series' value
//! vigil_anomaly_lower   the band the detector expected the value in
//! vigil_anomaly_upper
//! ```
//!
//! The command asks three PromQL queries, the two range queries at once (`W` is `--since`,
//! `S` the step, `W/60` rounded up to a whole second, so a window has at most 61 steps):
//!
//! ```text
//! instant at --at  max_over_time(vigil_anomaly_score{host="H"}[W]) >= MIN   rank, --limit
//! range, every S   max_over_time(vigil_anomaly_score{N}[S])                 SINCE
//! range, every S   {__name__=~"vigil_anomaly_(value|lower|upper)",N}        NOW, EXPECTED, TREND
//! ```
//!
//! `N` narrows the range queries to the hosts, rules and metrics of the ranked rows
//! (`host=~"db-1|web-1",anomaly_rule=~"load",metric=~"|node_load1"`); each series is then
//! matched to its row by its whole label set. With no row to show, one more instant query
//! counts the watched series, so the message tells "nothing anomalous" from "no anomaly
//! rule". Ranking and joining are in [`ranking`], the three formats in [`render`].

mod ranking;
mod render;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use vigil_proto::v1::QueryResult;

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::query_result::Evaluation;
use super::sparkline::Steps;
use super::time;
use super::usage::{escape, promql_duration};

pub use ranking::{Anomaly, Ranking};

/// Steps a window is cut into (61 points at most, fewer than the sparkline's columns): the
/// TREND sparkline has one character per step, so the marker line under it lines up.
const STEPS_PER_WINDOW: i64 = 60;

/// Arguments of `vigil anomalies`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The anomaly rules loaded in the collector score every series they \
    watch at each evaluation step, from 0 (as usual) to 1 (far from anything seen); 0.5 is \
    the default alert threshold. A row is a series whose highest score over [--at − --since, \
    --at] reached --min-score, highest first.\n\n\
    Columns: SCORE is that highest score; NOW the latest value and EXPECTED the band the \
    detector expected it in (lower..upper); SINCE when the score first reached --min-score \
    (to within a step of about --since/60; \"≥ 1h ago\" when it already had at the first \
    evaluation in the window); TREND the value over the window, one character \
    per step, with a second line where the value was outside the band: ^ above it, v below \
    it, blank inside (or no data).\n\n\
    --output json prints one object per row: score, labels, host, metric, rule, since (Unix \
    seconds), value, lower, upper and points ([[t, value, lower, upper], ...], null where a \
    step has no sample); --output csv one row per series with the peak score, labels as \
    k=v;k=v.\n\n\
    Examples:\n  \
    vigil anomalies\n  \
    vigil anomalies --host db-1 --since 6h\n  \
    vigil anomalies --min-score 0.8 --limit 5\n  \
    vigil anomalies --since 30m --at 2026-11-21T05:50:00Z --output json"
)]
pub struct AnomaliesArgs {
    /// Only this host's series
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// The window: how far back from --at to look, e.g. 30m, 6h, 1d
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_since)]
    pub since: Duration,

    /// Lowest peak score shown, from 0 to 1 (0.5 is the default alert threshold)
    #[arg(long, value_name = "SCORE", default_value_t = 0.5, value_parser = parse_min_score,
          allow_hyphen_values = true)]
    pub min_score: f64,

    /// Most series shown, the highest scores first
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = parse_limit)]
    pub limit: usize,

    /// End of the window: RFC 3339, Unix seconds or `now` [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<i64>,
}

/// A `--since`: a positive duration.
fn parse_since(input: &str) -> Result<Duration, String> {
    let since = time::parse_duration(input).map_err(|e| e.to_string())?;
    if since.is_zero() {
        return Err("the window must be longer than zero, like 30m, 1h or 1d".to_owned());
    }
    Ok(since)
}

/// A `--min-score`: a number in [0, 1], the range of the score.
fn parse_min_score(input: &str) -> Result<f64, String> {
    match input.trim().parse::<f64>() {
        Ok(score) if (0.0..=1.0).contains(&score) => Ok(score),
        _ => Err("scores are numbers from 0 to 1, like 0.5 (the default threshold)".to_owned()),
    }
}

/// A `--limit`: at least one row.
fn parse_limit(input: &str) -> Result<usize, String> {
    match input.trim().parse::<usize>() {
        Ok(limit) if limit > 0 => Ok(limit),
        _ => Err("use a whole number of rows, 1 or more".to_owned()),
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

/// The window a run looks at: `[at − since, at]`, on the grid of the range queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How far back from the end it reaches.
    pub since: Duration,
    /// Its steps: `at − since` to `at`, `since / 60` apart rounded up to a whole second.
    pub steps: Steps,
}

impl Window {
    /// The window of `since` ending at `at_ms`.
    pub fn new(at_ms: i64, since: Duration) -> Self {
        let since_ms = time::duration_ms(since);
        // Whole seconds, so the range query's grid is the one people read in the table.
        let per_step_ms = STEPS_PER_WINDOW * 1000;
        let step_s = (since_ms.saturating_add(per_step_ms - 1) / per_step_ms).max(1);
        Window {
            since,
            steps: Steps {
                start_ms: at_ms.saturating_sub(since_ms),
                end_ms: at_ms,
                step_ms: step_s * 1000,
            },
        }
    }

    /// The end of the window.
    pub fn at_ms(&self) -> i64 {
        self.steps.end_ms
    }
}

/// `vigil_anomaly_score{host="H"}`, or every host's.
fn score_selector(host: Option<&str>) -> String {
    match host {
        Some(host) => format!("vigil_anomaly_score{{host=\"{}\"}}", escape(host)),
        None => "vigil_anomaly_score".to_owned(),
    }
}

/// The instant query of the peaks: every series whose highest score in the window is at
/// least `min_score`, with that score.
pub fn peaks_expr(host: Option<&str>, window: &Window, min_score: f64) -> String {
    format!(
        "max_over_time({}[{}]) >= {}",
        score_selector(host),
        promql_duration(window.since),
        output::format_value(min_score)
    )
}

/// The instant query counting the series anomaly rules watched in the window.
pub fn watched_expr(host: Option<&str>, window: &Window) -> String {
    format!(
        "count(max_over_time({}[{}]))",
        score_selector(host),
        promql_duration(window.since)
    )
}

/// The range query of the score, each step's highest (so a step of several minutes still
/// sees every evaluation), for the rows' series.
pub fn scores_expr(rows: &[Anomaly], window: &Window) -> String {
    let step = Duration::from_millis(window.steps.step_ms.unsigned_abs());
    format!(
        "max_over_time(vigil_anomaly_score{{{}}}[{}])",
        narrowing(rows),
        promql_duration(step)
    )
}

/// The range query of the rows' value and band, names kept to tell them apart.
pub fn bands_expr(rows: &[Anomaly]) -> String {
    format!(
        "{{__name__=~\"vigil_anomaly_(value|lower|upper)\",{}}}",
        narrowing(rows)
    )
}

/// Matchers selecting the rows' hosts, rules and metrics (`""` standing for a row without
/// the label, which the regex then matches): a superset of the rows' series, which
/// [`ranking::Ranking::attach`] matches by their whole label sets.
fn narrowing(rows: &[Anomaly]) -> String {
    ["host", "anomaly_rule", "metric"]
        .iter()
        .map(|&name| {
            let values: BTreeSet<&str> = rows
                .iter()
                .map(|row| row.labels.get(name).map_or("", String::as_str))
                .collect();
            let alternatives: Vec<String> = values.into_iter().map(regex_escape).collect();
            format!("{name}=~\"{}\"", escape(&alternatives.join("|")))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `value` as a regular expression matching exactly it: RE2's metacharacters escaped.
fn regex_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Asks the collector and prints the ranked series.
pub async fn run(target: &Target, args: &AnomaliesArgs, output: Output) -> Result<(), Error> {
    let window = Window::new(args.at.unwrap_or_else(time::now_ms), args.since);
    let collector = Collector::connect(target).await?;
    let ranking = fetch(&collector, args, &window).await?;
    if ranking.rows.is_empty() && output == Output::Table {
        let watched = watched(&collector, args.host.as_deref(), &window).await?;
        eprintln!("{}", render::nothing_scored(args, &window, watched));
        return Ok(());
    }
    if ranking.total > ranking.rows.len() {
        eprintln!(
            "showing the {} highest of {} series that scored {} or more; raise --limit to see \
             more",
            ranking.rows.len(),
            ranking.total,
            output::format_value(args.min_score)
        );
    }
    let mut out = output::stdout();
    render::render(&ranking.rows, &window, args.min_score, output, &mut out)?;
    Ok(out.flush()?)
}

/// The ranked rows with their history: the peaks query, then, when there is a row, the
/// two range queries at once.
pub async fn fetch(
    collector: &Collector,
    args: &AnomaliesArgs,
    window: &Window,
) -> Result<Ranking, Error> {
    let peaks = peaks_expr(args.host.as_deref(), window, args.min_score);
    let peaks = ask(collector, &peaks, Evaluation::Instant(window.at_ms())).await?;
    let mut ranking = Ranking::new(&peaks, args.min_score, args.limit);
    if ranking.rows.is_empty() {
        return Ok(ranking);
    }
    let (scores, bands) = (
        scores_expr(&ranking.rows, window),
        bands_expr(&ranking.rows),
    );
    let over = Evaluation::Range(window.steps);
    let (scores, bands) =
        tokio::try_join!(ask(collector, &scores, over), ask(collector, &bands, over),)?;
    ranking.attach(&scores, &bands, args.min_score);
    Ok(ranking)
}

/// How many series anomaly rules watched in the window (of `host`, when given).
pub async fn watched(
    collector: &Collector,
    host: Option<&str>,
    window: &Window,
) -> Result<f64, Error> {
    let at = Evaluation::Instant(window.at_ms());
    let count = ask(collector, &watched_expr(host, window), at).await?;
    let count = count.series.first().and_then(|s| s.values.first());
    Ok(count.copied().unwrap_or(0.0))
}

/// One query, at one time or over the window's steps; the collector's warnings go to
/// stderr, as `vigil query` prints them.
async fn ask(
    collector: &Collector,
    expr: &str,
    evaluation: Evaluation,
) -> Result<QueryResult, Error> {
    let mut collector = collector.clone();
    let result = match evaluation {
        Evaluation::Instant(at) => collector.instant(expr, at).await,
        Evaluation::Range(s) => collector.range(expr, s.start_ms, s.end_ms, s.step_ms).await,
    }
    .map_err(|e| super::query::bad_query(expr, e))?;
    for warning in &result.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(result)
}

#[cfg(test)]
mod tests;
