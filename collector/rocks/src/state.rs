//! Small records of other parts of the collector in the `state` family (layout in
//! [`crate::keys`]): the key is the space's tag byte, then the caller's key; the value is the
//! caller's bytes.

use crate::keys::CF_STATE;
use crate::{RocksStore, engine};
use rocksdb::{Direction, IteratorMode, WriteBatch};
use vigil_store::{KvOp, Space, StoreResult};

impl RocksStore {
    pub(super) fn write_state(&self, ops: &[KvOp]) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_STATE);
        let mut batch = WriteBatch::default();
        for op in ops {
            let key = state_key(op.space, &op.key);
            match &op.value {
                Some(value) => batch.put_cf(cf, key, value),
                None => batch.delete_cf(cf, key),
            }
        }
        self.db
            .write_opt(batch, &self.write_options(self.sync))
            .map_err(engine)
    }

    pub(super) fn scan_state(&self, space: Space) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = [space.tag()];
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_STATE),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(engine)?;
            if key.first() != Some(&space.tag()) {
                break;
            }
            out.push((key[1..].to_vec(), value.to_vec()));
        }
        Ok(out)
    }
}

fn state_key(space: Space, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(space.tag());
    out.extend_from_slice(key);
    out
}
