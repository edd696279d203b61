//! Retention of the tiers: how long each is kept, the first block window each still keeps,
//! and the rollup family's compaction filter test.

use super::TIERS;
use crate::keys::unflip;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Retention of the tiers: per tier (as in [`TIERS`]) how long it is kept and the first
/// block window it still keeps (shared with the rollup family's compaction filter).
#[derive(Debug)]
pub struct TierRetention {
    /// Whether tiers are built at all: only when raw samples expire, since reads use a
    /// tier only where raw samples are gone.
    pub(super) build: bool,
    retention_ms: [i64; 2],
    first_kept: [Arc<AtomicI64>; 2],
}

impl TierRetention {
    /// Tiers kept `retention_ms` each (0: forever), nothing expired yet; built only when
    /// `build` (raw samples have a retention).
    pub fn new(build: bool, retention_ms: [i64; 2]) -> Self {
        Self {
            build,
            retention_ms,
            first_kept: [
                Arc::new(AtomicI64::new(i64::MIN)),
                Arc::new(AtomicI64::new(i64::MIN)),
            ],
        }
    }

    /// The cutoffs, for the compaction filter.
    pub fn cutoffs(&self) -> [Arc<AtomicI64>; 2] {
        self.first_kept.clone()
    }

    /// Moves every tier's cutoff to `now_ms` (windows of `block_ms`).
    pub fn advance(&self, now_ms: i64, block_ms: i64) {
        for (retention, kept) in self.retention_ms.iter().zip(&self.first_kept) {
            if *retention > 0 {
                let w = now_ms.saturating_sub(*retention).div_euclid(block_ms);
                kept.fetch_max(w, Ordering::AcqRel);
            }
        }
    }

    /// The first block window tier `i` keeps.
    pub fn first_kept(&self, i: usize) -> i64 {
        self.first_kept[i].load(Ordering::Acquire)
    }
}

/// Whether a rollup key is past its tier's retention: the compaction filter's test.
pub fn rollup_expired(key: &[u8], cutoffs: &[Arc<AtomicI64>; 2]) -> bool {
    let Some(i) = key
        .first()
        .and_then(|tag| TIERS.iter().position(|t| t.tag == *tag))
    else {
        return false;
    };
    key.get(9..17)
        .and_then(unflip)
        .is_some_and(|w| w < cutoffs[i].load(Ordering::Relaxed))
}
