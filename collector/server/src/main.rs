//! `vigil-collector`: parse flags, load config, run until Ctrl-C or SIGTERM.

use clap::Parser;
use std::path::PathBuf;
use vigil_collector::config::{Config, LogFormat};

/// The collector's Rust heap is jemalloc's: creating a fleet's series allocates and frees
/// millions of small label strings and vectors across threads, and glibc's malloc spent a
/// quarter of the collector's instructions on it (callgrind, 200 hosts x 300 series
/// created: 1.88 G instructions in all with glibc, 1.59 G with jemalloc). RocksDB's C++
/// allocations stay with glibc, tuned in `vigil_collector::memory`.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static HEAP: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read at its start: one background thread gives freed pages back a
/// second after they were last used (by default they wait for later allocations: 30 s
/// after 10,000 hosts created their 3 M series, 0.73 GB stayed resident, 0.51 GB so), and
/// four arenas, as glibc's side has.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[allow(non_upper_case_globals, unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: Option<&'static std::ffi::c_char> = Some(
    // SAFETY: a pointer to the first byte of a NUL-terminated string in static memory,
    // which jemalloc reads once, as its documented `malloc_conf` option string.
    unsafe {
        &*c"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:4".as_ptr()
    },
);

/// Vigil's collector: receives agents' metrics over gRPC and stores them in RocksDB.
#[derive(Debug, Parser)]
#[command(
    name = "vigil-collector",
    version,
    args_conflicts_with_subcommands = true
)]
struct Flags {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML config file (see deploy/collector.example.toml).
    #[arg(long, short = 'c', env = "VIGIL_COLLECTOR_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC listen address for agents and the CLI [config: server.grpc_listen].
    #[arg(long, value_name = "ADDR")]
    grpc_listen: Option<std::net::SocketAddr>,
    /// Serve the Prometheus-compatible HTTP API (/api/v1/query, …) on this address
    /// [config: server.http_listen; default off].
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<std::net::SocketAddr>,
    /// Data directory [config: storage.data_dir; default ./vigil-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve a non-loopback address without TLS [config: server.allow_insecure].
    #[arg(long)]
    allow_insecure: bool,
    /// Log format: text or json [config: log.format].
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Log filter, e.g. info or debug [config: log.level].
    #[arg(long)]
    log_level: Option<String>,
}

/// Maintenance commands, run while the collector is stopped.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Salvage a damaged data directory: copy every record that reads back intact into a
    /// fresh directory, keep the damaged one beside it (DIR.damaged-UNIXTIME), and report
    /// what was lost. Stop the collector first.
    Repair {
        /// The data directory [config: storage.data_dir].
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
}

/// The C++ flags RocksDB was compiled with (`.cargo/config.toml` sets them for the build;
/// a variable set in the build's environment wins).
const ENGINE_CXXFLAGS: &str = match option_env!("CXXFLAGS_x86_64_unknown_linux_gnu") {
    Some(flags) => flags,
    None => "",
};

/// RocksDB is compiled for SSE 4.2 and PCLMULQDQ on x86-64 (its write-ahead log's checksums
/// in hardware). On a CPU without them the first checksum would stop the process with an
/// illegal instruction: this names what is missing first.
fn cpu_supported() -> Result<(), &'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        if ENGINE_CXXFLAGS.contains("-msse4.2") && !std::arch::is_x86_feature_detected!("sse4.2") {
            return Err("SSE 4.2");
        }
        if ENGINE_CXXFLAGS.contains("-mpclmul") && !std::arch::is_x86_feature_detected!("pclmulqdq")
        {
            return Err("PCLMULQDQ");
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    if let Err(missing) = cpu_supported() {
        eprintln!(
            "vigil-collector: this CPU lacks {missing}, which the collector's storage engine \
             is built for (x86-64 with SSE 4.2 and PCLMULQDQ: Intel since 2010, AMD since \
             2011); run it on a newer CPU, or build it with CXXFLAGS_x86_64_unknown_linux_gnu \
             set empty"
        );
        return std::process::ExitCode::FAILURE;
    }
    let flags = Flags::parse();
    if let Some(Command::Repair { data_dir }) = &flags.command {
        return repair(data_dir);
    }
    let config = match load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vigil-collector: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logs(&config);
    vigil_collector::memory::tune_malloc();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil-collector: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(vigil_collector::server::run(config, shutdown_signal())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "collector stopped");
            eprintln!("vigil-collector: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `vigil-collector repair`: progress on stderr, the account of what was kept and lost on
/// stdout.
fn repair(dir: &std::path::Path) -> std::process::ExitCode {
    eprintln!("repairing {} …", dir.display());
    let mut progress = |line: &str| eprintln!("  {line}");
    let report = match vigil_rocks::repair::repair(dir, &mut progress) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil-collector repair: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let copied: u64 = report.copied.iter().map(|(_, n)| n).sum();
    let (keys, samples, series) = report.lost();
    println!("repaired {}", dir.display());
    println!("  kept       {copied} records");
    if report.manifest_rebuilt {
        println!("  manifest   rebuilt from the table files");
    }
    for file in &report.lost_files {
        println!("  unreadable table file {file} (kept in the damaged copy's lost/)");
    }
    if report.damaged.is_empty() && report.lost_files.is_empty() {
        println!("  lost       nothing in the tables");
    } else {
        println!(
            "  lost       {keys} records in {} damaged parts: {samples} samples of at most \
             {series} series",
            report.damaged.len()
        );
        for d in &report.damaged {
            println!(
                "    {}: {} records, {} samples, {} series ({})",
                d.family,
                d.keys,
                d.samples,
                d.series.len(),
                d.error
            );
        }
    }
    if report.open_error.is_some() {
        println!(
            "  log        records that did not read back were skipped, the ones after them \
             replayed (RocksDB's LOG in the damaged copy names them)"
        );
    }
    println!(
        "  damaged copy kept at {} (delete it once the collector serves what you expect)",
        report.damaged_dir.display()
    );
    std::process::ExitCode::SUCCESS
}

fn load(flags: Flags) -> anyhow::Result<Config> {
    let mut config = Config::load(flags.config.as_deref(), std::env::vars())?;
    if let Some(addr) = flags.grpc_listen {
        config.server.grpc_listen = addr;
    }
    if let Some(addr) = flags.http_listen {
        config.server.http_listen = Some(addr);
    }
    if let Some(dir) = flags.data_dir {
        config.storage.data_dir = dir;
    }
    if flags.allow_insecure {
        config.server.allow_insecure = true;
    }
    if let Some(format) = flags.log_format {
        config.log.format = if format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
    }
    if let Some(level) = flags.log_level {
        config.log.level = level;
    }
    config.validate()?;
    Ok(config)
}

fn init_logs(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, not in journald, `kubectl logs` or files.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's `.cargo/config.toml` reaches the build: RocksDB gets the flags for
    /// hardware CRC-32C, and this machine, which runs the suite, has what they need.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_store_is_built_for_hardware_checksums_and_this_cpu_has_them() {
        assert!(ENGINE_CXXFLAGS.contains("-msse4.2"), "{ENGINE_CXXFLAGS:?}");
        assert!(ENGINE_CXXFLAGS.contains("-mpclmul"), "{ENGINE_CXXFLAGS:?}");
        assert_eq!(cpu_supported(), Ok(()));
    }
}
