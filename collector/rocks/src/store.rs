//! `impl Store for RocksStore`: each method hands over to the module that does the work.

use crate::{RocksStore, windows};
use std::path::Path;
use vigil_proto::v1::Host;
use vigil_store::selector::Selector;
use vigil_store::{Labels, SeriesId, SeriesSamples, Store, StoreResult};

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

    fn put_host(&self, host: &Host) -> StoreResult<()> {
        self.write_host(host)
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

    // TEMPORARY until forward.rs lands (issue 16, storage part).
    fn set_forwarding(&self, _on: bool) -> StoreResult<()> {
        Err(vigil_store::StoreError::Engine("forwarding log: not built yet".into()))
    }

    fn forward_bounds(&self) -> StoreResult<vigil_store::ForwardBounds> {
        Err(vigil_store::StoreError::Engine("forwarding log: not built yet".into()))
    }

    fn forward_read(
        &self,
        _after: u64,
        _max_samples: u64,
        _max_records: usize,
    ) -> StoreResult<Vec<vigil_store::ForwardRecord>> {
        Err(vigil_store::StoreError::Engine("forwarding log: not built yet".into()))
    }

    fn forward_trim(&self, _through: u64) -> StoreResult<()> {
        Err(vigil_store::StoreError::Engine("forwarding log: not built yet".into()))
    }

    fn series_labels(&self, _ids: &[vigil_store::SeriesId]) -> StoreResult<Vec<Option<vigil_store::Labels>>> {
        Err(vigil_store::StoreError::Engine("forwarding log: not built yet".into()))
    }

    fn series_after(
        &self,
        _after: Option<vigil_store::SeriesId>,
        _limit: usize,
    ) -> StoreResult<Vec<(vigil_store::SeriesId, vigil_store::Labels)>> {
        Err(vigil_store::StoreError::Engine("forwarding log: not built yet".into()))
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
