//! `vigil forecast`: arguments, the request they make, and the JSON rows.

use super::*;
use clap::Parser;

fn args(argv: &[&str]) -> Result<ForecastArgs, clap::Error> {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        forecast: ForecastArgs,
    }
    let argv = std::iter::once("vigil-forecast").chain(argv.iter().copied());
    Wrapper::try_parse_from(argv).map(|w| w.forecast)
}

#[test]
fn the_acceptance_command_line_parses() {
    let a = args(&[
        "disk_used_ratio",
        "--threshold",
        "0.9",
        "--lookback",
        "14d",
        "--horizon",
        "7d",
        "--at",
        "1795240200",
        "--model",
        "auto",
    ])
    .expect("valid");
    let r = a.request(a.at.expect("at"));
    assert_eq!(r.at_ms, 1_795_240_200_000);
    assert_eq!(r.lookback_ms, 14 * 86_400_000);
    assert_eq!(r.horizon_ms, 7 * 86_400_000);
    assert_eq!(r.threshold, 0.9);
    assert_eq!(r.model(), ForecastModel::Auto);
    assert_eq!(r.direction(), ForecastDirection::Above);
    assert_eq!(r.season(), ForecastSeason::Unspecified);
}

#[test]
fn models_seasons_and_negative_thresholds() {
    let a = args(&[
        "x",
        "--threshold",
        "-5",
        "--direction",
        "below",
        "--lookback",
        "3600",
        "--horizon",
        "1h",
        "--model",
        "theil_sen",
        "--season",
        "weekly",
    ])
    .expect("valid");
    let r = a.request(0);
    assert_eq!((r.threshold, r.lookback_ms), (-5.0, 3_600_000));
    assert_eq!(r.model(), ForecastModel::TheilSen);
    assert_eq!(r.direction(), ForecastDirection::Below);
    assert_eq!(r.season(), ForecastSeason::Weekly);
    let a = args(&[
        "x",
        "--threshold",
        "1",
        "--lookback",
        "1d",
        "--horizon",
        "1d",
        "--model",
        "holt-winters",
    ])
    .expect("alias");
    assert_eq!(a.model, ModelArg::HoltWinters);
    assert!(
        args(&[
            "x",
            "--threshold",
            "1",
            "--lookback",
            "0s",
            "--horizon",
            "1d"
        ])
        .is_err()
    );
    assert!(args(&["x", "--threshold", "1", "--horizon", "1d"]).is_err());
}

#[test]
fn json_rows_have_the_documented_keys() {
    let a = args(&[
        "x",
        "--threshold",
        "0.9",
        "--lookback",
        "1d",
        "--horizon",
        "1d",
    ])
    .expect("valid");
    let mut s = SeriesForecast {
        labels: vec![vigil_proto::v1::Label {
            name: "host".into(),
            value: "a".into(),
        }],
        eta_ms: Some(1_795_240_200_500),
        value_at_horizon: 0.95,
        value_now: 0.5,
        ..SeriesForecast::default()
    };
    s.set_model(ForecastModel::Holt);
    let failed = SeriesForecast {
        error: "not enough history".into(),
        ..SeriesForecast::default()
    };
    let rows = json_rows(&[s, failed], &a);
    assert_eq!(
        rows[0],
        json!({"metric": {"host": "a"}, "model": "holt", "eta": 1795240200.5, "eta_lower": null,
               "eta_upper": null, "value_at_horizon": 0.95, "value_now": 0.5, "threshold": 0.9,
               "direction": "above"})
    );
    assert_eq!(rows[1]["model"], Value::Null);
    assert_eq!(rows[1]["error"], "not enough history");
}

#[test]
fn spans_for_people() {
    assert_eq!(span(5 * 60_000), "5m");
    assert_eq!(span(200 * 60_000), "3h 20m");
    assert_eq!(span(6 * 86_400_000 + 4 * 3_600_000 + 59_000), "6d 4h");
    assert_eq!(span(14 * 86_400_000), "14d");
    assert_eq!(span(2 * 3_600_000), "2h");
}
