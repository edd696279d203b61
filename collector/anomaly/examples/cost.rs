//! What the detector costs: nanoseconds per sample on one core, and bytes of state per
//! series. `cargo run --release -p vigil-anomaly --example cost [SERIES] [SAMPLES]`
//! (defaults 1,000 series × 10,080 samples: a week at a 1-minute step), the series fed
//! round-robin as a collector would, each a noisy daily wave.

use std::time::Instant;
use vigil_anomaly::Detector;

fn main() {
    let mut args = std::env::args().skip(1);
    let series: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let samples: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_080);
    let mut detectors = vec![Detector::new(); series];
    // A cheap deterministic noise (xorshift), so the loop measures the detector.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut sum = 0.0;
    let started = Instant::now();
    for step in 0..samples {
        let t_ms = 1_699_833_600_000 + step as i64 * 60_000;
        let wave = (step as f64 / 1440.0 * std::f64::consts::TAU).sin() * 10.0;
        for (i, d) in detectors.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let noise = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            sum += d.update(t_ms, 50.0 + i as f64 + wave + noise).score;
        }
    }
    let elapsed = started.elapsed();
    let n = (series * samples) as f64;
    println!(
        "{series} series x {samples} samples: {:.0} ns per sample on one core ({:.2} s), \
         {} bytes of state per series (score sum {sum:.1})",
        elapsed.as_nanos() as f64 / n,
        elapsed.as_secs_f64(),
        std::mem::size_of::<Detector>()
    );
}
