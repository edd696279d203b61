//! Series by selector: per alternative, the ids of each narrowing matcher from the postings
//! (one seek for `name="value"`, a scan of the name's values otherwise), intersected; then
//! the label sets of the union, checked against the whole selector.

use crate::keys::{CF_POSTINGS, CF_SERIES_BY_ID, decode_labelset, decode_u64, get_lp, put_lp};
use crate::{RocksStore, corrupt, engine};
use promql_parser::label::MatchOp;
use rocksdb::{Direction, IteratorMode};
use std::collections::BTreeSet;
use vigil_store::selector::Selector;
use vigil_store::{Labels, SeriesId, StoreError, StoreResult};

impl RocksStore {
    /// [`vigil_store::Store::select`]: the matching series sorted by labels, at most
    /// `limit` of them, and whether more matched.
    pub(crate) fn select_series(
        &self,
        selector: &Selector,
        limit: usize,
    ) -> StoreResult<(Vec<(SeriesId, Labels)>, bool)> {
        let mut found: BTreeSet<u64> = BTreeSet::new();
        for alternative in selector.alternatives() {
            let mut candidates: Option<BTreeSet<u64>> = None;
            for m in alternative.iter().filter(|m| !m.is_match("")) {
                let ids = match &m.op {
                    MatchOp::Equal => self.postings_equal(&m.name, &m.value)?,
                    _ => self.postings(&m.name, |v| m.is_match(v))?,
                };
                candidates = Some(match candidates {
                    None => ids,
                    Some(c) => c.intersection(&ids).copied().collect(),
                });
            }
            let candidates = candidates.ok_or_else(|| {
                StoreError::BadSelector("selector has no matcher that narrows the series".into())
            })?;
            found.extend(candidates);
        }
        let mut out = Vec::new();
        let ids: Vec<u64> = found.into_iter().collect();
        let keys: Vec<[u8; 8]> = ids.iter().map(|id| id.to_be_bytes()).collect();
        let values = self
            .db
            .batched_multi_get_cf(self.cf(CF_SERIES_BY_ID), &keys, true);
        for (id, value) in ids.into_iter().zip(values) {
            if let Some(bytes) = value.map_err(engine)? {
                let labels = decode_labelset(&bytes)?;
                if selector.matches(&labels) {
                    out.push((id, labels));
                }
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
        let truncated = out.len() > limit;
        out.truncate(limit);
        Ok((out, truncated))
    }

    /// Ids of the series with `name="value"`: one seek, then only their keys.
    fn postings_equal(&self, name: &str, value: &str) -> StoreResult<BTreeSet<u64>> {
        let mut prefix = Vec::new();
        put_lp(&mut prefix, name.as_bytes());
        put_lp(&mut prefix, value.as_bytes());
        let mut ids = BTreeSet::new();
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_POSTINGS));
        iter.seek(&prefix);
        while let Some(key) = iter.key() {
            let Some(id) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            ids.insert(decode_u64(id, "postings id")?);
            iter.next();
        }
        iter.status().map_err(engine)?;
        Ok(ids)
    }

    /// Ids whose label `name` has a value accepted by `accept`.
    fn postings(&self, name: &str, accept: impl Fn(&str) -> bool) -> StoreResult<BTreeSet<u64>> {
        let mut prefix = Vec::new();
        put_lp(&mut prefix, name.as_bytes());
        let mut ids = BTreeSet::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_POSTINGS),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (key, _) = item.map_err(engine)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let rest = &key[prefix.len()..];
            let (value, used) = get_lp(rest).ok_or_else(|| corrupt("postings key"))?;
            let id = decode_u64(&rest[used..], "postings id")?;
            let value = std::str::from_utf8(value).map_err(|_| corrupt("postings label value"))?;
            if accept(value) {
                ids.insert(id);
            }
        }
        Ok(ids)
    }
}
