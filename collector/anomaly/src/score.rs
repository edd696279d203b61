//! From evidence to a score in [0, 1]: fixed curves, the same for every series (the
//! evidence is already in units of the series' own noise).

/// What one sample brought, each kind in its own unit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Evidence {
    /// |residual| in standard deviations of the series' noise.
    pub z: f64,
    /// The larger one-sided CUSUM of *z* beyond [`CUSUM_SLACK`].
    pub cusum: f64,
    /// Recent noise against the usual (fast over slow scale).
    pub noise_ratio: f64,
    /// How unlikely the current run of unchanged values is, in nats: the run's length
    /// times −ln(1 − how often the series changes).
    pub flat_surprise: f64,
}

/// The CUSUM counts *z* beyond this on one side.
pub const CUSUM_SLACK: f64 = 1.0;

/// The CUSUM is capped here, so that it falls below the threshold soon after the level
/// has been learned.
pub const CUSUM_CAP: f64 = 16.0;

/// `x` mapped to [0, 1]: 0 up to `quiet`, 0.5 at `half`, 1 from `2 half − quiet` on.
fn ramp(x: f64, quiet: f64, half: f64) -> f64 {
    if !x.is_finite() {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    ((x - quiet) / (2.0 * (half - quiet))).clamp(0.0, 1.0)
}

/// The score of `e`: the largest of its kinds' scores. Each kind reaches 0.5 where
/// Gaussian noise would take it about once a week at a 1-minute step (10,080 samples):
/// *z* 5 (two-sided tail 6e-7), CUSUM 8, the noise doubled and then some (2.2), a run of
/// unchanged values as unlikely as e^-14.
pub fn score_of(e: &Evidence) -> f64 {
    ramp(e.z, 3.5, 5.0)
        .max(ramp(e.cusum, 5.0, 8.0))
        .max(ramp(e.noise_ratio, 1.8, 2.2))
        .max(ramp(e.flat_surprise, 10.0, 14.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_half_at_its_level_and_quiet_below() {
        let e = |z, cusum, noise_ratio, flat_surprise| Evidence {
            z,
            cusum,
            noise_ratio,
            flat_surprise,
        };
        for (evidence, want) in [
            (e(0.0, 0.0, 0.0, 0.0), 0.0),
            (e(5.0, 0.0, 0.0, 0.0), 0.5),
            (e(3.0, 0.0, 0.0, 0.0), 0.0),
            (e(9.0, 0.0, 0.0, 0.0), 1.0),
            (e(0.0, 8.0, 0.0, 0.0), 0.5),
            (e(0.0, 0.0, 2.2, 0.0), 0.5),
            (e(0.0, 0.0, 0.0, 14.0), 0.5),
            (e(f64::INFINITY, 0.0, 0.0, 0.0), 1.0),
            (e(f64::NAN, 0.0, 0.0, 0.0), 0.0),
        ] {
            let got = score_of(&evidence);
            assert!(
                (got - want).abs() < 1e-12,
                "{evidence:?}: {got}, want {want}"
            );
        }
    }
}
