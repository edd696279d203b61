//! Label names and values: of the series some selectors match, or straight from the
//! postings family, without touching series, when there is no selector.
//!
//! Postings keys are `lp(name) lp(value) shard` (see the layout in [`crate::keys`]). `lp` is a
//! varint length then the bytes, and varints are prefix-free, so every key of one
//! `name=value` pair shares the prefix `lp(name) lp(value)` and no other pair's key starts
//! with it. Listing the distinct names (or the values of one name) is therefore one seek
//! per distinct entry: read a key, then seek just past every key with its prefix:
//!
//! ```text
//!   past every key of a name:        lp(name) ++ [0xFF; 10]   (the next byte is a varint
//!                                     byte; ten 0xFF bytes exceed any valid varint)
//!   past every key of a name=value:  lp(name) lp(value) ++ [0xFF; 9]   (shards are 8 bytes)
//! ```

use crate::keys::{CF_POSTINGS, get_lp, put_lp};
use crate::{RocksStore, corrupt, engine};
use std::collections::BTreeSet;
use vigil_store::selector::Selector;
use vigil_store::{Store, StoreResult};

impl RocksStore {
    /// [`Store::label_names`]: every name in the postings, or those of the series that
    /// `selectors` match (in `window`, at most `limit` series).
    pub(crate) fn list_label_names(
        &self,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let mut names = if selectors.is_empty() {
            self.scan_label_names()?
        } else {
            let series = self.select_any(selectors, window, limit)?;
            let names: BTreeSet<&str> = series
                .iter()
                .flat_map(|(_, labels)| labels.pairs().iter().map(|(n, _)| n.as_str()))
                .collect();
            names.into_iter().map(str::to_owned).collect()
        };
        names.sort_unstable();
        Ok(names)
    }

    /// [`Store::label_values`]: every value of `name` in the postings, or those of the
    /// series that `selectors` match (in `window`, at most `limit` series).
    pub(crate) fn list_label_values(
        &self,
        name: &str,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let mut values = if selectors.is_empty() {
            self.scan_label_values(name)?
        } else {
            let series = self.select_any(selectors, window, limit)?;
            let values: BTreeSet<&str> = series
                .iter()
                .map(|(_, labels)| labels.get(name))
                .filter(|v| !v.is_empty())
                .collect();
            values.into_iter().map(str::to_owned).collect()
        };
        values.sort_unstable();
        Ok(values)
    }

    /// Every label name in the postings, sorted by key (length, then bytes).
    fn scan_label_names(&self) -> StoreResult<Vec<String>> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_POSTINGS));
        iter.seek_to_first();
        let mut names = Vec::new();
        while let Some(key) = iter.key() {
            let (name, used) = get_lp(key).ok_or_else(|| corrupt("postings key"))?;
            names.push(text(name)?);
            let mut past = key[..used].to_vec();
            past.extend_from_slice(&[0xFF; 10]);
            iter.seek(&past);
        }
        iter.status().map_err(engine)?;
        Ok(names)
    }

    /// Every value label `name` takes in the postings, in key order.
    fn scan_label_values(&self, name: &str) -> StoreResult<Vec<String>> {
        let mut prefix = Vec::new();
        put_lp(&mut prefix, name.as_bytes());
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_POSTINGS));
        iter.seek(&prefix);
        let mut values = Vec::new();
        while let Some(key) = iter.key() {
            let Some(rest) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let (value, used) = get_lp(rest).ok_or_else(|| corrupt("postings key"))?;
            if !value.is_empty() {
                values.push(text(value)?);
            }
            let mut past = key[..prefix.len() + used].to_vec();
            past.extend_from_slice(&[0xFF; 9]);
            iter.seek(&past);
        }
        iter.status().map_err(engine)?;
        Ok(values)
    }
}

fn text(bytes: &[u8]) -> StoreResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("postings label"))
}
