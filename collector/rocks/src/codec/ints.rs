//! Integer sequences (timestamps, decimal mantissas): a transform that makes the numbers
//! small, then frame-of-reference bit packing in groups of [`GROUP`].
//!
//! ```text
//!   u8 mode, then its parameters (zigzag varints), then the residuals:
//!     0 raw      residuals  x[0..n]
//!     1 delta    x0;        residuals  x[i] - x[i-1]                 i in 1..n
//!     2 dod      x0, d0;    residuals  (x[i]-x[i-1]) - (x[i-1]-x[i-2])  i in 2..n
//!     3 line     x0, step;  residuals  x[i] - (x0 + i*step)          i in 1..n
//!   mode | SCALED (0x10): two more parameters, base and g (g > 1), and each residual r is
//!     stored as q with r = base + q*g (memory in KiB reported in bytes moves in steps of
//!     1024, disk sectors in steps of 512: dividing saves 9–12 bits a value)
//!   mode | SPARSE (0x20): after the parameters, one bit per residual (most significant
//!     first, padded to a byte), set where the residual is not zero; only those residuals
//!     follow (scaled, with SCALED). A gauge that holds its value at half the scrapes (CPU
//!     frequency, temperatures) then pays one bit for each unchanged step instead of a
//!     full-width zero: a third to a half of its bytes.
//!   residuals, GROUP at a time (the last group may be shorter):
//!     u8 width  zigzag-varint min  then each (r - min) in `width` bits, padded to a byte
//!     (width REPEAT instead: the previous group's width and min, no varint follows)
//! ```
//! All arithmetic wraps, so any i64 sequence round-trips. The encoder tries every mode and
//! keeps the smallest: `line` suits jittered timestamps (residuals are the jitter alone),
//! `delta` counters, `raw` gauges that wander around a level, `dod` steady ramps.

use super::bits::{BitReader, BitWriter, get_varint, put_varint, unzigzag, varint_len, zigzag};

/// Residuals per bit-packed group: small enough that a counter reset or a spike widens
/// few values, large enough that the group header (2–3 bytes) costs little per value.
pub const GROUP: usize = 64;

const RAW: u8 = 0;
const DELTA: u8 = 1;
const DOD: u8 = 2;
const LINE: u8 = 3;
const SCALED: u8 = 0x10;
const SPARSE: u8 = 0x20;
/// Group header byte meaning "same width and min as the previous group": regular series
/// (constants, steady ramps) then cost one byte per group.
const REPEAT: u8 = 0x80;

/// Appends the encoding of `xs` (any length, including 0) to `out`.
pub fn encode(xs: &[i64], out: &mut Vec<u8>) {
    let n = xs.len();
    if n == 0 {
        return;
    }
    let mut best: Option<(usize, u8, Vec<i64>, Vec<i64>)> = None;
    for mode in [RAW, DELTA, DOD, LINE] {
        let Some((params, residuals)) = transform(xs, mode) else {
            continue;
        };
        let mut candidates = vec![(mode, params.clone(), residuals.clone())];
        if let Some((base, g, quotients)) = scale(&residuals) {
            let mut params = params.clone();
            params.extend([base, g]);
            candidates.push((mode | SCALED, params, quotients));
        }
        // Worth a bitmap only when a good share of the residuals are zeros.
        let zeros = residuals.iter().filter(|&&r| r == 0).count();
        if zeros > 0 && zeros * 8 >= residuals.len() {
            let nonzero: Vec<i64> = residuals.iter().copied().filter(|&r| r != 0).collect();
            if let Some((base, g, quotients)) = scale(&nonzero) {
                let mut params = params.clone();
                params.extend([base, g]);
                candidates.push((mode | SCALED | SPARSE, params, quotients));
            }
            candidates.push((mode | SPARSE, params, nonzero));
        }
        for (mode, params, packed) in candidates {
            let bitmap = if mode & SPARSE != 0 {
                residuals.len().div_ceil(8)
            } else {
                0
            };
            let size = params.iter().map(|&p| varint_len(zigzag(p))).sum::<usize>()
                + bitmap
                + packed_len(&packed);
            if best.as_ref().is_none_or(|b| size < b.0) {
                best = Some((size, mode, params, packed));
            }
        }
        if n < 2 {
            break;
        }
    }
    let Some((_, mode, params, packed)) = best else {
        return;
    };
    out.push(mode);
    for p in params {
        put_varint(out, zigzag(p));
    }
    if mode & SPARSE != 0 {
        let (_, residuals) = transform(xs, mode & !(SCALED | SPARSE)).unwrap_or_default();
        let mut w = BitWriter::new(out);
        for &r in &residuals {
            w.write(u64::from(r != 0), 1);
        }
        w.finish();
    }
    let mut previous = None;
    for group in packed.chunks(GROUP) {
        let (min, width) = frame(group);
        if previous == Some((min, width)) {
            out.push(REPEAT);
        } else {
            out.push(width as u8);
            put_varint(out, zigzag(min));
        }
        previous = Some((min, width));
        let mut w = BitWriter::new(out);
        for &r in group {
            w.write(r.wrapping_sub(min) as u64, width);
        }
        w.finish();
    }
}

/// Decodes `n` integers starting at `*at` (advanced past them), calling `emit` on each.
///
/// Residuals are unpacked a whole group at a time into a buffer, and each mode rebuilds
/// its values in a loop of its own: a fleet query decodes millions of integers, and one
/// bit-field read and one dispatch on the mode per value were a third of its time.
pub fn decode(data: &[u8], at: &mut usize, n: usize, mut emit: impl FnMut(i64)) -> Option<()> {
    if n == 0 {
        return Some(());
    }
    let head = *data.get(*at)?;
    *at += 1;
    let mode = head & !(SCALED | SPARSE);
    let mut param = || get_varint(data, at).map(unzigzag);
    let (order, x0, p1) = match mode {
        RAW => (0, 0, 0),
        DELTA => (1, param()?, 0),
        DOD => {
            let x0 = param()?;
            (2.min(n), x0, param()?)
        }
        LINE => (1, param()?, param()?),
        _ => return None,
    };
    let (base, g) = if head & SCALED != 0 {
        (param()?, param()?)
    } else {
        (0, 1)
    };
    let order = order.min(n);
    let mut rebuild = Rebuild {
        mode,
        x0,
        step: p1,
        prev: x0,
        diff: p1,
        next: order,
    };
    if order >= 1 {
        emit(x0);
    }
    if order == 2 {
        rebuild.prev = x0.wrapping_add(p1);
        emit(rebuild.prev);
    }
    let m = n - order;
    let mut groups = Groups {
        data,
        at: *at,
        frame: None,
        buf: [0; GROUP],
    };
    let mut residuals = [0i64; GROUP];
    if head & SPARSE != 0 {
        let bytes = data.get(*at..*at + m.div_ceil(8))?;
        groups.at += bytes.len();
        // Only the first m bits count; the padding must be zeros.
        if !m.is_multiple_of(8) && bytes.last().is_some_and(|&b| b & (0xFF >> (m % 8)) != 0) {
            return None;
        }
        let mut left: usize = bytes.iter().map(|b| b.count_ones() as usize).sum();
        // Stored residuals of the current group, and how many of them are used.
        let (mut stored, mut used) = (0, 0);
        let mut done = 0;
        while done < m {
            let len = GROUP.min(m - done);
            for (k, r) in residuals[..len].iter_mut().enumerate() {
                let bit = done + k;
                *r = if bytes[bit / 8] & (0x80 >> (bit % 8)) != 0 {
                    if used == stored {
                        stored = GROUP.min(left);
                        groups.next(stored)?;
                        left -= stored;
                        used = 0;
                    }
                    used += 1;
                    base.wrapping_add(groups.buf[used - 1].wrapping_mul(g))
                } else {
                    0
                };
            }
            rebuild.run(&residuals[..len], &mut emit);
            done += len;
        }
        if left != 0 || used != stored {
            return None;
        }
    } else {
        let mut done = 0;
        while done < m {
            let len = GROUP.min(m - done);
            groups.next(len)?;
            for (r, &q) in residuals.iter_mut().zip(&groups.buf[..len]) {
                *r = base.wrapping_add(q.wrapping_mul(g));
            }
            rebuild.run(&residuals[..len], &mut emit);
            done += len;
        }
    }
    *at = groups.at;
    Some(())
}

/// Rebuilds values from residuals under a mode (see the module documentation).
struct Rebuild {
    mode: u8,
    x0: i64,
    step: i64,
    /// The previous value and the previous difference.
    prev: i64,
    diff: i64,
    /// Index of the next value.
    next: usize,
}

impl Rebuild {
    /// The values of `residuals`, the next ones in order, each to `emit`.
    #[inline]
    fn run(&mut self, residuals: &[i64], emit: &mut impl FnMut(i64)) {
        match self.mode {
            RAW => residuals.iter().for_each(|&r| emit(r)),
            DELTA => {
                for &r in residuals {
                    self.prev = self.prev.wrapping_add(r);
                    emit(self.prev);
                }
            }
            DOD => {
                for &r in residuals {
                    self.diff = self.diff.wrapping_add(r);
                    self.prev = self.prev.wrapping_add(self.diff);
                    emit(self.prev);
                }
            }
            _ => {
                let mut line = self
                    .x0
                    .wrapping_add((self.next as i64).wrapping_mul(self.step));
                for &r in residuals {
                    emit(line.wrapping_add(r));
                    line = line.wrapping_add(self.step);
                }
            }
        }
        self.next += residuals.len();
    }
}

/// Reads bit-packed groups (see the module documentation) a whole group at a time.
struct Groups<'a> {
    data: &'a [u8],
    /// Where the next group starts.
    at: usize,
    frame: Option<(i64, u32)>,
    /// The last group read: min + each packed value.
    buf: [i64; GROUP],
}

impl Groups<'_> {
    /// Reads the next group, of `len` values, into `buf[..len]`.
    #[inline]
    fn next(&mut self, len: usize) -> Option<()> {
        let head = *self.data.get(self.at)?;
        self.at += 1;
        let (min, width) = match (head, self.frame) {
            (REPEAT, Some(f)) => f,
            (0..=64, _) => (
                unzigzag(get_varint(self.data, &mut self.at)?),
                u32::from(head),
            ),
            _ => return None,
        };
        self.frame = Some((min, width));
        let bytes = (len * width as usize).div_ceil(8);
        let packed = self.data.get(self.at..self.at + bytes)?;
        self.at += bytes;
        unpack(packed, width, min, &mut self.buf[..len]);
        Some(())
    }
}

/// `min` plus each of the `out.len()` values of `width` bits packed in `packed` (most
/// significant bit first; `packed` holds at least `out.len() * width` bits).
#[inline]
fn unpack(packed: &[u8], width: u32, min: i64, out: &mut [i64]) {
    if width == 0 {
        out.fill(min);
        return;
    }
    if width > 56 {
        let mut r = BitReader::new(packed);
        for x in out {
            *x = min.wrapping_add(r.read(width).unwrap_or(0) as i64);
        }
        return;
    }
    // Every value lies within 8 bytes from the byte it starts in (width ≤ 56, start
    // bit ≤ 7): read them as one big-endian word from a copy padded with zeros.
    let mut padded = [0u8; GROUP * 8 + 8];
    padded[..packed.len()].copy_from_slice(packed);
    let w = width as usize;
    for (k, x) in out.iter_mut().enumerate() {
        let bit = k * w;
        let byte = bit / 8;
        let mut word = [0u8; 8];
        word.copy_from_slice(&padded[byte..byte + 8]);
        let v = (u64::from_be_bytes(word) << (bit % 8)) >> (64 - width);
        *x = min.wrapping_add(v as i64);
    }
}

/// The parameters and residuals of `xs` under `mode`; `None` when the mode needs more values.
fn transform(xs: &[i64], mode: u8) -> Option<(Vec<i64>, Vec<i64>)> {
    let n = xs.len();
    match mode {
        RAW => Some((Vec::new(), xs.to_vec())),
        DELTA if n >= 1 => Some((
            vec![xs[0]],
            xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect(),
        )),
        DOD if n >= 2 => {
            let d0 = xs[1].wrapping_sub(xs[0]);
            let residuals = xs
                .windows(3)
                .map(|w| {
                    w[2].wrapping_sub(w[1])
                        .wrapping_sub(w[1].wrapping_sub(w[0]))
                })
                .collect();
            Some((vec![xs[0], d0], residuals))
        }
        LINE if n >= 2 => {
            let step = xs[n - 1].wrapping_sub(xs[0]) / (n as i64 - 1);
            let residuals = (1..n)
                .map(|i| xs[i].wrapping_sub(xs[0].wrapping_add((i as i64).wrapping_mul(step))))
                .collect();
            Some((vec![xs[0], step], residuals))
        }
        _ => None,
    }
}

/// `residuals` as `base + q*g` for the largest common step g > 1, if there is one.
fn scale(residuals: &[i64]) -> Option<(i64, i64, Vec<i64>)> {
    let base = *residuals.first()?;
    let mut g = 0u64;
    for &r in residuals {
        g = gcd(g, r.wrapping_sub(base).unsigned_abs());
        if g == 1 {
            return None;
        }
    }
    if !(2..=1 << 62).contains(&g) {
        return None;
    }
    let g = g as i64;
    let quotients = residuals
        .iter()
        .map(|&r| r.wrapping_sub(base) / g)
        .collect();
    Some((base, g, quotients))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The smallest value of a group and the bits each value needs above it.
fn frame(group: &[i64]) -> (i64, u32) {
    let min = group.iter().copied().min().unwrap_or(0);
    let span = group
        .iter()
        .map(|&r| r.wrapping_sub(min) as u64)
        .max()
        .unwrap_or(0);
    (min, 64 - span.leading_zeros())
}

/// Bytes the residuals take once packed.
fn packed_len(residuals: &[i64]) -> usize {
    let mut previous = None;
    let mut size = 1;
    for g in residuals.chunks(GROUP) {
        let (min, width) = frame(g);
        if previous != Some((min, width)) {
            size += varint_len(zigzag(min));
        }
        previous = Some((min, width));
        size += 1 + (g.len() * width as usize).div_ceil(8);
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(xs: &[i64]) -> usize {
        let mut out = vec![0xAA];
        encode(xs, &mut out);
        let mut at = 1;
        let mut back = Vec::new();
        decode(&out, &mut at, xs.len(), |x| back.push(x)).unwrap();
        assert_eq!(back, xs);
        assert_eq!(at, out.len(), "decode consumes exactly what encode wrote");
        out.len() - 1
    }

    #[test]
    fn sequences_round_trip() {
        round_trip(&[]);
        round_trip(&[7]);
        round_trip(&[i64::MIN, i64::MAX]);
        round_trip(&[i64::MAX, i64::MIN, 0, -1, i64::MAX]);
        let ramp: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        assert!(
            round_trip(&ramp) < 40,
            "a regular ramp costs almost nothing"
        );
        let jitter: Vec<i64> = (0..1000)
            .map(|i| 1_700_000_000_000 + i * 10_000 + (i * 7919 % 11) - 5)
            .collect();
        let size = round_trip(&jitter);
        assert!(
            size < 1000 * 4 / 8 + 100,
            "±5 ms of jitter costs 4 bits: {size}"
        );
        let counter: Vec<i64> = (0..700)
            .map(|i| if i < 300 { i * 37 } else { i * 3 })
            .collect();
        round_trip(&counter);
    }

    #[test]
    fn every_packing_width_round_trips_in_whole_and_partial_groups() {
        // Values spread over exactly `width` bits, some held (sparse modes), in two whole
        // groups and a short third: each width of the group unpacker, and the wide ones
        // that read bit by bit.
        for width in 0..=64u32 {
            let top = if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            let xs: Vec<i64> = (0..150u64)
                .map(|i| match i % 5 {
                    0 => top as i64,
                    1 | 2 => 0,
                    _ => (top / (i + 1)) as i64,
                })
                .collect();
            round_trip(&xs);
            let held: Vec<i64> = xs.iter().map(|&x| if x == 0 { 0 } else { x | 1 }).collect();
            round_trip(&held);
        }
    }

    #[test]
    fn a_gauge_that_often_holds_its_value_pays_a_bit_per_unchanged_step() {
        // Moves by up to ±300,000 at every other step, as a CPU frequency does.
        let mut x = 2_400_000i64;
        let gauge: Vec<i64> = (0..720i64)
            .map(|i| {
                if (i * 7919) % 5 < 3 {
                    x += (i * 104_729) % 600_001 - 300_000;
                }
                x
            })
            .collect();
        let size = round_trip(&gauge);
        let full_width = 720 * 21 / 8;
        assert!(size < full_width * 3 / 4, "{size} of {full_width}");
        // Zeros with a common step among the changes: sparse and scaled together.
        let stepped: Vec<i64> = (0..300i64).map(|i| (i / 3) * 4096 + 7).collect();
        round_trip(&stepped);
        round_trip(&[5, 5, 5, 6, 5, 5, 5, 5, 9]);
        round_trip(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn damaged_input_is_refused_not_panicked_on() {
        let xs: Vec<i64> = (0..200).map(|i| i * i).collect();
        let mut out = Vec::new();
        encode(&xs, &mut out);
        for cut in 0..out.len() {
            let mut at = 0;
            let _ = decode(&out[..cut], &mut at, xs.len(), |_| {});
        }
        let mut at = 0;
        assert!(decode(&[9, 0, 0], &mut at, 3, |_| {}).is_none());
    }
}
