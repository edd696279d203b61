//! Reads for a step ([`vigil_store::Store::samples_for_step`]): raw samples wherever raw
//! retention keeps them, and before that the downsampled tiers (see the crate docs).

use crate::keys::CF_ROLLUP;
use crate::{RocksStore, rollup};
use vigil_store::{SeriesId, Store, StoreResult};

impl RocksStore {
    /// [`Store::samples_for_step_many`]: where only raw samples are read (the span starts
    /// after raw retention's cutoff, as every recent query's does), all series at once;
    /// otherwise each as [`RocksStore::read_with_tiers`] reads it.
    pub(crate) fn read_many_with_tiers(
        &self,
        ids: &[SeriesId],
        start: i64,
        end: i64,
    ) -> StoreResult<Vec<Vec<(i64, f64)>>> {
        let raw_from = self
            .windows
            .first_kept()
            .saturating_mul(self.windows.block_ms);
        if start >= raw_from {
            return crate::windows::read_many(&self.db, &self.windows, ids, start, end);
        }
        ids.iter()
            .map(|&id| {
                let mut out = Vec::new();
                self.read_with_tiers(id, start, end, &mut out)?;
                Ok(out)
            })
            .collect()
    }

    /// [`Store::samples_for_step`]: raw samples from the first window raw retention keeps;
    /// before it, the buckets' last samples of the finest tier kept there (each tier
    /// covers the span between its own cutoff and the next finer one's). The step does not
    /// change the choice: raw data, where it exists, is always read in full.
    pub(crate) fn read_with_tiers(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()> {
        if end < start {
            return Ok(());
        }
        let windows = &self.windows;
        let raw_first = windows.first_kept();
        let raw_from = raw_first.saturating_mul(windows.block_ms);
        if start >= raw_from {
            return self.samples(id, start, end, out);
        }
        let first = windows.window(start);
        // (tier, first window, last window) from the newest span back.
        let mut spans = Vec::new();
        let mut upper = raw_first;
        for i in 0..rollup::TIERS.len() {
            let kept = windows.tiers.first_kept(i).max(first);
            if kept < upper {
                spans.push((i, kept, upper - 1));
                upper = kept;
            }
        }
        let cf = self.cf(CF_ROLLUP);
        let mut buckets = Vec::new();
        for (i, w0, w1) in spans.into_iter().rev() {
            buckets.clear();
            rollup::read(
                &self.db,
                windows,
                cf,
                i,
                id,
                w0,
                w1,
                start,
                end,
                &mut buckets,
            )?;
            out.extend(buckets.iter().map(|b| (b.last_ts, b.last)));
        }
        if end >= raw_from {
            self.samples(id, raw_from, end, out)?;
        }
        Ok(())
    }
}
