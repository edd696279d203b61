//! `vigil forecast`: a disk-usage history with a known crossing goes in through `vigil
//! import`; the acceptance command line finds the crossing from `--at`, and what happened
//! after `--at` (the disk filled up, another started growing) does not leak into it.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::fmt::Write as _;
use vigil_tests::{Collector, import_text, now_ms, vigil, vigil_json, vigil_ok};

const DAY: i64 = 86_400;

/// Flags of a quick forecast, whose values the error cases replace.
const QUICK: [&str; 6] = ["--threshold", "1", "--lookback", "1d", "--horizon", "1d"];

/// Whole seconds since the Unix epoch, rounded down to ten minutes.
fn now_s() -> i64 {
    now_ms() / 1000 / 600 * 600
}

/// A small deterministic wobble in [−0.003, 0.003].
fn wobble(i: i64) -> f64 {
    ((i * 7919) % 601 - 300) as f64 / 100_000.0
}

/// History every 10 minutes from `at − 7d` to `now`: the root filesystem grows 2 % a
/// day and reaches 80 % six days after `at`, but fills to 95 % right after `at`; /data is
/// flat at 50 % before `at` and climbs 10 % a day after it.
fn history(at: i64, now: i64) -> String {
    let mut text = String::from("# TYPE disk_used_ratio gauge\n");
    let times: Vec<i64> = (at - 7 * DAY..now).step_by(600).collect();
    for (i, &t) in times.iter().enumerate() {
        let d = (t - at) as f64 / DAY as f64;
        let root = if t <= at {
            0.68 + 0.02 * d + wobble(i as i64)
        } else {
            0.95
        };
        writeln!(
            text,
            "disk_used_ratio{{host=\"db-1\",mountpoint=\"/\"}} {root} {t}"
        )
        .unwrap();
    }
    for (i, &t) in times.iter().enumerate() {
        let d = (t - at) as f64 / DAY as f64;
        let data = if t <= at {
            0.5 + wobble(i as i64 + 17)
        } else {
            0.5 + 0.1 * d
        };
        writeln!(
            text,
            "disk_used_ratio{{host=\"db-1\",mountpoint=\"/data\"}} {data} {t}"
        )
        .unwrap();
    }
    text.push_str("# EOF\n");
    text
}

/// `vigil forecast SELECTOR` with a threshold of 0.8 over a week of history, ten days
/// ahead, as of `at`, by `model`.
fn forecast_args<'a>(selector: &'a str, at: &'a str, model: &'a str) -> Vec<&'a str> {
    vec![
        "forecast",
        selector,
        "--threshold",
        "0.8",
        "--lookback",
        "7d",
        "--horizon",
        "10d",
        "--at",
        at,
        "--model",
        model,
    ]
}

/// A collector (and its directory) holding [`history`] up to now, and `at`: six days ago.
fn collector_with_history() -> (tempfile::TempDir, Collector, i64) {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let now = now_s();
    let at = now - 6 * DAY;
    import_text(&collector.url(), dir.path(), &history(at, now));
    (dir, collector, at)
}

#[test]
fn forecast_finds_the_crossing_as_of_at_and_ignores_later_data() {
    let (_dir, collector, at) = collector_with_history();
    let url = collector.url();

    // The acceptance command line (vigil_json adds --output json).
    let at_arg = at.to_string();
    let args = forecast_args("disk_used_ratio", &at_arg, "auto");
    let rows = vigil_json(&url, &args);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (root, data) = (&rows[0], &rows[1]);
    assert_eq!(root["metric"]["mountpoint"], "/", "{rows:?}");
    assert_eq!(root["metric"]["host"], "db-1");
    assert_eq!(root["metric"]["__name__"], "disk_used_ratio");
    assert!(
        root["model"].is_string() && root["model"] != "auto",
        "{root}"
    );

    // 0.68 + 0.02·d reaches 0.8 at d = 6; the 95 % filled-up disk after --at is not seen
    // (it would make the ETA --at itself).
    let eta = root["eta"].as_f64().unwrap();
    let truth = (at + 6 * DAY) as f64;
    assert!(
        (eta - truth).abs() < 0.25 * DAY as f64,
        "eta {} h off: {root}",
        (eta - truth) / 3600.0
    );
    // The band is calibrated on the series' own backtest: its late edge may lie past the
    // horizon (absent).
    let (lower, upper) = (
        root["eta_lower"].as_f64().unwrap(),
        root["eta_upper"].as_f64().unwrap_or(f64::INFINITY),
    );
    assert!(lower <= eta && eta <= upper && lower > at as f64, "{root}");
    let at_horizon = root["value_at_horizon"].as_f64().unwrap();
    assert!((at_horizon - 0.88).abs() < 0.01, "{root}");
    assert!(
        (root["value_now"].as_f64().unwrap() - 0.68).abs() < 0.005,
        "{root}"
    );

    // /data was flat before --at: no crossing, though it climbs past 0.8 after.
    assert_eq!(data["eta"], Value::Null, "{data}");
    assert!(
        (data["value_at_horizon"].as_f64().unwrap() - 0.5).abs() < 0.02,
        "{data}"
    );

    // Each model on its own finds the line too.
    for model in ["linear", "theil_sen", "holt"] {
        let rows = vigil_json(&url, &forecast_args("disk_used_ratio", &at_arg, model));
        assert_eq!(rows[0]["model"], model);
        let eta = rows[0]["eta"].as_f64().unwrap();
        assert!(
            (eta - truth).abs() < 0.5 * DAY as f64,
            "{model}: {} h off",
            (eta - truth) / 3600.0
        );
    }
}

#[test]
fn table_and_csv_show_the_eta_and_a_chart() {
    let (_dir, collector, at) = collector_with_history();
    let url = collector.url();

    let at_arg = at.to_string();
    let args = forecast_args("disk_used_ratio{mountpoint=\"/\"}", &at_arg, "linear");
    let out = vigil_ok(&url, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "disk_used_ratio{host=\"db-1\", mountpoint=\"/\"}",
        "{text}"
    );
    assert!(lines[1].starts_with("  model linear   now 0.68"), "{text}");
    assert!(text.contains("thr 0.8 ┤"), "{text}");
    assert!(
        text.contains("  ETA ") && (text.contains("(in 5d ") || text.contains("(in 6d")),
        "{text}"
    );

    let mut csv_args = args.to_vec();
    csv_args.extend(["--output", "csv"]);
    let out = vigil(&url, &csv_args);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("series,model,eta,eta_lower,eta_upper,value_now,value_at_horizon,error")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[row.len() - 7], "linear", "{text}");

    // A selector with no data in the lookback: an empty array, and a word on stderr.
    let empty = vigil_json(&url, &[&["forecast", "nothing_here"][..], &QUICK].concat());
    assert_eq!(empty, Value::Array(vec![]));
    let out = vigil(&url, &[&["forecast", "sum("][..], &QUICK].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot evaluate \"sum(\""));
    // Bad arguments are usage errors (exit 2) naming the flag, before anything is asked.
    for (flag, value) in [("--threshold", "abc"), ("--horizon", "0s")] {
        let mut args = [&["forecast", "disk_used"][..], &QUICK].concat();
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = value;
        let out = vigil(&url, &args);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag) && stderr.contains(value), "{stderr}");
    }
}

/// History every 10 minutes over the week before `at`: /var grew 0.4 % a day until two
/// days before `at`, then jumped 6 % and has grown 2 % a day since, to 68 % at `at`: 80 %
/// six days after it. A line through the week would say eight.
fn stepped_history(at: i64) -> String {
    let mut text = String::from("# TYPE disk_used_ratio gauge\n");
    for (i, t) in (at - 7 * DAY..=at).step_by(600).enumerate() {
        let d = (t - at) as f64 / DAY as f64;
        let value = if d < -2.0 {
            0.58 + 0.004 * (d + 2.0)
        } else {
            0.68 + 0.02 * d
        } + wobble(i as i64);
        writeln!(
            text,
            "disk_used_ratio{{host=\"db-1\",mountpoint=\"/var\"}} {value} {t}"
        )
        .unwrap();
    }
    text.push_str("# EOF\n");
    text
}

#[test]
fn forecast_follows_growth_that_stepped_up_two_days_before_at() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let at = now_s() - DAY;
    import_text(&collector.url(), dir.path(), &stepped_history(at));
    let at_arg = at.to_string();
    let truth = (at + 6 * DAY) as f64;

    let rows = vigil_json(
        &collector.url(),
        &forecast_args("disk_used_ratio", &at_arg, "auto"),
    );
    let row = &rows.as_array().unwrap()[0];
    let eta = row["eta"].as_f64().unwrap();
    assert!(
        (eta - truth).abs() < 0.5 * DAY as f64,
        "auto is {} h off: {row}",
        (eta - truth) / 3600.0
    );
    let (lower, upper) = (
        row["eta_lower"].as_f64().unwrap(),
        row["eta_upper"].as_f64().unwrap_or(f64::INFINITY),
    );
    assert!(
        lower <= truth && truth <= upper,
        "band misses the truth: {row}"
    );

    // The straight line over the week is two days late.
    let rows = vigil_json(
        &collector.url(),
        &forecast_args("disk_used_ratio", &at_arg, "linear"),
    );
    let line = rows[0]["eta"].as_f64().unwrap();
    assert!(line - truth > 1.5 * DAY as f64, "linear: {}", rows[0]);
}
