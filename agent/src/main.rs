//! `vigil-agent`: parse flags, load config, run until Ctrl-C or SIGTERM; or, with
//! `--check`, say in one line each what works and what does not, and exit.
//!
//! # Footprint
//!
//! The agent is meant to stay below collectd's resident set (`tests/bench/agent_cost.sh`).
//! Most of its RSS is code pages, its own and libc's; the rest is heap and stacks. Here:
//! - glibc malloc gets one arena for every thread (each thread would otherwise get its
//!   own, 132 KiB and up), blocks of 32 KiB and more come from mmap and go back to the
//!   kernel when freed (the gzip state tonic builds for each message is 300 KiB), and the
//!   heap's top is trimmed past 64 KiB free;
//! - the runtime is one thread; collection runs on one blocking thread, kept for an hour
//!   so that it is not re-created every round;
//! - 30 s after start, and hourly, the pages of read-only file mappings (code and
//!   constants) are released: those only start-up ran (flags, config, host facts) leave
//!   the resident set, and those still in use fault back in from the page cache; free
//!   heap pages go back to the kernel too.
//! - less code: the `agent` profile (root Cargo.toml) builds for size and aborts on panic
//!   (systemd restarts the agent; the disk spool keeps its rounds); logging filters by
//!   target (`filter::Targets`), which needs no regular-expression engine; trace-level
//!   log calls are compiled out of release builds (agent/Cargo.toml); flags are parsed by
//!   hand ([`flags`]).

mod flags;

use flags::{Flags, Parsed};
use std::process::ExitCode;
use std::time::Duration;
use vigil_agent::config::Config;

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
    if let Some(dir) = &flags.spool_dir {
        config.delivery.spool_dir = Some(dir.clone());
    }
    if let Some(level) = &flags.log_level {
        config.log.level = level.clone();
    }
    if let Some(format) = &flags.log_format {
        config.log.format = format.clone();
    }
    if let Some(token) = &flags.join {
        config.enroll.token = token.clone();
        config.enroll.token_file = None;
    }
    if let Some(fingerprint) = &flags.ca_fingerprint {
        config.enroll.ca_fingerprint = fingerprint.clone();
    }
    if let Some(dir) = &flags.identity_dir {
        config.enroll.dir = Some(dir.clone());
    }
    if let Some(addr) = &flags.metrics_listen {
        config.metrics_listen = addr.clone();
    }
    config.enroll.load_token()?;
    config.validate()?;
    Ok(config)
}

fn main() -> ExitCode {
    tune_malloc();
    let flags = match flags::parse(std::env::args_os(), std::env::var_os("VIGIL_AGENT_CONFIG")) {
        Ok(Parsed::Run(flags)) => *flags,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vigil-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match load(&flags) {
        Ok(c) => c,
        Err(e) if flags.check => {
            println!(
                "FAIL  config {}: {e} (fix it, then run --check again)",
                source(&flags)
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("vigil-agent: {e}");
            return ExitCode::from(2);
        }
    };
    if flags.once {
        print!("{}", vigil_agent::run::once(&config));
        return ExitCode::SUCCESS;
    }
    if !flags.check {
        init_logs(&config.log);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil-agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if flags.check {
        let mut out = std::io::stdout();
        let passed = runtime.block_on(vigil_agent::check::run(&config, &source(&flags), &mut out));
        return if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    runtime.spawn(async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        loop {
            release_startup_pages();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
    match runtime.block_on(vigil_agent::run::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-agent: {e}");
            // No way to the collector as configured (say, https:// without a CA, an
            // identity or a join token): a configuration error, as one that does not load.
            let config_error = matches!(
                e.downcast_ref::<vigil_agent::enroll::EnrollError>(),
                Some(vigil_agent::enroll::EnrollError::Config(_))
            );
            if config_error {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Where the configuration came from, for `--check`'s first line.
fn source(flags: &Flags) -> String {
    match &flags.config {
        Some(path) => path.display().to_string(),
        None => "defaults, environment and flags (no --config file)".to_owned(),
    }
}

/// Logs to stderr, filtered by target (`info`, `debug`, `vigil_agent=debug,h2=warn`).
fn init_logs(log: &vigil_agent::config::LogConfig) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log.level.parse::<Targets>().unwrap_or_else(|e| {
        eprintln!(
            "vigil-agent: log.level {:?} is not a filter such as info or vigil_agent=debug ({e}); logging at info",
            log.level
        );
        Targets::new().with_default(tracing::Level::INFO)
    });
    // Colours only for a person at a terminal, not in journald, `kubectl logs` or files.
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if log.format == "json" {
        tracing_subscriber::registry()
            .with(logs.json())
            .with(filter)
            .init();
    } else {
        tracing_subscriber::registry()
            .with(logs)
            .with(filter)
            .init();
    }
}

/// See "Footprint" above: one malloc arena, large blocks mmapped and returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    // SAFETY: mallopt only changes glibc malloc's parameters; called before any thread
    // starts. A parameter it refuses stays at its default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 10);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

/// See "Footprint" above: releases the pages of read-only file mappings that hold no
/// written page, and returns free heap pages to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_startup_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in clean_file_mappings(&smaps) {
        // SAFETY: [start, end) is one whole mapping of a file, private, not writable, and
        // without a page of its own (no copy-on-write page: `Anonymous: 0`, `Swap: 0`), so
        // every page holds what the file holds. MADV_DONTNEED only unmaps them; the next
        // access maps the file's page again. No memory that Rust code owns changes.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_startup_pages() {}

/// The address ranges, in `/proc/self/smaps` text, of private read-only mappings of a file
/// (not deleted) that hold no anonymous page.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut private_pages = false;
    let mut flush = |current: &mut Option<(usize, usize)>, private_pages: bool| {
        if let Some(range) = current.take()
            && !private_pages
        {
            found.push(range);
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            flush(&mut current, private_pages);
            private_pages = false;
            let perms = fields.next().unwrap_or_default().as_bytes();
            let inode = fields.nth(2).unwrap_or("0");
            let path = fields.collect::<Vec<_>>().join(" ");
            let read_only_private =
                perms.len() == 4 && perms[0] == b'r' && perms[1] == b'-' && perms[3] == b'p';
            if read_only_private
                && inode != "0"
                && path.starts_with('/')
                && !path.ends_with("(deleted)")
                && end > start
            {
                current = Some((start, end));
            }
            continue;
        }
        if let Some(value) = line
            .strip_prefix("Anonymous:")
            .or_else(|| line.strip_prefix("Swap:"))
        {
            private_pages |= value.split_whitespace().next() != Some("0");
        }
    }
    flush(&mut current, private_pages);
    found
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

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5600aa000000-5600aa100000 r--p 00000000 fd:00 4242                       /usr/local/bin/vigil-agent
Rss:                 576 kB
Anonymous:             0 kB
Swap:                  0 kB
5600aa100000-5600aa300000 r-xp 00100000 fd:00 4242                       /usr/local/bin/vigil-agent
Rss:                1964 kB
Anonymous:             0 kB
Swap:                  0 kB
5600aa300000-5600aa320000 r--p 00300000 fd:00 4242                       /usr/local/bin/vigil-agent
Rss:                 128 kB
Anonymous:           128 kB
Swap:                  0 kB
5600aa320000-5600aa324000 rw-p 00320000 fd:00 4242                       /usr/local/bin/vigil-agent
Anonymous:            16 kB
5600ab000000-5600ab100000 rw-p 00000000 00:00 0                          [heap]
Anonymous:           408 kB
7f0000000000-7f0000010000 r--p 00000000 fd:00 77                         /old/lib.so (deleted)
Anonymous:             0 kB
7f0000100000-7f0000200000 r-xp 00000000 fd:00 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
Swap:                  4 kB
7f0000300000-7f0000301000 r--s 00000000 fd:00 98                         /dev/shm/shared
Anonymous:             0 kB
7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
";

    #[test]
    fn only_unwritten_private_file_mappings_are_released() {
        assert_eq!(
            clean_file_mappings(SMAPS),
            vec![
                (0x5600aa000000, 0x5600aa100000),
                (0x5600aa100000, 0x5600aa300000)
            ],
            "not the relocated constants, data, heap, a deleted file, a swapped page, a \
             shared mapping or the vDSO"
        );
        assert!(clean_file_mappings("").is_empty());
    }
}
