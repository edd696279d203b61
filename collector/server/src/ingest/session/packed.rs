//! Reading compact scrapes (`Scrape.packed`, protocol revision 2). The byte format is
//! written down in `proto/vigil/v1/ingest.proto`, at `Scrape.packed`.
//!
//! A compact scrape is read against the previous compact scrape of the same stream, so a
//! stream keeps that scrape's series and, per series, its last value and that value's
//! decimal form. The state is bounded like the stream's ids: a compact scrape may carry at
//! most `limits.max_series_ids_per_stream` samples, and only the last one is kept.
//!
//! A compact scrape that cannot be read (cut short, garbled, a count that does not match,
//! a delta from a value the stream never had) is refused whole, and the state is lost with
//! it: the agent encoded the next scrapes against values this collector never saw, so
//! every later compact scrape of the stream is refused too, by name, until the agent
//! reconnects (a new stream starts from nothing). Plain scrapes neither use nor change
//! the state, and keep working.

use crate::limits::{Refusal, Violation};
use std::collections::HashMap;
use vigil_proto::packed::{
    HEADER_IDS, HEADER_REPEAT, NO_DECIMAL, PAGE_SHIFT, POW10, base, unzigzag,
};
use vigil_proto::v1::Scrape;

/// Largest escape code: exponent 18.
const MAX_CODE: u64 = 19;

/// What the stream remembers of one series: its last value, and that value's decimal form
/// (m, k) when it was sent as one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Prev {
    bits: u64,
    m: i64,
    k: u8,
}

impl Prev {
    fn decimal(&self) -> Option<(i64, u8)> {
        (self.k != NO_DECIMAL).then_some((self.m, self.k))
    }
}

/// A stream's compact state.
#[derive(Debug, Default)]
pub(super) enum Compact {
    /// No compact scrape yet on this stream.
    #[default]
    Fresh,
    /// The previous compact scrape: its series, in order, and what each last held.
    Known { ids: Vec<u64>, prev: Vec<Prev> },
    /// A compact scrape could not be read; later ones cannot be either.
    Lost {
        /// The batch that carried it.
        seq: u64,
        /// What was wrong with it.
        why: String,
    },
}

/// Why a compact scrape could not be read.
struct Fault {
    kind: Refusal,
    reason: &'static str,
    what: String,
}

fn garbled(what: String) -> Fault {
    Fault {
        kind: Refusal::Invalid,
        reason: "bad_packed_scrape",
        what,
    }
}

impl Compact {
    /// Series of the previous compact scrape, in order: after a successful [`read`], the
    /// series of the scrape just read.
    ///
    /// [`read`]: Compact::read
    pub(super) fn ids(&self) -> &[u64] {
        match self {
            Compact::Known { ids, .. } => ids,
            _ => &[],
        }
    }

    /// Reads compact scrape number `index` of batch `seq`: its values, one per series of
    /// [`ids`](Compact::ids). On success the scrape becomes the previous one; on failure
    /// the state is lost and the Violation says what was wrong and what to do.
    pub(super) fn read(
        &mut self,
        seq: u64,
        index: usize,
        scrape: &Scrape,
        max_samples: usize,
    ) -> Result<Vec<f64>, Violation> {
        let at = format!("batch {seq} scrape {index}");
        let previous = match self {
            Compact::Fresh => None,
            Compact::Known { ids, prev } => Some((ids.as_slice(), prev.as_slice())),
            Compact::Lost { seq: lost, why } => {
                return Err(Violation::invalid(
                    "packed_state_lost",
                    format!(
                        "{at}: cannot read Scrape.packed: this stream's compact state was \
                         lost at batch {lost} ({why}); the agent must reconnect to start a \
                         new stream"
                    ),
                ));
            }
        };
        match decode(previous, scrape, max_samples) {
            Ok((ids, prev, values)) => {
                *self = Compact::Known { ids, prev };
                Ok(values)
            }
            Err(fault) => {
                *self = Compact::Lost {
                    seq,
                    why: fault.what.clone(),
                };
                Err(Violation {
                    kind: fault.kind,
                    reason: fault.reason,
                    message: format!(
                        "{at}: Scrape.packed {}; the scrape is refused, and so is every later \
                         compact scrape of this stream until the agent reconnects",
                        fault.what
                    ),
                })
            }
        }
    }
}

/// The samples a scrape carries, as its Ack counts them: for a plain scrape the longer of
/// its columns; for a compact one the longest of its columns and its declared count, the
/// count bounded by 8 per byte of `packed` (each sample takes at least a bitmap bit).
pub fn samples_carried(scrape: &Scrape) -> u64 {
    let columns = scrape.series_ids.len().max(scrape.values.len()) as u64;
    if scrape.packed.is_empty() {
        return columns;
    }
    let mut bytes = Reader::new(&scrape.packed[1..]);
    let declared = bytes.varint().unwrap_or(0);
    columns.max(declared.min(8 * scrape.packed.len() as u64))
}

type Decoded = (Vec<u64>, Vec<Prev>, Vec<f64>);

/// Reads one compact scrape against the previous one (series and states), if any.
fn decode(
    previous: Option<(&[u64], &[Prev])>,
    scrape: &Scrape,
    max_samples: usize,
) -> Result<Decoded, Fault> {
    if !scrape.values.is_empty() {
        return Err(garbled(format!(
            "is set and so is values ({} of them); a scrape is either plain or compact",
            scrape.values.len()
        )));
    }
    let mut bytes = Reader::new(&scrape.packed);
    let header = bytes.byte().map_err(|e| garbled(e.into()))?;
    let count = bytes
        .varint()
        .map_err(|e| garbled(format!("{e} in its sample count")))?;
    if count > max_samples as u64 {
        return Err(Fault {
            kind: Refusal::Exhausted,
            reason: "packed_scrape_too_large",
            what: format!(
                "declares {count} samples, over limits.max_series_ids_per_stream \
                 ({max_samples}); raise the limit"
            ),
        });
    }
    let n = count as usize;
    let (ids, olds) = match header {
        HEADER_IDS => {
            if scrape.series_ids.len() != n {
                return Err(garbled(format!(
                    "declares {n} samples but series_ids has {}",
                    scrape.series_ids.len()
                )));
            }
            let olds = carried_over(previous, &scrape.series_ids);
            (scrape.series_ids.clone(), olds)
        }
        HEADER_REPEAT => {
            if !scrape.series_ids.is_empty() {
                return Err(garbled(format!(
                    "repeats the previous scrape's series but series_ids has {} too",
                    scrape.series_ids.len()
                )));
            }
            let Some((ids, prev)) = previous else {
                return Err(garbled(
                    "repeats the previous compact scrape's series, but none came before on \
                     this stream"
                        .into(),
                ));
            };
            if ids.len() != n {
                return Err(garbled(format!(
                    "declares {n} samples but the previous compact scrape had {}",
                    ids.len()
                )));
            }
            (ids.to_vec(), prev.iter().copied().map(Some).collect())
        }
        other => {
            return Err(garbled(format!(
                "starts with header 0x{other:02x}; this collector reads 0x00 (series in \
                 series_ids) and 0x01 (the previous scrape's series)"
            )));
        }
    };
    let bitmap = bytes
        .take(n.div_ceil(8))
        .map_err(|e| garbled(format!("{e} in its bitmap of {n} samples")))?;
    if !n.is_multiple_of(8) && bitmap[n / 8] >> (n % 8) != 0 {
        return Err(garbled(format!("sets bitmap bits past its {n} samples")));
    }
    let mut values = Vec::with_capacity(n);
    let mut next = Vec::with_capacity(n);
    for (i, old) in olds.into_iter().enumerate() {
        let sample = || format!("sample {i} (series id {})", ids[i]);
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            let Some(old) = old else {
                return Err(garbled(format!(
                    "marks {} unchanged, but that series has no previous value on this stream",
                    sample()
                )));
            };
            values.push(f64::from_bits(old.bits));
            next.push(old);
            continue;
        }
        let state =
            value(&mut bytes, old).map_err(|e| garbled(format!("{e} at {} of {n}", sample())))?;
        values.push(f64::from_bits(state.bits));
        next.push(state);
    }
    if bytes.rest() > 0 {
        return Err(garbled(format!(
            "has {} bytes left after its {n} samples",
            bytes.rest()
        )));
    }
    Ok((ids, next, values))
}

/// For the series of a scrape: each one's state in the previous scrape, where it was (its
/// last sample there). Only when the series change, so a map is fine.
fn carried_over(previous: Option<(&[u64], &[Prev])>, ids: &[u64]) -> Vec<Option<Prev>> {
    match previous {
        Some((old_ids, prev)) if !old_ids.is_empty() => {
            let at: HashMap<u64, usize> =
                old_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
            ids.iter().map(|id| at.get(id).map(|&i| prev[i])).collect()
        }
        _ => vec![None; ids.len()],
    }
}

/// Reads one encoded value of a series whose previous state is `old`.
fn value(bytes: &mut Reader<'_>, old: Option<Prev>) -> Result<Prev, String> {
    let previous = old.and_then(|p| p.decimal());
    let u = bytes.varint()?;
    let (m, k) = if u & 3 == 3 {
        let code = u >> 2;
        if code == 0 {
            let raw = bytes.take(8)?;
            let mut le = [0u8; 8];
            le.copy_from_slice(raw);
            return Ok(Prev {
                bits: u64::from_le_bytes(le),
                m: 0,
                k: NO_DECIMAL,
            });
        }
        if code > MAX_CODE {
            return Err(format!(
                "unknown value code {code} (0 to {MAX_CODE} are defined)"
            ));
        }
        let k = (code - 1) as u8;
        (base(previous, k).wrapping_add(unzigzag(bytes.varint()?)), k)
    } else {
        let Some((pm, pk)) = previous else {
            return Err(match old {
                None => "a delta from no previous value".to_owned(),
                Some(_) => "a delta from a previous value that has no decimal form".to_owned(),
            });
        };
        let d = if u & 1 == 0 {
            unzigzag(u >> 1)
        } else {
            unzigzag(u >> 2).wrapping_shl(PAGE_SHIFT)
        };
        (pm.wrapping_add(d), pk)
    };
    let value = m as f64 / POW10[usize::from(k)];
    Ok(Prev {
        bits: value.to_bits(),
        m,
        k,
    })
}

/// Reads bytes and varints, never past the end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn rest(&self) -> usize {
        self.bytes.len()
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.bytes.len() < n {
            return Err("is cut short");
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// LEB128 as protobuf writes it: at most 10 bytes, the tenth holding one bit.
    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err("has a varint past 64 bits");
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("has a varint past 64 bits")
    }
}

#[cfg(test)]
mod tests;
