//! `vigil-agent`: parse flags, load config, run until Ctrl-C or SIGTERM.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;
use vigil_agent::config::Config;

/// Vigil's host agent: collects host metrics and streams them to a collector over gRPC.
#[derive(Debug, Parser)]
#[command(name = "vigil-agent", version)]
struct Flags {
    /// TOML config file (see deploy/agent.example.toml).
    #[arg(long, short = 'c', env = "VIGIL_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Collector URL, e.g. http://127.0.0.1:7070 [config: collector].
    #[arg(long, value_name = "URL")]
    collector: Option<String>,
    /// Collection interval, e.g. 10s (1s to 1h) [config: interval].
    #[arg(long, value_name = "DUR", value_parser = vigil_config::parse_duration)]
    interval: Option<Duration>,
    /// Host name to report instead of the kernel's [config: hostname].
    #[arg(long)]
    hostname: Option<String>,
    /// Extra label on every series, NAME=VALUE; repeatable [config: labels].
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// procfs mount [config: collect.proc_path].
    #[arg(long, value_name = "DIR")]
    proc_path: Option<PathBuf>,
    /// sysfs mount [config: collect.sys_path].
    #[arg(long, value_name = "DIR")]
    sys_path: Option<PathBuf>,
    /// Host root filesystem [config: collect.rootfs_path].
    #[arg(long, value_name = "DIR")]
    rootfs_path: Option<PathBuf>,
    /// Log filter, e.g. info or debug [config: log.level].
    #[arg(long)]
    log_level: Option<String>,
    /// Log format: text or json [config: log.format].
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Collect once, print the samples in Prometheus text format, and exit.
    #[arg(long)]
    once: bool,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

fn load(flags: &Flags) -> anyhow::Result<Config> {
    let mut config = Config::load(flags.config.as_deref(), std::env::vars())?;
    if let Some(url) = &flags.collector {
        config.collector = url.clone();
    }
    if let Some(interval) = flags.interval {
        config.interval = interval;
    }
    if let Some(hostname) = &flags.hostname {
        config.hostname = hostname.clone();
    }
    config.labels.extend(flags.labels.iter().cloned());
    if let Some(p) = &flags.proc_path {
        config.collect.proc_path = p.clone();
    }
    if let Some(p) = &flags.sys_path {
        config.collect.sys_path = p.clone();
    }
    if let Some(p) = &flags.rootfs_path {
        config.collect.rootfs_path = p.clone();
    }
    if let Some(level) = &flags.log_level {
        config.log.level = level.clone();
    }
    if let Some(format) = &flags.log_format {
        config.log.format = format.clone();
    }
    config.validate()?;
    Ok(config)
}

fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    let config = match load(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vigil-agent: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if flags.once {
        print!("{}", vigil_agent::run::once(&config));
        return std::process::ExitCode::SUCCESS;
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil-agent: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(vigil_agent::run::run(config, shutdown_signal())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-agent: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
