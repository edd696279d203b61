//! Posting lists: for each label pair, the ids of the series that have it, kept in shards of
//! 4,096 consecutive ids, one RocksDB value per pair and shard, grown by merges.
//!
//! ```text
//!   key    lp(name) lp(value) shard      shard = id >> 12, u64 big-endian
//!   value  offsets (id & 0xFFF) ascending, each as the LEB128 varint of its difference
//!          from the previous one (the first from 0)
//! ```
//!
//! Creating series adds a merge operand per label pair and shard the call touches, not a key
//! per series and pair: a host's 300 new series, which share most of their label pairs and
//! get consecutive ids, become a few dozen operands instead of about 1,500 keys. RocksDB
//! folds operands into the stored list ([`merge`]) on reads and compactions, so the
//! operator must be associative and cheap: it takes the union of its inputs through a
//! 4,096-bit set, so order and repeats do not matter and the output is always sorted.
//!
//! A damaged value or operand never stops a compaction: [`merge`] keeps the offsets it can
//! read and drops the rest; readers report it as corrupt ([`decode`]).

use crate::keys::{put_lp, put_varint};
use foldhash::HashMap;
use rocksdb::MergeOperands;

/// Ids per shard, as a shift: a shard holds ids `shard << SHARD_BITS ..` `(shard + 1) << SHARD_BITS`.
pub(crate) const SHARD_BITS: u32 = 12;
const SHARD_IDS: usize = 1 << SHARD_BITS;

/// The RocksDB name of [`merge`]; a directory written with a merge operator must be opened
/// with one of the same name.
pub(crate) const MERGE_OPERATOR: &str = "vigil-postings-union";

/// `lp(name) lp(value)`: the prefix every key of one label pair shares.
pub(crate) fn pair_prefix(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + value.len() + 10);
    put_lp(&mut key, name);
    put_lp(&mut key, value);
    key
}

/// The key of one pair's shard holding `id`.
pub(crate) fn posting_key(prefix: &[u8], id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&(id >> SHARD_BITS).to_be_bytes());
    key
}

/// The posting merges of series created in one call: the ids of each label pair, the
/// pairs borrowed from the label sets, then one merge per pair and shard. A call's series
/// share most pairs, so this hashes two borrowed strings per pair of every series and
/// sorts only the distinct pairs, where [`PostingWrites`] builds and hashes a key per
/// pair of every series and sorts every list.
#[derive(Default)]
pub(crate) struct CreatedPostings<'a> {
    by_pair: HashMap<(&'a str, &'a str), Vec<u64>>,
}

impl<'a> CreatedPostings<'a> {
    /// Adds `id` to the posting list of `name=value`. Ids come in ascending order (a
    /// call's new ids are one range, given out in order).
    pub(crate) fn add(&mut self, name: &'a str, value: &'a str, id: u64) {
        self.by_pair.entry((name, value)).or_default().push(id);
    }

    /// Calls `merge(key, operand)` once per pair and shard, in key order (exactly so for
    /// names and values under 128 bytes, whose length prefix is one byte; RocksDB inserts
    /// neighbours fastest, and any order is correct).
    pub(crate) fn each_merge(self, mut merge: impl FnMut(&[u8], &[u8])) {
        let mut pairs: Vec<((&str, &str), Vec<u64>)> = self.by_pair.into_iter().collect();
        pairs.sort_unstable_by(|((an, av), _), ((bn, bv), _)| {
            (an.len(), an, av.len(), av).cmp(&(bn.len(), bn, bv.len(), bv))
        });
        let (mut key, mut offsets) = (Vec::new(), Vec::new());
        for ((name, value), mut ids) in pairs {
            if !ids.is_sorted() {
                ids.sort_unstable();
            }
            ids.dedup();
            key.clear();
            put_lp(&mut key, name.as_bytes());
            put_lp(&mut key, value.as_bytes());
            let prefix = key.len();
            for shard_ids in ids.chunk_by(|a, b| a >> SHARD_BITS == b >> SHARD_BITS) {
                offsets.clear();
                offsets.extend(shard_ids.iter().map(|&id| offset(id)));
                key.truncate(prefix);
                key.extend_from_slice(&(shard_ids[0] >> SHARD_BITS).to_be_bytes());
                merge(&key, &encode(&offsets));
            }
        }
    }
}

/// Posting entries gathered for one write: per key, the offsets to add.
#[derive(Default)]
pub(crate) struct PostingWrites {
    by_key: HashMap<Vec<u8>, Vec<u16>>,
}

impl PostingWrites {
    /// Adds `id` to the list under `key` (which must be the key of `id`'s shard).
    pub(crate) fn add_key(&mut self, key: &[u8], id: u64) {
        match self.by_key.get_mut(key) {
            Some(offsets) => offsets.push(offset(id)),
            None => {
                self.by_key.insert(key.to_vec(), vec![offset(id)]);
            }
        }
    }

    /// One merge per key into `batch`, in key order (which RocksDB inserts fastest); leaves
    /// this empty.
    pub(crate) fn write(&mut self, batch: &mut rocksdb::WriteBatch, cf: &rocksdb::ColumnFamily) {
        let mut by_key: Vec<(Vec<u8>, Vec<u16>)> = self.by_key.drain().collect();
        by_key.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, mut offsets) in by_key {
            offsets.sort_unstable();
            offsets.dedup();
            batch.merge_cf(cf, key, encode(&offsets));
        }
    }
}

fn offset(id: u64) -> u16 {
    (id & (SHARD_IDS as u64 - 1)) as u16
}

/// Ascending distinct offsets as varint differences.
pub(crate) fn encode(offsets: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(offsets.len() + 1);
    let mut last = 0u16;
    for &o in offsets {
        put_varint(&mut out, u64::from(o - last));
        last = o;
    }
    out
}

/// Appends the ids of one shard's list to `out`, ascending; `Err` when the value is damaged
/// (a varint cut short, or an offset past the shard), with what was read before kept.
pub(crate) fn decode(value: &[u8], shard: u64, out: &mut Vec<u64>) -> Result<(), ()> {
    let base = shard << SHARD_BITS;
    let mut at = 0u64;
    let mut first = true;
    for_each_offset(value, |delta| {
        // Every difference after the first is positive: a zero or a step past the shard is
        // damage.
        if (!first && delta == 0) || at + delta >= SHARD_IDS as u64 {
            return false;
        }
        first = false;
        at += delta;
        out.push(base | at);
        true
    })
}

/// Calls `f` with each varint of `value` until it returns false; `Err` when stopped early or
/// a varint is damaged.
fn for_each_offset(mut value: &[u8], mut f: impl FnMut(u64) -> bool) -> Result<(), ()> {
    while !value.is_empty() {
        let delta = prost::encoding::decode_varint(&mut value).map_err(|_| ())?;
        if !f(delta) {
            return Err(());
        }
    }
    Ok(())
}

/// RocksDB's merge of posting lists (full and partial alike): the union of the stored list
/// and every operand, sorted. Unreadable tails are dropped, so a compaction never fails on
/// them.
pub(crate) fn merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    Some(union(existing.into_iter().chain(operands)))
}

/// The sorted union of posting lists; what cannot be read of each is dropped.
fn union<'a>(lists: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut set = [0u64; SHARD_IDS / 64];
    let mut add = |value: &[u8]| {
        let mut at = 0u64;
        let _ = for_each_offset(value, |delta| {
            at += delta;
            if at >= SHARD_IDS as u64 {
                return false;
            }
            set[(at / 64) as usize] |= 1 << (at % 64);
            true
        });
    };
    for list in lists {
        add(list);
    }
    let mut out = Vec::new();
    let mut last = 0u64;
    for (word_at, &word) in set.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let o = word_at as u64 * 64 + u64::from(bits.trailing_zeros());
            put_varint(&mut out, o - last);
            last = o;
            bits &= bits - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(value: &[u8], shard: u64) -> Vec<u64> {
        let mut out = Vec::new();
        decode(value, shard, &mut out).unwrap();
        out
    }

    #[test]
    fn lists_round_trip_with_the_shard_base() {
        let offsets = [0u16, 1, 2, 300, 4095];
        let value = encode(&offsets);
        assert_eq!(ids(&value, 0), [0, 1, 2, 300, 4095]);
        assert_eq!(ids(&value, 3), [12288, 12289, 12290, 12588, 16383]);
        assert!(ids(&[], 9).is_empty());
        // Dense lists cost about a byte an id.
        let all: Vec<u16> = (0..4096).collect();
        assert_eq!(encode(&all).len(), 4096);
    }

    #[test]
    fn damaged_values_are_errors_that_keep_what_was_read() {
        let mut out = Vec::new();
        // A varint cut short.
        assert!(decode(&[5, 0x80], 0, &mut out).is_err());
        assert_eq!(out, [5]);
        // A repeat, and a step past the shard.
        out.clear();
        assert!(decode(&[5, 0], 0, &mut out).is_err());
        out.clear();
        assert!(decode(&[0xFF, 0x7F], 0, &mut out).is_err());
        assert!(out.is_empty());
        // Ten bytes of 0xFF is no varint at all.
        assert!(decode(&[0xFF; 11], 0, &mut out).is_err());
    }

    #[test]
    fn keys_sort_by_pair_then_shard() {
        let p = pair_prefix(b"job", b"node");
        let a = posting_key(&p, 4095);
        let b = posting_key(&p, 4096);
        assert!(a < b);
        assert_eq!(a[p.len()..], 0u64.to_be_bytes());
        assert_eq!(b[p.len()..], 1u64.to_be_bytes());
    }

    #[test]
    fn union_sorts_drops_repeats_and_damage() {
        let a = encode(&[3, 10, 11]);
        let b = encode(&[0, 10, 4000]);
        let merged = union([a.as_slice(), b.as_slice(), &[0xFF, 0xFF, 0x7F], &[7, 0x80]]);
        assert_eq!(ids(&merged, 0), [0, 3, 7, 10, 11, 4000]);
        assert!(union([]).is_empty());
    }

    #[test]
    fn created_postings_write_what_posting_writes_would() {
        // Pairs shared by every series, pairs of a few, a value past 127 bytes (two-byte
        // length prefix), ids across a shard boundary and a repeated id.
        let long = "v".repeat(130);
        let series: Vec<Vec<(String, String)>> = (0..40)
            .map(|k| {
                let mut pairs = vec![
                    ("__name__".to_owned(), format!("m{}", k % 3)),
                    ("host".to_owned(), "h".to_owned()),
                    ("k".to_owned(), k.to_string()),
                ];
                if k % 7 == 0 {
                    pairs.push(("long".to_owned(), long.clone()));
                }
                pairs
            })
            .collect();
        let ids: Vec<u64> = (0..40u64).map(|k| 4_080 + k).chain([4_100]).collect();
        let mut old = PostingWrites::default();
        let mut new = CreatedPostings::default();
        for (pairs, &id) in series.iter().cycle().zip(&ids) {
            for (name, value) in pairs {
                let prefix = pair_prefix(name.as_bytes(), value.as_bytes());
                old.add_key(&posting_key(&prefix, id), id);
                new.add(name, value, id);
            }
        }
        let mut expected: Vec<(Vec<u8>, Vec<u8>)> = old
            .by_key
            .drain()
            .map(|(key, mut offsets)| {
                offsets.sort_unstable();
                offsets.dedup();
                (key, encode(&offsets))
            })
            .collect();
        expected.sort();
        let mut got = Vec::new();
        new.each_merge(|key, operand| got.push((key.to_vec(), operand.to_vec())));
        let keys: Vec<&Vec<u8>> = got.iter().map(|(k, _)| k).collect();
        let mut in_order = keys.clone();
        in_order.sort();
        in_order.dedup();
        assert_eq!(in_order.len(), keys.len(), "one merge per key");
        got.sort();
        assert_eq!(got, expected);
        let mut none = Vec::new();
        CreatedPostings::default().each_merge(|k, _| none.push(k.to_vec()));
        assert!(none.is_empty());
    }

    #[test]
    fn writes_merge_one_operand_per_key() {
        let mut w = PostingWrites::default();
        let prefix = pair_prefix(b"job", b"node");
        for id in [4097u64, 4096, 1, 4096] {
            w.add_key(&posting_key(&prefix, id), id);
        }
        assert_eq!(w.by_key.len(), 2);
        let key = posting_key(&pair_prefix(b"job", b"node"), 4096);
        assert_eq!(w.by_key[&key], [1, 0, 0]);
    }
}
