//! Wires the agent together: a collection loop that fills the spool every interval and a
//! delivery loop that drains it, both stopping when `shutdown` resolves.

use crate::collect::{Collectors, Options, Paths, Sink};
use crate::config::Config;
use crate::enroll::{self, Enroller, Plan, renew};
use crate::shared::Shared;
use crate::spool::Spool;
use crate::{encode, own, stream};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{debug, warn};

/// Collection options from the configuration.
pub fn options(config: &Config) -> Options {
    Options {
        paths: Paths {
            proc: config.collect.proc_path.clone(),
            sys: config.collect.sys_path.clone(),
            rootfs: config.collect.rootfs_path.clone(),
        },
        statfs_timeout: config.collect.statfs_timeout,
        disable: config.collect.disable.clone(),
        enable: config.collect.enable.clone(),
        processes: config.collect.processes.clone(),
        systemd: config.collect.systemd.clone(),
    }
}

/// Runs one collection round into the shared sink and spools it.
fn collect_round(collectors: &mut Collectors, shared: &Shared) {
    let started = Instant::now();
    let timestamp_ms = unix_ms();
    let mut sink = shared.sink();
    let round = collectors.collect(&mut sink);
    for (source, error) in &round.errors {
        warn!(source, error = %error, "collection source failed");
    }
    shared
        .stats
        .collect_errors
        .fetch_add(round.errors.len() as u64, Ordering::Relaxed);
    shared
        .stats
        .statfs_timeouts
        .store(round.statfs_timeouts_total, Ordering::Relaxed);
    shared
        .stats
        .last_collect_ns
        .store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    shared.stats.rounds.fetch_add(1, Ordering::Relaxed);
    own::collect(&shared.stats, &mut sink, timestamp_ms);
    let (ids, values) = sink.take_round();
    let samples = ids.len();
    // The sink stays locked while the round is spooled: the spool writes the definitions
    // of series new to its segment. (Lock order: sink, then spool.)
    let mut spool = shared.spool();
    let before = spool.counters.dropped_rounds;
    spool.push(timestamp_ms, ids, values, &mut sink);
    if spool.counters.dropped_rounds > before {
        warn!(
            dropped_rounds = spool.counters.dropped_rounds,
            "spool full; dropped the oldest rounds"
        );
    }
    shared.note_spool(&spool);
    drop(spool);
    drop(sink);
    shared.wake.notify_one();
    debug!(
        samples,
        took_us = started.elapsed().as_micros() as u64,
        "collected"
    );
}

/// The wall clock, Unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The spool the configuration asks for, with what it recovered; the sink learns the
/// series of recovered rounds.
pub fn open_spool(config: &Config, sink: &mut Sink) -> anyhow::Result<Spool> {
    let d = &config.delivery;
    let Some(dir) = d.spool_path() else {
        warn!(
            "delivery.spool_dir is \"\": rounds are kept in memory only, and a restart or \
             crash loses any not yet delivered"
        );
        return Ok(Spool::new(d.queue_max_bytes));
    };
    let (spool, recovery) = Spool::open(
        &dir,
        d.spool_max_bytes,
        d.spool_sync,
        d.queue_max_bytes,
        sink,
    )
    .map_err(anyhow::Error::msg)?;
    let shown = std::path::absolute(&dir).unwrap_or(dir);
    if recovery.rounds > 0 || recovery.damaged_bytes > 0 {
        tracing::info!(
            dir = %shown.display(),
            rounds = recovery.rounds,
            samples = recovery.samples,
            segments = recovery.segments,
            damaged_bytes = recovery.damaged_bytes,
            "spool recovered; delivering the backlog first"
        );
    } else {
        tracing::info!(dir = %shown.display(), "spool on disk");
    }
    Ok(spool)
}

/// Collects and delivers until `shutdown` resolves. Fails at start when the agent has no
/// way to the collector (say, an expired certificate and no join token), and later when
/// joining is refused; the error says what to do.
pub async fn run(mut config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    config.enroll.load_token()?;
    config.validate()?;
    let mut collectors = Collectors::new(options(&config));
    let facts = collectors.facts();
    let mut hello = encode::hello(
        &facts,
        &config.hostname,
        &config.labels,
        config.interval.as_millis() as u64,
        &config.token,
    );
    encode::add_target_labels(&mut hello, &config.job, &config.instance);
    let plan = enroll::plan(&config, &hello.hostname, std::time::SystemTime::now())?;
    let mut sink = Sink::new();
    let spool = open_spool(&config, &mut sink)?;
    let shared = Arc::new(Shared::new(spool, sink));
    if !config.metrics_listen.is_empty() {
        crate::metrics_listen::start(&config.metrics_listen, shared.clone())
            .map_err(anyhow::Error::msg)?;
    }
    let (interval_tx, mut interval_rx) = watch::channel(config.interval);
    let (stop_tx, stop_rx) = watch::channel(false);
    tracing::info!(
        host = %hello.hostname,
        collector = %config.collector,
        interval_s = config.interval.as_secs_f64(),
        version = env!("CARGO_PKG_VERSION"),
        "vigil-agent starting"
    );
    let (tls, identity) = match plan {
        Plan::Plain => (None, None),
        Plan::Static(tls) => (Some(tls), None),
        Plan::Enrolled(identity) => {
            let enroller = Enroller::new(&config, &hello.hostname)?;
            tracing::info!(
                host = %identity.info.host,
                serial = %identity.info.serial,
                expires = %enroll::time_text(identity.info.not_after),
                renews = %enroll::time_text(renew::renew_at(&identity.info)),
                dir = %enroll::identity::shown(&enroller.dir),
                "enrolled; streaming over mTLS"
            );
            (
                Some(enroller.client_tls(&identity)),
                Some((enroller, Some(identity))),
            )
        }
        Plan::Join(why) => {
            let enroller = Enroller::new(&config, &hello.hostname)?;
            tracing::info!(reason = %why, dir = %enroll::identity::shown(&enroller.dir), "joining");
            (None, Some((enroller, None)))
        }
    };
    let (tls_tx, tls_rx) = watch::channel(tls);
    let identity = identity.map(|(enroller, start)| {
        tokio::spawn(renew::maintain(
            enroller,
            start,
            tls_tx,
            Arc::new(renew::SystemClock),
            stop_rx.clone(),
        ))
    });
    // Only a refused first join ends the agent; the task otherwise runs until shutdown.
    let refused = async {
        match identity {
            Some(task) => match task.await {
                Ok(Err(e)) => e,
                _ => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    };
    let delivery = tokio::spawn(stream::deliver(
        config.collector.clone(),
        tls_rx,
        hello,
        config.delivery.clone(),
        shared.clone(),
        interval_tx,
        stop_rx,
    ));

    let collecting = {
        let shared = shared.clone();
        async move {
            let mut tick = tokio::time::interval(*interval_rx.borrow());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    changed = interval_rx.changed() => {
                        if changed.is_ok() {
                            tick = tokio::time::interval(*interval_rx.borrow());
                            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        }
                        continue;
                    }
                }
                let shared = shared.clone();
                // /proc reads are quick, but a statvfs may block up to its timeout: keep
                // the runtime (and so acknowledgements) free meanwhile.
                let done = tokio::task::spawn_blocking(move || {
                    collect_round(&mut collectors, &shared);
                    collectors
                })
                .await;
                match done {
                    Ok(back) => collectors = back,
                    Err(e) => {
                        warn!(error = %e, "collection round panicked; stopping");
                        return;
                    }
                }
            }
        }
    };
    let mut failed = None;
    tokio::select! {
        _ = collecting => {}
        _ = shutdown => {}
        e = refused => failed = Some(e),
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), delivery).await;
    let mut spool = shared.spool();
    spool.close();
    let left = spool.len();
    if left > 0 {
        match spool.dir() {
            Some(dir) => tracing::info!(
                rounds = left,
                dir = %dir.display(),
                "stopping; unacknowledged rounds stay in the spool for the next start"
            ),
            None => warn!(
                rounds = left,
                "stopping with unacknowledged rounds in memory; they are lost"
            ),
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Collects one round and renders it in the Prometheus text format (`vigil-agent --once`).
pub fn once(config: &Config) -> String {
    let mut collectors = Collectors::new(options(config));
    let shared = Shared::new(Spool::new(config.delivery.queue_max_bytes), Sink::new());
    let mut sink = shared.sink();
    let round = collectors.collect(&mut sink);
    own::collect(&shared.stats, &mut sink, unix_ms());
    let mut out = String::new();
    for (source, error) in &round.errors {
        out.push_str(&format!("# error in {source}: {error}\n"));
    }
    crate::metrics_listen::text(&sink, &mut out);
    out
}
