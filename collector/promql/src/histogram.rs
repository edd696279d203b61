//! `histogram_quantile` over classic histograms: one series per bucket, its upper bound
//! in the `le` label, its value the count of observations up to that bound.
//!
//! As Prometheus 2.42 computes it:
//! - φ NaN gives NaN, φ < 0 gives -Inf, φ > 1 gives +Inf (whatever the buckets);
//! - the highest bucket must be `+Inf`, else NaN;
//! - buckets with the same bound are merged (their counts added), then counts are made
//!   monotonic (a count below an earlier one is raised to it: buckets scraped or
//!   rated at slightly different moments can disagree);
//! - fewer than two buckets, or no observations, give NaN;
//! - the quantile's rank `φ × total` is found in the first bucket whose count reaches
//!   it and interpolated linearly inside it (the lowest bucket starts at 0, unless its
//!   bound is ≤ 0, which is then the answer); a rank in the `+Inf` bucket gives the
//!   highest finite bound.

/// One bucket: its upper bound (`le`) and its cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// The bucket's upper bound.
    pub upper_bound: f64,
    /// Observations at or below the bound.
    pub count: f64,
}

/// The φ-quantile of a classic histogram's buckets (in any order; reorders and rewrites
/// `buckets`). NaN where Prometheus gives NaN (module docs).
pub fn bucket_quantile(phi: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    if buckets.is_empty() {
        return f64::NAN;
    }
    // NaN bounds sort first, as under Go's `<` they never move past a number.
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or_else(|| b.upper_bound.is_nan().cmp(&a.upper_bound.is_nan()))
    });
    if buckets.last().map(|b| b.upper_bound) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(buckets);
    ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = phi * observations;
    // The first bucket (the +Inf one excluded) whose count reaches the rank.
    let last = buckets.len() - 1;
    let b = go_search(last, |i| buckets[i].count >= rank);
    if b == last {
        return buckets[last - 1].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Go's `sort.Search`: the first `i` in `0..n` where `f(i)` holds, by Go's bisection
/// (so that counts that are not monotonic, such as NaN, land where they do in Go).
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = (i + j) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// Merges neighbouring buckets with the same bound (sorted input), adding their counts.
fn coalesce(buckets: &mut Vec<Bucket>) {
    buckets.dedup_by(|next, kept| {
        if next.upper_bound == kept.upper_bound {
            kept.count += next.count;
            true
        } else {
            false
        }
    });
}

/// Raises every count below the largest count before it to that count.
fn ensure_monotonic(buckets: &mut [Bucket]) {
    let mut max = buckets.first().map_or(f64::NAN, |b| b.count);
    for bucket in buckets.iter_mut().skip(1) {
        if bucket.count > max {
            max = bucket.count;
        } else if bucket.count < max {
            bucket.count = max;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(phi: f64, buckets: &[(f64, f64)]) -> f64 {
        let mut b: Vec<Bucket> = buckets
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect();
        bucket_quantile(phi, &mut b)
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn interpolates_inside_the_bucket() {
        // 10 observations: 2 ≤ 0.1, 6 ≤ 0.5, 9 ≤ 1, 10 in all.
        let b = [(0.1, 2.0), (0.5, 6.0), (1.0, 9.0), (INF, 10.0)];
        // Rank 5 is in (0.1, 0.5]: 0.1 + 0.4 × (5 - 2) / (6 - 2) = 0.4.
        assert!((q(0.5, &b) - 0.4).abs() < 1e-15);
        // Rank 1 in the first bucket, which starts at 0: 0.1 × 1/2.
        assert!((q(0.1, &b) - 0.05).abs() < 1e-15);
        // Rank 9.5 is in the +Inf bucket: the highest finite bound.
        assert_eq!(q(0.95, &b), 1.0);
        // φ = 0: rank 0 is reached by the first bucket, at its start.
        assert_eq!(q(0.0, &b), 0.0);
        // φ = 1: rank 10 only in +Inf.
        assert_eq!(q(1.0, &b), 1.0);
        // Order of input does not matter.
        let shuffled = [(1.0, 9.0), (INF, 10.0), (0.1, 2.0), (0.5, 6.0)];
        assert!((q(0.5, &shuffled) - 0.4).abs() < 1e-15);
    }

    #[test]
    fn special_cases() {
        let b = [(1.0, 1.0), (INF, 2.0)];
        assert!(q(f64::NAN, &b).is_nan());
        assert_eq!(q(-0.5, &b), f64::NEG_INFINITY);
        assert_eq!(q(1.5, &b), INF);
        // No +Inf bucket, one bucket only, no observations.
        assert!(q(0.5, &[(1.0, 1.0), (2.0, 2.0)]).is_nan());
        assert!(q(0.5, &[(INF, 5.0)]).is_nan());
        assert!(q(0.5, &[(1.0, 0.0), (INF, 0.0)]).is_nan());
        // A first bound ≤ 0 is the answer when the rank falls in it.
        assert_eq!(q(0.25, &[(-1.0, 2.0), (1.0, 4.0), (INF, 4.0)]), -1.0);
    }

    #[test]
    fn merges_equal_bounds_and_fixes_monotonicity() {
        // le="1" and le="1.0" are one bucket: 1 + 1 = 2 ≤ 1, 4 in all; rank 2 → 1.0.
        assert_eq!(
            q(0.5, &[(1.0, 1.0), (1.0, 1.0), (2.0, 3.0), (INF, 4.0)]),
            1.0
        );
        // 0.5 has 5 but 1 only 3 (scraped apart): 1 is raised to 5. Rank 3 of 6 falls
        // in (0, 0.5]: 0.5 × 3/5 = 0.3.
        assert!((q(0.5, &[(0.5, 5.0), (1.0, 3.0), (INF, 6.0)]) - 0.3).abs() < 1e-15);
    }
}
