use super::*;
use std::collections::BTreeMap;

/// Parses the generated text back into series → samples.
fn parse(text: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, rest) = line.rsplit_once('}').unwrap();
        let mut parts = rest.split_whitespace();
        let value: f64 = parts.next().unwrap().parse().unwrap();
        let t: f64 = parts.next().unwrap().parse().unwrap();
        out.entry(format!("{series}}}"))
            .or_default()
            .push(((t * 1000.0).round() as i64, value));
    }
    out
}

/// FNV-1a: a fingerprint of the text, to notice any change in it.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

const NOW: i64 = 1_763_700_000_000;

/// The dataset is a fixed function of the end time; a change to the generator shows here.
/// Update the fingerprint only when the change to the data is meant.
#[test]
fn the_same_end_time_gives_the_same_dataset() {
    let a = generate(NOW);
    let b = generate(NOW);
    assert_eq!(a.text, b.text);
    assert_eq!(
        (a.start_ms, a.end_ms),
        (1_763_692_500_000, 1_763_699_700_000)
    );
    assert_eq!(a.window_end_ms - a.window_start_ms, WINDOW_MS);
    assert_eq!(a.end_ms - a.window_end_ms, 12 * 60_000 - 2_250);
    assert_eq!(a.series, 3 * (9 * 28 + 18));
    assert_eq!(
        (a.samples, a.text.len(), fnv1a(a.text.as_bytes())),
        (1_142_409, 191_458_465, 0x8A744F0A90037F36)
    );
}

#[test]
fn counters_only_fall_at_a_restart_and_buckets_are_cumulative() {
    let d = generate(NOW);
    let all = parse(&d.text);
    let restarts = [d.window_start_ms + 200_000, d.window_start_ms - 25 * 60_000];
    for (series, samples) in &all {
        let is_counter = series.contains("_total{")
            || series.contains("_bucket{")
            || series.contains("_count{")
            || series.contains("_sum{");
        if !is_counter {
            continue;
        }
        for w in samples.windows(2) {
            let ((t0, v0), (t1, v1)) = (w[0], w[1]);
            assert!(t1 > t0, "{series}: samples out of order");
            if v1 < v0 {
                assert!(
                    restarts.iter().any(|&r| t0 < r && r <= t1),
                    "{series} falls from {v0} to {v1} at {t1} without a restart"
                );
            }
        }
    }
    // Buckets of one series group: cumulative at every scrape, +Inf equal to _count.
    let prefix = r#"demo_api_request_duration_seconds_bucket{instance="demo.promlabs.com:10000",job="demo",method="GET",path="/api/foo",status="200",le=""#;
    let mut buckets: Vec<(f64, &Vec<(i64, f64)>)> = all
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(prefix)?.trim_end_matches("\"}");
            Some((le.parse().unwrap(), v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.len(), 26);
    for k in 0..buckets[0].1.len() {
        for w in buckets.windows(2) {
            assert!(
                w[0].1[k].1 <= w[1].1[k].1,
                "buckets not cumulative at scrape {k}"
            );
        }
    }
    let count = &all[r#"demo_api_request_duration_seconds_count{instance="demo.promlabs.com:10000",job="demo",method="GET",path="/api/foo",status="200"}"#];
    let inf = buckets.last().unwrap().1;
    assert_eq!(count, inf);
}

#[test]
fn the_gap_and_the_intermittent_metric_leave_holes() {
    let d = generate(NOW);
    let all = parse(&d.text);
    let cpus =
        |instance: &str| &all[&format!(r#"demo_num_cpus{{instance="{instance}",job="demo"}}"#)];
    let full = cpus(INSTANCES[0]).len();
    assert_eq!(full as i64, SPAN_MS / SCRAPE_MS + 1);
    assert_eq!(
        cpus(INSTANCES[2]).len() as i64,
        full as i64 - 420_000 / SCRAPE_MS
    );
    let gap = cpus(INSTANCES[2])
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap();
    assert!(gap > 5 * 60_000, "{gap}");
    let intermittent =
        &all[r#"demo_intermittent_metric{instance="demo.promlabs.com:10001",job="demo"}"#];
    assert!(intermittent.iter().all(|(t, _)| (t / 60_000) % 2 == 0));
    assert!(intermittent.len() < full * 6 / 10);
}

#[test]
fn upper_bounds_are_the_demo_services() {
    let b = histogram::upper_bounds();
    assert_eq!(b.len(), 25);
    assert_eq!(b[0], 0.0001);
    assert!((b[24] - 0.0001 * 1.5f64.powi(24)).abs() < 1e-12);
}
