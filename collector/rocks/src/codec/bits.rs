//! Bit-level writing and reading, most significant bit first, and the byte-level varints
//! the block headers use. Readers never panic on damaged input: they return `None`.

/// Appends bit fields to a byte vector; [`BitWriter::finish`] pads the last byte with zeros.
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Pending bits in the low `pending` bits (higher bits are stale and ignored).
    acc: u128,
    pending: u32,
}

impl<'a> BitWriter<'a> {
    /// Starts writing at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            acc: 0,
            pending: 0,
        }
    }

    /// Writes the low `bits` bits of `value` (`bits` ≤ 64).
    #[inline]
    pub fn write(&mut self, value: u64, bits: u32) {
        if bits == 0 {
            return;
        }
        let masked = if bits == 64 {
            value
        } else {
            value & ((1u64 << bits) - 1)
        };
        self.acc = (self.acc << bits) | u128::from(masked);
        self.pending += bits;
        while self.pending >= 8 {
            self.pending -= 8;
            self.out.push((self.acc >> self.pending) as u8);
        }
    }

    /// Flushes the last partial byte.
    pub fn finish(self) {
        if self.pending > 0 {
            self.out.push((self.acc << (8 - self.pending)) as u8);
        }
    }
}

/// Reads bit fields from a byte slice.
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// Reads `data` from its first bit.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// The next `bits` bits (≤ 64) as an integer, or `None` past the end.
    #[inline]
    pub fn read(&mut self, bits: u32) -> Option<u64> {
        if bits == 0 {
            return Some(0);
        }
        let end = self.pos + bits as usize;
        if end > self.data.len() * 8 {
            return None;
        }
        let byte = self.pos / 8;
        let window = match self.data.get(byte..byte + 16) {
            Some(chunk) => u128::from_be_bytes(chunk.try_into().ok()?),
            None => {
                let mut buf = [0u8; 16];
                let tail = &self.data[byte..];
                buf[..tail.len()].copy_from_slice(tail);
                u128::from_be_bytes(buf)
            }
        };
        let shift = 128 - (self.pos % 8) as u32 - bits;
        self.pos = end;
        let value = (window >> shift) as u64;
        Some(if bits == 64 {
            value
        } else {
            value & ((1u64 << bits) - 1)
        })
    }

    /// One bit.
    #[inline]
    pub fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }
}

/// Appends `value` as an LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes `value` takes as a varint.
pub fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a varint at `*at`, advancing it.
pub fn get_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7F) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// Maps signed to unsigned so that small magnitudes stay small (0, -1, 1, -2, …).
#[inline]
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_every_width() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        for bits in 0..=64u32 {
            w.write(u64::MAX - u64::from(bits), bits);
            w.write(1, 1);
        }
        w.finish();
        let mut r = BitReader::new(&out);
        for bits in 0..=64u32 {
            let want = if bits == 64 {
                u64::MAX - 64
            } else {
                (u64::MAX - u64::from(bits)) & ((1u64 << bits) - 1)
            };
            assert_eq!(r.read(bits), Some(want), "width {bits}");
            assert_eq!(r.bit(), Some(true));
        }
        assert_eq!(r.read(64), None, "reading past the end fails");
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        let mut out = Vec::new();
        let values = [0u64, 1, 127, 128, 300, u64::MAX];
        for v in values {
            put_varint(&mut out, v);
            assert_eq!(varint_len(v), {
                let mut b = Vec::new();
                put_varint(&mut b, v);
                b.len()
            });
        }
        let mut at = 0;
        for v in values {
            assert_eq!(get_varint(&out, &mut at), Some(v));
        }
        assert_eq!(get_varint(&out, &mut at), None);
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
    }
}
