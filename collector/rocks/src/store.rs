//! `impl Store for RocksStore`: each method hands over to the module that does the work.

use crate::{RocksStore, windows};
use std::path::Path;
use vigil_proto::v1::Host;
use vigil_store::selector::Selector;
use vigil_store::{
    ForwardBounds, ForwardRecord, Labels, SeriesId, SeriesSamples, Store, StoreResult,
};

impl Store for RocksStore {
    fn resolve_series(
        &self,
        host: &str,
        series: &[Labels],
        max_series: u64,
    ) -> StoreResult<Vec<SeriesId>> {
        self.find_or_create_ids(host, series, max_series)
    }

    fn append(&self, samples: &[SeriesSamples]) -> StoreResult<()> {
        windows::append(
            &self.db,
            &self.windows,
            &self.forward,
            samples,
            &self.write_options(self.sync),
        )
    }

    fn select(
        &self,
        selector: &Selector,
        limit: usize,
    ) -> StoreResult<(Vec<(SeriesId, Labels)>, bool)> {
        self.select_series(selector, limit)
    }

    fn samples(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()> {
        windows::read(&self.db, &self.windows, id, start_ms, end_ms, out)
    }

    fn samples_for_step(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()> {
        let _ = step_ms;
        self.read_with_tiers(id, start_ms, end_ms, out)
    }

    fn samples_for_step_many(
        &self,
        ids: &[SeriesId],
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> StoreResult<Vec<Vec<(i64, f64)>>> {
        let _ = step_ms;
        self.read_many_with_tiers(ids, start_ms, end_ms)
    }

    fn put_host(&self, host: &Host) -> StoreResult<()> {
        self.write_host(host)
    }

    fn put_hosts(&self, hosts: &[Host]) -> StoreResult<()> {
        self.write_hosts(hosts)
    }

    fn host(&self, name: &str) -> StoreResult<Option<Host>> {
        self.read_host(name)
    }

    fn hosts(&self) -> StoreResult<Vec<Host>> {
        self.read_hosts()
    }

    fn series_count(&self, host: &str) -> StoreResult<u64> {
        self.host_series_count(host)
    }

    fn label_names(
        &self,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.list_label_names(selectors, window, limit)
    }

    fn label_values(
        &self,
        name: &str,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.list_label_values(name, selectors, window, limit)
    }

    fn has_samples(&self, id: SeriesId, start_ms: i64, end_ms: i64) -> StoreResult<bool> {
        windows::any(&self.db, &self.windows, id, start_ms, end_ms)
    }

    fn write_alerts(
        &self,
        put: &[vigil_store::StoredAlert],
        remove: &[vigil_store::AlertKey],
    ) -> StoreResult<()> {
        self.write_alert_records(put, remove)
    }

    fn alerts(&self) -> StoreResult<Vec<vigil_store::StoredAlert>> {
        self.read_alert_records()
    }

    fn kv_write(&self, ops: &[vigil_store::KvOp]) -> StoreResult<()> {
        self.write_state(ops)
    }

    fn kv_scan(&self, space: vigil_store::Space) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_state(space)
    }

    fn checkpoint(&self, dir: &Path) -> StoreResult<vigil_store::CheckpointInfo> {
        self.create_checkpoint(dir)
    }

    fn stats(&self) -> StoreResult<vigil_store::StoreStats> {
        self.usage()
    }

    fn set_forwarding(&self, on: bool) -> StoreResult<()> {
        self.forward.set(&self.db, on)
    }

    fn forward_bounds(&self) -> StoreResult<ForwardBounds> {
        self.forward.bounds(&self.db)
    }

    fn forward_read(
        &self,
        after: u64,
        max_samples: u64,
        max_records: usize,
    ) -> StoreResult<Vec<ForwardRecord>> {
        self.forward.read(&self.db, after, max_samples, max_records)
    }

    fn forward_trim(&self, through: u64) -> StoreResult<()> {
        self.forward.trim(&self.db, through)
    }

    fn series_labels(&self, ids: &[SeriesId]) -> StoreResult<Vec<Option<Labels>>> {
        self.labels_of(ids)
    }

    fn series_after(
        &self,
        after: Option<SeriesId>,
        limit: usize,
    ) -> StoreResult<Vec<(SeriesId, Labels)>> {
        self.series_from(after, limit)
    }
}

#[cfg(test)]
mod tests {
    use crate::{RocksOptions, RocksStore};

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        vigil_store::conformance::run_all(&store);
    }
}
