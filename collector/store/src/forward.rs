//! The forwarding log: what remote write sends on, kept by the store itself.
//!
//! While forwarding is on ([`crate::Store::set_forwarding`]), every `append` also writes one
//! record holding the samples of that call, in the same atomic write as the samples
//! themselves: a sample is in the log if and only if it is stored, and both survive
//! `kill -9` alike. Records are numbered by a sequence that only grows (across restarts
//! too). Readers see a record only once every record numbered below it is written, so a
//! cursor that moves past a record never skips one committed later
//! ([`ForwardBounds::readable`]). Forwarders keep their own cursors and ask the store to
//! drop what all of them have sent ([`crate::Store::forward_trim`]).
//!
//! # Record value (version 1)
//!
//! ```text
//!   u8        version (1)
//!   i64 BE    written_ms: the store's clock when the record was written
//!   u64 BE    offset: bytes of every record written before this one since the log was
//!             last empty (so `bounds.bytes - record.offset` is what is left to send)
//!   u32 BE    samples in the record
//!   u32 BE    CRC-32 (IEEE) of the body
//!   body      varint series count, then per series: varint id, varint sample count,
//!             and per sample a zigzag varint of its timestamp's difference from the
//!             previous sample's in the record, whatever its series (the first from 0:
//!             a scrape's series share one time, so each costs one byte), and the
//!             value's f64 bits (8 bytes, LE)
//! ```

use crate::{SeriesId, SeriesSamples};

/// Bytes before the body.
pub const HEADER_BYTES: usize = 1 + 8 + 8 + 4 + 4;

const VERSION: u8 = 1;

/// One record of the log, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardRecord {
    /// Its sequence number.
    pub seq: u64,
    /// When it was written (store clock, unix ms); 0 when the header is damaged.
    pub written_ms: i64,
    /// Log bytes written before it (see the module doc); 0 when the header is damaged.
    pub offset: u64,
    /// Bytes of the record itself.
    pub len: u64,
    /// Samples it holds, from its header (0 when the header is damaged).
    pub samples: u64,
    /// The samples, or what is wrong with the record (a damaged record is skipped and
    /// its samples counted as lost by the reader; it is never fatal).
    pub body: Result<Vec<SeriesSamples>, String>,
}

/// Where the log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardBounds {
    /// The sequence number of the oldest record kept, if any.
    pub first: Option<u64>,
    /// Every record numbered at or below this is written (none will appear there later):
    /// readers never look past it. A new forwarder starts here.
    pub readable: u64,
    /// Bytes of every record written since the log was last empty, trimmed ones
    /// included: the `offset` the next record gets.
    pub bytes: u64,
}

/// Encodes the record of one `append` call written at `written_ms` after `offset` bytes.
pub fn encode(samples: &[SeriesSamples], written_ms: i64, offset: u64, out: &mut Vec<u8>) {
    out.clear();
    out.push(VERSION);
    out.extend_from_slice(&written_ms.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
    let count: usize = samples.iter().map(|s| s.samples.len()).sum();
    out.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    let body_start = out.len();
    prost::encoding::encode_varint(samples.len() as u64, out);
    let mut previous = 0i64;
    for series in samples {
        prost::encoding::encode_varint(series.id, out);
        prost::encoding::encode_varint(series.samples.len() as u64, out);
        for &(ts, value) in &series.samples {
            let delta = ts.wrapping_sub(previous);
            prost::encoding::encode_varint(((delta << 1) ^ (delta >> 63)) as u64, out);
            out.extend_from_slice(&value.to_bits().to_le_bytes());
            previous = ts;
        }
    }
    let crc = crc32fast::hash(&out[body_start..]);
    out[body_start - 4..body_start].copy_from_slice(&crc.to_be_bytes());
}

/// Decodes record `seq` from its stored `value`. Never fails: what cannot be read is
/// reported in `body`.
pub fn decode(seq: u64, value: &[u8]) -> ForwardRecord {
    let damaged = |why: String| ForwardRecord {
        seq,
        written_ms: 0,
        offset: 0,
        len: value.len() as u64,
        samples: 0,
        body: Err(why),
    };
    if value.len() < HEADER_BYTES {
        return damaged(format!(
            "record {seq} is {} bytes, shorter than its header",
            value.len()
        ));
    }
    if value[0] != VERSION {
        return damaged(format!("record {seq} has unknown version {}", value[0]));
    }
    let be8 = |at: usize| <[u8; 8]>::try_from(&value[at..at + 8]).unwrap_or_default();
    let be4 = |at: usize| <[u8; 4]>::try_from(&value[at..at + 4]).unwrap_or_default();
    let written_ms = i64::from_be_bytes(be8(1));
    let offset = u64::from_be_bytes(be8(9));
    let samples = u64::from(u32::from_be_bytes(be4(17)));
    let crc = u32::from_be_bytes(be4(21));
    let body = &value[HEADER_BYTES..];
    let decoded = if crc32fast::hash(body) != crc {
        Err(format!("record {seq}: checksum mismatch"))
    } else {
        decode_body(body, samples).map_err(|why| format!("record {seq}: {why}"))
    };
    ForwardRecord {
        seq,
        written_ms,
        offset,
        len: value.len() as u64,
        samples,
        body: decoded,
    }
}

fn decode_body(mut body: &[u8], expected: u64) -> Result<Vec<SeriesSamples>, String> {
    let varint = |b: &mut &[u8]| {
        prost::encoding::decode_varint(b).map_err(|_| "truncated varint".to_owned())
    };
    let series = varint(&mut body)?;
    // Each series takes at least two bytes, each sample at least nine: counts past what
    // the body could hold are damage, not a reason to allocate.
    if series > body.len() as u64 / 2 {
        return Err(format!(
            "{series} series cannot fit in {} bytes",
            body.len()
        ));
    }
    let mut out = Vec::with_capacity(series as usize);
    let mut total = 0u64;
    let mut previous = 0i64;
    for _ in 0..series {
        let id: SeriesId = varint(&mut body)?;
        let n = varint(&mut body)?;
        if n > body.len() as u64 / 9 {
            return Err(format!("{n} samples cannot fit in {} bytes", body.len()));
        }
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let z = varint(&mut body)?;
            let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
            let ts = previous.wrapping_add(delta);
            let (bits, rest) = body
                .split_first_chunk::<8>()
                .ok_or_else(|| "truncated value".to_owned())?;
            samples.push((ts, f64::from_bits(u64::from_le_bytes(*bits))));
            body = rest;
            previous = ts;
        }
        total += n;
        out.push(SeriesSamples { id, samples });
    }
    if !body.is_empty() {
        return Err(format!("{} bytes after the last series", body.len()));
    }
    if total != expected {
        return Err(format!("{total} samples, the header says {expected}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_batch() -> Vec<SeriesSamples> {
        vec![
            SeriesSamples {
                id: 7,
                samples: vec![(1_700_000_000_000, 1.5), (1_700_000_010_000, f64::NAN)],
            },
            SeriesSamples {
                id: u64::MAX,
                samples: vec![(-5, -0.0), (i64::MAX, f64::INFINITY)],
            },
            SeriesSamples {
                id: 0,
                samples: vec![],
            },
        ]
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let batch = sample_batch();
        let mut value = Vec::new();
        encode(&batch, 42, 1000, &mut value);
        let record = decode(9, &value);
        assert_eq!(
            (record.seq, record.written_ms, record.offset),
            (9, 42, 1000)
        );
        assert_eq!((record.samples, record.len), (4, value.len() as u64));
        let body = record.body.unwrap();
        assert_eq!(body.len(), 3);
        assert_eq!(body[0].id, 7);
        assert!(body[0].samples[1].1.is_nan());
        assert_eq!(body[1].samples, batch[1].samples);
        assert!(body[1].samples[0].1.is_sign_negative());
    }

    #[test]
    fn damage_is_reported_never_a_panic() {
        let mut value = Vec::new();
        encode(&sample_batch(), 42, 0, &mut value);
        for cut in 0..value.len() {
            assert!(decode(1, &value[..cut]).body.is_err(), "cut at {cut}");
        }
        for at in 0..value.len() {
            let mut flipped = value.clone();
            flipped[at] ^= 0x20;
            let record = decode(1, &flipped);
            // The header's time and offset are not checksummed; everything else is.
            if !(1..17).contains(&at) {
                assert!(record.body.is_err(), "flip at {at}");
            }
        }
        let mut huge = value[..HEADER_BYTES].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        let crc = crc32fast::hash(&huge[HEADER_BYTES..]);
        huge[21..25].copy_from_slice(&crc.to_be_bytes());
        assert!(decode(1, &huge).body.unwrap_err().contains("cannot fit"));
    }
}
