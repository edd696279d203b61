//! From a fitted model to a [`Forecast`]: where the predicted path and its band first
//! reach the threshold, the value at the horizon, and a short path for charts.
//!
//! The model is evaluated at [`EVALUATIONS`] + 1 evenly spaced times from `now` to
//! `now + horizon`; a crossing between two of them is placed by linear interpolation
//! (exact for the straight lines, within a few minutes of a week for the rest).

use super::{Direction, Fit, Forecast, ForecastRequest, Prediction};

/// Reads one edge (or the mean) of a prediction.
type Edge = fn(&Prediction) -> f64;

/// Intervals the horizon is cut into when looking for crossings.
const EVALUATIONS: i64 = 2_000;

/// Points of [`Forecast::path`].
const PATH_POINTS: i64 = 100;

/// The forecast of `fit` for `request`; `recent` are the latest samples' values, which
/// with the model's value at `now` decide whether the threshold is already crossed.
pub(crate) fn forecast(fit: &Fit, request: &ForecastRequest<'_>, recent: Vec<f64>) -> Forecast {
    let (now, horizon) = (request.now_ms, request.horizon_ms);
    let at = |i: i64, of: i64| now + (horizon as i128 * i as i128 / of as i128) as i64;
    let path = (0..PATH_POINTS)
        .map(|i| {
            let t = at(i, PATH_POINTS - 1);
            let p = fit.predict(t);
            (t, p.mean, p.lower, p.upper)
        })
        .collect();
    let value_at_horizon = fit.predict(now + horizon).mean;
    let past = |v: f64| match request.direction {
        Direction::Above => v >= request.threshold,
        Direction::Below => v <= request.threshold,
    };
    if past(fit.predict(now).mean) || (!recent.is_empty() && recent.iter().all(|&v| past(v))) {
        return Forecast {
            model: fit.choice(),
            eta_ms: Some(now),
            eta_lower_ms: Some(now),
            eta_upper_ms: Some(now),
            value_at_horizon,
            path,
            detail: String::new(),
        };
    }
    let evaluated: Vec<(i64, Prediction)> = (0..=EVALUATIONS)
        .map(|i| {
            let t = at(i, EVALUATIONS);
            (t, fit.predict(t))
        })
        .collect();
    // The band edge that reaches the threshold first gives the earliest crossing.
    let (near, far): (Edge, Edge) = match request.direction {
        Direction::Above => (|p| p.upper, |p| p.lower),
        Direction::Below => (|p| p.lower, |p| p.upper),
    };
    let crossing = |value: fn(&Prediction) -> f64| {
        first_crossing(
            evaluated.iter().map(|(t, p)| (*t, value(p))),
            request.threshold,
            request.direction,
        )
    };
    Forecast {
        model: fit.choice(),
        eta_ms: crossing(|p| p.mean),
        eta_lower_ms: crossing(near),
        eta_upper_ms: crossing(far),
        value_at_horizon,
        path,
        detail: String::new(),
    }
}

/// The first time the piecewise-linear path through `points` reaches `threshold` going in
/// `direction`; the first point itself when it is already there.
pub(crate) fn first_crossing(
    points: impl IntoIterator<Item = (i64, f64)>,
    threshold: f64,
    direction: Direction,
) -> Option<i64> {
    let reached = |v: f64| match direction {
        Direction::Above => v >= threshold,
        Direction::Below => v <= threshold,
    };
    let mut previous: Option<(i64, f64)> = None;
    for (t, v) in points {
        if reached(v) {
            return Some(match previous {
                Some((t0, v0)) if v != v0 => {
                    let fraction = ((threshold - v0) / (v - v0)).clamp(0.0, 1.0);
                    t0 + ((t - t0) as f64 * fraction).round() as i64
                }
                _ => t,
            });
        }
        previous = Some((t, v));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossings_are_interpolated_between_points() {
        let points = [(0, 1.0), (10, 2.0), (20, 4.0)];
        assert_eq!(first_crossing(points, 3.0, Direction::Above), Some(15));
        assert_eq!(first_crossing(points, 0.5, Direction::Above), Some(0));
        assert_eq!(first_crossing(points, 5.0, Direction::Above), None);
        assert_eq!(first_crossing(points, 1.5, Direction::Below), Some(0));
        let falling = [(0, 4.0), (10, 2.0)];
        assert_eq!(first_crossing(falling, 3.0, Direction::Below), Some(5));
        assert_eq!(first_crossing(falling, 1.0, Direction::Below), None);
    }
}
