//! Gorilla's encodings (Pelkonen et al., VLDB 2015): XOR of consecutive float bits, and
//! delta-of-delta timestamps in prefix-coded buckets. The block codec uses the XOR stream
//! for values that are not short decimals (NaN, infinities, arbitrary floats); the
//! timestamp encoding is kept for the codec benchmark's comparison.
//!
//! ```text
//!   values:      first value's 64 bits, then per value
//!                  '0'                          same bits as the previous value
//!                  '10' meaningful bits         XOR fits the previous leading/trailing window
//!                  '11' 5 bits leading zeros, 6 bits length-1, meaningful bits
//!   timestamps:  first timestamp's 64 bits, then per timestamp the delta of delta d:
//!                  '0' (d = 0) | '10' 7 bits | '110' 9 bits | '1110' 12 bits | '1111' 64 bits
//! ```

use super::bits::{BitReader, BitWriter};

/// Appends the XOR encoding of `values` (bit-exact: NaN payloads and -0.0 survive).
pub fn encode_values(values: impl IntoIterator<Item = f64>, out: &mut Vec<u8>) {
    let mut w = BitWriter::new(out);
    let mut prev: Option<u64> = None;
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for v in values {
        let bits = v.to_bits();
        let Some(p) = prev else {
            w.write(bits, 64);
            prev = Some(bits);
            continue;
        };
        prev = Some(bits);
        let x = bits ^ p;
        if x == 0 {
            w.write(0, 1);
            continue;
        }
        let (l, t) = (x.leading_zeros().min(31), x.trailing_zeros());
        if lead != u32::MAX && l >= lead && t >= trail {
            w.write(0b10, 2);
            w.write(x >> trail, 64 - lead - trail);
        } else {
            lead = l;
            trail = t;
            let len = 64 - l - t;
            w.write(0b11, 2);
            w.write(u64::from(l), 5);
            w.write(u64::from(len - 1), 6);
            w.write(x >> t, len);
        }
    }
    w.finish();
}

/// Decodes `n` values written by [`encode_values`], calling `emit` on each.
pub fn decode_values(data: &[u8], n: usize, mut emit: impl FnMut(f64)) -> Option<()> {
    let mut r = BitReader::new(data);
    let mut prev = 0u64;
    let (mut lead, mut trail) = (0u32, 0u32);
    for i in 0..n {
        if i == 0 {
            prev = r.read(64)?;
        } else if r.bit()? {
            if r.bit()? {
                lead = r.read(5)? as u32;
                let len = r.read(6)? as u32 + 1;
                if lead + len > 64 {
                    return None;
                }
                trail = 64 - lead - len;
            }
            prev ^= r.read(64 - lead - trail)? << trail;
        }
        emit(f64::from_bits(prev));
    }
    Some(())
}

/// Appends Gorilla's delta-of-delta encoding of `timestamps`.
pub fn encode_timestamps(timestamps: &[i64], out: &mut Vec<u8>) {
    let mut w = BitWriter::new(out);
    let (mut prev, mut delta) = (0i64, 0i64);
    for (i, &t) in timestamps.iter().enumerate() {
        if i == 0 {
            w.write(t as u64, 64);
            prev = t;
            continue;
        }
        let d = t.wrapping_sub(prev);
        let dod = d.wrapping_sub(delta);
        (prev, delta) = (t, d);
        match dod {
            0 => w.write(0, 1),
            -64..=63 => {
                w.write(0b10, 2);
                w.write(dod as u64, 7);
            }
            -256..=255 => {
                w.write(0b110, 3);
                w.write(dod as u64, 9);
            }
            -2048..=2047 => {
                w.write(0b1110, 4);
                w.write(dod as u64, 12);
            }
            _ => {
                w.write(0b1111, 4);
                w.write(dod as u64, 64);
            }
        }
    }
    w.finish();
}

/// Decodes `n` timestamps written by [`encode_timestamps`].
pub fn decode_timestamps(data: &[u8], n: usize, mut emit: impl FnMut(i64)) -> Option<()> {
    let mut r = BitReader::new(data);
    let (mut prev, mut delta) = (0i64, 0i64);
    for i in 0..n {
        if i == 0 {
            prev = r.read(64)? as i64;
        } else {
            let mut ones = 0;
            while ones < 4 && r.bit()? {
                ones += 1;
            }
            let width = [0, 7, 9, 12, 64][ones];
            let raw = r.read(width)?;
            // Sign-extend the bucket's two's-complement field.
            let dod = if width == 0 || width == 64 {
                raw as i64
            } else {
                ((raw << (64 - width)) as i64) >> (64 - width)
            };
            delta = delta.wrapping_add(dod);
            prev = prev.wrapping_add(delta);
        }
        emit(prev);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_timestamps_round_trip() {
        let values = [
            1.0,
            1.0,
            1.5,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            f64::MIN_POSITIVE,
            12.25,
        ];
        let mut out = Vec::new();
        encode_values(values, &mut out);
        let mut back = Vec::new();
        decode_values(&out, values.len(), |v| back.push(v.to_bits())).unwrap();
        assert_eq!(back, values.map(f64::to_bits));

        let ts = [
            -5,
            0,
            10_000,
            20_003,
            29_998,
            1_000_000,
            1_000_100,
            i64::MAX,
            i64::MIN,
        ];
        let mut out = Vec::new();
        encode_timestamps(&ts, &mut out);
        let mut back = Vec::new();
        decode_timestamps(&out, ts.len(), |t| back.push(t)).unwrap();
        assert_eq!(back, ts);
    }
}
