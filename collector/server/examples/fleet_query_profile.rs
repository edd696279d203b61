//! Where the time of a fleet query goes, phase by phase, over an existing data directory
//! (stop the collector first, or use a copy: a running collector holds the lock):
//! series selection, the sample reads (one thread, as `read_parallel` does per thread),
//! the whole engine evaluation, and the JSON the HTTP API writes.
//!
//! `cargo run --release -p vigil-collector --example fleet_query_profile -- DIR END_S [RUNS]`
//!
//! END_S is the end of the data in Unix seconds (`storage_peers.sh`'s `end`); the queries
//! are that script's: `avg(node_load1)` over the last hour at step 10 s, `avg by (host)
//! (rate(node_cpu_seconds_total[5m]))` over the last hour at step 60 s, one series over
//! the last two hours at step 10 s. Times are medians; "CPU" is the process's CPU time
//! over the evaluation (all threads), steadier than wall time on a shared machine. With
//! `FQP_SPLIT_S=<unix s>` (say the start of the open window) the read is also timed on
//! each side of that time. With `FQP_ENGINE_ONLY=1` only the engine's evaluation runs
//! (for a profiler's instruction counts: `valgrind --tool=callgrind` with RUNS=1 and
//! RUNS=N, the difference over N-1 runs is one evaluation, every thread included).

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_collector::http::json;
use vigil_promql::{Engine, EngineOptions, Value};
use vigil_rocks::{RocksOptions, RocksStore};
use vigil_store::Store;
use vigil_store::selector::Selector;

/// CPU time this process has used so far, all threads (those that ended included).
#[allow(unsafe_code)]
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: fleet_query_profile DIR END_S [RUNS]".into());
    }
    let runs: usize = args.get(3).map_or(Ok(9), |r| r.parse())?;
    let store: Arc<dyn Store> = Arc::new(RocksStore::open(
        std::path::Path::new(&args[1]),
        RocksOptions::with_sync(false),
    )?);
    let end_ms: i64 = args[2].parse::<i64>()? * 1000;
    let q_end = end_ms - 10_000;
    let q_hour = q_end - 3_600_000;
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let cases: [(&str, &str, i64, i64, i64, i64); 3] = [
        ("avg", "avg(node_load1)", q_hour, q_end, 10_000, 300_000),
        (
            "rate",
            "avg by (host) (rate(node_cpu_seconds_total[5m]))",
            q_hour,
            q_end,
            60_000,
            300_000,
        ),
        (
            "series",
            r#"node_load1{host="host-00000"}"#,
            end_ms - 7_200_000,
            q_end,
            10_000,
            300_000,
        ),
    ];
    // FQP_ONLY=<name> runs one of them (for a profiler's sake).
    let only = std::env::var("FQP_ONLY").ok();
    let engine_only = std::env::var("FQP_ENGINE_ONLY").is_ok_and(|v| v == "1");
    for (name, query, start, end, step, lookback) in cases {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let selector_text = match query.find('(') {
            Some(_) => query
                .rsplit('(')
                .next()
                .unwrap_or(query)
                .split(['[', ')'])
                .next()
                .unwrap_or(query),
            None => query,
        };
        let selector = Selector::parse(selector_text)?;
        let (mut select, mut read, mut eval, mut encode) = (vec![], vec![], vec![], vec![]);
        let mut eval_cpu = vec![];
        let mut shape = (0, 0, 0);
        for _ in 0..runs {
            if engine_only {
                std::hint::black_box(engine.range(query, start, end, step)?);
                continue;
            }
            let t = Instant::now();
            let (series, _) = store.select(&selector, usize::MAX)?;
            select.push(t.elapsed());
            let ids: Vec<u64> = series.iter().map(|(id, _)| *id).collect();
            let t = Instant::now();
            let mut samples = 0;
            for batch in ids.chunks(256) {
                for s in store.samples_for_step_many(batch, start - lookback, end, step)? {
                    samples += s.len();
                }
            }
            read.push(t.elapsed());
            // With FQP_SPLIT_S (a time inside the span, such as the start of the open
            // window), the read of each side alone.
            if let Some(split) = std::env::var("FQP_SPLIT_S")
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
            {
                let split = split * 1000;
                for (a, b) in [(start - lookback, split - 1), (split, end)] {
                    let t = Instant::now();
                    let mut n = 0;
                    for batch in ids.chunks(256) {
                        for s in store.samples_for_step_many(batch, a, b, step)? {
                            n += s.len();
                        }
                    }
                    eprintln!("  read {a}..{b}: {n} samples in {:?}", t.elapsed());
                }
            }
            let (t, c) = (Instant::now(), cpu_time());
            let value = engine.range(query, start, end, step)?;
            eval.push(t.elapsed());
            eval_cpu.push(cpu_time() - c);
            let t = Instant::now();
            let body = json::success_body(|out| json::write_value(out, &value));
            encode.push(t.elapsed());
            let points = match &value {
                Value::Matrix(m) => m.iter().map(|s| s.points.len()).sum(),
                _ => 0,
            };
            shape = (ids.len(), samples, points);
            std::hint::black_box(body);
        }
        if engine_only {
            continue;
        }
        println!(
            "{name}: {} series, {} samples read, {} points out | select {:?}, read (1 thread) {:?}, \
             engine.range {:?} (CPU {:?}), json {:?}",
            shape.0,
            shape.1,
            shape.2,
            median(select),
            median(read),
            median(eval),
            median(eval_cpu),
            median(encode)
        );
    }
    Ok(())
}
