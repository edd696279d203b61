//! Times the creation of a new fleet's series in a RocksDB store: HOSTS hosts of SERIES
//! node_exporter-like series each, resolved one host per call (as an agent's first batch
//! is) from THREADS threads at once, then resolved again (all known). Prints series per
//! second for both and the store's memory parts. No gRPC: `tests/bench/fleet_scale.sh`
//! measures the whole collector. `APPEND=1` follows each call with one sample per series
//! (as the first batch's samples are), `SYNC=1` syncs those appends as the collector does.
//!
//! `cargo run --release -p vigil-rocks --features engine --example series_bench -- [HOSTS] [SERIES] [THREADS]`
//! (add `-p vigil-collector -p vigil-cli -p vigil-tests` to share the workspace's build).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use vigil_rocks::{RocksOptions, RocksStore};
use vigil_store::{Labels, SeriesSamples, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |n: usize, default: usize| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (hosts, series, threads) = (arg(1, 10_000), arg(2, 300), arg(3, 2));
    // APPEND=1: each host's call is followed by one sample per series, appended as its
    // first batch is (synced when SYNC=1).
    let append = std::env::var("APPEND").is_ok_and(|v| v == "1");
    let sync = std::env::var("SYNC").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir()?;
    let store = Arc::new(RocksStore::open(dir.path(), RocksOptions::with_sync(sync))?);
    for pass in ["create", "known"] {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (store, next) = (Arc::clone(&store), Arc::clone(&next));
                std::thread::spawn(move || -> Result<(), String> {
                    loop {
                        let h = next.fetch_add(1, Ordering::Relaxed);
                        if h >= hosts {
                            return Ok(());
                        }
                        let host = format!("host-{h:05}");
                        let sets = labelsets(&host, series);
                        let ids = store
                            .resolve_series(&host, &sets, u64::MAX)
                            .map_err(|e| e.to_string())?;
                        if append {
                            let at = 1_700_000_000_000 + h as i64;
                            let samples: Vec<SeriesSamples> = ids
                                .into_iter()
                                .map(|id| SeriesSamples {
                                    id,
                                    samples: vec![(at, 1.0)],
                                })
                                .collect();
                            store.append(&samples).map_err(|e| e.to_string())?;
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "worker panicked")??;
        }
        let secs = started.elapsed().as_secs_f64();
        let total = hosts * series;
        println!(
            "{pass}: {total} series of {hosts} hosts in {secs:.1} s = {:.0} series/s ({threads} threads)",
            total as f64 / secs
        );
    }
    let stats = store.stats()?;
    println!("memory: {:?}", stats.memory);
    Ok(())
}

/// `series` label sets of one host, shaped like node_exporter's (name, host, job, instance
/// and one or two more labels).
fn labelsets(host: &str, series: usize) -> Vec<Labels> {
    (0..series)
        .map(|i| {
            let mut pairs = vec![
                ("__name__".to_owned(), format!("node_metric_{}", i % 60)),
                ("host".to_owned(), host.to_owned()),
                ("instance".to_owned(), format!("{host}:9100")),
                ("job".to_owned(), "node".to_owned()),
            ];
            if i >= 60 {
                pairs.push(("cpu".to_owned(), (i / 60).to_string()));
                pairs.push(("mode".to_owned(), format!("m{}", i % 8)));
            }
            Labels::new(pairs)
        })
        .collect()
}
