//! `demo_api_request_duration_seconds`: the demo service's request-latency histogram, with
//! the request mix of its built-in client (five endpoints, errors as status 500, a 404
//! path) and its simulated outages.
//!
//! Each scrape interval adds a number of requests (the client's rate, which oscillates
//! over an hour) split into successes and errors, and spreads each part over the buckets
//! by a normal latency distribution: cumulative bucket counts grow by
//! `floor(n·Φ((le−µ)/σ) + u)` with one `u` per interval, so buckets stay monotone in `le`
//! and every counter is a whole number that never decreases (except at a restart).

use super::{Scrape, Series, with};
use crate::rng::Rng;

/// One endpoint of the demo API and its client.
struct Endpoint {
    method: &'static str,
    path: &'static str,
    /// Statuses it answers with: success first, then the error status if any.
    statuses: &'static [&'static str],
    /// Typical latency, in seconds.
    latency: f64,
    /// The client's pause between requests, in seconds (times the oscillation factor).
    pause: f64,
    /// Share of requests that fail.
    error_ratio: f64,
    /// Every ten of these, an outage this long (latency x3, errors x10); seconds.
    outage: i64,
}

const ENDPOINTS: [Endpoint; 5] = [
    Endpoint {
        method: "GET",
        path: "/api/foo",
        statuses: &["200", "500"],
        latency: 0.010,
        pause: 0.010,
        error_ratio: 0.005,
        outage: 23,
    },
    Endpoint {
        method: "POST",
        path: "/api/foo",
        statuses: &["200", "500"],
        latency: 0.020,
        pause: 0.150,
        error_ratio: 0.02,
        outage: 60,
    },
    Endpoint {
        method: "GET",
        path: "/api/bar",
        statuses: &["200", "500"],
        latency: 0.015,
        pause: 0.020,
        error_ratio: 0.0025,
        outage: 13,
    },
    Endpoint {
        method: "POST",
        path: "/api/bar",
        statuses: &["200", "500"],
        latency: 0.050,
        pause: 0.100,
        error_ratio: 0.01,
        outage: 47,
    },
    Endpoint {
        method: "GET",
        path: "/api/nonexistent",
        statuses: &["404"],
        latency: 0.000_05,
        pause: 0.5,
        error_ratio: 0.0,
        outage: 0,
    },
];

/// The demo's buckets: 25 upper bounds from 0.0001, each 1.5 times the last (computed by
/// repeated multiplication, as client_golang's `ExponentialBuckets` does).
pub fn upper_bounds() -> Vec<f64> {
    let mut le = 0.0001;
    (0..25)
        .map(|_| {
            let this = le;
            le *= 1.5;
            this
        })
        .collect()
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26 for erf,
/// within 1.5e-7: this shapes test data, it does not check anything).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Running totals of one `{method,path,status}` series group.
struct Totals {
    buckets: Vec<f64>,
    count: f64,
    sum: f64,
}

/// Every `_bucket`, `_count` and `_sum` series of one instance.
pub(super) fn series(base: &[(String, String)], scrapes: &[Scrape], rng: &mut Rng) -> Vec<Series> {
    let bounds = upper_bounds();
    let mut les: Vec<String> = bounds.iter().map(|b| format!("{b}")).collect();
    les.push("+Inf".to_owned());
    let mut out = Vec::new();
    for e in &ENDPOINTS {
        let mut totals: Vec<Totals> = e
            .statuses
            .iter()
            .map(|_| Totals {
                buckets: vec![0.0; les.len()],
                count: 0.0,
                sum: 0.0,
            })
            .collect();
        // Per status: one sample list per bucket, then count, then sum.
        let mut samples: Vec<Vec<Vec<(i64, f64)>>> =
            vec![vec![Vec::with_capacity(scrapes.len()); les.len() + 2]; e.statuses.len()];
        for (k, s) in scrapes.iter().enumerate() {
            if s.restarted {
                for t in &mut totals {
                    t.buckets.iter_mut().for_each(|b| *b = 0.0);
                    t.count = 0.0;
                    t.sum = 0.0;
                }
            }
            let since_start = (s.t - s.process_start) as f64 / 1000.0;
            let seconds = if k == 0 {
                since_start
            } else {
                s.dt_ms as f64 / 1000.0
            };
            let oscillation = 2.0
                + (2.0 * std::f64::consts::PI * since_start / 3600.0)
                    .sin()
                    .sin();
            let in_outage = e.outage > 0 && (since_start as i64) % (10 * e.outage) < e.outage;
            let (latency, error_ratio) = if in_outage {
                (e.latency * 3.0, e.error_ratio * 10.0)
            } else {
                (e.latency, e.error_ratio)
            };
            let rate = 1.0 / (e.pause * oscillation + latency);
            let requests = (rate * seconds * rng.range(0.9, 1.1) + rng.unit()).floor();
            let errors = if e.statuses.len() > 1 {
                (requests * error_ratio * rng.range(0.5, 1.5) + rng.unit())
                    .floor()
                    .min(requests)
            } else {
                0.0
            };
            let spread = latency / 10.0;
            for (i, total) in totals.iter_mut().enumerate() {
                let n = if i == 0 { requests - errors } else { errors };
                let u = rng.unit();
                for (j, b) in bounds.iter().enumerate() {
                    total.buckets[j] += (n * normal_cdf((b - latency) / spread) + u).floor();
                }
                total.buckets[bounds.len()] += n;
                total.count += n;
                total.sum += n * latency * rng.range(0.97, 1.03);
                let row = &mut samples[i];
                for (j, v) in total.buckets.iter().enumerate() {
                    row[j].push((s.t, *v));
                }
                row[les.len()].push((s.t, total.count));
                row[les.len() + 1].push((s.t, total.sum));
            }
        }
        for (status, mut rows) in e.statuses.iter().zip(samples) {
            let labels = with(
                base,
                &[("method", e.method), ("path", e.path), ("status", status)],
            );
            let sum = rows.pop().unwrap_or_default();
            let count = rows.pop().unwrap_or_default();
            let family = "demo_api_request_duration_seconds";
            for (le, bucket) in les.iter().zip(rows) {
                let mut labels = labels.clone();
                labels.push(("le".to_owned(), le.clone()));
                out.push(Series {
                    family,
                    kind: "histogram",
                    name: format!("{family}_bucket"),
                    labels,
                    samples: bucket,
                });
            }
            for (suffix, samples) in [("_count", count), ("_sum", sum)] {
                out.push(Series {
                    family,
                    kind: "histogram",
                    name: format!("{family}{suffix}"),
                    labels: labels.clone(),
                    samples,
                });
            }
        }
    }
    out
}
