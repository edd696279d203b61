//! The rules that turn `auto`'s backtest records into a choice: the winner, what replaces
//! a winner whose rises were false alarms, and the runners-up the band must hold (see
//! `auto` for why).

use super::backtest::{self, Record};
use super::candidates::Candidate;
use super::shape::{cyclic, is_short, min_regime, regime_start, weekly_wave};
use crate::grid::Grid;

/// A more complex model must beat the best simpler one by more than this factor.
const SIMPLER_WITHIN: f64 = 1.05;

/// The band also holds the paths of candidates scoring within this factor of the best:
/// where the backtest cannot tell two models apart, the truth may follow either.
const PLAUSIBLE_WITHIN: f64 = 2.0;

/// What replaces a winner whose rises were false alarms: the best-scoring candidate whose
/// own rises were not (from origin `recent` on), when it scored better than the level at
/// `level`; else the level. After a purge, the line over the whole window promised rises
/// that the purge in its held-out parts broke, while the line since the purge kept its
/// own: that is no reason to forecast no trend at all.
pub(super) fn unrefuted(
    records: &[(Candidate, Record)],
    level: usize,
    recent: usize,
    any_levels: bool,
) -> usize {
    let score = |i: usize| records[i].1.score(any_levels);
    (0..records.len())
        .filter(|&i| i != level && !records[i].1.false_alarms(recent) && score(i) < score(level))
        .min_by(|&a, &b| score(a).total_cmp(&score(b)))
        .unwrap_or(level)
}

/// Where the window shows no wave, the share of the line's promised rises below which
/// they were not kept but slowed (see `auto`).
const SLOWED_SHARE: f64 = 0.4;

/// Whether the backtest refuted the rises the line over the window promised (its
/// `record`), from origin `recent` on: false alarms, or, on a window of two days or more
/// with no daily or weekly wave, growth that slowed to less than [`SLOWED_SHARE`] of
/// them.
pub(super) fn refuted_line(record: &Record, grid: &Grid, recent: usize) -> bool {
    record.false_alarms(recent)
        || (record.fell_short(recent, SLOWED_SHARE)
            && !is_short(grid)
            && backtest::daily(grid).is_none()
            && !weekly_wave(grid))
}

/// The candidates other than `chosen` that the backtest could not rule out.
pub(super) fn plausible(
    records: &[(Candidate, Record)],
    any_levels: bool,
    chosen: usize,
) -> impl Iterator<Item = usize> + '_ {
    let best = records
        .iter()
        .map(|(_, r)| r.score(any_levels))
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    (0..records.len())
        .filter(move |&i| i != chosen && records[i].1.score(any_levels) <= best * PLAUSIBLE_WITHIN)
}

/// The first backtest origin that sees the current regime (at least [`min_regime`]
/// points into it); the first origin when the window has no break or no origin does.
pub(super) fn recent_origins(grid: &Grid) -> usize {
    let Some(origins) = backtest::origins(grid) else {
        return 0;
    };
    let start = regime_start(grid);
    if start == 0 || cyclic(grid) {
        return 0;
    }
    origins
        .iter()
        .position(|&(o, _)| o >= start + min_regime(grid))
        .unwrap_or(0)
}

/// The index of the simplest candidate within [`SIMPLER_WITHIN`] of the best score; when
/// the held-out data made new levels, of those, the simplest within [`SIMPLER_WITHIN`] of
/// the best value error among them (see the module docs).
pub(super) fn pick(records: &[(Candidate, Record)], any_levels: bool) -> usize {
    let scores: Vec<f64> = records.iter().map(|(_, r)| r.score(any_levels)).collect();
    let best = scores
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    let close: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i] <= best * SIMPLER_WITHIN)
        .collect();
    if !any_levels {
        return close.first().copied().unwrap_or(0);
    }
    // Crossing errors saturate: a candidate that never reaches a level scores the limit
    // however near it came, so candidates this close on crossings are told apart by how
    // well they followed the held-out values.
    let values: Vec<f64> = close.iter().map(|&i| records[i].1.score(false)).collect();
    let best_value = values
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    close
        .iter()
        .zip(&values)
        .find(|&(_, &v)| v <= best_value * SIMPLER_WITHIN)
        .map_or(0, |(&i, _)| i)
}
