//! `vigil-loadgen`: simulates a fleet of agents against a collector over the real gRPC
//! Ingest protocol, or writes the same samples to a file for other systems to load.
//!
//! # Layout
//! - [`catalogue`]: the ~300 node_exporter-like series slots of a host, with kinds and units.
//! - [`fleet`]: every host's samples step by step, deterministic from the seed.
//! - [`shift`]: `--shift`, a level shift in one host's series from a given time on.
//! - [`send`]: one gRPC stream per host: Hello, backfill as fast as acknowledged, then live;
//!   a broken stream is reopened as the agent does.
//! - [`agent`]: one simulated agent: its scrapes, its spool and its current stream.
//! - [`spool`]: a host's batches not yet acknowledged, re-sent on a new stream.
//! - [`backoff`]: the agent's reconnect delays with jitter.
//! - [`storm`]: broken streams, reconnects, and the reconnection storms they make.
//! - [`emit`]: the same samples as OpenMetrics text or VictoriaMetrics import JSON lines.
//! - [`victoria`]: the same hosts sent live to VictoriaMetrics' `/api/v1/import` instead.
//! - [`report`]: counts, samples/s and latency to acknowledgement, as text or JSON.
//! - [`intervals`]: the same per interval of the run (`--report-every`).
//!
//! The dataset is fixed by `--hosts`, `--series-per-host`, `--interval`, `--jitter-ms`,
//! `--seed` and its time range: steps from `end − backfill` up to `end + duration`, where
//! `--end` defaults to now rounded down to the interval. Pass the same flags (and `--end`)
//! to a sending run and an `--emit` run and they hold exactly the same samples.
//!
//! `--shift HOST:METRIC:FACTOR:AT` (repeatable) changes that dataset on purpose, for tests
//! of anomaly detection: from AT on (Unix seconds, or `end`, `end-20m`, `end+5m` relative
//! to `--end`), the series named METRIC on host HOST (0-based: 0 is `host-00000`) report
//! FACTOR × their normal value: a gauge's value multiplied, a counter's increase per scrape
//! multiplied (it stays monotonic; its rate shifts by FACTOR). Every output carries the
//! same shifted samples; without `--shift` they are exactly as before.

pub mod agent;
pub mod backoff;
pub mod catalogue;
pub mod emit;
pub mod fleet;
pub mod intervals;
pub mod report;
pub mod send;
pub mod shift;
pub mod spool;
pub mod storm;
pub mod victoria;

use clap::Parser;
use fleet::{Fleet, FleetSpec};
use report::{Phase, Stats};
use shift::LevelShift;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// Simulates N Vigil agents over the real gRPC Ingest protocol, or writes the same samples
/// as a file (`--emit`) for other time-series stores.
#[derive(Debug, Parser)]
#[command(name = "vigil-loadgen", version)]
pub struct Args {
    /// Collector gRPC URL (https:// for TLS).
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    pub collector: String,
    /// Simulated hosts (one agent stream each).
    #[arg(long, default_value_t = 10)]
    pub hosts: u32,
    /// Series per host at any time (1 % of them churn into new series every 6 h).
    #[arg(long, default_value_t = 300)]
    pub series_per_host: usize,
    /// Time between scrapes.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Live data to send in real time after the backfill [default: 5m without
    /// --backfill, 0s with it].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Past data to send first, as fast as the collector acknowledges it.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub backfill: Duration,
    /// End of the backfill (start of live data), Unix seconds [default: now, rounded down
    /// to the interval]. Give the same value to a sending and an --emit run.
    #[arg(long)]
    pub end: Option<i64>,
    /// Hosts backfilling at the same time (the others wait with their stream open).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Batches sent ahead of their acknowledgement, per stream.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Samples per backfill batch (whole scrapes; live batches hold one scrape).
    #[arg(long, default_value_t = 10_000)]
    pub batch_samples: usize,
    /// Random jitter added to each scrape's timestamp, 0..=N milliseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Agent token, when the collector requires one.
    #[arg(
        long,
        env = "VIGIL_LOADGEN_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub token: String,
    /// Compress messages with gzip (the agent's default); off keeps the generator's CPU
    /// out of the collector's way on a shared machine.
    #[arg(long)]
    pub gzip: bool,
    /// PEM CA that signs the collector's certificate (with an https:// URL).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Name to expect in the collector's certificate, when not the URL's host (with
    /// --tls-ca).
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Report format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
    /// Write the samples to FILE instead of sending them: FORMAT is openmetrics or
    /// vm-import; FILE `-` is stdout, a name ending in .gz is gzip-compressed.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"])]
    pub emit: Option<Vec<String>>,
    /// Start the hosts spread over this long: host i of N connects i/N × RAMP after the
    /// start and sends its live scrapes that much after their time (0s: all at once).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub ramp: Duration,
    /// Print, every PERIOD, what happened in it (samples sent and acknowledged, backlog,
    /// ack latency p50/p90/p99/max, streams open) to stderr; with --output json also under
    /// `intervals` in the report [default: a progress line every 10 s].
    #[arg(long, value_name = "PERIOD", value_parser = humantime::parse_duration)]
    pub report_every: Option<Duration>,
    /// Send the same samples to VictoriaMetrics' /api/v1/import at this base URL (e.g.
    /// http://127.0.0.1:8428) instead of the collector, live as an agent would.
    #[arg(long, value_name = "URL", conflicts_with = "emit")]
    pub vm_url: Option<String>,
    /// Let a host's run end at its first broken stream (an error naming it) instead of
    /// reconnecting as the agent does: backoff with jitter, Hello again, series defined
    /// afresh, unacknowledged batches re-sent in order.
    #[arg(long)]
    pub no_reconnect: bool,
    /// First reconnect delay; doubles per failure up to --backoff-max, each wait a uniform
    /// pick from [delay/2, delay] (the agent's delivery.backoff_initial).
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub backoff_initial: Duration,
    /// Longest reconnect delay (the agent's delivery.backoff_max).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub backoff_max: Duration,
    /// A host that has had no stream for this long gives up (an error naming it).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub reconnect_for: Duration,
    /// Longest wait for the Welcome, and for the Ack of the oldest batch in flight, before
    /// the stream counts as broken (the agent's delivery.ack_timeout is 30s).
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub ack_timeout: Duration,
    /// Shift one host's series from a given time on (repeatable; for anomaly-detection
    /// tests): from AT on, the series named METRIC of host HOST (0-based: 3 is host-00003)
    /// report FACTOR × their normal value: a gauge's value multiplied, a counter's increase
    /// per scrape multiplied (it stays monotonic; its rate shifts by FACTOR). FACTOR is a
    /// positive number; AT is Unix seconds or relative to --end: end, end-DURATION,
    /// end+DURATION (e.g. 0:node_load1:3:end-20m). Samples are the same in every output.
    #[arg(long, value_name = "HOST:METRIC:FACTOR:AT")]
    pub shift: Vec<String>,
    /// Send hosts FIRST .. FIRST+--hosts (host-0000FIRST on): two runs with different
    /// first hosts are two parts of one fleet, so stopping one is a scripted outage of
    /// its hosts (gRPC sending only).
    #[arg(long, value_name = "FIRST", default_value_t = 0)]
    pub first_host: u32,
}

/// Runs what `args` ask for; Err carries a message for the user. Returns whether every
/// sample was acknowledged (or written).
pub fn run(args: Args) -> Result<bool, String> {
    if args.hosts == 0 || args.series_per_host == 0 {
        return Err("--hosts and --series-per-host must be at least 1".into());
    }
    let interval_ms = args.interval.as_millis() as i64;
    if interval_ms == 0 {
        return Err("--interval must be at least 1ms".into());
    }
    if args.batch_samples == 0 || args.in_flight == 0 || args.concurrency == 0 {
        return Err("--batch-samples, --in-flight and --concurrency must be at least 1".into());
    }
    if args.backoff_initial.is_zero() || args.backoff_max < args.backoff_initial {
        return Err(
            "--backoff-initial must be above 0 and --backoff-max at least --backoff-initial".into(),
        );
    }
    if args.ack_timeout.is_zero() {
        return Err("--ack-timeout must be above 0".into());
    }
    let backfill_steps = args.backfill.as_millis() as i64 / interval_ms;
    let duration = args.duration.unwrap_or(if backfill_steps > 0 {
        Duration::ZERO
    } else {
        Duration::from_secs(300)
    });
    let live_steps = duration.as_millis() as i64 / interval_ms;
    let end_ms = match args.end {
        Some(s) => s * 1000,
        None => crate::now_ms() / interval_ms * interval_ms,
    };
    let shifts = args
        .shift
        .iter()
        .map(|text| LevelShift::parse(text, args.hosts, end_ms))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = FleetSpec {
        hosts: args.hosts,
        series_per_host: args.series_per_host,
        interval_ms,
        jitter_ms: args.jitter_ms,
        seed: args.seed,
        start_ms: end_ms - backfill_steps * interval_ms,
    };
    let steps = backfill_steps + live_steps;
    let mut context = serde_json::json!({
        "hosts": spec.hosts,
        "series_per_host": spec.series_per_host,
        "interval_ms": interval_ms,
        "jitter_ms": spec.jitter_ms,
        "seed": spec.seed,
        "start_ms": spec.start_ms,
        "end_ms": spec.start_ms + steps * interval_ms,
        "backfill_steps": backfill_steps,
        "live_steps": live_steps,
        "expected_samples": u64::from(spec.hosts) * spec.series_per_host as u64 * steps as u64,
    });
    let fleet = Fleet::new(spec);
    for warning in shifts.iter().filter_map(|s| s.unmatched(&fleet)) {
        eprintln!("vigil-loadgen: warning: {warning}");
    }
    if !shifts.is_empty() {
        context["shifts"] = shifts.iter().map(LevelShift::json).collect();
    }
    let fleet = fleet.with_shifts(shifts);
    match &args.emit {
        Some(emit) => write_file(&fleet, steps, &emit[0], &emit[1], &args.output, context),
        None => send_all(&args, fleet, backfill_steps, live_steps, context),
    }
}

fn write_file(
    fleet: &Fleet,
    steps: i64,
    format: &str,
    file: &str,
    output: &str,
    mut context: serde_json::Value,
) -> Result<bool, String> {
    let format: emit::Format = format.parse()?;
    let started = Instant::now();
    let sink: Box<dyn Write> = if file == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        let f = std::fs::File::create(file).map_err(|e| format!("cannot create {file}: {e}"))?;
        Box::new(f)
    };
    let failed = |e: std::io::Error| format!("writing {file}: {e}");
    let written = if file.ends_with(".gz") {
        let mut gz = flate2::write::GzEncoder::new(sink, flate2::Compression::fast());
        let written = emit::write(
            fleet,
            steps,
            format,
            &mut std::io::BufWriter::with_capacity(1 << 20, &mut gz),
        )
        .map_err(failed)?;
        gz.finish().and_then(|mut f| f.flush()).map_err(failed)?;
        written
    } else {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, sink);
        emit::write(fleet, steps, format, &mut out).map_err(failed)?
    };
    let seconds = started.elapsed().as_secs_f64();
    context["file"] = file.into();
    context["samples"] = written.samples.into();
    context["series"] = written.series.into();
    context["seconds"] = seconds.into();
    if output == "json" && file != "-" {
        println!("{context}");
    } else {
        eprintln!(
            "wrote {} samples of {} series to {file} in {seconds:.1} s",
            written.samples, written.series
        );
    }
    Ok(true)
}

fn send_all(
    args: &Args,
    fleet: Fleet,
    backfill_steps: i64,
    live_steps: i64,
    mut context: serde_json::Value,
) -> Result<bool, String> {
    let mut endpoint = Endpoint::from_shared(args.collector.clone())
        .map_err(|e| format!("--collector {:?} is not a URL: {e}", args.collector))?
        .tcp_nodelay(true);
    if !args.no_reconnect {
        // The agent's: a connection not made by then is tried again after the backoff.
        endpoint = endpoint.connect_timeout(backoff::AGENT_CONNECT_TIMEOUT);
    }
    if let Some(ca) = &args.tls_ca {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("--tls-ca: cannot read {}: {e}", ca.display()))?;
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
        if let Some(name) = &args.tls_server_name {
            tls = tls.domain_name(name.clone());
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| format!("TLS settings: {e}"))?;
    }
    let plan = Arc::new(send::Plan {
        endpoint,
        fleet,
        backfill_steps,
        live_steps,
        concurrency: args.concurrency,
        in_flight: args.in_flight,
        batch_samples: args.batch_samples,
        token: args.token.clone(),
        gzip: args.gzip,
        ramp: args.ramp,
        ack_timeout: args.ack_timeout,
        reconnect: (!args.no_reconnect).then_some(send::Reconnect {
            backoff_initial: args.backoff_initial,
            backoff_max: args.backoff_max,
            give_up: args.reconnect_for,
        }),
        first_host: args.first_host,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let stats = Arc::new(Stats::default());
    let vm_plan = args.vm_url.as_ref().map(|url| {
        Arc::new(victoria::VmPlan {
            url: url.clone(),
            fleet: plan.fleet.clone(),
            backfill_steps,
            live_steps,
            concurrency: args.concurrency,
            batch_samples: args.batch_samples,
            ramp: args.ramp,
        })
    });
    let errors = runtime.block_on(async {
        stats.begin();
        let progress = match args.report_every {
            Some(period) if !period.is_zero() => {
                tokio::spawn(intervals::report_every(period, stats.clone()))
            }
            _ => tokio::spawn(progress(stats.clone())),
        };
        let errors = match vm_plan {
            Some(vm) => victoria::run(vm, stats.clone()).await,
            None => send::run(plan, stats.clone()).await,
        };
        progress.abort();
        errors
    });
    if args.report_every.is_some_and(|p| !p.is_zero()) {
        intervals::finish(&stats);
    }
    let report = stats.report(errors);
    context["ramp_ms"] = (args.ramp.as_millis() as u64).into();
    if args.vm_url.is_none() {
        context["reconnect"] = serde_json::json!({
            "enabled": !args.no_reconnect,
            "backoff_initial_ms": args.backoff_initial.as_millis() as u64,
            "backoff_max_ms": args.backoff_max.as_millis() as u64,
            "give_up_ms": args.reconnect_for.as_millis() as u64,
            "ack_timeout_ms": args.ack_timeout.as_millis() as u64,
            "in_flight": args.in_flight,
        });
    }
    match &args.vm_url {
        Some(url) => context["vm_url"] = url.clone().into(),
        None => context["collector"] = args.collector.clone().into(),
    }
    let complete = report.errors.is_empty() && report.rejected == 0 && report.lost() == 0;
    if args.output == "json" {
        println!("{}", report.json(context));
    } else {
        print!("{}", report.text());
    }
    Ok(complete)
}

/// Prints acknowledged samples and the rate so far every 10 s, to stderr.
async fn progress(stats: Arc<Stats>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tick.tick().await;
        for (name, phase) in [("backfill", Phase::Backfill), ("live", Phase::Live)] {
            let (acked, seconds) = stats.progress(phase);
            if seconds > 0.0 {
                eprintln!(
                    "{name}: {acked} samples acknowledged in {seconds:.0} s ({:.0} samples/s)",
                    acked as f64 / seconds
                );
            }
        }
    }
}
