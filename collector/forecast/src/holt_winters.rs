//! Holt–Winters additive (damped trend), Hyndman & Athanasopoulos §8.3, with a season of
//! m grid steps (a day or a week):
//!
//! ```text
//!   ŷ(t+1) = ℓ(t) + φ·b(t) + s(t+1−m)
//!   ℓ(t)   = α·(y(t) − s(t−m)) + (1 − α)·(ℓ(t−1) + φ·b(t−1))
//!   b(t)   = β·(ℓ(t) − ℓ(t−1)) + (1 − β)·φ·b(t−1)
//!   s(t)   = γ·(y(t) − ℓ(t−1) − φ·b(t−1)) + (1 − γ)·s(t−m)
//!   ŷ(t+h) = ℓ(t) + (φ + … + φʰ)·b(t) + s(t+h−m⌈h/m⌉)
//! ```
//!
//! Needs two whole seasons. Initial state from a classical decomposition of the window:
//! the least-squares line gives level and trend, the seasonal index of each phase is the
//! mean of the detrended values at that phase (centred to sum to zero). α, β, γ and φ are
//! the grid point with the least one-step squared error. Band: ETS(A,Ad,A)'s h-step
//! variance, `σ²·(1 + Σ_{j<h} (α(1 + β·φ_j) + γ(1 − α)·[m divides j])²)`.

use super::grid::Grid;
use super::holt::{damped_sum, interpolate};
use super::stats::{Z_975, least_squares};
use super::{ForecastError, Prediction, Season};

/// Level weights tried.
const ALPHAS: [f64; 5] = [0.05, 0.1, 0.2, 0.4, 0.7];
/// Trend weights tried. The smallest remembers about a thousand steps, a week or more on
/// the grid of a week or a month, so that a weekly pattern (quiet weekends) is averaged
/// into the trend rather than followed: the next smallest forgets a weekday's growth over
/// one weekend.
const BETAS: [f64; 4] = [0.001, 0.005, 0.03, 0.15];
/// Season weights tried.
const GAMMAS: [f64; 4] = [0.05, 0.15, 0.3, 0.6];
/// Trend half-lives tried, in days (see `holt`).
const HALF_LIVES_DAYS: [f64; 2] = [7.0, f64::INFINITY];

/// Smoothing parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

/// State after the last point: level, trend, and the seasonal index of each phase
/// (`season[k % m]` belongs to grid position k).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub level: f64,
    pub trend: f64,
    pub season: Vec<f64>,
}

/// A fitted seasonal model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HoltWinters {
    start_ms: i64,
    step_ms: i64,
    last: f64,
    state: State,
    params: Params,
    sigma: f64,
    variance: Vec<f64>,
}

impl HoltWinters {
    /// Fits with `season` on `grid`, ready to predict up to `until_ms`.
    pub fn fit(grid: &Grid, season: Season, until_ms: i64) -> Result<Self, ForecastError> {
        let y = &grid.values;
        let name = match season {
            Season::Daily => "daily",
            Season::Weekly => "weekly",
        };
        let m = grid.season_steps(season.ms()).ok_or_else(|| {
            ForecastError::NotEnoughData(format!(
                "a {name} season needs samples more often than every half {}",
                if season == Season::Daily {
                    "day"
                } else {
                    "week"
                }
            ))
        })?;
        if y.len() < 2 * m {
            return Err(ForecastError::NotEnoughData(format!(
                "Holt–Winters with a {name} season needs two whole seasons of history"
            )));
        }
        let start = initial_state(y, m);
        let mut grid_points = Vec::new();
        for &alpha in &ALPHAS {
            for &beta in &BETAS {
                for &gamma in &GAMMAS {
                    for &half_life in &HALF_LIVES_DAYS {
                        let phi = super::holt::damping(half_life, grid.step_ms);
                        grid_points.push(Params {
                            alpha,
                            beta,
                            gamma,
                            phi,
                        });
                    }
                }
            }
        }
        let mut best: Option<(f64, Params)> = None;
        for lanes in grid_points.chunks(LANES) {
            let sse = sse_of_lanes(y, &start, lanes);
            for (&params, &sse) in lanes.iter().zip(&sse) {
                if best.is_none_or(|(b, _)| sse < b) {
                    best = Some((sse, params));
                }
            }
        }
        let Some((_, params)) = best else {
            return Err(ForecastError::NotEnoughData("no parameters fitted".into()));
        };
        let (state, sse) = smooth(y, start, params);
        let last = (y.len() - 1) as f64;
        let steps = (grid.position(until_ms) - last).ceil().max(1.0) as usize + 1;
        Ok(HoltWinters {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            last,
            state,
            params,
            sigma: (sse / y.len() as f64).sqrt(),
            variance: variance_factors(params, m, steps),
        })
    }

    /// The prediction and band at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let position = ((t_ms - self.start_ms) as f64 / self.step_ms as f64).max(self.last);
        let h = position - self.last;
        let m = self.state.season.len();
        // Seasonal index between the phases either side of a fractional position.
        let below = position.floor();
        let frac = position - below;
        let phase = (below as usize) % m;
        let seasonal =
            self.state.season[phase] * (1.0 - frac) + self.state.season[(phase + 1) % m] * frac;
        let mean = self.state.level + damped_sum(self.params.phi, h) * self.state.trend + seasonal;
        let width = Z_975 * self.sigma * interpolate(&self.variance, h).sqrt();
        Prediction {
            mean,
            lower: mean - width,
            upper: mean + width,
        }
    }
}

/// The state before position 0 from a classical decomposition: the trend is the
/// least-squares line through the means of the whole seasons (a season's mean has no
/// seasonal part, so the wave does not tilt the line), the seasonal index of a phase is
/// the mean detrended value at that phase, centred to sum to zero.
pub(crate) fn initial_state(y: &[f64], m: usize) -> State {
    let seasons: Vec<f64> = y
        .chunks_exact(m)
        .map(|s| s.iter().sum::<f64>() / m as f64)
        .collect();
    let (a, b) = least_squares(&seasons);
    // Season i's mean sits at position i·m + (m − 1)/2.
    let trend = b / m as f64;
    let at_zero = a - trend * (m as f64 - 1.0) / 2.0;
    let mut sums = vec![(0.0, 0.0); m];
    for (k, &v) in y.iter().enumerate() {
        let s = &mut sums[k % m];
        s.0 += v - (at_zero + trend * k as f64);
        s.1 += 1.0;
    }
    let mut season: Vec<f64> = sums.iter().map(|(s, n)| s / n).collect();
    let mean = season.iter().sum::<f64>() / m as f64;
    season.iter_mut().for_each(|s| *s -= mean);
    State {
        level: at_zero - trend,
        trend,
        season,
    }
}

/// Parameter sets smoothed side by side in one pass (see `holt`).
const LANES: usize = 4;

/// The one-step squared errors of up to [`LANES`] parameter sets, as [`smooth`] computes
/// them.
fn sse_of_lanes(y: &[f64], start: &State, lanes: &[Params]) -> [f64; LANES] {
    let m = start.season.len();
    let mut p = [lanes[0]; LANES];
    p[..lanes.len()].copy_from_slice(lanes);
    let mut level = [start.level; LANES];
    let mut trend = [start.trend; LANES];
    // Seasonal indices, lane-interleaved: phase j of lane i at j·LANES + i.
    let mut season: Vec<f64> = start.season.iter().flat_map(|&s| [s; LANES]).collect();
    let mut sse = [0.0; LANES];
    for (k, &v) in y.iter().enumerate() {
        let at = (k % m) * LANES;
        let seasonal = &mut season[at..at + LANES];
        for i in 0..LANES {
            let base = level[i] + p[i].phi * trend[i];
            let error = v - (base + seasonal[i]);
            sse[i] += error * error;
            let new_level = p[i].alpha * (v - seasonal[i]) + (1.0 - p[i].alpha) * base;
            trend[i] = p[i].beta * (new_level - level[i]) + (1.0 - p[i].beta) * p[i].phi * trend[i];
            seasonal[i] = p[i].gamma * (v - base) + (1.0 - p[i].gamma) * seasonal[i];
            level[i] = new_level;
        }
    }
    sse
}

/// Runs the recursions over `y` from `state` (before `y[0]`): the final state and the sum
/// of squared one-step errors.
pub(crate) fn smooth(y: &[f64], mut state: State, p: Params) -> (State, f64) {
    let m = state.season.len();
    let mut sse = 0.0;
    for (k, &v) in y.iter().enumerate() {
        let phase = k % m;
        let base = state.level + p.phi * state.trend;
        let error = v - (base + state.season[phase]);
        sse += error * error;
        let level = p.alpha * (v - state.season[phase]) + (1.0 - p.alpha) * base;
        state.trend = p.beta * (level - state.level) + (1.0 - p.beta) * p.phi * state.trend;
        state.season[phase] = p.gamma * (v - base) + (1.0 - p.gamma) * state.season[phase];
        state.level = level;
    }
    (state, sse)
}

/// h-step variances over σ² for h = 0..=len.
fn variance_factors(p: Params, m: usize, len: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(len + 1);
    out.push(1.0);
    let (mut total, mut phi_j, mut phi_power) = (1.0, 0.0, 1.0);
    for j in 1..=len {
        out.push(total);
        phi_power *= p.phi;
        phi_j += phi_power;
        let seasonal = if j % m == 0 {
            p.gamma * (1.0 - p.alpha)
        } else {
            0.0
        };
        let c = p.alpha * (1.0 + p.beta * phi_j) + seasonal;
        total += c * c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::DAY_MS;

    #[test]
    fn recursions_match_values_worked_by_hand() {
        // m = 2, state ℓ = 10, b = 1, s = [1, −1]; α = β = γ = 0.5, φ = 1; y = 13, 10:
        //   k=0: base 11, ŷ 12, e 1;  ℓ = .5(13−1)+.5·11 = 11.5;  b = .5(1.5)+.5 = 1.25;
        //        s₀ = .5(13−11) + .5·1 = 1.5
        //   k=1: base 12.75, ŷ 11.75, e −1.75;  ℓ = .5(10+1)+.5·12.75 = 11.875;
        //        b = .5(.375)+.625 = .8125;  s₁ = .5(10−12.75) + .5(−1) = −1.875
        let state = State {
            level: 10.0,
            trend: 1.0,
            season: vec![1.0, -1.0],
        };
        let p = Params {
            alpha: 0.5,
            beta: 0.5,
            gamma: 0.5,
            phi: 1.0,
        };
        let (state, sse) = smooth(&[13.0, 10.0], state, p);
        assert_eq!(state.level, 11.875);
        assert_eq!(state.trend, 0.8125);
        assert_eq!(state.season, vec![1.5, -1.875]);
        assert_eq!(sse, 1.0 + 1.75 * 1.75);
    }

    #[test]
    fn a_wander_of_a_few_days_does_not_turn_the_trend_around() {
        // Every 15 minutes for 9 days: 0.01 per step under a daily wave, noise and a
        // wander of 2.4 days that falls over the last day. A trend that remembers a
        // thousand steps keeps the growth's sign; one that remembers two hundred (two
        // days) follows the wander down.
        let per_day = 96;
        let value = |k: usize| {
            let tau = std::f64::consts::TAU;
            let wave = 3.0 * (tau * k as f64 / per_day as f64).sin();
            let noise = ((k * 7919 + 13) % 101) as f64 / 25.0 - 2.0;
            let wander = 2.0 * (tau * k as f64 / 230.0).sin();
            0.01 * k as f64 + wave + noise + wander
        };
        let n = 9 * per_day;
        let grid = Grid::even(0, 900_000, (0..n).map(value).collect());
        let hw = HoltWinters::fit(&grid, Season::Daily, 2 * n as i64 * 900_000).expect("fit");
        let trend = hw.state.trend;
        assert!(trend > 0.0 && trend < 0.02, "{trend} per step vs 0.01");
    }

    #[test]
    fn a_trend_plus_a_daily_wave_is_continued() {
        // Hourly for 4 days: 50 + 0.1 per hour + 5·sin(2π·hour/24); no noise.
        let wave = |k: usize| {
            50.0 + 0.1 * k as f64 + 5.0 * (std::f64::consts::TAU * k as f64 / 24.0).sin()
        };
        let grid = Grid::even(0, 3_600_000, (0..96).map(wave).collect());
        assert_eq!(grid.season_steps(DAY_MS), Some(24));
        let hw = HoltWinters::fit(&grid, Season::Daily, 130 * 3_600_000).expect("fit");
        for k in [96, 101, 110, 125] {
            let p = hw.predict(k as i64 * 3_600_000);
            assert!(
                (p.mean - wave(k)).abs() < 0.2,
                "hour {k}: {} vs {}",
                p.mean,
                wave(k)
            );
            assert!(p.lower <= p.mean && p.mean <= p.upper);
        }
    }

    #[test]
    fn initial_season_is_centred() {
        // Seasons (1, 3) four times: no trend, indices −1 and 1, level 2.
        let y = [1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0];
        let s = initial_state(&y, 2);
        assert_eq!((s.level, s.trend, s.season), (2.0, 0.0, vec![-1.0, 1.0]));
        // With a trend of 1 per step: season means 2.5, 4.5, 6.5 → 1 per step.
        let y = [1.0, 4.0, 3.0, 6.0, 5.0, 8.0];
        let s = initial_state(&y, 2);
        assert_eq!((s.level, s.trend, s.season), (1.0, 1.0, vec![-1.0, 1.0]));
    }

    #[test]
    fn one_season_is_not_enough() {
        let grid = Grid::even(0, 3_600_000, vec![1.0; 30]);
        assert!(matches!(
            HoltWinters::fit(&grid, Season::Daily, 40 * 3_600_000),
            Err(ForecastError::NotEnoughData(_))
        ));
    }
}
