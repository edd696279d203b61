//! A synthetic copy of what the compliance suite's queries were written against: three
//! instances of PromLabs' demo service (`prometheus_demo_service`) scraped by Prometheus
//! as job `demo`, for two hours, deterministic for a given end time (seeded, no clock).
//!
//! The metric names, label sets, units and magnitudes follow the demo service:
//!
//! ```text
//! demo_cpu_usage_seconds_total{mode=user|system|idle}      counter, 4 CPUs' worth
//! demo_num_cpus                                            4
//! demo_memory_usage_bytes{type=used|cached|buffers|free}   integer random walks, 8 GiB
//! demo_disk_usage_bytes, demo_disk_total_bytes             grows ~0.5 MB/s of 160 GB
//! demo_batch_last_{success,run}_timestamp_seconds,         a batch job every minute,
//!   demo_batch_last_run_{duration_seconds,processed_bytes}   a quarter of runs fail
//! demo_items_shipped_total, demo_is_holiday                shipping slows on holidays
//! demo_api_http_requests_in_progress                       0-2
//! demo_intermittent_metric                                 only in even minutes
//! demo_api_request_duration_seconds_{bucket,sum,count}     {method,path,status}, 25
//!   exponential buckets from 100 µs (x1.5) and +Inf, outages that triple the latency
//! ```
//!
//! Every series carries `instance="demo.promlabs.com:1000N"` and `job="demo"`.
//!
//! What it exercises beyond plain values:
//! - scrapes every 5 s (the suite's own `scrape_interval`, so `[15s]` windows hold
//!   samples); :10000 at exactly 2.25 s past each 5 s, so that evaluation times of the
//!   query window land on its samples (range boundaries); :10001 at 0.5 s; :10002 at
//!   3.75 s with an occasional quarter-second late scrape;
//! - :10001 restarts 25 min before the query window (every counter and histogram starts
//!   again from 0, the batch gauges are 0 until the next run); :10000 restarts inside the
//!   window, 200 s after its start;
//! - :10002 is not scraped for 7 minutes from 150 s before the window (longer than the
//!   5-minute lookback);
//! - the data runs on for 12 minutes after the window, as it does for the tester
//!   (negative offsets look there).
//!
//! No staleness markers: a text backfill cannot express them, so the intermittent metric
//! is followed across its absences by the lookback, in Prometheus and Vigil alike.

mod histogram;

use crate::dataset::{number, seconds};
use crate::rng::Rng;
use std::fmt::Write as _;

/// Scrape interval, in milliseconds.
pub const SCRAPE_MS: i64 = 5_000;
/// Length of the dataset, in milliseconds.
pub const SPAN_MS: i64 = 2 * 3600 * 1000;
/// The query window ends this long before the newest data (the tester's default end is
/// "now - 12m" on live data).
pub const WINDOW_END_BEFORE_DATA_END_MS: i64 = 12 * 60_000 - 2_250;
/// Length of the query window (the tester's default range, 10 minutes).
pub const WINDOW_MS: i64 = 10 * 60_000;
/// Resolution of the range queries (the tester's default, 10 s).
pub const STEP_MS: i64 = 10_000;
/// The demo instances, as the suite's queries name them.
pub const INSTANCES: [&str; 3] = [
    "demo.promlabs.com:10000",
    "demo.promlabs.com:10001",
    "demo.promlabs.com:10002",
];

/// The dataset and where the queries look at it.
pub struct DemoData {
    /// First scrape slot, in milliseconds since the epoch.
    pub start_ms: i64,
    /// Last scrape slot.
    pub end_ms: i64,
    /// First evaluation time of the range queries.
    pub window_start_ms: i64,
    /// Last evaluation time of the range queries (and the instant queries' time).
    pub window_end_ms: i64,
    /// The OpenMetrics text.
    pub text: String,
    /// How many samples the text holds.
    pub samples: usize,
    /// How many series.
    pub series: usize,
}

/// One series: family (for `# TYPE`), its type, sample name, labels, samples in time order.
pub(crate) struct Series {
    pub(crate) family: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) samples: Vec<(i64, f64)>,
}

/// One scrape of one instance: its time, the time since the previous scrape or since the
/// process started (after a restart), and when the process started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scrape {
    pub(crate) t: i64,
    pub(crate) dt_ms: i64,
    pub(crate) restarted: bool,
    pub(crate) process_start: i64,
}

/// How one instance is scraped and when it restarts.
struct Plan {
    offset_ms: i64,
    late_scrapes: bool,
    restart: Option<i64>,
    gap: Option<(i64, i64)>,
}

/// Builds the dataset whose last scrape slot is the last 5-minute boundary at least
/// 5 minutes before `now_ms`.
pub fn generate(now_ms: i64) -> DemoData {
    let end_ms = (now_ms / 300_000) * 300_000 - 300_000;
    let start_ms = end_ms - SPAN_MS;
    let window_end_ms = end_ms - WINDOW_END_BEFORE_DATA_END_MS;
    let window_start_ms = window_end_ms - WINDOW_MS;
    let plans = [
        Plan {
            offset_ms: 2_250,
            late_scrapes: false,
            restart: Some(window_start_ms + 200_000),
            gap: None,
        },
        Plan {
            offset_ms: 500,
            late_scrapes: false,
            restart: Some(window_start_ms - 25 * 60_000),
            gap: None,
        },
        Plan {
            offset_ms: 3_750,
            late_scrapes: true,
            restart: None,
            gap: Some((window_start_ms - 150_000, window_start_ms + 270_000)),
        },
    ];
    let mut all = Vec::new();
    for (i, (instance, plan)) in INSTANCES.iter().zip(&plans).enumerate() {
        let mut rng = Rng::new(0xDE70_5E21, i as u64);
        let scrapes = schedule(plan, start_ms, end_ms, &mut rng);
        let base = vec![
            ("instance".to_owned(), (*instance).to_owned()),
            ("job".to_owned(), "demo".to_owned()),
        ];
        all.extend(instance_series(&base, &scrapes, &mut rng));
        all.extend(histogram::series(&base, &scrapes, &mut rng));
    }
    let (text, samples) = render(&mut all);
    DemoData {
        start_ms,
        end_ms,
        window_start_ms,
        window_end_ms,
        text,
        samples,
        series: all.len(),
    }
}

/// The scrapes of one instance.
fn schedule(plan: &Plan, start: i64, end: i64, rng: &mut Rng) -> Vec<Scrape> {
    // The process has been up for a while when the data begins.
    let mut process_start = start - 3 * 3600 * 1000 + plan.offset_ms * 7;
    let mut previous: Option<i64> = None;
    let mut out = Vec::new();
    let mut slot = start;
    while slot <= end {
        let late = plan.late_scrapes && rng.next_u64().is_multiple_of(8);
        let t = slot + plan.offset_ms + if late { 250 } else { 0 };
        slot += SCRAPE_MS;
        if plan.gap.is_some_and(|(from, to)| t >= from && t < to) {
            continue;
        }
        let restarted = plan
            .restart
            .is_some_and(|r| previous.is_some_and(|p| p < r) && t >= r);
        if restarted {
            process_start = plan.restart.unwrap_or(t);
        }
        let since = if restarted {
            process_start
        } else {
            previous.unwrap_or(t - SCRAPE_MS)
        };
        out.push(Scrape {
            t,
            dt_ms: t - since,
            restarted,
            process_start,
        });
        previous = Some(t);
    }
    out
}

/// Adds a series built by `f` from the scrapes.
fn series(
    family: &'static str,
    kind: &'static str,
    name: &str,
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
) -> Series {
    Series {
        family,
        kind,
        name: name.to_owned(),
        labels,
        samples,
    }
}

pub(crate) fn with(base: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels = base.to_vec();
    labels.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    labels
}

/// A counter: grows by `per_s(scrape, rng)` a second; from 0 after a restart; starts at
/// about its rate times the process's uptime. `integer` rounds each increment.
fn counter(
    scrapes: &[Scrape],
    rng: &mut Rng,
    integer: bool,
    mut per_s: impl FnMut(&Scrape, &mut Rng) -> f64,
) -> Vec<(i64, f64)> {
    let mut value = 0.0;
    let mut out = Vec::with_capacity(scrapes.len());
    for (k, s) in scrapes.iter().enumerate() {
        let dt = if k == 0 {
            (s.t - s.process_start) as f64 / 1000.0
        } else {
            s.dt_ms as f64 / 1000.0
        };
        if s.restarted {
            value = 0.0;
        }
        let mut inc = per_s(s, rng) * dt;
        if integer {
            inc = (inc + rng.unit()).floor();
        }
        value += inc;
        out.push((s.t, value));
    }
    out
}

/// An integer random walk around `base` (a step of up to ±`step`), back to `base` when it
/// strays more than half of it away: the demo's memory simulation.
fn memory_walk(scrapes: &[Scrape], base: f64, step: f64, rng: &mut Rng) -> Vec<f64> {
    let mut value = base;
    scrapes
        .iter()
        .map(|_| {
            value = (value + rng.range(-step, step)).round();
            if (value - base).abs() > base / 2.0 {
                value = base;
            }
            value
        })
        .collect()
}

/// Whether it is a holiday: decided anew every 5 minutes of the process's life, one in five.
fn holiday(s: &Scrape, seed: u64) -> bool {
    let period = (s.t - s.process_start) / 300_000;
    Rng::new(seed, period as u64).next_u64().is_multiple_of(5)
}

/// The batch job's gauges at each scrape: last success, last run, last duration, bytes.
fn batch(scrapes: &[Scrape], rng: &mut Rng) -> [Vec<(i64, f64)>; 4] {
    let mut out: [Vec<(i64, f64)>; 4] = Default::default();
    // Runs complete about 11 s after each minute of the process's life.
    let mut state = [0.0; 4];
    let mut next_run: Option<i64> = None;
    let mut last_done: Option<f64> = None;
    for s in scrapes {
        if s.restarted || next_run.is_none() {
            state = [0.0; 4];
            last_done = None;
        }
        let next_run = next_run.get_or_insert(s.process_start);
        if s.restarted {
            *next_run = s.process_start;
        }
        while *next_run + 11_000 <= s.t {
            let done_ms = *next_run + 11_000 - (rng.unit() * 2.0).floor() as i64;
            let done = done_ms as f64 / 1000.0 + rng.range(0.0, 0.001);
            if rng.unit() > 0.25 {
                state[0] = done;
                state[3] = 1e6 + 1e5 - (rng.next_u64() % 100_000) as f64;
            }
            state[1] = done;
            state[2] = done - last_done.unwrap_or(*next_run as f64 / 1000.0);
            last_done = Some(done);
            *next_run += 60_000;
        }
        for (series, value) in out.iter_mut().zip(state) {
            series.push((s.t, value));
        }
    }
    out
}

fn instance_series(base: &[(String, String)], scrapes: &[Scrape], rng: &mut Rng) -> Vec<Series> {
    let mut out = Vec::new();
    let at =
        |values: Vec<f64>| -> Vec<(i64, f64)> { scrapes.iter().map(|s| s.t).zip(values).collect() };
    let constant = |v: f64| at(vec![v; scrapes.len()]);

    out.push(series(
        "demo_num_cpus",
        "gauge",
        "demo_num_cpus",
        base.to_vec(),
        constant(4.0),
    ));
    for (mode, share) in [("user", 0.3), ("system", 0.2), ("idle", 0.5)] {
        let samples = counter(scrapes, rng, false, |_, rng| {
            4.0 * (share + rng.range(-0.1, 0.1))
        });
        let labels = with(base, &[("mode", mode)]);
        out.push(series(
            "demo_cpu_usage_seconds",
            "counter",
            "demo_cpu_usage_seconds_total",
            labels,
            samples,
        ));
    }

    let mib = 1024.0 * 1024.0;
    let used = memory_walk(scrapes, 1200.0 * mib, 160.0 * mib, rng);
    let cached = memory_walk(scrapes, 2500.0 * mib, 160.0 * mib, rng);
    let buffers = memory_walk(scrapes, 165.0 * mib, 40.0 * mib, rng);
    let free: Vec<f64> = (0..scrapes.len())
        .map(|k| 8192.0 * mib - used[k] - cached[k] - buffers[k])
        .collect();
    for (kind, values) in [
        ("used", used),
        ("cached", cached),
        ("buffers", buffers),
        ("free", free),
    ] {
        let labels = with(base, &[("type", kind)]);
        out.push(series(
            "demo_memory_usage_bytes",
            "gauge",
            "demo_memory_usage_bytes",
            labels,
            at(values),
        ));
    }

    let total = 160e9;
    let mut usage = (total * rng.range(0.1, 0.5)).round();
    let disk: Vec<f64> = scrapes
        .iter()
        .map(|s| {
            usage += (0.5e6 * s.dt_ms as f64 / 1000.0 * rng.range(0.5, 1.5)).round();
            usage
        })
        .collect();
    out.push(series(
        "demo_disk_usage_bytes",
        "gauge",
        "demo_disk_usage_bytes",
        base.to_vec(),
        at(disk),
    ));
    out.push(series(
        "demo_disk_total_bytes",
        "gauge",
        "demo_disk_total_bytes",
        base.to_vec(),
        constant(total),
    ));

    let [success, run, duration, bytes] = batch(scrapes, rng);
    let gauges = [
        ("demo_batch_last_success_timestamp_seconds", success),
        ("demo_batch_last_run_timestamp_seconds", run),
        ("demo_batch_last_run_duration_seconds", duration),
        ("demo_batch_last_run_processed_bytes", bytes),
    ];
    for (name, samples) in gauges {
        out.push(series(name, "gauge", name, base.to_vec(), samples));
    }

    let seed = rng.next_u64();
    let holidays: Vec<f64> = scrapes
        .iter()
        .map(|s| f64::from(u8::from(holiday(s, seed))))
        .collect();
    out.push(series(
        "demo_is_holiday",
        "gauge",
        "demo_is_holiday",
        base.to_vec(),
        at(holidays),
    ));
    let shipped = counter(scrapes, rng, true, |s, _| {
        let phase = 2.0 * std::f64::consts::PI * (s.t - s.process_start) as f64 / 300_000.0;
        let per_s = 1.0 / (0.1 * (2.0 + (1.0 + phase).sin()));
        if holiday(s, seed) { per_s / 1.8 } else { per_s }
    });
    out.push(series(
        "demo_items_shipped",
        "counter",
        "demo_items_shipped_total",
        base.to_vec(),
        shipped,
    ));

    let in_progress: Vec<f64> = scrapes
        .iter()
        .map(|_| (rng.next_u64() % 3) as f64)
        .collect();
    let name = "demo_api_http_requests_in_progress";
    out.push(series(name, "gauge", name, base.to_vec(), at(in_progress)));

    let even_minutes: Vec<(i64, f64)> = scrapes
        .iter()
        .filter(|s| (s.t / 60_000) % 2 == 0)
        .map(|s| (s.t, 1.0))
        .collect();
    let name = "demo_intermittent_metric";
    out.push(series(name, "gauge", name, base.to_vec(), even_minutes));
    out
}

/// OpenMetrics text for all series, one family after another (sorted by family, sample
/// name and labels), ending with `# EOF`.
fn render(all: &mut [Series]) -> (String, usize) {
    all.sort_by(|a, b| (a.family, &a.name, &a.labels).cmp(&(b.family, &b.name, &b.labels)));
    let mut text = String::new();
    let mut samples = 0;
    let mut family = "";
    for series in all.iter() {
        if series.family != family {
            family = series.family;
            let _ = writeln!(text, "# TYPE {family} {}", series.kind);
        }
        let labels: Vec<String> = series
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        let head = format!("{}{{{}}}", series.name, labels.join(","));
        for &(t, v) in &series.samples {
            let _ = writeln!(text, "{head} {} {}", number(v), seconds(t));
            samples += 1;
        }
    }
    text.push_str("# EOF\n");
    (text, samples)
}

#[cfg(test)]
mod tests;
