//! The online detector of one series (see the crate's documentation for the model).

use crate::score::{CUSUM_CAP, CUSUM_SLACK, Evidence, score_of};

/// Samples that only initialise the level and scale (scored 0).
const WARMUP: u64 = 30;
/// Learning rate of the level.
const LEVEL_RATE: f64 = 0.02;
/// Learning rate of the level while the residuals stay on one side (a shift being
/// learned): fast, so a lasting shift stops alarming.
const SHIFT_RATE: f64 = 0.1;
/// Clip of the residual the level learns while a shift is being learned.
const SHIFT_CLIP: f64 = 10.0;
/// The CUSUM past which the level learns at [`SHIFT_RATE`].
const SHIFT_CUSUM: f64 = 5.0;
/// Learning rate of the usual scale (slow: the noise the series has had for hours).
const SCALE_RATE: f64 = 0.01;
/// Learning rate of the recent scale (fast: the last tens of samples).
const FAST_RATE: f64 = 0.1;
/// Learning rate of the residuals' lag-1 autocorrelation, once it is known (slow: hours
/// of an anomaly must not teach it that runs are normal). Before, the plain mean.
const AUTOCORR_RATE: f64 = 0.002;
/// Residuals are clipped to this many standard deviations before the autocorrelation
/// learns them.
const AUTOCORR_CLIP: f64 = 2.0;
/// Autocorrelation below which the residuals count as white.
const AUTOCORR_IGNORED: f64 = 0.3;
/// Largest autocorrelation allowed for: a series closer to a random walk than this is
/// treated as if it were this one.
const MAX_AUTOCORR: f64 = 0.95;
/// Learning rate of how often the value changes.
const CHANGE_RATE: f64 = 0.02;
/// Learning rate of the errors with and without each profile (which one is used).
const ERROR_RATE: f64 = 0.005;
/// Residuals are clipped to this many standard deviations before anything learns them.
const CLIP: f64 = 3.0;
/// Residuals are clipped to this many standard deviations before the profiles learn them.
const PROFILE_CLIP: f64 = 20.0;
/// The weekly profile is used once its residuals are this much smaller than the daily one's.
const WEEKLY_GAIN: f64 = 0.9;
/// A profile is used once its residuals are this much smaller than without it.
const SEASON_GAIN: f64 = 0.8;
/// Mean absolute deviation to standard deviation, for Gaussian noise.
const MAD_TO_SD: f64 = 1.253_314_137_315_500_3;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;
/// History a profile needs before it may be used: two days, and a week and a day.
const DAILY_AFTER_MS: i64 = 2 * DAY_MS;
const WEEKLY_AFTER_MS: i64 = WEEK_MS + DAY_MS;

/// One sample's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// How anomalous, in [0, 1] (0 while warming up or for a sample that is not a number).
    pub score: f64,
    /// The value expected at this time.
    pub expected: f64,
    /// The band the value was expected in (about 3 standard deviations either side).
    pub lower: f64,
    /// See `lower`.
    pub upper: f64,
    /// The evidence behind the score.
    pub evidence: Evidence,
}

/// The state of one series: fixed size, no allocation.
#[derive(Debug, Clone)]
pub struct Detector {
    pub(crate) seen: u64,
    pub(crate) first_ms: i64,
    pub(crate) last_ms: i64,
    pub(crate) last_value: f64,
    /// Mean step between samples (ms), for the profiles' learning rates.
    pub(crate) step_ms: f64,
    pub(crate) level: f64,
    /// A slow level (about a day's memory), which the profiles are learned against, so
    /// that the level's following a rhythm does not hide the rhythm from them.
    pub(crate) base: f64,
    /// Mean absolute residual: the usual noise.
    pub(crate) scale: f64,
    /// Mean absolute innovation (the part of a residual the previous one did not
    /// foretell): the usual noise of the series' steps.
    pub(crate) innovation_scale: f64,
    /// The same, recent.
    pub(crate) fast_scale: f64,
    /// The last residual in standard deviations (clipped), and the running means of its
    /// product with the one before and of its square: the lag-1 autocorrelation.
    pub(crate) last_z: f64,
    pub(crate) autocov: f64,
    pub(crate) autovar: f64,
    pub(crate) cusum_up: f64,
    pub(crate) cusum_down: f64,
    /// How often the value changes from one sample to the next.
    pub(crate) change: f64,
    /// Samples since the value last changed.
    pub(crate) unchanged: u32,
    /// The smallest step between two different values seen (0 until one is).
    pub(crate) quantum: f64,
    /// How often the value changed, as it was when the current run of unchanged values
    /// began (the run itself does not teach it).
    pub(crate) change_before_run: f64,
    /// Mean absolute error without a profile, with the daily one, with both.
    pub(crate) error_plain: f64,
    pub(crate) error_daily: f64,
    pub(crate) error_both: f64,
    /// Profiles in use: 0 none, 1 daily, 2 daily and weekly.
    pub(crate) profiles: u8,
    pub(crate) daily: [f32; 24],
    pub(crate) weekly: [f32; 168],
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        Self {
            seen: 0,
            first_ms: 0,
            last_ms: 0,
            last_value: f64::NAN,
            step_ms: 0.0,
            level: 0.0,
            base: 0.0,
            scale: 0.0,
            innovation_scale: 0.0,
            fast_scale: 0.0,
            last_z: 0.0,
            autocov: 0.0,
            autovar: 0.0,
            cusum_up: 0.0,
            cusum_down: 0.0,
            change: 1.0,
            unchanged: 0,
            quantum: 0.0,
            change_before_run: 1.0,
            error_plain: 0.0,
            error_daily: 0.0,
            error_both: 0.0,
            profiles: 0,
            daily: [0.0; 24],
            weekly: [0.0; 168],
        }
    }

    /// Samples seen (numbers only).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The profiles in use: 0 none, 1 the daily one, 2 the daily and the weekly one.
    pub fn profiles(&self) -> u8 {
        self.profiles
    }

    /// The gain a profile must show: [`SEASON_GAIN`] to start using it, a little less to
    /// keep it (so that it does not flicker on and off near the bar).
    fn gain(&self, level: u8) -> f64 {
        // The weekly profile's gain is averaged over the whole week, weekdays included,
        // where it has nothing to add: a smaller gain already marks a real weekly rhythm.
        let bar = if level == 2 { WEEKLY_GAIN } else { SEASON_GAIN };
        if self.profiles >= level {
            bar + 0.1
        } else {
            bar
        }
    }

    fn uses_daily(&self) -> bool {
        self.last_ms - self.first_ms >= DAILY_AFTER_MS
            && self.error_daily < self.gain(1) * self.error_plain
    }

    fn uses_weekly(&self) -> bool {
        self.uses_daily()
            && self.last_ms - self.first_ms >= WEEKLY_AFTER_MS
            && self.error_both < self.gain(2) * self.error_daily
    }

    /// Scores the sample `value` at `t_ms` (Unix milliseconds, non-decreasing), then
    /// learns from it. A sample that is not a number scores 0 and changes nothing.
    pub fn update(&mut self, t_ms: i64, value: f64) -> Scored {
        if !value.is_finite() {
            return Scored {
                score: 0.0,
                expected: f64::NAN,
                lower: f64::NAN,
                upper: f64::NAN,
                evidence: Evidence::default(),
            };
        }
        // The profiles are knots at each hour, the value between two of them a straight
        // line: a rhythm is followed within the hour, not in steps.
        let hour = t_ms.div_euclid(HOUR_MS);
        let frac = t_ms.rem_euclid(HOUR_MS) as f64 / HOUR_MS as f64;
        let (h, hw) = (hour.rem_euclid(24) as usize, hour.rem_euclid(168) as usize);
        let (h1, hw1) = ((h + 1) % 24, (hw + 1) % 168);
        self.seen += 1;
        if self.seen == 1 {
            self.first_ms = t_ms;
            self.level = value;
            self.base = value;
        } else {
            let dt = (t_ms - self.last_ms).max(0) as f64;
            let n = (self.seen - 1) as f64;
            self.step_ms += (dt - self.step_ms) / n.min(100.0);
        }
        let knots = |a: f32, b: f32| (1.0 - frac) * f64::from(a) + frac * f64::from(b);
        let daily = knots(self.daily[h], self.daily[h1]);
        let weekly = knots(self.weekly[hw], self.weekly[hw1]);
        let profiles = if self.uses_weekly() {
            2
        } else {
            u8::from(self.uses_daily())
        };
        if profiles != self.profiles {
            // The level followed what the profiles now explain: it starts again from the
            // slow level they were learned against.
            self.profiles = profiles;
            self.level = self.base;
            self.cusum_up = 0.0;
            self.cusum_down = 0.0;
        }
        let seasonal = match profiles {
            2 => daily + weekly,
            1 => daily,
            _ => 0.0,
        };
        let expected = self.level + seasonal;
        let residual = value - expected;
        let changed = self.seen > 1 && value != self.last_value;
        if changed {
            let step = (value - self.last_value).abs();
            if self.quantum == 0.0 || step < self.quantum {
                self.quantum = step;
            }
        }
        if self.seen <= WARMUP {
            // The level and scale start as the running mean and mean absolute deviation.
            let n = self.seen as f64;
            self.level += (value - self.level) / n;
            self.base = self.level;
            self.scale += ((value - self.level).abs() - self.scale) / n;
            self.innovation_scale = self.scale;
            self.fast_scale = self.scale;
            self.learn_change(changed);
            self.last_ms = t_ms;
            self.last_value = value;
            return Scored {
                score: 0.0,
                expected,
                lower: f64::NAN,
                upper: f64::NAN,
                evidence: Evidence::default(),
            };
        }
        // The noise, with a floor for series that barely move (a constant one included).
        // Values that come in steps (counts, rounded gauges) cannot tell noise from a step
        // smaller than half of one: the floor is that, where the series has steps.
        let floor = (1e-9 * self.level.abs().max(1.0)).max(0.5 * self.quantum);
        let sd = (self.scale * MAD_TO_SD).max(floor);
        let z = residual / sd;
        // One far-out sample counts as a few standard deviations here: the CUSUM is for
        // runs, a spike is scored by z itself.
        let zc = z.clamp(-CLIP, CLIP);
        // Host metrics wander (a load average, a rate over five minutes): one residual
        // foretells the next, and runs on one side are their habit, not a shift. The runs
        // and the noise are judged on the innovations: what the previous residual did not
        // foretell, in units of their own spread (the residual itself for white noise).
        let rho = self.wander();
        let innovation = residual - rho * self.last_z * sd;
        let innovation_sd = (self.innovation_scale * MAD_TO_SD).max(floor);
        let u = ((zc - rho * self.last_z) / (1.0 - rho * rho).sqrt()).clamp(-CLIP, CLIP);
        self.cusum_up = (self.cusum_up + u - CUSUM_SLACK).clamp(0.0, CUSUM_CAP);
        self.cusum_down = (self.cusum_down - u - CUSUM_SLACK).clamp(0.0, CUSUM_CAP);
        self.fast_scale +=
            FAST_RATE * (innovation.abs().min(4.0 * innovation_sd) - self.fast_scale);
        self.learn_change(changed);
        let surprise = f64::from(self.unchanged) * -(1.0 - self.change_before_run.min(0.999)).ln();
        let evidence = Evidence {
            z: z.abs(),
            cusum: self.cusum_up.max(self.cusum_down),
            noise_ratio: self.fast_scale * MAD_TO_SD / innovation_sd,
            flat_surprise: surprise,
        };
        let score = score_of(&evidence);

        // Learn, from the clipped residual.
        let clipped = residual.clamp(-CLIP * sd, CLIP * sd);
        let shifting = self.cusum_up.max(self.cusum_down) > SHIFT_CUSUM;
        // While a shift is being learned the level follows it with a wider clip: a large
        // shift is learned in tens of samples, not hundreds.
        self.level += if shifting {
            SHIFT_RATE * residual.clamp(-SHIFT_CLIP * sd, SHIFT_CLIP * sd)
        } else {
            LEVEL_RATE * clipped
        };
        self.scale += SCALE_RATE * (clipped.abs() - self.scale);
        self.innovation_scale += SCALE_RATE
            * (innovation
                .clamp(-CLIP * innovation_sd, CLIP * innovation_sd)
                .abs()
                - self.innovation_scale);
        let rate = AUTOCORR_RATE.max(1.0 / (self.seen - WARMUP) as f64);
        // Learned from residuals clipped closer, so that an anomaly's run teaches it little.
        let za = z.clamp(-AUTOCORR_CLIP, AUTOCORR_CLIP);
        self.autocov +=
            rate * (za * self.last_z.clamp(-AUTOCORR_CLIP, AUTOCORR_CLIP) - self.autocov);
        self.autovar += rate * (za * za - self.autovar);
        self.last_z = zc;
        let samples_per_hour = (HOUR_MS as f64 / self.step_ms.max(1.0)).max(1.0);
        // Each slot moves about two thirds of the way on each visit of its hour.
        let daily_rate = (1.0 / samples_per_hour) as f32;
        let weekly_rate = (1.0 / samples_per_hour) as f32;
        let base_rate = 1.0 / (24.0 * samples_per_hour);
        // The profiles learn patterns far larger than the noise (a weekend 10 σ lower):
        // their clip is wide, and each visit moves a slot by a sixtieth of the residual at
        // a 1-minute step, so one outlier still moves it little.
        let kept = value.clamp(
            self.base + daily + weekly - PROFILE_CLIP * sd,
            self.base + daily + weekly + PROFILE_CLIP * sd,
        );
        let plain = kept - self.base;
        self.base += base_rate * (kept - daily - weekly - self.base);
        // Each knot learns in proportion to its weight in the value.
        let (near, far) = ((1.0 - frac) as f32, frac as f32);
        let daily_error = (plain - weekly - daily) as f32;
        self.daily[h] += daily_rate * near * daily_error;
        self.daily[h1] += daily_rate * far * daily_error;
        let weekly_error = (plain - daily - weekly) as f32;
        self.weekly[hw] += weekly_rate * near * weekly_error;
        self.weekly[hw1] += weekly_rate * far * weekly_error;
        let track =
            |e: &mut f64, err: f64| *e += ERROR_RATE * (err.abs().min(PROFILE_CLIP * sd) - *e);
        track(&mut self.error_plain, plain);
        track(&mut self.error_daily, plain - daily);
        track(&mut self.error_both, plain - daily - weekly);
        self.last_ms = t_ms;
        self.last_value = value;
        Scored {
            score,
            expected,
            lower: expected - CLIP * sd,
            upper: expected + CLIP * sd,
            evidence,
        }
    }

    /// The residuals' lag-1 autocorrelation, in [0, [`MAX_AUTOCORR`]] (0 until known).
    pub(crate) fn autocorrelation(&self) -> f64 {
        if self.autovar <= 0.0 {
            return 0.0;
        }
        (self.autocov / self.autovar).clamp(0.0, MAX_AUTOCORR)
    }

    /// The autocorrelation the runs are judged with: none below [`AUTOCORR_IGNORED`]
    /// (what a profile's misfit and the anomalies themselves leave in a white series),
    /// rising to the full value at twice that, for a series that wanders.
    fn wander(&self) -> f64 {
        let rho = self.autocorrelation();
        rho * ((rho - AUTOCORR_IGNORED) / AUTOCORR_IGNORED).clamp(0.0, 1.0)
    }

    fn learn_change(&mut self, changed: bool) {
        if self.seen < 2 {
            return;
        }
        if !changed && self.unchanged == 0 {
            // A series unchanged from its first samples on has no habit of changing to
            // break: its run surprises nobody.
            self.change_before_run = if self.seen == 2 { 0.0 } else { self.change };
        }
        // While warming up, the plain mean of the changes seen; then a moving one.
        let rate = CHANGE_RATE.max(1.0 / (self.seen - 1) as f64);
        self.change += rate * (f64::from(u8::from(changed)) - self.change);
        self.unchanged = if changed {
            0
        } else {
            self.unchanged.saturating_add(1)
        };
    }
}
