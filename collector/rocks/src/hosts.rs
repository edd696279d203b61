//! Host records in the `hosts` family: each host's latest `vigil.v1.Host`, keyed by its
//! name (layout in [`crate::keys`]).

use crate::keys::CF_HOSTS;
use crate::{RocksStore, corrupt, engine};
use prost::Message;
use rocksdb::IteratorMode;
use vigil_proto::v1::Host;
use vigil_store::StoreResult;

impl RocksStore {
    /// Stores `host`, replacing the record of the same name.
    pub(crate) fn write_host(&self, host: &Host) -> StoreResult<()> {
        self.db
            .put_cf_opt(
                self.cf(CF_HOSTS),
                host.host.as_bytes(),
                host.encode_to_vec(),
                &self.write_options(self.sync),
            )
            .map_err(engine)
    }

    /// Stores `hosts` in one write, each replacing the record of the same name.
    pub(crate) fn write_hosts(&self, hosts: &[Host]) -> StoreResult<()> {
        let mut batch = rocksdb::WriteBatch::default();
        for host in hosts {
            batch.put_cf(
                self.cf(CF_HOSTS),
                host.host.as_bytes(),
                host.encode_to_vec(),
            );
        }
        self.db
            .write_opt(batch, &self.write_options(self.sync))
            .map_err(engine)
    }

    /// The record of the host called `name`, if there is one.
    pub(crate) fn read_host(&self, name: &str) -> StoreResult<Option<Host>> {
        match self
            .db
            .get_cf(self.cf(CF_HOSTS), name.as_bytes())
            .map_err(engine)?
        {
            Some(bytes) => Host::decode(bytes.as_slice())
                .map(Some)
                .map_err(|_| corrupt("host")),
            None => Ok(None),
        }
    }

    /// Every host record, by name.
    pub(crate) fn read_hosts(&self) -> StoreResult<Vec<Host>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_HOSTS), IteratorMode::Start) {
            let (_, bytes) = item.map_err(engine)?;
            out.push(Host::decode(&bytes[..]).map_err(|_| corrupt("host"))?);
        }
        Ok(out)
    }
}
