//! `vigil forecast EXPR --threshold V --lookback DUR --horizon DUR`: when will each series
//! of EXPR cross V? The collector's Forecast service fits the model on [at − lookback, at]
//! and predicts up to at + horizon; this prints one block per series (a chart and the
//! ETA), or JSON / CSV rows.

mod chart;

use std::io::Write;
use std::time::Duration;
use vigil_promql::time::TimeError;

use serde_json::{Value, json};
use tonic::codec::CompressionEncoding;
use vigil_proto::v1::forecast_client::ForecastClient;
use vigil_proto::v1::{
    ForecastDirection, ForecastModel, ForecastRequest, ForecastSeason, SeriesForecast,
};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::{time, units};

/// Plot characters of the chart.
const CHART_WIDTH: usize = 60;

/// Arguments of `vigil forecast`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The model is fitted on each series' history over --lookback before \
    --at (data after --at is not read) and predicts up to --at + --horizon. ETA is when the \
    prediction first reaches the threshold; the band (eta_lower .. eta_upper) is where its \
    95 % interval does. JSON times are Unix seconds; null means no crossing within the \
    horizon.\n\n\
    Examples:\n  \
    vigil forecast 'node_filesystem_avail_bytes{mountpoint=\"/\"}' --threshold 5e9 --direction below --lookback 7d --horizon 14d\n  \
    vigil forecast disk_used_ratio --threshold 0.9 --lookback 14d --horizon 7d --model holt_winters --season daily\n  \
    vigil forecast disk_used_ratio --threshold 0.9 --lookback 7d --horizon 7d --at 1795240200 --output json"
)]
pub struct ForecastArgs {
    /// PromQL expression whose series to forecast, e.g. 'disk_used_ratio{host="db-1"}'
    #[arg(value_name = "EXPR")]
    pub expr: String,

    /// The level that matters, e.g. 0.9 or 5e9
    #[arg(long, value_name = "V", allow_hyphen_values = true)]
    pub threshold: f64,

    /// Whether the series crossing upwards (disk used) or downwards (bytes free) counts
    #[arg(long, value_enum, default_value = "above")]
    pub direction: DirectionArg,

    /// How much history to fit on, e.g. 7d
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub lookback: Duration,

    /// How far ahead to look, e.g. 14d
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub horizon: Duration,

    /// Forecast as of this time, on the data before it [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<i64>,

    /// Model: auto picks one per series by backtest
    #[arg(long, value_enum, default_value = "auto")]
    pub model: ModelArg,

    /// Season of holt_winters (auto tries both when not given)
    #[arg(long, value_enum)]
    pub season: Option<SeasonArg>,
}

/// `--direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DirectionArg {
    /// Rising to or past the threshold.
    Above,
    /// Falling to or below it.
    Below,
}

/// `--model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    /// Least-squares line.
    Linear,
    /// Theil–Sen robust line.
    #[value(name = "theil_sen", alias = "theil-sen")]
    TheilSen,
    /// Holt's damped trend.
    Holt,
    /// Holt–Winters with a daily or weekly season.
    #[value(name = "holt_winters", alias = "holt-winters")]
    HoltWinters,
    /// Picked per series by backtest.
    Auto,
}

/// `--season`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeasonArg {
    /// One day.
    Daily,
    /// One week.
    Weekly,
}

impl ForecastArgs {
    /// The request for the collector, made at `at_ms`.
    fn request(&self, at_ms: i64) -> ForecastRequest {
        let mut request = ForecastRequest {
            expr: self.expr.clone(),
            threshold: self.threshold,
            lookback_ms: time::duration_ms(self.lookback),
            horizon_ms: time::duration_ms(self.horizon),
            at_ms,
            ..ForecastRequest::default()
        };
        request.set_direction(match self.direction {
            DirectionArg::Above => ForecastDirection::Above,
            DirectionArg::Below => ForecastDirection::Below,
        });
        request.set_model(match self.model {
            ModelArg::Linear => ForecastModel::Linear,
            ModelArg::TheilSen => ForecastModel::TheilSen,
            ModelArg::Holt => ForecastModel::Holt,
            ModelArg::HoltWinters => ForecastModel::HoltWinters,
            ModelArg::Auto => ForecastModel::Auto,
        });
        request.set_season(match self.season {
            None => ForecastSeason::Unspecified,
            Some(SeasonArg::Daily) => ForecastSeason::Daily,
            Some(SeasonArg::Weekly) => ForecastSeason::Weekly,
        });
        request
    }
}

/// A `--lookback` or `--horizon`: `7d`, `36h`, or a bare number of seconds; positive.
fn parse_span(input: &str) -> Result<Duration, Error> {
    let span = match input.trim().parse::<f64>() {
        Ok(seconds) => Duration::try_from_secs_f64(seconds).ok(),
        Err(_) => time::parse_duration(input).ok(),
    };
    span.filter(|d| !d.is_zero()).ok_or_else(|| {
        Error::from(TimeError::InvalidDuration {
            input: input.to_owned(),
        })
    })
}

/// An `--at`: a time as [`time::parse_time`] reads it, or `now`.
fn parse_at(input: &str) -> Result<i64, Error> {
    if input.trim().eq_ignore_ascii_case("now") {
        Ok(time::now_ms())
    } else {
        time::parse_time(input).map_err(Error::from)
    }
}

/// Asks the collector and prints the forecasts.
pub async fn run(target: &Target, args: &ForecastArgs, output: Output) -> Result<(), Error> {
    let at = args.at.unwrap_or_else(time::now_ms);
    let collector = Collector::connect(target).await?;
    let mut client = ForecastClient::new(collector.channel())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(64 << 20);
    let response = client
        .forecast(args.request(at))
        .await
        .map_err(|status| match status.code() {
            tonic::Code::InvalidArgument => Error::BadQuery {
                expr: args.expr.clone(),
                message: status.message().to_owned(),
            },
            _ => target.refusal(status),
        })?
        .into_inner();
    let mut out = output::stdout();
    match output {
        Output::Json => output::write_json(&mut out, &json_rows(&response.series, args))?,
        Output::Csv => write_csv(&mut out, &response.series)?,
        Output::Table if response.series.is_empty() => {
            eprintln!(
                "no series: {} has no data in the {} before {} (UTC)",
                args.expr,
                humantime::format_duration(args.lookback),
                time::format_utc(at)
            );
        }
        Output::Table => {
            for (i, series) in response.series.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                write_block(&mut out, series, args, at)?;
            }
        }
    }
    Ok(out.flush()?)
}

/// The model's name as rule files and `--model` spell it; `None` for a failed series.
fn model_name(series: &SeriesForecast) -> Option<&'static str> {
    match series.model() {
        ForecastModel::Linear => Some("linear"),
        ForecastModel::TheilSen => Some("theil_sen"),
        ForecastModel::Holt => Some("holt"),
        ForecastModel::HoltWinters => Some("holt_winters"),
        ForecastModel::Auto => Some("auto"),
        ForecastModel::Unspecified => None,
    }
}

/// A finite number as JSON, `null` otherwise.
fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// One JSON object per series.
fn json_rows(series: &[SeriesForecast], args: &ForecastArgs) -> Value {
    let time =
        |ms: Option<i64>| ms.map_or(Value::Null, |ms| Value::Number(output::unix_seconds(ms)));
    let rows = series
        .iter()
        .map(|s| {
            let mut row = json!({
                "metric": output::label_map(&s.labels),
                "model": model_name(s),
                "eta": time(s.eta_ms),
                "eta_lower": time(s.eta_lower_ms),
                "eta_upper": time(s.eta_upper_ms),
                "value_at_horizon": if s.error.is_empty() { number(s.value_at_horizon) } else { Value::Null },
                "value_now": number(s.value_now),
                "threshold": number(args.threshold),
                "direction": match args.direction {
                    DirectionArg::Above => "above",
                    DirectionArg::Below => "below",
                },
            });
            if !s.error.is_empty() {
                row["error"] = Value::String(s.error.clone());
            }
            row
        })
        .collect();
    Value::Array(rows)
}

/// series,model,eta,eta_lower,eta_upper,value_now,value_at_horizon,error; times in Unix
/// seconds, empty when there is no crossing.
fn write_csv(out: &mut dyn Write, series: &[SeriesForecast]) -> std::io::Result<()> {
    let time =
        |ms: Option<i64>| ms.map_or_else(String::new, |ms| output::unix_seconds(ms).to_string());
    let header = [
        "series",
        "model",
        "eta",
        "eta_lower",
        "eta_upper",
        "value_now",
        "value_at_horizon",
        "error",
    ];
    let rows = series.iter().map(|s| {
        vec![
            output::format_series(&s.labels),
            model_name(s).unwrap_or("").to_owned(),
            time(s.eta_ms),
            time(s.eta_lower_ms),
            time(s.eta_upper_ms),
            output::format_value(s.value_now),
            if s.error.is_empty() {
                output::format_value(s.value_at_horizon)
            } else {
                String::new()
            },
            s.error.clone(),
        ]
    });
    output::write_csv(out, &header, rows)
}

/// One series for people: its name, the model, the chart and the ETA.
fn write_block(
    out: &mut dyn Write,
    s: &SeriesForecast,
    args: &ForecastArgs,
    at: i64,
) -> std::io::Result<()> {
    writeln!(out, "{}", output::format_series(&s.labels))?;
    let Some(model) = model_name(s) else {
        return writeln!(out, "  no forecast: {}", s.error);
    };
    let direction = match args.direction {
        DirectionArg::Above => "rises to",
        DirectionArg::Below => "falls to",
    };
    writeln!(
        out,
        "  model {model}   now {}   threshold {} ({})",
        units::compact(s.value_now),
        units::compact(args.threshold),
        match args.direction {
            DirectionArg::Above => "above",
            DirectionArg::Below => "below",
        }
    )?;
    let history: Vec<(i64, f64)> = s
        .history_timestamps_ms
        .iter()
        .copied()
        .zip(s.history_values.iter().copied())
        .collect();
    let path: Vec<(i64, f64)> = s
        .path_timestamps_ms
        .iter()
        .copied()
        .zip(s.path_values.iter().copied())
        .collect();
    let lines = chart::chart(
        &history,
        &path,
        args.threshold,
        at,
        CHART_WIDTH,
        units::compact,
        short_time,
    );
    for line in lines {
        writeln!(out, "{line}")?;
    }
    let horizon_end = at.saturating_add(time::duration_ms(args.horizon));
    match s.eta_ms {
        Some(eta) if eta <= at => writeln!(
            out,
            "  already {} the threshold at {}",
            match args.direction {
                DirectionArg::Above => "at or above",
                DirectionArg::Below => "at or below",
            },
            short_time(at)
        )?,
        Some(eta) => writeln!(
            out,
            "  ETA {} (in {}): {direction} {}; 95 % band {} .. {}",
            short_time(eta),
            span(eta - at),
            units::compact(args.threshold),
            s.eta_lower_ms.map_or_else(|| "-".to_owned(), short_time),
            s.eta_upper_ms
                .map_or_else(|| "after the horizon".to_owned(), short_time),
        )?,
        None => writeln!(
            out,
            "  no crossing within {}{}",
            span(time::duration_ms(args.horizon)),
            s.eta_lower_ms.map_or_else(String::new, |t| format!(
                " (the 95 % band reaches it at {})",
                short_time(t)
            ))
        )?,
    }
    writeln!(
        out,
        "  {} at the horizon ({})",
        units::compact(s.value_at_horizon),
        short_time(horizon_end)
    )
}

/// `2026-11-21 05:50` (UTC, to the minute).
fn short_time(ms: i64) -> String {
    let full = time::format_utc(ms);
    full.get(..16).map_or(full.clone(), str::to_owned)
}

/// `6d 4h`, `14d`, `3h 20m`, `2h`, `12m`: the two largest units, a zero second one left off.
fn span(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (d, h, m) {
        (0, 0, _) => format!("{m}m"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests;
