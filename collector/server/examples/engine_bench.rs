//! Times the PromQL engine on the issue-3 benchmark shapes directly over a RocksDB store
//! (no HTTP), to profile the engine alone. `tests/bench/query_speed.sh` is the real,
//! side-by-side benchmark against Prometheus.
//!
//! `cargo run --release -p vigil-collector --example engine_bench -- [HOSTS]`

use std::sync::Arc;
use std::time::Instant;

use vigil_promql::{Engine, EngineOptions, Value};
use vigil_rocks::{RocksOptions, RocksStore};
use vigil_store::{Labels, SeriesSamples, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `engine_bench DIR QUERY START END STEP`: time one range query over an existing data
    // directory (a copy: a running collector holds the lock).
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 6 {
        let store: Arc<dyn Store> = Arc::new(RocksStore::open(
            std::path::Path::new(&args[1]),
            RocksOptions::with_sync(false),
        )?);
        let engine = Engine::new(store, EngineOptions::default());
        let (start, end, step): (i64, i64, i64) =
            (args[3].parse()?, args[4].parse()?, args[5].parse()?);
        for run in 0..5 {
            let t = Instant::now();
            let v = engine.range(&args[2], start * 1000, end * 1000, step * 1000)?;
            let Value::Matrix(m) = v else { unreachable!() };
            println!(
                "run {run}: {} series, {} points in {:?}",
                m.len(),
                m.iter().map(|s| s.points.len()).sum::<usize>(),
                t.elapsed()
            );
        }
        return Ok(());
    }
    let hosts: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(RocksStore::open(
        dir.path(),
        RocksOptions::with_sync(false),
    )?);
    let end: i64 = 1_800_000_000_000;
    let start = end - 3_900_000; // 1 h 5 min
    let load = Instant::now();
    let mut samples = 0usize;
    for h in 0..hosts {
        let host = format!("host-{h:04}");
        let mut labelsets = Vec::new();
        for cpu in 0..2 {
            for mode in [
                "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
            ] {
                labelsets.push(Labels::new(vec![
                    ("__name__".into(), "node_cpu_seconds_total".into()),
                    ("host".into(), host.clone()),
                    ("cpu".into(), cpu.to_string()),
                    ("mode".into(), mode.into()),
                ]));
            }
        }
        let ids = store.resolve_series(&host, &labelsets, u64::MAX)?;
        let batch: Vec<SeriesSamples> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| SeriesSamples {
                id: *id,
                samples: (0..)
                    .map(|k| start + k * 15_000)
                    .take_while(|t| *t <= end)
                    .map(|t| (t, (t - start) as f64 / 1000.0 * (i + 1) as f64 * 0.01))
                    .collect(),
            })
            .collect();
        samples += batch.iter().map(|s| s.samples.len()).sum::<usize>();
        store.append(&batch)?;
    }
    let solo = store.resolve_series(
        "solo",
        &[Labels::new(vec![
            ("__name__".into(), "node_load1".into()),
            ("host".into(), "solo".into()),
        ])],
        u64::MAX,
    )?;
    let week_start = end - 7 * 86_400_000 - 600_000;
    let week: Vec<(i64, f64)> = (0..)
        .map(|k| week_start + k * 15_000)
        .take_while(|t| *t <= end)
        .map(|t| (t, (t % 86_400_000) as f64 / 1e6))
        .collect();
    samples += week.len();
    store.append(&[SeriesSamples {
        id: solo[0],
        samples: week,
    }])?;
    println!("loaded {samples} samples in {:?}", load.elapsed());
    for run in 0..2 {
        let t = Instant::now();
        let selector =
            vigil_store::selector::Selector::parse(r#"node_cpu_seconds_total{mode!="idle"}"#)?;
        let (series, _) = store.select(&selector, usize::MAX)?;
        let selected = t.elapsed();
        let mut read = 0;
        let mut buf = Vec::new();
        for (id, _) in &series {
            buf.clear();
            store.samples(*id, end - 3_900_000, end, &mut buf)?;
            read += buf.len();
        }
        println!(
            "store {run}: {} series selected in {selected:?}, {read} samples read in {:?}",
            series.len(),
            t.elapsed() - selected
        );
    }
    let engine = Engine::new(store.clone(), EngineOptions::default());
    for run in 0..3 {
        let t = Instant::now();
        let v = engine.range(
            r#"sum by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
            end - 3_600_000,
            end,
            15_000,
        )?;
        let Value::Matrix(m) = v else { unreachable!() };
        println!(
            "run {run}: {} series x {} points in {:?}",
            m.len(),
            m.first().map_or(0, |s| s.points.len()),
            t.elapsed()
        );
    }
    for run in 0..3 {
        let t = Instant::now();
        let v = engine.range(
            r#"node_load1{host="solo"}"#,
            end - 7 * 86_400_000,
            end,
            300_000,
        )?;
        let Value::Matrix(m) = v else { unreachable!() };
        println!(
            "solo {run}: {} series x {} points in {:?}",
            m.len(),
            m.first().map_or(0, |s| s.points.len()),
            t.elapsed()
        );
    }
    Ok(())
}
