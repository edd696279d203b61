//! Synthetic host-metric traces with labelled anomalies, for the accuracy benchmark
//! (`examples/accuracy.rs`) and the tests: every shape parameter is drawn from a wide range
//! by a seeded generator, so a seed names one trace for good.

/// A seeded generator: SplitMix64, and Gaussian noise by Box–Muller.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0xA24B_AED4_963E_E407) ^ 0x5851_F42D_4C95_7F2D)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard Gaussian.
    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The kinds of anomaly a trace may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One sample far up.
    Spike,
    /// One sample far down.
    Dip,
    /// The level moves and stays.
    LevelShift,
    /// The noise grows for a while.
    VarianceChange,
    /// A slope starts and goes on.
    TrendChange,
    /// The daily rhythm is gone for a day.
    SeasonBreak,
    /// The value stops moving for a while.
    Flatline,
}

/// Every kind, in a fixed order.
pub const KINDS: [Kind; 7] = [
    Kind::Spike,
    Kind::Dip,
    Kind::LevelShift,
    Kind::VarianceChange,
    Kind::TrendChange,
    Kind::SeasonBreak,
    Kind::Flatline,
];

/// A generated trace: samples, and where its anomaly is (none for a clean trace).
#[derive(Debug, Clone)]
pub struct Trace {
    /// (Unix ms, value).
    pub samples: Vec<(i64, f64)>,
    /// The anomaly and its window: the index of its first sample, and of the first one
    /// after the window in which detecting it counts.
    pub anomaly: Option<(Kind, usize, usize)>,
    /// The step in minutes.
    pub step_min: i64,
}

/// Monday 2023-11-13 00:00 UTC.
const T0: i64 = 1_699_833_600_000;

/// A trace for `seed`: 1- or 5-minute step, 7 to 28 days, a level of 1 to 1,000, noise of
/// 1 % to 20 % of it (white, or on two traces in five autoregressive with a lag-1
/// correlation of 0.5 to 0.98), a daily rhythm and weekends lower (each on half the traces, 0.5 to 5
/// noise deviations), sometimes counter-like (integer, Poisson-like); with `kind`, one
/// anomaly of that kind after the first half (a season break only where there is a rhythm).
pub fn trace(seed: u64, kind: Option<Kind>) -> Trace {
    let mut rng = Rng::new(seed);
    let step_min: i64 = if rng.uniform() < 0.5 { 1 } else { 5 };
    let days = rng.range(7.0, 28.0).floor() as i64;
    let n = (days * 1440 / step_min) as usize;
    let per_day = (1440 / step_min) as usize;
    let level = 10f64.powf(rng.range(0.0, 3.0));
    let sd = level * rng.range(0.01, 0.2);
    let mut daily = if rng.uniform() < 0.5 {
        rng.range(0.5, 5.0) * sd
    } else {
        0.0
    };
    let weekend = if rng.uniform() < 0.5 {
        rng.range(0.5, 5.0) * sd
    } else {
        0.0
    };
    let counter = rng.uniform() < 0.2;
    if kind == Some(Kind::SeasonBreak) && daily == 0.0 {
        daily = rng.range(2.0, 5.0) * sd;
    }
    let phase = rng.range(0.0, std::f64::consts::TAU);
    let start = (rng.range(0.5, 0.85) * n as f64) as usize;
    let size = rng.range(0.0, 1.0);
    // Two traces in five wander: their noise is autoregressive (each deviation carries a
    // share of the last one, as a load average or a rate over five minutes does), with the
    // same spread. Drawn from a stream of its own, so the traces' other draws are those of
    // the white-noise generator.
    let mut own = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    let wander = if own.uniform() < 0.4 {
        own.range(0.5, 0.98)
    } else {
        0.0
    };
    let innovation = (1.0 - wander * wander).sqrt();
    let mut deviation = 0.0;
    let mut values: Vec<f64> = (0..n)
        .map(|i| {
            let day = i as f64 / per_day as f64;
            let mut v = level + daily * (day * std::f64::consts::TAU + phase).sin();
            if (day as i64) % 7 >= 5 {
                v -= weekend;
            }
            let g = rng.gauss();
            deviation = if i == 0 {
                g
            } else {
                wander * deviation + innovation * g
            };
            v + sd * deviation
        })
        .collect();
    let mut anomaly = None;
    if let Some(kind) = kind {
        let hours = |h: f64| ((h * 60.0) / step_min as f64).ceil() as usize;
        let end = match kind {
            Kind::Spike | Kind::Dip => {
                let sign = if kind == Kind::Spike { 1.0 } else { -1.0 };
                values[start] += sign * (6.0 + 9.0 * size) * sd;
                start + hours(0.5)
            }
            Kind::LevelShift => {
                let shift = (3.0 + 7.0 * size) * sd * if rng.uniform() < 0.5 { 1.0 } else { -1.0 };
                values[start..].iter_mut().for_each(|v| *v += shift);
                start + hours(2.0)
            }
            Kind::VarianceChange => {
                let len = hours(rng.range(1.0, 6.0));
                let factor = 3.0 + 3.0 * size;
                for v in values[start..(start + len).min(n)].iter_mut() {
                    *v += (factor - 1.0) * sd * rng.gauss();
                }
                start + len
            }
            Kind::TrendChange => {
                let total = (5.0 + 15.0 * size) * sd;
                let per = total / hours(6.0) as f64;
                for (k, v) in values[start..].iter_mut().enumerate() {
                    *v += per * k as f64;
                }
                start + hours(6.0)
            }
            Kind::SeasonBreak => {
                let len = per_day;
                for (k, v) in values[start..(start + len).min(n)].iter_mut().enumerate() {
                    let day = (start + k) as f64 / per_day as f64;
                    *v -= daily * (day * std::f64::consts::TAU + phase).sin();
                }
                start + len
            }
            Kind::Flatline => {
                let len = hours(rng.range(0.5, 3.0));
                let held = values[start - 1];
                values[start..(start + len).min(n)]
                    .iter_mut()
                    .for_each(|v| *v = held);
                start + len
            }
        };
        anomaly = Some((kind, start, end.min(n)));
    }
    if counter {
        // Integer counts, as a rate of events per step reads.
        values.iter_mut().for_each(|v| *v = v.max(0.0).round());
    }
    let samples = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (T0 + i as i64 * step_min * 60_000, v))
        .collect();
    Trace {
        samples,
        anomaly,
        step_min,
    }
}
