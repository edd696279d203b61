//! Measures the sample block codec against Gorilla on node_exporter-like host metrics, and
//! the RocksDB store end to end (append rate, bytes per sample on disk before and after
//! compaction, time to read one series over 24 hours and 7 days).
//!
//! ```text
//! cargo run --release -p vigil-rocks --example codec_bench -- codec [JITTER_MS]
//! cargo run --release -p vigil-rocks --example codec_bench -- store HOSTS HOURS [JITTER_MS] [RETENTION_DAYS]
//! cargo run --release -p vigil-rocks --example codec_bench -- read
//! ```
//!
//! `store` takes two environment variables: `FORWARD=1` turns the forwarding log on (every
//! append also writes its record), `SCRAPES_PER_CALL=N` appends N scrapes of a host per
//! call (default 33, about 10,000 samples, like a backfill; 1 is the live-scrape shape).
//!
//! The data imitates what an agent reports (values from integer ticks, as the kernel
//! counts them): per host 64 CPU-mode counters in hundredths, network byte and packet
//! counters (bursty) and error counters (mostly flat), disk counters in 512-byte sectors,
//! memory gauges in KiB reported as bytes, filesystem gauges in 4 KiB blocks, load
//! averages in hundredths, constants; one host in twenty reboots (counters restart at 0);
//! a scrape every 10 s stamped with 0..=JITTER_MS ms of jitter (one per scrape).

#![allow(clippy::unwrap_used)]

use std::time::Instant;
use vigil_rocks::codec::{self, gorilla};
use vigil_rocks::{BlockOptions, RocksOptions, RocksStore};
use vigil_store::{Labels, SeriesSamples, Store};

const INTERVAL_MS: i64 = 10_000;
const SERIES_PER_HOST: usize = 300;
/// `[storage] retention` of the stores opened, in days (0: forever, no tiers built).
static RETENTION_DAYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
const START_MS: i64 = 1_750_000_000_000 - 1_750_000_000_000 % 7_200_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: i64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("store") => {
            // A retention (days) makes the store build its downsampled tiers too.
            RETENTION_DAYS.store(arg(4, 0) as u64, std::sync::atomic::Ordering::Relaxed);
            store_bench(arg(1, 100) as u32, arg(2, 6), arg(3, 0))
        }
        Some("read") => read_bench(),
        _ => codec_bench(arg(1, 0)),
    }
}

/// splitmix64: deterministic, so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    /// Mean ticks per step.
    Counter(f64),
    /// Center, largest move, probability of a move per step.
    Gauge(f64, f64, f64),
    Constant(f64),
}

/// One series of a host: how it moves, how ticks become the value, its current ticks.
struct Slot {
    name: String,
    kind: Kind,
    scale: f64,
    ticks: f64,
}

/// One host's generator.
struct Host {
    rng: Rng,
    slots: Vec<Slot>,
    reboot_step: Option<i64>,
    jitter_ms: i64,
}

impl Host {
    fn new(index: u32, jitter_ms: i64, steps: i64) -> Self {
        let mut rng = Rng(0xC0DE_C0DE ^ (u64::from(index) << 20));
        let mut slots = Vec::new();
        let mut add = |name: String, kind: Kind, scale: f64, rng: &mut Rng| {
            let ticks = match kind {
                Kind::Counter(mean) => (mean * rng.range(1e3, 1e5)).round(),
                Kind::Gauge(center, ..) => center.round(),
                Kind::Constant(v) => v,
            };
            slots.push(Slot {
                name,
                kind,
                scale,
                ticks,
            });
        };
        for cpu in 0..8 {
            for (mode, mean) in [
                ("idle", 850.0),
                ("user", 90.0),
                ("system", 35.0),
                ("iowait", 4.0),
                ("irq", 0.5),
                ("softirq", 2.0),
                ("steal", 0.2),
                ("nice", 0.1),
            ] {
                let m = mean * rng.range(0.5, 1.5);
                add(format!("cpu{cpu}_{mode}"), Kind::Counter(m), 0.01, &mut rng);
            }
        }
        for dev in 0..6 {
            for (what, mean) in [
                ("rx_bytes", 2e6),
                ("tx_bytes", 8e5),
                ("rx_packets", 1500.0),
                ("tx_packets", 900.0),
                ("rx_errs", 0.01),
                ("tx_errs", 0.01),
                ("rx_drop", 0.05),
                ("tx_drop", 0.02),
                ("multicast", 0.5),
                ("collisions", 0.0),
            ] {
                let m = mean * rng.range(0.2, 1.8);
                add(format!("net{dev}_{what}"), Kind::Counter(m), 1.0, &mut rng);
            }
        }
        for dev in 0..5 {
            for (what, mean, scale) in [
                ("read_bytes", 400.0, 512.0),
                ("written_bytes", 1200.0, 512.0),
                ("reads", 30.0, 1.0),
                ("writes", 80.0, 1.0),
                ("io_time", 900.0, 0.001),
                ("read_time", 300.0, 0.001),
                ("write_time", 700.0, 0.001),
                ("discards", 0.1, 1.0),
            ] {
                let m = mean * rng.range(0.2, 1.8);
                add(
                    format!("disk{dev}_{what}"),
                    Kind::Counter(m),
                    scale,
                    &mut rng,
                );
            }
        }
        for i in 0..40 {
            let center = rng.range(1e4, 1.6e7);
            let kind = Kind::Gauge(center, center * 0.002 + 10.0, rng.range(0.3, 1.0));
            add(format!("mem_{i}"), kind, 1024.0, &mut rng);
        }
        for i in 0..30 {
            let center = rng.range(1e5, 5e8);
            let kind = Kind::Gauge(center, 50.0, 0.05);
            add(format!("fs_{i}"), kind, 4096.0, &mut rng);
        }
        for i in 0..6 {
            let kind = Kind::Gauge(rng.range(10.0, 400.0), 25.0, 1.0);
            add(format!("load_{i}"), kind, 0.01, &mut rng);
        }
        // 64 CPU + 60 network + 40 disk + 40 memory + 30 filesystem + 6 load so far.
        for i in 240..SERIES_PER_HOST {
            let value = match i % 3 {
                0 => 1.0,
                1 => (rng.range(1.0, 64.0)).round(),
                _ => (rng.range(1e9, 4e12)).round(),
            };
            add(format!("const_{i}"), Kind::Constant(value), 1.0, &mut rng);
        }
        let reboot_step = (index % 20 == 7).then(|| (rng.next() % steps.max(1) as u64) as i64);
        Self {
            rng,
            slots,
            reboot_step,
            jitter_ms,
        }
    }

    /// The timestamp and the values of step `k`.
    fn scrape(&mut self, k: i64, values: &mut Vec<f64>) -> i64 {
        let jitter = if self.jitter_ms > 0 {
            (self.rng.next() % (self.jitter_ms as u64 + 1)) as i64
        } else {
            0
        };
        let reboot = self.reboot_step == Some(k);
        values.clear();
        for slot in &mut self.slots {
            match slot.kind {
                Kind::Counter(mean) => {
                    if reboot {
                        slot.ticks = 0.0;
                    }
                    slot.ticks += (mean * self.rng.range(0.5, 1.5) + self.rng.unit()).floor();
                }
                Kind::Gauge(center, noise, change) => {
                    if self.rng.unit() < change {
                        let pull = (center - slot.ticks) * 0.05;
                        slot.ticks = (slot.ticks + pull + self.rng.range(-noise, noise))
                            .round()
                            .max(0.0);
                    }
                }
                Kind::Constant(_) => {}
            }
            values.push(if slot.scale < 1.0 {
                slot.ticks / (1.0 / slot.scale).round()
            } else {
                slot.ticks * slot.scale
            });
        }
        START_MS + k * INTERVAL_MS + jitter
    }
}

/// Every series of `hosts` hosts over `steps` scrapes, series-major.
fn dataset(hosts: u32, steps: i64, jitter_ms: i64) -> Vec<Vec<(i64, f64)>> {
    let mut all = Vec::new();
    let mut values = Vec::new();
    for h in 0..hosts {
        let mut host = Host::new(h, jitter_ms, steps);
        let mut series: Vec<Vec<(i64, f64)>> = (0..SERIES_PER_HOST)
            .map(|_| Vec::with_capacity(steps as usize))
            .collect();
        for k in 0..steps {
            let ts = host.scrape(k, &mut values);
            for (s, &v) in series.iter_mut().zip(&values) {
                s.push((ts, v));
            }
        }
        all.extend(series);
    }
    all
}

fn codec_bench(jitter_ms: i64) {
    let block = 720; // 2 h at 10 s
    let data = dataset(20, 12 * 720, jitter_ms); // 20 hosts × 300 series × 24 h
    let samples: usize = data.iter().map(Vec::len).sum();
    println!("{samples} samples, 2-hour blocks, jitter 0..={jitter_ms} ms");
    println!(
        "{:<22} {:>13} {:>17}",
        "codec", "bytes/sample", "decode ns/sample"
    );
    let mut gorilla_blocks = Vec::new();
    let mut vigil_blocks = Vec::new();
    let mut shared_blocks = Vec::new();
    let mut columns: std::collections::HashMap<codec::ColumnId, Vec<u8>> = Default::default();
    for series in &data {
        for chunk in series.chunks(block) {
            let mut out = Vec::new();
            let ts: Vec<i64> = chunk.iter().map(|s| s.0).collect();
            gorilla::encode_timestamps(&ts, &mut out);
            let split = out.len();
            gorilla::encode_values(chunk.iter().map(|s| s.1), &mut out);
            gorilla_blocks.push((chunk.len(), split, out));
            let mut out = Vec::new();
            codec::encode(chunk, &mut out);
            vigil_blocks.push(out);
            let mut out = Vec::new();
            let mut column = Vec::new();
            let id = codec::encode_sharing(chunk, &mut out, &mut column);
            if let Some(id) = id {
                columns.entry(id).or_insert(column);
            }
            shared_blocks.push((id, out));
        }
    }
    let mut sink = Vec::with_capacity(block);
    let t = Instant::now();
    for (n, split, bytes) in &gorilla_blocks {
        sink.clear();
        gorilla::decode_timestamps(&bytes[..*split], *n, |t| sink.push((t, 0.0))).unwrap();
        let mut i = 0;
        gorilla::decode_values(&bytes[*split..], *n, |v| {
            sink[i].1 = v;
            i += 1;
        })
        .unwrap();
    }
    let gorilla_ns = t.elapsed().as_nanos() as f64 / samples as f64;
    let t = Instant::now();
    for bytes in &vigil_blocks {
        sink.clear();
        codec::decode(bytes, None, i64::MIN, i64::MAX, &mut sink).unwrap();
    }
    let vigil_ns = t.elapsed().as_nanos() as f64 / samples as f64;
    let t = Instant::now();
    for (id, bytes) in &shared_blocks {
        sink.clear();
        let column = id.and_then(|id| columns.get(&id)).map(Vec::as_slice);
        codec::decode(bytes, column, i64::MIN, i64::MAX, &mut sink).unwrap();
    }
    let shared_ns = t.elapsed().as_nanos() as f64 / samples as f64;
    let shared_bytes: usize = shared_blocks.iter().map(|b| b.1.len()).sum::<usize>()
        + columns.values().map(Vec::len).sum::<usize>();
    let gorilla_bytes: usize = gorilla_blocks.iter().map(|b| b.2.len()).sum();
    let vigil_bytes: usize = vigil_blocks.iter().map(Vec::len).sum();
    println!(
        "{:<22} {:>13.3} {:>17.1}",
        "Gorilla (dod + XOR)",
        gorilla_bytes as f64 / samples as f64,
        gorilla_ns
    );
    println!(
        "{:<22} {:>13.3} {:>17.1}",
        "vigil, inline times",
        vigil_bytes as f64 / samples as f64,
        vigil_ns
    );
    println!(
        "{:<22} {:>13.3} {:>17.1}",
        "vigil, shared times",
        shared_bytes as f64 / samples as f64,
        shared_ns
    );
    // Where the bytes go, by kind of series (blocks only, shared columns not counted).
    let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let names: Vec<String> = Host::new(0, 0, 1)
        .slots
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for (i, series) in data.iter().enumerate() {
        let name = &names[i % SERIES_PER_HOST];
        let kind: String = name
            .split('_')
            .next()
            .unwrap_or("")
            .trim_end_matches(char::is_numeric)
            .to_owned();
        let mut out = Vec::new();
        let mut column = Vec::new();
        for chunk in series.chunks(block) {
            codec::encode_sharing(chunk, &mut out, &mut column);
        }
        let e = by_kind.entry(kind).or_default();
        e.0 += out.len();
        e.1 += series.len();
    }
    for (kind, (bytes, n)) in by_kind {
        println!("  {kind:<8} {:.3} bytes/sample", bytes as f64 / n as f64);
    }
}

/// User plus system CPU time of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at "state", field 3;
    // utime and stime are fields 14 and 15, in clock ticks of 1/100 s.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn open(dir: &std::path::Path) -> RocksStore {
    let blocks = BlockOptions {
        block_duration: std::time::Duration::from_secs(7200),
        // Compaction is run by hand below, to time it apart from appends.
        compaction_interval: std::time::Duration::from_secs(86_400),
        retention: std::time::Duration::from_secs(
            RETENTION_DAYS.load(std::sync::atomic::Ordering::Relaxed) * 86_400,
        ),
        ..BlockOptions::default()
    };
    RocksStore::open_with_blocks(dir, RocksOptions::with_sync(false), blocks).unwrap()
}

fn store_bench(hosts: u32, hours: i64, jitter_ms: i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let forward = std::env::var("FORWARD").is_ok_and(|v| v == "1");
    store.set_forwarding(forward).unwrap();
    let steps = hours * 360;
    let mut total = 0u64;
    let mut append_time = std::time::Duration::ZERO;
    let mut values = Vec::new();
    let cpu_before = process_cpu_seconds();
    // Backfill like the load generator: per host, batches of whole scrapes (~10,000 samples).
    for h in 0..hosts {
        let mut host = Host::new(h, jitter_ms, steps);
        let labels: Vec<Labels> = host
            .slots
            .iter()
            .map(|s| {
                Labels::from_pairs(&[("__name__", &s.name), ("host", &format!("host-{h:03}"))])
            })
            .collect();
        let ids = store
            .resolve_series(&format!("host-{h:03}"), &labels, 100_000)
            .unwrap();
        let per_batch = std::env::var("SCRAPES_PER_CALL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000 / SERIES_PER_HOST as i64);
        let mut k = 0;
        while k < steps {
            let mut batch: Vec<SeriesSamples> = ids
                .iter()
                .map(|&id| SeriesSamples {
                    id,
                    samples: Vec::with_capacity(per_batch as usize),
                })
                .collect();
            for _ in 0..per_batch.min(steps - k) {
                let ts = host.scrape(k, &mut values);
                for (s, &v) in batch.iter_mut().zip(&values) {
                    s.samples.push((ts, v));
                }
                k += 1;
            }
            let n: usize = batch.iter().map(|s| s.samples.len()).sum();
            let t = Instant::now();
            store.append(&batch).unwrap();
            append_time += t.elapsed();
            total += n as u64;
        }
    }
    println!(
        "{hosts} hosts x {SERIES_PER_HOST} series x {hours} h at 10 s, jitter 0..={jitter_ms} ms: {total} samples"
    );
    println!(
        "append: {:.2} M samples/s (store calls only, one thread, sync off, forwarding {})",
        total as f64 / append_time.as_secs_f64() / 1e6,
        if forward { "on" } else { "off" }
    );
    println!(
        "process CPU while appending (data generation included, flushes in the background too): {:.3} us/sample",
        (process_cpu_seconds() - cpu_before) * 1e6 / total as f64
    );
    if forward {
        let log = store.forward_bounds().unwrap().bytes;
        println!(
            "forwarding log: {:.2} bytes/sample (record bytes before RocksDB compression)",
            log as f64 / total as f64
        );
    }
    drop(store);
    let store = open(dir.path());
    let raw = dir_bytes(dir.path());
    println!(
        "on disk before compaction (recent frames): {:.2} bytes/sample",
        raw as f64 / total as f64
    );
    let t = Instant::now();
    // Every window of the data is long closed by now (`i64::MAX` would also expire them
    // all when a retention is set).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let report = store.compact_windows(now).unwrap();
    println!(
        "compaction: {} blocks, {} samples in {:.1} s ({:.2} M samples/s)",
        report.blocks,
        report.samples,
        t.elapsed().as_secs_f64(),
        report.samples as f64 / t.elapsed().as_secs_f64() / 1e6
    );
    drop(store);
    // Reopen twice so RocksDB flushes and settles its files, then measure.
    let store = open(dir.path());
    let parts = store.stats().unwrap().parts;
    drop(store);
    let after = dir_bytes(dir.path());
    // Downsampled tiers: every series has 12 five-minute and one one-hour bucket an hour.
    let rollup: u64 = parts
        .iter()
        .filter(|p| p.name == "rollup")
        .map(|p| p.disk_bytes)
        .sum();
    let buckets = u64::from(hosts) * SERIES_PER_HOST as u64 * hours as u64 * 13;
    println!(
        "downsampled tiers: {rollup} bytes in the rollup family, {:.2} bytes per bucket (5 m and 1 h)",
        rollup as f64 / buckets as f64
    );
    println!(
        "on disk after compaction: {:.3} bytes/sample ({} bytes, whole data directory)",
        after as f64 / total as f64,
        after
    );
}

fn read_bench() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids = store
        .resolve_series("h", &[Labels::from_pairs(&[("__name__", "cpu")])], 10)
        .unwrap();
    let days = 8;
    let steps = days * 8640;
    let mut host = Host::new(3, 5, steps);
    let mut values = Vec::new();
    let samples: Vec<(i64, f64)> = (0..steps)
        .map(|k| (host.scrape(k, &mut values), values[1]))
        .collect();
    for chunk in samples.chunks(10_000) {
        store
            .append(&[SeriesSamples {
                id: ids[0],
                samples: chunk.to_vec(),
            }])
            .unwrap();
    }
    let end = samples[samples.len() - 1].0;
    let time = |store: &RocksStore, span_ms: i64, label: &str| {
        let mut out = Vec::new();
        let mut times = Vec::new();
        for _ in 0..200 {
            out.clear();
            let t = Instant::now();
            store.samples(ids[0], end - span_ms, end, &mut out).unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{label}: {} samples, median {:?}, p90 {:?}",
            out.len(),
            times[times.len() / 2],
            times[times.len() * 9 / 10]
        );
    };
    time(
        &store,
        86_400_000,
        "24 h, recent frames (10,000 samples a call)",
    );
    time(
        &store,
        7 * 86_400_000,
        "7 d, recent frames (10,000 samples a call)",
    );
    store.compact_windows(i64::MAX).unwrap();
    time(&store, 86_400_000, "24 h, blocks");
    time(&store, 7 * 86_400_000, "7 d, blocks");
}
