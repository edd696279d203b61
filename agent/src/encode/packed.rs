//! Compact scrapes (`Scrape.packed`, protocol revision 2): each round's values written as
//! changes against the same stream's previous compact scrape. The byte format is written
//! down in `proto/vigil/v1/ingest.proto`, at `Scrape.packed`; in short:
//!
//! ```text
//! packed = header (0x00: ids in series_ids, 0x01: the previous scrape's ids)
//!          count  varint, the number of samples
//!          bitmap ceil(count / 8) bytes, bit i set = sample i unchanged (same bits)
//!          value* one per sample whose bit is clear:
//!                 varint u, u & 1 == 0: mantissa delta at the series' exponent
//!                           u & 3 == 1: the same, in steps of 4096 (pages, blocks)
//!                           u & 3 == 3: c = u >> 2; c == 0: 8 raw bytes follow,
//!                                       c in 1..=19: exponent c - 1, then a varint
//!                                       zigzag delta from the rescaled previous mantissa
//! ```
//!
//! A decimal form (m, k) stands for the f64 `(m as f64) / 10^k`; it is used only when that
//! gives back the value's exact bits, so every f64 (NaN payloads, ±Inf, -0.0, subnormals,
//! counters past 2^53) round-trips: what has no exact decimal form goes raw.
//!
//! Measured on this project's own rounds (see `encode/tests.rs`): most host metrics are
//! unchanged from one round to the next (a bitmap bit), and what changes is an integer
//! (bytes, pages, counts) or a short decimal (CPU seconds at 1/100 s) moving by a little.

pub(crate) use vigil_proto::packed::{
    HEADER_IDS, HEADER_REPEAT, MAX_EXPONENT, NO_DECIMAL, PAGE_SHIFT, POW10, base, decimal_value,
    put_varint, zigzag,
};

/// What the stream remembers of one series: its last value, and that value's decimal form
/// when it was sent as one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prev {
    bits: u64,
    m: i64,
    k: u8,
}

impl Prev {
    fn decimal(&self) -> Option<(i64, u8)> {
        (self.k != NO_DECIMAL).then_some((self.m, self.k))
    }
}

/// The encoder's side of a stream's compact state: the previous compact scrape's series
/// and, per series, what was last sent. A new stream starts with a new `Packer`.
#[derive(Debug, Default)]
pub struct Packer {
    /// Whether a compact scrape was sent on this stream yet.
    started: bool,
    /// Series of the previous compact scrape, in order.
    ids: Vec<u64>,
    /// Per position in `ids`: what the collector knows of that series.
    prev: Vec<Prev>,
}

/// One compact scrape's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// True when the series are the previous scrape's (then `series_ids` stays empty).
    pub repeat: bool,
    /// The `Scrape.packed` bytes.
    pub bytes: Vec<u8>,
}

impl Packer {
    /// A packer for a new stream: nothing sent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes one scrape of `values` for the series `ids` (one value per id: extra ones
    /// are left out) and remembers it as the previous scrape.
    pub fn pack(&mut self, ids: &[u64], values: &[f64]) -> Packed {
        let n = ids.len().min(values.len());
        let ids = &ids[..n];
        let repeat = self.started && self.ids.as_slice() == ids;
        let mut bytes = Vec::with_capacity(2 + n / 8 + n * 2);
        bytes.push(if repeat { HEADER_REPEAT } else { HEADER_IDS });
        put_varint(&mut bytes, n as u64);
        let bitmap_at = bytes.len();
        bytes.resize(bitmap_at + n.div_ceil(8), 0);
        let mut write = |i: usize, prev: Option<Prev>, value: f64| match prev {
            Some(p) if p.bits == value.to_bits() => {
                bytes[bitmap_at + i / 8] |= 1 << (i % 8);
                p
            }
            _ => put_value(&mut bytes, prev, value),
        };
        if repeat {
            // The steady state: same series, each state updated in place.
            for (i, (state, &value)) in self.prev.iter_mut().zip(values).enumerate() {
                *state = write(i, Some(*state), value);
            }
        } else {
            let olds = self.carried_over(ids);
            self.prev = olds
                .into_iter()
                .zip(values)
                .enumerate()
                .map(|(i, (old, &value))| write(i, old, value))
                .collect();
            self.ids.clear();
            self.ids.extend_from_slice(ids);
        }
        self.started = true;
        Packed { repeat, bytes }
    }

    /// For new series ids: each series' state from the previous scrape, where it was.
    fn carried_over(&self, ids: &[u64]) -> Vec<Option<Prev>> {
        if !self.started || self.ids.is_empty() {
            return vec![None; ids.len()];
        }
        let at: std::collections::HashMap<u64, usize> = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i))
            .collect();
        ids.iter()
            .map(|id| at.get(id).map(|&i| self.prev[i]))
            .collect()
    }
}

/// Writes one value that changed (or has no previous value); returns the series' new state.
fn put_value(out: &mut Vec<u8>, prev: Option<Prev>, value: f64) -> Prev {
    let bits = value.to_bits();
    let previous = prev.and_then(|p| p.decimal());
    if let Some((pm, pk)) = previous
        && let Some(m) = mantissa_at(value, pk)
        && let Some(word) = delta_word(m.wrapping_sub(pm))
    {
        // A delta at the series' exponent is the common case; a value that now needs a
        // different exponent (or has drifted to a long one) may be shorter as an escape.
        let escape = (varint_len(word) > 2)
            .then(|| decimal(value))
            .flatten()
            .map(|(m2, k2)| (m2, k2, escape_word(m2, k2, previous)))
            .filter(|(_, _, d)| 1 + varint_len(*d) < varint_len(word));
        if let Some((m2, k2, d)) = escape {
            put_varint(out, escape_code(k2));
            put_varint(out, d);
            return Prev { bits, m: m2, k: k2 };
        }
        put_varint(out, word);
        return Prev { bits, m, k: pk };
    }
    match decimal(value) {
        Some((m, k)) => {
            put_varint(out, escape_code(k));
            put_varint(out, escape_word(m, k, previous));
            Prev { bits, m, k }
        }
        None => {
            put_varint(out, 3);
            out.extend_from_slice(&bits.to_le_bytes());
            Prev {
                bits,
                m: 0,
                k: NO_DECIMAL,
            }
        }
    }
}

/// The first varint of a delta `d` at the series' exponent: a plain delta, or a page delta
/// when `d` is a multiple of 4096 and that is shorter. `None` when `d` is too large for
/// either (then the value goes as an escape).
fn delta_word(d: i64) -> Option<u64> {
    let z = zigzag(d);
    let plain = (z >> 63 == 0).then_some(z << 1);
    let page = (d.trailing_zeros() >= PAGE_SHIFT && d != 0)
        .then(|| zigzag(d >> PAGE_SHIFT))
        .filter(|z| z >> 62 == 0)
        .map(|z| (z << 2) | 1);
    match (plain, page) {
        (Some(a), Some(b)) if varint_len(b) < varint_len(a) => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

/// First varint of an escape to exponent `k`.
fn escape_code(k: u8) -> u64 {
    ((u64::from(k) + 1) << 2) | 3
}

/// The varint after an escape to (m, k): zigzag of m less the previous mantissa rescaled.
fn escape_word(m: i64, k: u8, previous: Option<(i64, u8)>) -> u64 {
    zigzag(m.wrapping_sub(base(previous, k)))
}

/// The mantissa of `value` at exponent `k`, when (m, k) gives back its exact bits.
fn mantissa_at(value: f64, k: u8) -> Option<i64> {
    let t = (value * POW10[usize::from(k)]).round();
    // i64 holds [-2^63, 2^63) (`i64::MAX as f64` is 2^63); false for NaN.
    if !(i64::MIN as f64..i64::MAX as f64).contains(&t) {
        return None;
    }
    let m = t as i64;
    (decimal_value(m, k).to_bits() == value.to_bits()).then_some(m)
}

/// The shortest exact decimal form of `value`, if it has one with k ≤ 18.
fn decimal(value: f64) -> Option<(i64, u8)> {
    if !value.is_finite() {
        return None;
    }
    (0..=MAX_EXPONENT).find_map(|k| mantissa_at(value, k).map(|m| (m, k)))
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests;
