//! The encoding of a window's buckets in the `rollup` family: timestamps and counts as
//! `ints`, each value column as decimals, as differences from `last`, or as an XOR stream.

use super::Bucket;
use crate::codec;
use crate::codec::bits::{get_varint, put_varint};

/// Value column kinds: short decimals (mantissas as `ints`), the same as differences from
/// the `last` column's mantissas at the same exponent (a counter's max is its last), or
/// Gorilla's XOR stream.
const DECIMAL: u8 = 0;
const FROM_LAST: u8 = 1;
const XOR: u8 = 2;

/// Appends the encoding of `buckets` (at least one):
///
/// ```text
///   varint n
///   ints   the n last-sample timestamps          (codec/ints.rs)
///   ints   the n counts
///   then the columns last, min, max, sum, each:
///     u8 0 decimal:   u8 e, ints of the n mantissas; value = m / 10^e
///     u8 1 from last: u8 e, ints of the n differences from last's mantissas (at e)
///     u8 2 xor:       varint length, Gorilla's XOR stream of the n values
/// ```
pub fn encode(buckets: &[Bucket], out: &mut Vec<u8>) {
    put_varint(out, buckets.len() as u64);
    let ints: Vec<i64> = buckets.iter().map(|b| b.last_ts).collect();
    codec::ints::encode(&ints, out);
    let ints: Vec<i64> = buckets.iter().map(|b| b.count as i64).collect();
    codec::ints::encode(&ints, out);
    let fields: [fn(&Bucket) -> f64; 4] = [|b| b.last, |b| b.min, |b| b.max, |b| b.sum];
    let lasts: Vec<(i64, f64)> = buckets.iter().map(|b| (0, b.last)).collect();
    let last_decimal = codec::decimal(&lasts);
    let mut best = Vec::new();
    let mut other = Vec::new();
    for (k, field) in fields.iter().enumerate() {
        let values: Vec<(i64, f64)> = buckets.iter().map(|b| (0, field(b))).collect();
        best.clear();
        match codec::decimal(&values) {
            Some((e, mantissas)) => {
                best.extend([DECIMAL, e as u8]);
                codec::ints::encode(&mantissas, &mut best);
                // With last's exponent (or a finer one), try the difference from last.
                if let Some((le, lm)) = last_decimal.as_ref().filter(|_| k > 0) {
                    let e2 = e.max(*le);
                    let at =
                        |m: i64, from: usize| m.checked_mul(10i64.checked_pow((e2 - from) as u32)?);
                    let diffs: Option<Vec<i64>> = mantissas
                        .iter()
                        .zip(lm)
                        .map(|(&m, &l)| at(m, e)?.checked_sub(at(l, *le)?))
                        .collect();
                    // Kept only if every value decodes bit for bit at the finer exponent.
                    let exact = |diffs: &Vec<i64>| {
                        diffs.iter().zip(lm).zip(&values).all(|((&d, &l), v)| {
                            at(l, *le)
                                .and_then(|l| l.checked_add(d))
                                .and_then(|m| codec::from_decimal(m, e2))
                                .is_some_and(|x| x.to_bits() == v.1.to_bits())
                        })
                    };
                    if let Some(diffs) = diffs.filter(exact) {
                        other.clear();
                        other.extend([FROM_LAST, e2 as u8]);
                        codec::ints::encode(&diffs, &mut other);
                        if other.len() < best.len() {
                            std::mem::swap(&mut best, &mut other);
                        }
                    }
                }
            }
            None => {
                other.clear();
                codec::gorilla::encode_values(values.iter().map(|v| v.1), &mut other);
                best.push(XOR);
                put_varint(&mut best, other.len() as u64);
                best.extend_from_slice(&other);
            }
        }
        out.extend_from_slice(&best);
    }
}

/// Decodes what [`encode`] wrote; `None` if damaged.
pub fn decode(bytes: &[u8]) -> Option<Vec<Bucket>> {
    let mut at = 0;
    let n = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
    // Every bucket takes at least a bit; refuse absurd counts before allocating.
    if n == 0 || n > bytes.len().saturating_mul(8) {
        return None;
    }
    let mut out: Vec<Bucket> = Vec::with_capacity(n);
    codec::ints::decode(bytes, &mut at, n, |t| {
        out.push(Bucket {
            last_ts: t,
            last: 0.0,
            min: 0.0,
            max: 0.0,
            sum: 0.0,
            count: 0,
        })
    })?;
    let mut i = 0;
    codec::ints::decode(bytes, &mut at, n, |c| {
        if let Some(b) = out.get_mut(i) {
            b.count = c as u64;
        }
        i += 1;
    })?;
    if out.len() != n || i != n {
        return None;
    }
    let mut last_mantissas: Option<(usize, Vec<i64>)> = None;
    for k in 0..4 {
        let mut values = Vec::with_capacity(n);
        match *bytes.get(at)? {
            kind @ (DECIMAL | FROM_LAST) => {
                let e = usize::from(*bytes.get(at + 1)?);
                at += 2;
                let mut mantissas = Vec::with_capacity(n);
                codec::ints::decode(bytes, &mut at, n, |m| mantissas.push(m))?;
                if mantissas.len() != n {
                    return None;
                }
                if kind == FROM_LAST {
                    let (le, lm) = last_mantissas.as_ref().filter(|_| k > 0)?;
                    let scale = 10i64.checked_pow(u32::try_from(e.checked_sub(*le)?).ok()?)?;
                    for (m, l) in mantissas.iter_mut().zip(lm) {
                        *m = m.wrapping_add(l.wrapping_mul(scale));
                    }
                }
                for &m in &mantissas {
                    values.push(codec::from_decimal(m, e)?);
                }
                if k == 0 {
                    last_mantissas = Some((e, mantissas));
                }
            }
            XOR => {
                at += 1;
                let len = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
                let stream = bytes.get(at..at.checked_add(len)?)?;
                codec::gorilla::decode_values(stream, n, |v| values.push(v))?;
                at += len;
            }
            _ => return None,
        }
        if values.len() != n {
            return None;
        }
        for (b, v) in out.iter_mut().zip(values) {
            match k {
                0 => b.last = v,
                1 => b.min = v,
                2 => b.max = v,
                _ => b.sum = v,
            }
        }
    }
    (at == bytes.len()).then_some(out)
}
