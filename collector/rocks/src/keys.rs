//! Column families and the key encodings the other modules share: length-prefixed label
//! sets, sign-flipped integers that sort numerically, and the names of the meta records.
//! Keys of one family are built next to their readers (`windows.rs`, `rollup.rs`,
//! `alerts.rs`, `state.rs`) from these parts; every family's layout is here.
//!
//! ```text
//! Column families and key layout (all integers big-endian so keys sort numerically)
//!
//!   lp(x)       = LEB128 varint of x's byte length, then x's bytes (so any bytes, NUL
//!                 included, can sit in a label value without making keys ambiguous)
//!   labelset    = lp(name1) lp(value1) lp(name2) lp(value2) …   pairs sorted by name,
//!                 `__name__` included
//!   id          = SeriesId, u64
//!   ts          = unix milliseconds, i64 with the sign bit flipped (negatives sort first)
//!   window      = ts.div_euclid(block_ms), i64 with the sign bit flipped; block_ms is fixed
//!                 when the data directory is created (meta "block_ms")
//!
//!   series        0x00 lp(host) labelset   → id           which id a label set has; host
//!                                                         is its `host` label's value
//!                                                         ("" without one), so a host's
//!                                                         series lie together (formats 1
//!                                                         to 5: labelset alone, re-keyed
//!                                                         on open)
//!   series_by_id  id                       → labelset     labels of an id
//!   posting_lists lp(name) lp(value) shard → ids          ids having name=value, in
//!                                                         shards of 4,096 (shard = id >> 12,
//!                                                         u64): offsets in the shard as
//!                                                         varint differences, grown by
//!                                                         merges (`postings.rs`)
//!   recent_frames window group seq         → frame        recent samples not yet in a
//!                                                         block, from one append, of the
//!                                                         series in one group of 64
//!                                                         consecutive ids (group = id >> 6):
//!                                                         per series its offset in the
//!                                                         group and samples (format in
//!                                                         `windows/frame.rs`); seq (u64)
//!                                                         grows with every frame written
//!                                                         (meta "recent_seq" reserves ranges
//!                                                         of it durably)
//!   blocks        id window                → block        the compressed samples of one
//!                                                         series in one window (format in
//!                                                         `codec.rs`)
//!   timestamps    window column-id (16)    → ints         a timestamp column shared by the
//!                                                         blocks of that window that name it
//!                                                         (`codec.rs`); written in the same
//!                                                         batch as the first block naming it
//!   rollup        tier (u8) id window      → buckets      downsampled tier of one series in
//!                                                         one window (tier 1: 5-minute
//!                                                         buckets, 2: 1-hour), written in
//!                                                         the batch that writes its block:
//!                                                         per bucket (by its last sample's
//!                                                         time) its count and last, min,
//!                                                         max, sum values: `ints` columns
//!                                                         and decimal or XOR value columns
//!                                                         as in blocks (see `rollup.rs`)
//!   hosts         host name                → vigil.v1.Host (protobuf)
//!   alerts        lp(file) lp(group) lp(rule) labelset
//!                                          → alert state (42 bytes, see `alerts.rs`)
//!   state         space tag (u8) key       → value        small records of other parts
//!                                                         (outbox, silences; `Space::tag`)
//!   forward       seq (u64 BE)             → record       the forwarding log: one record per
//!                                                         `append` while forwarding is on,
//!                                                         written in the append's batch; seq
//!                                                         from the runs' sequence ("recent_seq"),
//!                                                         record format in
//!                                                         `vigil_store::forward` (`forward.rs`)
//!   meta          "series_count/" host     → u64          series per host
//!                 "format"                 → u32          on-disk format version (6)
//!                 "block_ms"               → i64          window length
//!                 "recent_seq"             → u64          run sequence numbers below it may
//!                                                         be in use
//!   samples       id ts                    → f64 bits     format 1 only: moved to
//!                                                         `recent_frames` on open, then the
//!                                                         family is dropped
//!   recent        window id seq            → run          formats 2 and 3 only: one series'
//!                                                         samples from one append, n × (i64
//!                                                         ts, f64 bits) big-endian; moved
//!                                                         to `recent_frames` on open, then
//!                                                         the family is dropped
//!   postings      lp(name) lp(value) id    → (empty)      formats 1 to 4 only: a key per
//!                                                         series and label pair; moved to
//!                                                         `posting_lists` on open, then the
//!                                                         family is dropped
//! ```

use super::corrupt;
use rocksdb::{ColumnFamily, DB};
use vigil_store::{Labels, StoreError, StoreResult};

pub(crate) const CF_SERIES: &str = "series";
pub(crate) const CF_SERIES_BY_ID: &str = "series_by_id";
/// Posting lists, a value per label pair and shard of 4,096 ids (`postings.rs`).
pub(crate) const CF_POSTINGS: &str = "posting_lists";
/// Formats 1 to 4's key per series and label pair; only opened (then emptied and dropped)
/// to migrate.
pub(crate) const CF_POSTINGS_V4: &str = "postings";
/// Format 1's one key per sample; only opened (then emptied and dropped) to migrate.
pub(crate) const CF_SAMPLES_V1: &str = "samples";
/// Samples not yet compacted into a block, window-major, as frames.
pub(crate) const CF_RECENT: &str = "recent_frames";
/// Formats 2 and 3's runs of recent samples; only opened (then emptied and dropped) to
/// migrate.
pub(crate) const CF_RECENT_V3: &str = "recent";
/// Compressed per-series blocks, one per series and window.
pub(crate) const CF_BLOCKS: &str = "blocks";
/// Timestamp columns shared by the blocks of one window (one per host, typically).
pub(crate) const CF_TIMESTAMPS: &str = "timestamps";
pub(crate) const CF_HOSTS: &str = "hosts";
pub(crate) const CF_META: &str = "meta";
/// Alert instances' state; added after format 1 shipped, created on open when missing.
pub(crate) const CF_ALERTS: &str = "alerts";
/// Small records of the notifier (outbox, silences, …); created on open when missing.
pub(crate) const CF_STATE: &str = "state";
/// Downsampled tiers (5-minute and 1-hour buckets), id-major; created on open when missing.
pub(crate) const CF_ROLLUP: &str = "rollup";
/// The forwarding log remote write sends from; created on open when missing.
pub(crate) const CF_FORWARD: &str = "forward";
pub(crate) const FAMILIES: [&str; 12] = [
    CF_SERIES,
    CF_SERIES_BY_ID,
    CF_POSTINGS,
    CF_RECENT,
    CF_BLOCKS,
    CF_TIMESTAMPS,
    CF_HOSTS,
    CF_META,
    CF_ALERTS,
    CF_STATE,
    CF_ROLLUP,
    CF_FORWARD,
];

/// On-disk format written by this version; older ones are migrated on open (see
/// `migrate.rs`). Format 3 is format 2 whose blocks may use the codec's sparse integer
/// packing. Format 4 keeps recent samples as frames of a group of series per append
/// (`recent_frames`) where 2 and 3 kept one run per series (`recent`). Format 5 keeps
/// postings as lists per label pair and shard of ids (`posting_lists`) where 1 to 4 kept a
/// key per series and pair (`postings`). Format 6 leads each key of `series` with the
/// series' host ([`series_key`]) where 1 to 5 keyed it by the label set alone. A Vigil
/// that knows only an older format refuses the directory instead of misreading it.
pub(crate) const FORMAT_VERSION: u32 = 6;
pub(crate) const FORMAT_KEY: &[u8] = b"format";
pub(crate) const BLOCK_MS_KEY: &[u8] = b"block_ms";
pub(crate) const SEQ_KEY: &[u8] = b"recent_seq";

/// The meta key of the series count of `host` (`""`: the prefix of every such key).
pub(crate) fn count_key(host: &str) -> Vec<u8> {
    [b"series_count/".as_slice(), host.as_bytes()].concat()
}

pub(crate) fn family<'a>(db: &'a DB, name: &str) -> StoreResult<&'a ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Engine(format!("column family {name} is missing")))
}

/// An i64 as big-endian bytes with the sign bit flipped, so negatives sort first.
pub(crate) fn flip(x: i64) -> [u8; 8] {
    ((x as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn unflip(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

/// Just past every key that starts with `key` when keys have `key`'s length.
pub(crate) fn after(key: &[u8]) -> Vec<u8> {
    let mut bound = key.to_vec();
    bound.push(0);
    bound
}

pub(crate) fn decode_u64(bytes: &[u8], what: &str) -> StoreResult<u64> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(what))
}

/// Appends `bytes` after its length as a LEB128 varint. Names and values are almost always
/// under 128 bytes: their one-byte length is written inline (this runs for every label of
/// every series created, and for every posting offset).
#[inline]
pub(crate) fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends `n` as a LEB128 varint (prost's encoding), one byte inline when under 128.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        prost::encoding::encode_varint(n, out);
    }
}

/// Reads one length-prefixed field; returns it and the bytes used.
pub(crate) fn get_lp(mut input: &[u8]) -> Option<(&[u8], usize)> {
    let before = input.len();
    let len = usize::try_from(prost::encoding::decode_varint(&mut input).ok()?).ok()?;
    let used = before - input.len();
    let field = input.get(..len)?;
    Some((field, used + len))
}

pub(crate) fn encode_labelset(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::with_capacity(labelset_len(labels));
    put_labelset(&mut out, labels);
    out
}

/// The bytes [`encode_labelset`] writes for `labels`: exact for names and values under 128
/// bytes (a one-byte length each), so a key is allocated once.
fn labelset_len(labels: &Labels) -> usize {
    labels
        .pairs()
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum()
}

fn put_labelset(out: &mut Vec<u8>, labels: &Labels) {
    for (name, value) in labels.pairs() {
        put_lp(out, name.as_bytes());
        put_lp(out, value.as_bytes());
    }
}

/// The `series` family's key of a label set (format 6): a zero byte, the value of its `host`
/// label (length-prefixed; empty when it has none), then the set as [`encode_labelset`]
/// writes it. One host's series lie side by side, so the look-up of a host's series when it
/// reconnects reads a few blocks where sets led by their metric name were spread over the
/// whole family, one block each, and a new host's series go into the memtable as one run.
/// Keys of formats 1 to 5 (the set alone) never start with a zero byte: a set's first
/// label name is not empty.
pub(crate) fn series_key(labels: &Labels) -> Vec<u8> {
    let mut out = series_key_start(labels.get(HOST_LABEL).as_bytes(), labelset_len(labels));
    put_labelset(&mut out, labels);
    out
}

/// The [`series_key`] of a label set encoded by [`encode_labelset`] (a key of formats 1 to
/// 5), without decoding it into strings.
pub(crate) fn series_key_of_encoded(set: &[u8]) -> StoreResult<Vec<u8>> {
    let mut host: &[u8] = &[];
    let mut rest = set;
    while !rest.is_empty() {
        let (name, used) = get_lp(rest).ok_or_else(|| corrupt("label set"))?;
        rest = &rest[used..];
        let (value, used) = get_lp(rest).ok_or_else(|| corrupt("label set"))?;
        rest = &rest[used..];
        if name == HOST_LABEL.as_bytes() {
            host = value;
        }
    }
    let mut out = series_key_start(host, set.len());
    out.extend_from_slice(set);
    Ok(out)
}

/// A [`series_key`] up to its label set, with room for `set_len` more bytes.
fn series_key_start(host: &[u8], set_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 10 + host.len() + set_len);
    out.push(SERIES_KEY_MARK);
    put_lp(&mut out, host);
    out
}

/// The label set of a [`series_key`], encoded as [`encode_labelset`] does.
pub(crate) fn series_key_labels(key: &[u8]) -> StoreResult<&[u8]> {
    Ok(&key[series_key_host_len(key)?..])
}

/// The leading part of a [`series_key`] that names its host (`0x00 lp(host)`): every
/// label set of one host starts with it.
pub(crate) fn series_key_host(key: &[u8]) -> StoreResult<&[u8]> {
    Ok(&key[..series_key_host_len(key)?])
}

fn series_key_host_len(key: &[u8]) -> StoreResult<usize> {
    let rest = key
        .strip_prefix(&[SERIES_KEY_MARK])
        .ok_or_else(|| corrupt("series key"))?;
    let (_, used) = get_lp(rest).ok_or_else(|| corrupt("series key"))?;
    Ok(1 + used)
}

/// The first byte of every format-6 [`series_key`].
pub(crate) const SERIES_KEY_MARK: u8 = 0;
/// The label a [`series_key`] is led by.
const HOST_LABEL: &str = "host";

pub(crate) fn decode_labelset(mut bytes: &[u8]) -> StoreResult<Labels> {
    let mut pairs = Vec::new();
    while !bytes.is_empty() {
        let (name, used) = get_lp(bytes).ok_or_else(|| corrupt("label set"))?;
        bytes = &bytes[used..];
        let (value, used) = get_lp(bytes).ok_or_else(|| corrupt("label set"))?;
        bytes = &bytes[used..];
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| corrupt("label set"));
        pairs.push((text(name)?, text(value)?));
    }
    Ok(Labels::new(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelset_round_trips_hostile_values() {
        let labels = Labels::new(vec![
            ("__name__".into(), "m".into()),
            ("a".into(), "with\0nul and \u{1F600}".into()),
            ("b".into(), String::new()),
        ]);
        assert_eq!(decode_labelset(&encode_labelset(&labels)).unwrap(), labels);
    }

    #[test]
    fn varints_are_prosts_on_both_sides_of_the_one_byte_form() {
        for n in [0, 1, 127, 128, 255, 300, 16_383, 16_384, 1 << 32, u64::MAX] {
            let (mut ours, mut prosts) = (vec![7], vec![7]);
            put_varint(&mut ours, n);
            prost::encoding::encode_varint(n, &mut prosts);
            assert_eq!(ours, prosts, "{n}");
        }
        let long = "x".repeat(200);
        let mut out = Vec::new();
        put_lp(&mut out, long.as_bytes());
        put_lp(&mut out, b"ab");
        let (first, used) = get_lp(&out).unwrap();
        assert_eq!((first, used), (long.as_bytes(), 202));
        assert_eq!(get_lp(&out[used..]).unwrap(), (&b"ab"[..], 3));
    }

    #[test]
    fn series_keys_lead_with_the_host_and_keep_the_set() {
        let set = |host: &str, name: &str| {
            let mut pairs = vec![("__name__", name), ("job", "node")];
            if !host.is_empty() {
                pairs.push(("host", host));
            }
            Labels::from_pairs(&pairs)
        };
        for labels in [
            set("web-1", "a"),
            set("", "a"),
            set("h\0ost", "b"),
            Labels::new(vec![]),
        ] {
            let key = series_key(&labels);
            assert_eq!(key[0], SERIES_KEY_MARK);
            let encoded = encode_labelset(&labels);
            assert_eq!(series_key_labels(&key).unwrap(), encoded.as_slice());
            // The migration from formats 1 to 5 builds the same key from the old one.
            assert_eq!(series_key_of_encoded(&encoded).unwrap(), key);
            // An old key never starts with the mark.
            assert_ne!(encoded.first(), Some(&SERIES_KEY_MARK));
        }
        // One host's series lie together, whatever their metric names.
        let mut keys = [
            series_key(&set("b", "a")),
            series_key(&set("a", "z")),
            series_key(&set("b", "z")),
            series_key(&set("a", "a")),
        ];
        keys.sort();
        let hosts: Vec<&str> = keys
            .iter()
            .map(|k| decode_labelset(series_key_labels(k).unwrap()).unwrap())
            .map(|l| if l.get("host") == "a" { "a" } else { "b" })
            .collect();
        assert_eq!(hosts, ["a", "a", "b", "b"]);
        assert!(series_key_labels(b"\x01abc").is_err());
        // A damaged old key stops the migration with an error naming it, not a panic.
        let err = series_key_of_encoded(b"\x08__name__\x05ab").unwrap_err();
        assert!(err.to_string().contains("label set"), "{err}");
    }

    #[test]
    fn sample_keys_sort_by_time_including_negative() {
        use crate::windows::{block_key, recent_key};
        assert!(recent_key(-1, 1, 5) < recent_key(0, 1, 0));
        assert!(recent_key(0, 1, 0) < recent_key(0, 1, u64::MAX));
        assert!(recent_key(0, 1, u64::MAX) < recent_key(0, 2, 0));
        assert!(recent_key(0, u64::MAX, u64::MAX) < recent_key(1, 0, 0));
        assert!(block_key(1, -1) < block_key(1, 0));
        assert!(block_key(1, i64::MAX) < block_key(2, i64::MIN));
    }
}
