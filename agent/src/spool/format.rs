//! Record framing and encoding of spool segment files (the layout is described in
//! [`crate::spool`]). Decoding is pure over bytes and never trusts a length or count it
//! read: each is checked against what is left before anything is allocated.

use crate::collect::SeriesKey;
use vigil_proto::packed::{put_varint, unzigzag, zigzag};

/// First bytes of every segment file.
pub const MAGIC: [u8; 4] = *b"VGSP";
/// Format revision after the magic.
pub const VERSION: u8 = 1;
/// Bytes before the first record: magic, version, three zero bytes.
pub const HEADER_BYTES: usize = 8;
/// Bytes before each record body: its length and its CRC-32.
pub const FRAME_BYTES: usize = 8;
/// Largest record body accepted; a length above it is damage.
pub const MAX_BODY: usize = 64 << 20;

const KIND_ROUND: u8 = 1;
const KIND_ACK: u8 = 2;

/// The segment header.
pub fn header() -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = VERSION;
    h
}

/// One record read back from a segment.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A collection round, with the definitions of ids first used in its segment.
    Round(StoredRound),
    /// Every round with a sequence number up to this one is acknowledged.
    Ack(u64),
}

/// A round as stored: ids are those of the process that wrote it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredRound {
    /// Sequence number.
    pub seq: u64,
    /// When the samples were taken, unix milliseconds.
    pub timestamp_ms: i64,
    /// (id, series) for ids this record is the first in its segment to use.
    pub definitions: Vec<(u64, SeriesKey)>,
    /// Series ids.
    pub ids: Vec<u64>,
    /// One value per id.
    pub values: Vec<f64>,
}

/// Appends a framed round record to `out`; `definition` gives the series of each id that
/// `define` lists.
pub fn put_round<'k>(
    out: &mut Vec<u8>,
    seq: u64,
    timestamp_ms: i64,
    define: &[u64],
    definition: impl Fn(u64) -> Option<&'k SeriesKey>,
    ids: &[u64],
    values: &[f64],
) {
    let start = begin(out, KIND_ROUND);
    put_varint(out, seq);
    put_varint(out, zigzag(timestamp_ms));
    let defined: Vec<(u64, &SeriesKey)> = define
        .iter()
        .filter_map(|&id| Some((id, definition(id)?)))
        .collect();
    put_varint(out, defined.len() as u64);
    for (id, key) in defined {
        put_varint(out, id);
        put_bytes(out, key.name.as_bytes());
        put_varint(out, key.labels.len() as u64);
        for (name, value) in &key.labels {
            put_bytes(out, name.as_bytes());
            put_bytes(out, value.as_bytes());
        }
    }
    put_varint(out, ids.len() as u64);
    let mut previous = 0u64;
    for &id in ids {
        put_varint(out, zigzag(id.wrapping_sub(previous) as i64));
        previous = id;
    }
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    finish(out, start);
}

/// Appends a framed acknowledgement record to `out`.
pub fn put_ack(out: &mut Vec<u8>, seq: u64) {
    let start = begin(out, KIND_ACK);
    put_varint(out, seq);
    finish(out, start);
}

fn begin(out: &mut Vec<u8>, kind: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_BYTES]);
    out.push(kind);
    start
}

fn finish(out: &mut [u8], start: usize) {
    let body = &out[start + FRAME_BYTES..];
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Walks the records of a segment's bytes (header included), skipping damage: a record
/// whose frame or checksum is wrong is skipped by searching forward for the next record
/// whose length and checksum hold, and the bytes passed over are counted.
#[derive(Debug)]
pub struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bytes that belonged to no intact record (a bad header counts too).
    pub damaged_bytes: u64,
    /// Bytes at the end that hold no intact record (a torn last write).
    pub torn_bytes: u64,
}

impl<'a> Records<'a> {
    /// Starts after the header; a wrong header counts as damage and reading goes on.
    pub fn new(data: &'a [u8]) -> Self {
        let mut records = Self {
            data,
            pos: 0,
            damaged_bytes: 0,
            torn_bytes: 0,
        };
        if data.len() >= HEADER_BYTES && data[..HEADER_BYTES] == header() {
            records.pos = HEADER_BYTES;
        } else if data.len() < HEADER_BYTES {
            records.torn_bytes = data.len() as u64;
            records.pos = data.len();
        } else {
            records.damaged_bytes = HEADER_BYTES as u64;
            records.pos = HEADER_BYTES;
        }
        records
    }

    /// Starts at `pos`, a record boundary an earlier walk returned.
    pub fn resume(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos: pos.min(data.len()),
            damaged_bytes: 0,
            torn_bytes: 0,
        }
    }

    /// Where the next record starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The record at `at`, with its end, if its frame and checksum hold and it decodes.
    fn at(&self, at: usize) -> Option<(Record, usize)> {
        let frame = self.data.get(at..at + FRAME_BYTES)?;
        let len = u32::from_le_bytes(frame[..4].try_into().ok()?) as usize;
        if len == 0 || len > MAX_BODY {
            return None;
        }
        let body = self.data.get(at + FRAME_BYTES..at + FRAME_BYTES + len)?;
        if !matches!(body[0], KIND_ROUND | KIND_ACK) {
            return None;
        }
        let crc = u32::from_le_bytes(frame[4..8].try_into().ok()?);
        if crc32fast::hash(body) != crc {
            return None;
        }
        Some((decode(body)?, at + FRAME_BYTES + len))
    }
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.pos >= self.data.len() {
            return None;
        }
        if let Some((record, end)) = self.at(self.pos) {
            self.pos = end;
            return Some(record);
        }
        // Damage: find the next intact record.
        let from = self.pos;
        for at in from + 1..self.data.len() {
            if let Some((record, end)) = self.at(at) {
                self.damaged_bytes += (at - from) as u64;
                self.pos = end;
                return Some(record);
            }
        }
        self.torn_bytes += (self.data.len() - from) as u64;
        self.pos = self.data.len();
        None
    }
}

fn decode(body: &[u8]) -> Option<Record> {
    let mut r = Reader { data: body, pos: 1 };
    let record = match body[0] {
        KIND_ACK => Record::Ack(r.varint()?),
        KIND_ROUND => {
            let seq = r.varint()?;
            let timestamp_ms = unzigzag(r.varint()?);
            let count = r.count(3)?;
            let mut definitions = Vec::with_capacity(count);
            for _ in 0..count {
                let id = r.varint()?;
                let name = r.string()?;
                let labels = r.count(2)?;
                let mut key = SeriesKey {
                    name,
                    labels: Vec::with_capacity(labels),
                };
                for _ in 0..labels {
                    key.labels.push((r.string()?, r.string()?));
                }
                definitions.push((id, key));
            }
            let n = r.count(9)?;
            let mut ids = Vec::with_capacity(n);
            let mut previous = 0u64;
            for _ in 0..n {
                previous = previous.wrapping_add(unzigzag(r.varint()?) as u64);
                ids.push(previous);
            }
            let raw = r.take(n.checked_mul(8)?)?;
            let values = raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect();
            Record::Round(StoredRound {
                seq,
                timestamp_ms,
                definitions,
                ids,
                values,
            })
        }
        _ => return None,
    };
    (r.pos == body.len()).then_some(record)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.data.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A count of items each at least `min_bytes` long, refused if the rest cannot hold them.
    fn count(&mut self, min_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= (self.data.len() - self.pos) / min_bytes.max(1)).then_some(n)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    fn string(&mut self) -> Option<String> {
        let n = self.count(1)?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
        SeriesKey {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
        }
    }

    fn segment(records: &[Vec<u8>]) -> Vec<u8> {
        let mut data = header().to_vec();
        for r in records {
            data.extend_from_slice(r);
        }
        data
    }

    fn round(seq: u64, ids: &[u64]) -> Vec<u8> {
        let keys = [key("a", &[]), key("b", &[("cpu", "0")]), key("c", &[])];
        let mut out = Vec::new();
        put_round(
            &mut out,
            seq,
            -5 + seq as i64 * 1000,
            ids,
            |id| keys.get(id as usize - 1),
            ids,
            &ids.iter().map(|&i| i as f64 + 0.5).collect::<Vec<_>>(),
        );
        out
    }

    #[test]
    fn rounds_and_acks_round_trip_every_value() {
        let values = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 3.0,
            1.8446744073709552e19,
            -1e-300,
        ];
        let ids: Vec<u64> = vec![3, 1, 2, 70_000, 1, u64::MAX, 5];
        let k = key("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")]);
        let mut out = Vec::new();
        put_round(
            &mut out,
            42,
            i64::MIN + 1,
            &[3, 9],
            |id| (id == 3).then_some(&k),
            &ids,
            &values,
        );
        put_ack(&mut out, 41);
        let data = segment(&[out]);
        let records: Vec<Record> = Records::new(&data).collect();
        let Record::Round(r) = &records[0] else {
            panic!("{records:?}")
        };
        assert_eq!(r.seq, 42);
        assert_eq!(r.timestamp_ms, i64::MIN + 1);
        assert_eq!(
            r.definitions,
            vec![(3, k.clone())],
            "9 has no series: skipped"
        );
        assert_eq!(r.ids, ids);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&r.values), bits(&values));
        assert_eq!(records[1], Record::Ack(41));
        let nan = {
            let mut out = Vec::new();
            put_round(&mut out, 1, 0, &[], |_| None, &[1], &[f64::NAN]);
            segment(&[out])
        };
        let Some(Record::Round(r)) = Records::new(&nan).next() else {
            panic!()
        };
        assert!(r.values[0].is_nan());
    }

    #[test]
    fn a_torn_tail_is_cut_and_counted() {
        let data = segment(&[round(1, &[1, 2]), round(2, &[1, 2])]);
        for cut in 1..round(2, &[1, 2]).len() {
            let torn = &data[..data.len() - cut];
            let mut records = Records::new(torn);
            let seqs: Vec<u64> = records
                .by_ref()
                .map(|r| match r {
                    Record::Round(r) => r.seq,
                    Record::Ack(_) => 0,
                })
                .collect();
            assert_eq!(seqs, vec![1], "cut {cut}");
            assert_eq!(records.damaged_bytes, 0);
            assert!(records.torn_bytes > 0);
        }
    }

    #[test]
    fn damage_in_the_middle_skips_only_the_damaged_record() {
        let records = [round(1, &[1, 2]), round(2, &[3]), round(3, &[1, 3])];
        let clean = segment(&records);
        let second = HEADER_BYTES + records[0].len();
        // Every single-byte flip inside the second record loses that record only.
        for at in second..second + records[1].len() {
            let mut data = clean.clone();
            data[at] ^= 0x41;
            let mut walk = Records::new(&data);
            let seqs: Vec<u64> = walk
                .by_ref()
                .filter_map(|r| match r {
                    Record::Round(r) => Some(r.seq),
                    Record::Ack(_) => None,
                })
                .collect();
            assert_eq!(seqs, vec![1, 3], "flip at {at}");
            assert_eq!(walk.damaged_bytes, records[1].len() as u64, "flip at {at}");
        }
        // A wrong header is damage too, and the records behind it are still read.
        let mut data = clean.clone();
        data[0] = b'X';
        let mut walk = Records::new(&data);
        assert_eq!(walk.by_ref().count(), 3);
        assert_eq!(walk.damaged_bytes, HEADER_BYTES as u64);
    }

    #[test]
    fn hostile_lengths_and_counts_allocate_nothing_large() {
        // A frame that claims a huge body, and a body whose counts claim billions of items.
        let mut data = header().to_vec();
        data.extend_from_slice(&u32::MAX.to_le_bytes());
        data.extend_from_slice(&[0; 4]);
        let mut body = vec![KIND_ROUND];
        put_varint(&mut body, 1);
        put_varint(&mut body, 0);
        put_varint(&mut body, 0);
        put_varint(&mut body, u64::MAX >> 1);
        let mut framed = vec![0u8; FRAME_BYTES];
        framed.extend_from_slice(&body);
        finish(&mut framed, 0);
        data.extend_from_slice(&framed);
        let mut walk = Records::new(&data);
        assert_eq!(walk.by_ref().count(), 0);
        assert_eq!(walk.torn_bytes, (data.len() - HEADER_BYTES) as u64);
    }
}
