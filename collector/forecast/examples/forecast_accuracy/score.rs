//! What each method said about a trace, and the tallies the tables are made of.
//!
//! Scoring, per trace, in days, with H the horizon and "none" (no crossing within the
//! horizon, predicted or true) counted as H:
//!
//! ```text
//!   error = | min(predicted, H) − min(truth, H) |
//! ```
//!
//! So a model that says "none" where the truth is t pays H − t (a miss: the disk fills
//! with no warning), and a false alarm at p where the truth is "none" pays H − p; both
//! are also counted on their own. A forecast that fails (an error from the model, such
//! as too little history) is scored as "none" and counted as failed.
//!
//! Band coverage: the 95 % band is [eta_lower, eta_upper], an edge that does not reach
//! the threshold within the horizon standing for "after the horizon"; it covers the
//! truth when eta_lower ≤ truth ≤ eta_upper, a true "none" counting as after the
//! horizon. So a band that ends past the horizon covers a true "none", and a band that
//! never starts (no crossing even at its near edge) covers only a true "none". The mean
//! width, both edges capped at the horizon, shows whether coverage was bought with
//! bands that say nothing.

use std::collections::BTreeMap;

use vigil_forecast::ModelChoice;

use super::rng::Rng;

/// The methods compared, in column order: `None` is Prometheus's `predict_linear`.
pub const METHODS: [(&str, Option<ModelChoice>); 6] = [
    ("linear", Some(ModelChoice::Linear)),
    ("theil_sen", Some(ModelChoice::TheilSen)),
    ("holt", Some(ModelChoice::Holt)),
    ("holt_winters", Some(ModelChoice::HoltWinters)),
    ("auto", Some(ModelChoice::Auto)),
    ("predict_linear", None),
];

/// The column of `auto`.
pub const AUTO: usize = 4;
/// The column of `predict_linear`.
pub const PREDICT_LINEAR: usize = 5;

/// What one method said about one trace.
pub struct Outcome {
    /// Predicted crossing, days after the evaluation; `None`: not within the horizon.
    pub eta: Option<f64>,
    /// The 95 % band's edges (as `eta`), or `None` when the method gives no band.
    pub band: Option<(Option<f64>, Option<f64>)>,
    /// What `auto` picked: `Forecast::detail` up to its first number ("linear since a
    /// change", not "… 1.8 d …"), so that picks can be counted.
    pub picked: Option<String>,
    /// The forecast returned an error.
    pub failed: bool,
    /// Milliseconds the forecast took.
    pub ms: f64,
}

/// Tallies of one method over a group of traces.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Traces scored.
    pub traces: usize,
    /// Of them, with a true crossing within the horizon.
    pub truths_within: usize,
    /// Summed absolute ETA error, days.
    pub error: f64,
    /// Each trace's absolute ETA error, days, in the order recorded (the same traces in
    /// the same order for every method of a family: the errors pair up).
    pub errors: Vec<f64>,
    /// A crossing predicted within the horizon where the truth has none.
    pub false_alarms: usize,
    /// No crossing predicted where the truth has one within the horizon.
    pub misses: usize,
    /// Of the misses, those where `predict_linear` over the same lookback did warn: the
    /// costly error of a model quieter than a straight line.
    pub quieter: usize,
    /// Forecasts that returned an error.
    pub failures: usize,
    /// Traces the method gave a band for.
    pub banded: usize,
    /// Of them, where the band held the truth.
    pub covered: usize,
    /// Traces with a band and a true crossing within the horizon.
    pub banded_within: usize,
    /// Of them, where the band held the truth: coverage that a band reaching past the
    /// horizon cannot earn on traces that never cross.
    pub covered_within: usize,
    /// Summed band width, days, edges capped at the horizon.
    pub width: f64,
    /// Summed milliseconds of the forecasts.
    pub ms: f64,
    /// The models `auto` picked, and how often.
    pub picks: BTreeMap<String, usize>,
}

impl Tally {
    /// Adds one trace with true crossing `truth` (days, `None` past the `horizon`), where
    /// `predict_linear` predicted `linear`.
    pub fn record(
        &mut self,
        truth: Option<f64>,
        outcome: &Outcome,
        linear: Option<f64>,
        horizon: f64,
    ) {
        let capped = |v: Option<f64>| v.map_or(horizon, |v| v.min(horizon));
        self.traces += 1;
        self.truths_within += usize::from(truth.is_some());
        let error = (capped(outcome.eta) - capped(truth)).abs();
        self.error += error;
        self.errors.push(error);
        self.false_alarms += usize::from(truth.is_none() && outcome.eta.is_some());
        self.misses += usize::from(truth.is_some() && outcome.eta.is_none());
        self.quieter += usize::from(truth.is_some() && outcome.eta.is_none() && linear.is_some());
        self.failures += usize::from(outcome.failed);
        self.ms += outcome.ms;
        if let Some(name) = &outcome.picked {
            *self.picks.entry(name.clone()).or_default() += 1;
        }
        if let Some((lower, upper)) = outcome.band {
            let edge = |v: Option<f64>| v.unwrap_or(f64::INFINITY);
            let t = edge(truth);
            self.banded += 1;
            let covered = edge(lower) <= t && t <= edge(upper);
            self.covered += usize::from(covered);
            if truth.is_some() {
                self.banded_within += 1;
                self.covered_within += usize::from(covered);
            }
            self.width += capped(upper) - capped(lower);
        }
    }

    /// Adds another group's tallies.
    pub fn merge(&mut self, other: &Tally) {
        self.traces += other.traces;
        self.truths_within += other.truths_within;
        self.error += other.error;
        self.errors.extend(&other.errors);
        self.false_alarms += other.false_alarms;
        self.misses += other.misses;
        self.quieter += other.quieter;
        self.failures += other.failures;
        self.banded += other.banded;
        self.covered += other.covered;
        self.banded_within += other.banded_within;
        self.covered_within += other.covered_within;
        self.width += other.width;
        self.ms += other.ms;
        for (name, n) in &other.picks {
            *self.picks.entry(name.clone()).or_default() += n;
        }
    }

    /// Mean absolute ETA error, days.
    pub fn mae(&self) -> f64 {
        self.error / self.traces.max(1) as f64
    }

    /// Fraction of banded traces whose band held the truth; `None` without bands.
    pub fn coverage(&self) -> Option<f64> {
        (self.banded > 0).then(|| self.covered as f64 / self.banded as f64)
    }

    /// Coverage over the traces that truly cross within the horizon.
    pub fn coverage_within(&self) -> Option<f64> {
        (self.banded_within > 0).then(|| self.covered_within as f64 / self.banded_within as f64)
    }

    /// Mean band width, days; `None` without bands.
    pub fn band_width(&self) -> Option<f64> {
        (self.banded > 0).then(|| self.width / self.banded as f64)
    }

    /// Mean milliseconds per forecast.
    pub fn ms_per_forecast(&self) -> f64 {
        self.ms / self.traces.max(1) as f64
    }
}

/// Bootstrap resamples behind [`ratio_interval`].
const RESAMPLES: u64 = 1_000;

/// A 90 % interval of the ratio of method `a`'s mean error to method `b`'s over
/// `rows[family][method]`: the traces of each family are resampled with replacement
/// (pairs of errors kept together, each family keeping its count), 1,000 times. `None`
/// when `b` makes no error.
pub fn ratio_interval(rows: &[Vec<Tally>], a: usize, b: usize) -> Option<(f64, f64)> {
    let mut rng = Rng::for_trace(0, "bootstrap", 0);
    let mut ratios: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| {
            let (mut sa, mut sb) = (0.0, 0.0);
            for row in rows {
                let (ea, eb) = (&row[a].errors, &row[b].errors);
                for _ in 0..ea.len() {
                    let k = rng.int(0, ea.len() as i64 - 1) as usize;
                    sa += ea[k];
                    sb += eb[k];
                }
            }
            (sb > 0.0).then(|| sa / sb)
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Some((at(0.05), at(0.95)))
}

/// The mean error of the best of the models (every method but `predict_linear`) on each
/// trace, chosen knowing the truth, over `predict_linear`'s: what no way of choosing among
/// these models could beat on these traces, since no choice can know the truth. `None`
/// when `predict_linear` makes no error.
pub fn hindsight(rows: &[Vec<Tally>]) -> Option<f64> {
    let (mut best, mut linear) = (0.0, 0.0);
    for row in rows {
        for (k, &e) in row[PREDICT_LINEAR].errors.iter().enumerate() {
            linear += e;
            best += (0..METHODS.len())
                .filter(|&m| m != PREDICT_LINEAR)
                .map(|m| row[m].errors[k])
                .fold(f64::INFINITY, f64::min);
        }
    }
    (linear > 0.0).then(|| best / linear)
}

/// `predict_linear` as Prometheus computes it: the least-squares line through the
/// lookback's samples with x in seconds relative to the evaluation time (so the intercept
/// is the value at the evaluation), and its crossing where that line reaches `threshold`:
/// at once when the intercept is already there, never when it does not rise. Days after
/// the evaluation, `None` past the horizon or with fewer than two samples.
pub fn predict_linear(
    samples: &[(i64, f64)],
    now_ms: i64,
    horizon: f64,
    threshold: f64,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let n = samples.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sxx) = (0.0, 0.0, 0.0, 0.0);
    for &(t, v) in samples {
        let x = (t - now_ms) as f64 / 1e3;
        sx += x;
        sy += v;
        sxy += x * v;
        sxx += x * x;
    }
    let slope = (sxy - sx * sy / n) / (sxx - sx * sx / n);
    let intercept = sy / n - slope * sx / n;
    if intercept >= threshold {
        return Some(0.0);
    }
    if slope.is_nan() || slope <= 0.0 {
        return None;
    }
    let days = (threshold - intercept) / slope / 86_400.0;
    (days <= horizon).then_some(days)
}
