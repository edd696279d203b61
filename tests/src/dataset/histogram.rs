//! The dataset's classic histogram, `http_request_duration_seconds` (see the parent
//! module's documentation).

use super::{REBOOT_AFTER_MS, Series, schedule, target_labels, with};
use crate::rng::Rng;

/// The classic histogram's family name.
pub const HISTOGRAM: &str = "http_request_duration_seconds";
/// Its bucket bounds (`le`), in seconds.
pub const HISTOGRAM_BUCKETS: [&str; 6] = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];

/// The classic histogram's series (see the module documentation), from a generator of its
/// own.
pub(super) fn series(start: i64, end: i64) -> Vec<Series> {
    let mut rng = Rng::from_state(0x4157_0617_B0C7);
    let bounds: Vec<f64> = HISTOGRAM_BUCKETS
        .iter()
        .map(|b| b.parse().unwrap_or(f64::INFINITY))
        .collect();
    let mut out = Vec::new();
    let targets: [(&str, &[&str]); 3] = [
        ("web-1", &["/api", "/login"]),
        ("web-2", &["/api", "/login"]),
        ("db-1", &["/api"]),
    ];
    for (host, handlers) in targets {
        // The regular hosts' schedules draw nothing from the generator.
        let times = schedule(host, start, end, &mut rng);
        let reboot = (host == "web-2").then_some(start + REBOOT_AFTER_MS);
        for &handler in handlers {
            let (scale, per_scrape) = if handler == "/login" {
                (0.4, 12)
            } else {
                (0.12, 40)
            };
            let mut counts = vec![0.0; bounds.len()];
            let mut sum = 0.0;
            let observe = |n: u64, counts: &mut [f64], sum: &mut f64, rng: &mut Rng| {
                for _ in 0..n {
                    // Exponentially distributed latencies.
                    let latency = -scale * (1.0 - rng.unit()).ln();
                    *sum += latency;
                    for (c, &b) in counts.iter_mut().zip(&bounds) {
                        if latency <= b {
                            *c += 1.0;
                        }
                    }
                }
            };
            if handler == "/api" {
                observe(5_000, &mut counts, &mut sum, &mut rng);
            }
            let mut buckets = vec![Vec::with_capacity(times.len()); bounds.len()];
            let (mut count_samples, mut sum_samples) = (Vec::new(), Vec::new());
            let mut prev = times.first().copied().unwrap_or_default();
            for &t in &times {
                if reboot.is_some_and(|r| prev < r && t >= r) {
                    counts.iter_mut().for_each(|c| *c = 0.0);
                    sum = 0.0;
                }
                prev = t;
                observe(rng.next_u64() % per_scrape, &mut counts, &mut sum, &mut rng);
                for (samples, &c) in buckets.iter_mut().zip(&counts) {
                    samples.push((t, c));
                }
                count_samples.push((t, counts[counts.len() - 1]));
                sum_samples.push((t, sum));
            }
            let labels = with(&target_labels(host), &[("handler", handler)]);
            for (le, samples) in HISTOGRAM_BUCKETS.iter().zip(buckets) {
                out.push(Series {
                    name: format!("{HISTOGRAM}_bucket"),
                    labels: with(&labels, &[("le", le)]),
                    samples,
                });
            }
            out.push(Series {
                name: format!("{HISTOGRAM}_count"),
                labels: labels.clone(),
                samples: count_samples,
            });
            out.push(Series {
                name: format!("{HISTOGRAM}_sum"),
                labels,
                samples: sum_samples,
            });
        }
    }
    out
}
