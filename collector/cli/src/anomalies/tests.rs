//! `vigil anomalies` on hand-built query results: the window, the expressions, ranking,
//! joining by labels and the arguments here; rendering in every format in `rendering`; the
//! queries asked of a fake collector in `queries`.

mod queries;
mod rendering;

use super::ranking::{Point, Side};
use super::*;
use crate::fixture::{self, matrix, series, vector};
use clap::Parser;
use vigil_proto::v1::SeriesSamples;

/// "Now" and the end of the window: 2026-11-21T05:50:00Z.
const T: i64 = fixture::T;

/// The default window: the hour before `T`, every minute.
fn window() -> Window {
    Window::new(T, Duration::from_secs(3600))
}

/// The time of step `i` of [`window`].
fn step(i: i64) -> i64 {
    T - 3_600_000 + i * 60_000
}

/// `f(i)` at every step of [`window`] where it is `Some`.
fn over_window(f: impl Fn(i64) -> Option<f64>) -> Vec<(i64, f64)> {
    (0..=60)
        .filter_map(|i| f(i).map(|v| (step(i), v)))
        .collect()
}

/// db-1's load (a built-in rule: no `metric`): 0.5 in its band until step 48, then
/// climbing far above it.
const LOAD: &[(&str, &str)] = &[("anomaly_rule", "host_load1"), ("host", "db-1")];

/// web-1's `/var` free bytes (a rule with a name to report): 40 GiB, with no value at
/// steps 20 to 22, then 2 GiB from step 55, below its band.
const VAR: &[(&str, &str)] = &[
    ("anomaly_rule", "disk_free"),
    ("host", "web-1"),
    ("metric", "node_filesystem_avail_bytes"),
    ("mountpoint", "/var"),
];

/// web-1's received bytes: noisy enough to score 0.81 at step 30, never out of its band.
const RX: &[(&str, &str)] = &[
    ("anomaly_rule", "host_network_receive_bytes"),
    ("host", "web-1"),
];

/// db-1's free memory: watched, never anomalous.
const MEMORY: &[(&str, &str)] = &[
    ("anomaly_rule", "host_memory_available_bytes"),
    ("host", "db-1"),
];

/// web-1's `/` free bytes: a sibling of [`VAR`] the narrowed range query also returns.
const ROOT: &[(&str, &str)] = &[
    ("anomaly_rule", "disk_free"),
    ("host", "web-1"),
    ("metric", "node_filesystem_avail_bytes"),
    ("mountpoint", "/"),
];

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `labels` with `__name__` set, as a selector without a function returns them.
fn named(name: &str, labels: &[(&str, &str)], points: &[(i64, f64)]) -> SeriesSamples {
    let mut all = labels.to_vec();
    all.push(("__name__", name));
    series(&all, points)
}

/// The peaks query's answer, as if it had no `>= MIN`: MEMORY is below any threshold
/// but 0.3, and a NaN is never a peak.
fn peaks() -> QueryResult {
    vector(vec![
        series(MEMORY, &[(T, 0.3)]),
        series(RX, &[(T, 0.81)]),
        series(LOAD, &[(T, 0.97)]),
        series(VAR, &[(T, 0.81)]),
        series(
            &[("anomaly_rule", "broken"), ("host", "x")],
            &[(T, f64::NAN)],
        ),
    ])
}

/// Each step's highest score.
fn scores() -> QueryResult {
    matrix(vec![
        series(
            LOAD,
            &over_window(|i| {
                Some(if i < 48 {
                    0.1
                } else {
                    0.6 + 0.37 * (i - 48) as f64 / 12.0
                })
            }),
        ),
        series(VAR, &over_window(|i| Some(if i < 56 { 0.2 } else { 0.81 }))),
        series(RX, &over_window(|i| Some(if i == 30 { 0.81 } else { 0.3 }))),
        series(ROOT, &over_window(|_| Some(0.9))),
    ])
}

/// Value, lower and upper of the rows, and of [`ROOT`].
fn bands() -> QueryResult {
    let constant = |v: f64| over_window(move |_| Some(v));
    matrix(vec![
        named(
            "vigil_anomaly_value",
            LOAD,
            &over_window(|i| {
                Some(if i < 48 {
                    0.5
                } else {
                    2.0 + (i - 48) as f64 * 0.5
                })
            }),
        ),
        named("vigil_anomaly_lower", LOAD, &constant(0.2)),
        named("vigil_anomaly_upper", LOAD, &constant(1.5)),
        named(
            "vigil_anomaly_value",
            VAR,
            &over_window(|i| match i {
                20..=22 => None,
                55.. => Some(2.0 * GIB),
                _ => Some(40.0 * GIB),
            }),
        ),
        named("vigil_anomaly_lower", VAR, &constant(30.0 * GIB)),
        named("vigil_anomaly_upper", VAR, &constant(50.0 * GIB)),
        named(
            "vigil_anomaly_value",
            RX,
            &over_window(|i| Some(if i % 2 == 0 { 1000.0 } else { 1500.0 })),
        ),
        named("vigil_anomaly_lower", RX, &constant(0.0)),
        named("vigil_anomaly_upper", RX, &constant(4000.0)),
        named("vigil_anomaly_value", ROOT, &constant(1.0)),
    ])
}

/// The rows at `--min-score 0.5 --limit 20`, joined with the range queries.
fn ranked() -> Ranking {
    let mut ranking = Ranking::new(&peaks(), 0.5, 20);
    ranking.attach(&scores(), &bands(), 0.5);
    ranking
}

/// Parses `vigil anomalies` arguments the way the binary does.
fn args(argv: &[&str]) -> Result<AnomaliesArgs, clap::Error> {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        anomalies: AnomaliesArgs,
    }
    let argv = std::iter::once("vigil-anomalies").chain(argv.iter().copied());
    Wrapper::try_parse_from(argv).map(|w| w.anomalies)
}

fn rules(ranking: &Ranking) -> Vec<&str> {
    ranking
        .rows
        .iter()
        .map(|r| r.label("anomaly_rule").unwrap_or("?"))
        .collect()
}

#[test]
fn windows_have_at_most_61_steps_of_whole_seconds() {
    let w = window();
    assert_eq!((w.steps.start_ms, w.steps.end_ms), (T - 3_600_000, T));
    assert_eq!((w.steps.step_ms, w.steps.count()), (60_000, 61));
    let step_of = |secs: u64| Window::new(T, Duration::from_secs(secs)).steps.step_ms;
    assert_eq!(step_of(1), 1_000);
    assert_eq!(step_of(90), 2_000);
    assert_eq!(step_of(6 * 3600), 360_000);
    assert_eq!(step_of(7 * 86_400), 10_080_000);
    assert_eq!(
        Window::new(T, Duration::from_millis(500)).steps.step_ms,
        1_000
    );
    for secs in [1, 59, 61, 90, 119, 3599, 3601, 86_399, 7 * 86_400 + 1] {
        let count = Window::new(T, Duration::from_secs(secs)).steps.count();
        assert!(count <= 61, "{secs}s: {count} steps");
    }
}

#[test]
fn expressions_escape_the_host_and_parse() {
    let w = window();
    assert_eq!(
        peaks_expr(None, &w, 0.5),
        "max_over_time(vigil_anomaly_score[3600s]) >= 0.5"
    );
    assert_eq!(
        peaks_expr(Some("we\"b\\1"), &w, 1.0),
        "max_over_time(vigil_anomaly_score{host=\"we\\\"b\\\\1\"}[3600s]) >= 1"
    );
    assert_eq!(
        watched_expr(Some("db-1"), &w),
        "count(max_over_time(vigil_anomaly_score{host=\"db-1\"}[3600s]))"
    );
    let rows = ranked().rows;
    assert_eq!(
        scores_expr(&rows, &w),
        "max_over_time(vigil_anomaly_score{host=~\"db-1|web-1\",\
         anomaly_rule=~\"disk_free|host_load1|host_network_receive_bytes\",\
         metric=~\"|node_filesystem_avail_bytes\"}[60s])"
    );
    assert!(
        bands_expr(&rows)
            .starts_with("{__name__=~\"vigil_anomaly_(value|lower|upper)\",host=~\"db-1|web-1\",")
    );
    let mut odd = rows[0].clone();
    odd.labels
        .insert("host".into(), "web.1 (\"eu\")|\\x".into());
    assert_eq!(
        narrowing(&[odd]),
        "host=~\"web\\\\.1 \\\\(\\\"eu\\\"\\\\)\\\\|\\\\\\\\x\",anomaly_rule=~\"host_load1\",\
         metric=~\"\""
    );
    for expr in [
        peaks_expr(Some("we\"b\\1"), &w, 0.25),
        watched_expr(None, &w),
        scores_expr(&rows, &w),
        bands_expr(&rows),
    ] {
        assert!(promql_parser::parser::parse(&expr).is_ok(), "{expr}");
    }
}

#[test]
fn rows_rank_by_peak_then_labels() {
    let ranking = Ranking::new(&peaks(), 0.5, 20);
    // disk_free and host_network_receive_bytes tie at 0.81: by labels, anomaly_rule first.
    assert_eq!(
        rules(&ranking),
        ["host_load1", "disk_free", "host_network_receive_bytes"]
    );
    assert_eq!(ranking.total, 3);
    assert_eq!(ranking.rows[0].score, 0.97);
    assert_eq!(ranking.rows[0].label("host"), Some("db-1"));
}

#[test]
fn min_score_and_limit_filter() {
    let ranking = Ranking::new(&peaks(), 0.5, 2);
    assert_eq!(rules(&ranking), ["host_load1", "disk_free"]);
    assert_eq!(ranking.total, 3);
    assert_eq!(rules(&Ranking::new(&peaks(), 0.9, 20)), ["host_load1"]);
    // 0 lets in every watched series, but never a NaN.
    let all = Ranking::new(&peaks(), 0.0, 20);
    assert_eq!(all.total, 4);
    assert_eq!(
        all.rows[3].label("anomaly_rule"),
        Some("host_memory_available_bytes")
    );
    assert_eq!(Ranking::new(&vector(vec![]), 0.5, 20).total, 0);
}

#[test]
fn range_results_join_by_label_set() {
    let rows = ranked().rows;
    assert_eq!(
        rows.iter().map(|r| r.since_ms).collect::<Vec<_>>(),
        [Some(step(48)), Some(step(56)), Some(step(30))]
    );
    assert!(rows.iter().all(|r| !r.since_before));
    // ROOT's series (same host, rule and metric as VAR) went to no row.
    assert_eq!(rows[1].points.len(), 61);
    assert_eq!(rows[1].points[20].value, None);
    assert_eq!(rows[1].points[20].lower, Some(30.0 * GIB));
    assert_eq!(rows[0].latest(), (Some(8.0), Some(0.2), Some(1.5)));
    assert_eq!(rows[1].points[55].side(), Side::Below);
    assert_eq!(rows[0].points[60].side(), Side::Above);
    assert_eq!(rows[2].points[30].side(), Side::Inside);
    // A row the range queries did not return keeps no history.
    let mut ranking = Ranking::new(&peaks(), 0.5, 20);
    ranking.attach(&matrix(vec![]), &matrix(vec![]), 0.5);
    assert_eq!(
        (ranking.rows[0].since_ms, ranking.rows[0].points.len()),
        (None, 0)
    );
    assert_eq!(ranking.rows[0].latest(), (None, None, None));
}

#[test]
fn defaults_and_bad_arguments() {
    let a = args(&[]).expect("valid");
    assert_eq!(
        (a.host, a.since, a.min_score, a.limit, a.at),
        (None, Duration::from_secs(3600), 0.5, 20, None)
    );
    let a = args(&[
        "--since",
        "6h",
        "--min-score",
        "1",
        "--limit",
        "3",
        "--at",
        "2026-11-21T05:50:00Z",
    ])
    .expect("valid");
    assert_eq!(
        (a.since.as_secs(), a.min_score, a.limit, a.at),
        (21_600, 1.0, 3, Some(T))
    );
    for (argv, flag, why) in [
        (
            ["--since", "0s"],
            "--since",
            "the window must be longer than zero",
        ),
        (["--since", "soon"], "--since", "invalid duration \"soon\""),
        (
            ["--min-score", "2"],
            "--min-score",
            "scores are numbers from 0 to 1",
        ),
        (
            ["--min-score", "-0.1"],
            "--min-score",
            "scores are numbers from 0 to 1",
        ),
        (
            ["--min-score", "NaN"],
            "--min-score",
            "scores are numbers from 0 to 1",
        ),
        (
            ["--limit", "0"],
            "--limit",
            "use a whole number of rows, 1 or more",
        ),
        (["--at", "yesterday"], "--at", "invalid time \"yesterday\""),
    ] {
        let err = args(&argv).expect_err("invalid");
        assert_eq!(
            err.kind(),
            clap::error::ErrorKind::ValueValidation,
            "{argv:?}"
        );
        let message = err.to_string();
        assert!(message.contains(flag) && message.contains(why), "{message}");
    }
}

#[test]
fn output_is_the_global_flag() {
    let cli = crate::Cli::try_parse_from(["vigil", "anomalies", "--since", "6h", "-o", "csv"])
        .expect("valid");
    assert_eq!(cli.output, Output::Csv);
    let crate::Command::Anomalies(a) = cli.command else {
        panic!("vigil anomalies");
    };
    assert_eq!(a.since, Duration::from_secs(6 * 3600));
}
