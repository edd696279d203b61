//! The `vigil` command-line client: asks a collector's `Query` service about hosts and
//! series, evaluates PromQL there (`query`, `top`, `host`), and prints the answer as a
//! table, JSON or CSV.
//!
//! # Layout
//! - `client`: the gRPC connection to the collector; transport failures become messages.
//! - `auth`: the token (`--token`, `--token-file`, `VIGIL_TOKEN`) every call carries, and
//!   what the collector's refusals of it mean.
//! - `hosts`, `series`, `query`: one command each: fetch, then render; `hosts` also shows
//!   each host's identity (certificate) and revokes hosts.
//! - `import`: backfill from a text file through the Import service.
//! - `forecast`: when each series will cross a threshold, from the Forecast service.
//! - `alerts`, `rules`: active alerts and rule health from the Rules service; `rules check`
//!   validates rule files offline, `rules reload` has the collector re-read them.
//! - `top`, `host`: fleet and host usage; `usage` holds their PromQL.
//! - `query_result`, `sparkline`, `units`: PromQL results and usage figures for people.
//! - `backup`, `status`: a checkpoint of the collector's store; its version, disk usage and
//!   series, from the Admin service.
//! - `output`: table/JSON/CSV rendering; values and label sets written as Prometheus does.
//! - `silence`: add, list and expire silences on the Notify service.
//! - `notify`: send a test notification to a receiver; list the outbox.
//! - `ca`: make the fleet's CA and the collector's server certificate, show certificates
//!   (local files only, no collector).
//! - `enroll`: create, list and revoke join tokens on the Enroll service.
//! - `incidents`: `vigil incidents`, `vigil incident ID` and `vigil incident ack ID` from
//!   the Incidents service.
//! - `anomaly`: `vigil anomaly score`, the anomaly detector over a local CSV file.
//! - `anomalies`: the series the collector's anomaly rules scored highest, with value,
//!   expected band and since when, from their `vigil_anomaly_*` series.
//! - `error`: what can go wrong, and the exit code for each.

mod alerts;
mod anomalies;
mod anomaly;
mod auth;
mod backup;
mod ca;
mod client;
mod enroll;
mod error;
#[cfg(test)]
mod fixture;
mod forecast;
mod host;
mod hosts;
mod import;
mod incidents;
mod notify;
pub(crate) mod output;
mod query;
mod query_result;
mod rules;
mod series;
mod silence;
mod sparkline;
mod status;
mod top;
mod units;
mod usage;

use clap::{Parser, Subcommand};
/// Times and durations as people write them: shared with the collector's HTTP API.
pub(crate) use vigil_promql::time;

pub use anomalies::AnomaliesArgs;
pub use auth::Secret;
pub use backup::BackupArgs;
pub use ca::{CaAction, CaArgs};
pub use enroll::{EnrollAction, EnrollArgs};
pub use error::Error;
pub use forecast::ForecastArgs;
pub use host::HostArgs;
pub use hosts::{HostsAction, HostsArgs};
pub use import::ImportArgs;
/// `vigil import`'s file reader (text → `ImportRequest`s), for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub use import::{
    FileBatcher as ImportBatcher, Format as ImportFormat, Item as ImportItem, Piece,
    read as read_import,
};
pub use incidents::{IncidentAction, IncidentArgs, IncidentsArgs};
pub use notify::{NotifyAction, NotifyArgs, NotifyFailure};
pub use output::Output;
pub use query::QueryArgs;
pub use rules::{RulesAction, RulesArgs, RulesFailure};
pub use series::SeriesArgs;
pub use silence::{SilenceAction, SilenceArgs};
pub use top::TopArgs;

/// Where the collector listens unless `--collector` or `VIGIL_COLLECTOR` says otherwise.
pub const DEFAULT_COLLECTOR: &str = "http://127.0.0.1:7070";

/// Heading of the options every command takes, so they stand apart in `vigil query --help`.
const GLOBAL: &str = "Global options";

/// `vigil`: query a Vigil collector.
#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Query a Vigil collector: hosts, their usage, series and PromQL; enroll agents"
)]
pub struct Cli {
    /// Collector to ask (gRPC URL)
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "VIGIL_COLLECTOR",
        value_name = "URL",
        default_value = DEFAULT_COLLECTOR
    )]
    pub collector: String,

    /// How to print the result
    #[arg(
        long,
        short = 'o',
        global = true,
        help_heading = GLOBAL,
        value_enum,
        value_name = "FORMAT",
        default_value_t = Output::Table
    )]
    pub output: Output,

    /// CA certificate (PEM) that signed an https:// collector's certificate
    #[arg(long, global = true, help_heading = GLOBAL, env = "VIGIL_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Client certificate (PEM), when the collector asks for one
    #[arg(long, global = true, help_heading = GLOBAL, env = "VIGIL_CLIENT_CERT", value_name = "FILE", requires = "key")]
    pub cert: Option<std::path::PathBuf>,

    /// Private key (PEM) of --cert
    #[arg(long, global = true, help_heading = GLOBAL, env = "VIGIL_CLIENT_KEY", value_name = "FILE", requires = "cert")]
    pub key: Option<std::path::PathBuf>,

    /// Token to present, for a collector that requires one (sent only over https:// or to
    /// loopback) [env: VIGIL_TOKEN]
    ///
    /// VIGIL_TOKEN is read by vigil itself rather than by clap, so that --token-file wins
    /// over it instead of conflicting with it; the help shows it as clap shows the others.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        long_help = "Token to present, for a collector that requires one (sent only over \
                     https:// or to loopback)\n\n[env: VIGIL_TOKEN]",
        value_name = "SECRET",
        value_parser = auth::parse_secret,
        conflicts_with = "token_file"
    )]
    pub token: Option<auth::Secret>,

    /// Read the token from FILE (one trailing newline is ignored) instead of --token or
    /// VIGIL_TOKEN
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,

    /// What to ask.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `vigil`, one module each.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every host that ever connected, with its facts, whether it is up and its
    /// identity; revoke or un-revoke a host
    Hosts(HostsArgs),
    /// List the series matching a selector
    Series(SeriesArgs),
    /// Evaluate a PromQL expression now, at --at, or over a --range (sparklines)
    Query(QueryArgs),
    /// One row per host: CPU, memory, fullest filesystem, disk and network, load; like top
    Top(TopArgs),
    /// One host's facts and current usage, per filesystem, disk and interface too
    Host(HostArgs),
    /// Backfill history from an OpenMetrics or Prometheus text file with timestamps
    Import(ImportArgs),
    /// Predict when each series of an expression crosses a threshold, with a chart
    Forecast(ForecastArgs),
    /// List the firing and pending alerts: labels, value, since when, ETA for forecasts
    Alerts,
    /// List rule groups and rules with their health; check rule files; reload them
    Rules(RulesArgs),
    /// Silence alerts for a while (add), list silences, end one early (expire)
    Silence(SilenceArgs),
    /// Send a test notification to a receiver (test); list undelivered notifications (outbox)
    Notify(NotifyArgs),
    /// Have the collector write a consistent copy of its store into a new directory
    Backup(BackupArgs),
    /// The collector's version, uptime, disk usage per part, series per host, ingest
    Status,
    /// Make the fleet's CA and the collector's certificate (init); show a certificate (show)
    Ca(CaArgs),
    /// Join tokens for agents: create one, list them, revoke one
    Enroll(EnrollArgs),
    /// Score a CSV file of timestamp,value rows with the anomaly detector (score; no
    /// collector needed)
    Anomaly(anomaly::AnomalyArgs),
    /// The series the anomaly rules scored highest over a window: value, expected band,
    /// since when, and a sparkline marking where the value left the band
    Anomalies(AnomaliesArgs),
    /// List incidents: firing alerts grouped by host, topology or fleet-wide alert
    Incidents(IncidentsArgs),
    /// Show one incident with its alerts and timeline; acknowledge one (ack)
    Incident(IncidentArgs),
}

/// Runs one command against the collector and prints its result on stdout. Failures are
/// [`Error`]s, so the binary can pick the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // `vigil ca` works on local files: no collector, no token.
    if let Command::Ca(args) = &cli.command {
        return ca::run(args, cli.ca_cert.as_deref(), cli.output);
    }
    // So does `vigil anomaly score`.
    if let Command::Anomaly(args) = &cli.command {
        return anomaly::run(args, cli.output);
    }
    let target = client::Target {
        url: cli.collector.clone(),
        ca_cert: cli.ca_cert.clone(),
        identity: cli.cert.clone().zip(cli.key.clone()),
        token: auth::Token::resolve(
            cli.token.clone(),
            cli.token_file.as_deref(),
            std::env::var(auth::TOKEN_ENV).ok(),
        )?,
    };
    match &cli.command {
        Command::Hosts(args) => hosts::run(&target, args, cli.output).await?,
        Command::Series(args) => series::run(&target, args, cli.output).await?,
        Command::Query(args) => query::run(&target, args, cli.output).await?,
        Command::Top(args) => top::run(&target, args, cli.output).await?,
        Command::Host(args) => host::run(&target, args, cli.output).await?,
        Command::Import(args) => import::run(&target, args, cli.output).await?,
        Command::Forecast(args) => forecast::run(&target, args, cli.output).await?,
        Command::Alerts => alerts::run(&target, cli.output).await?,
        Command::Rules(args) => rules::run(&target, args, cli.output).await?,
        Command::Silence(args) => silence::run(&target, args, cli.output).await?,
        Command::Notify(args) => notify::run(&target, args, cli.output).await?,
        Command::Backup(args) => backup::run(&target, args, cli.output).await?,
        Command::Status => status::run(&target, cli.output).await?,
        Command::Enroll(args) => enroll::run(&target, args, cli.output).await?,
        Command::Anomalies(args) => anomalies::run(&target, args, cli.output).await?,
        Command::Incidents(args) => incidents::list(&target, args, cli.output).await?,
        Command::Incident(args) => incidents::one(&target, args, cli.output).await?,
        // Handled above.
        Command::Ca(_) | Command::Anomaly(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn output_is_accepted_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["vigil", "series", "up", "--output", "json"]).expect("valid");
        assert_eq!(cli.output, Output::Json);
        let cli = Cli::try_parse_from(["vigil", "-o", "csv", "hosts"]).expect("valid");
        assert_eq!(cli.output, Output::Csv);
    }

    #[test]
    fn collector_flag_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["vigil", "hosts", "--collector", "http://c:7070"]).expect("valid");
        assert_eq!(cli.collector, "http://c:7070");
    }

    #[test]
    fn unknown_output_is_a_usage_error() {
        let err = Cli::try_parse_from(["vigil", "hosts", "--output", "yaml"]).expect_err("invalid");
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        assert_eq!(err.exit_code(), 2);
    }
}
