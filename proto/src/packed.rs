//! What both ends of a packed scrape (`Scrape.packed`, described in `ingest.proto`) must
//! agree on to the bit: the header bytes, the decimal exponents, the page step, the
//! rescaling of a previous mantissa, and the integer codings. The agent encodes with these
//! and the collector decodes with them, so the two can never drift apart.

/// 10^k for k in 0..=18, every one exact in f64.
pub const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Largest decimal exponent: 10^18 is the largest power of ten an i64 holds.
pub const MAX_EXPONENT: u8 = 18;

/// A page delta moves the mantissa in steps of 2^12 (memory pages, filesystem blocks).
pub const PAGE_SHIFT: u32 = 12;

/// Header byte: the samples are of the series in `series_ids`.
pub const HEADER_IDS: u8 = 0x00;
/// Header byte: the samples are of the previous compact scrape's series.
pub const HEADER_REPEAT: u8 = 0x01;

/// `k` of a value that has no decimal form (it went raw).
pub const NO_DECIMAL: u8 = u8::MAX;

/// The previous decimal form rescaled to exponent `k`, as the format defines it: multiplied
/// up when that fits in an i64, divided down (truncating), 0 without one.
pub fn base(previous: Option<(i64, u8)>, k: u8) -> i64 {
    let Some((pm, pk)) = previous else { return 0 };
    if k >= pk {
        10i64
            .checked_pow(u32::from(k - pk))
            .and_then(|f| pm.checked_mul(f))
            .unwrap_or(0)
    } else {
        pm / 10i64.pow(u32::from(pk - k))
    }
}

/// The f64 that the decimal form (m, k) stands for.
pub fn decimal_value(m: i64, k: u8) -> f64 {
    m as f64 / POW10[usize::from(k)]
}

/// 0, -1, 1, -2 … ↦ 0, 1, 2, 3 …
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Appends `v` as LEB128, as protobuf writes varints.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_and_base_rescales() {
        for v in [0, -1, 1, i64::MIN, i64::MAX, 12345, -98765] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(base(Some((125, 2)), 3), 1250);
        assert_eq!(base(Some((125, 2)), 1), 12);
        assert_eq!(base(None, 4), 0);
        assert_eq!(base(Some((i64::MAX, 0)), 5), 0, "past i64: 0");
        assert_eq!(decimal_value(125, 2), 1.25);
    }
}
