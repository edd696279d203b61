//! Decoding the blocks of many series over one span (a fleet query) with their
//! timestamps decoded once: every series of a host is scraped at the same instants, and
//! without jitter every series of a fleet is, so the blocks of a window mostly carry the
//! same encoded timestamps (inline, or the id of one shared column). [`Timestamps`] keeps
//! the last few decoded; a block whose encoded timestamps are one of them takes those and
//! decodes only its values, and only the values in the span are converted and kept.

use super::{SHARED, each_value, header, ints};

/// Decoded timestamps kept: a read goes series by series through the windows of its span
/// (two or three for a query of an hour or two), so a few entries hold every window's.
const KEPT: usize = 4;

/// The timestamps of the last blocks decoded, by their encoding.
#[derive(Default)]
pub struct Timestamps {
    entries: Vec<Entry>,
    /// The entry a miss replaces next, once all [`KEPT`] are in use.
    next: usize,
}

#[derive(Default)]
struct Entry {
    /// The block's layout byte; 0 (no layout) for an entry left empty by damage.
    layout: u8,
    /// What follows the header: the encoded timestamps (inline), or the column's id.
    encoded: Vec<u8>,
    times: Vec<i64>,
}

impl Timestamps {
    /// The entry whose timestamps a block with `layout` and `n` samples has, when `rest`
    /// (the block after its header) starts with their encoding.
    fn find(&self, layout: u8, n: usize, rest: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.layout == layout && e.times.len() == n && rest.starts_with(&e.encoded))
    }

    /// Decodes the timestamps of a block into an entry (the oldest, once all are in use):
    /// `rest` is the block after its header, `column` its shared column if it names one.
    fn decode(
        &mut self,
        layout: u8,
        n: usize,
        rest: &[u8],
        column: Option<&[u8]>,
    ) -> Option<usize> {
        let k = if self.entries.len() < KEPT {
            self.entries.push(Entry::default());
            self.entries.len() - 1
        } else {
            self.next = (self.next + 1) % KEPT;
            self.next
        };
        let e = &mut self.entries[k];
        // Empty until decoded whole: damage leaves an entry nothing matches.
        e.layout = 0;
        e.times.clear();
        e.encoded.clear();
        let times = &mut e.times;
        let used = if layout == SHARED {
            let column = column?;
            let mut at = 0;
            ints::decode(column, &mut at, n, |t| times.push(t))?;
            if at != column.len() {
                return None;
            }
            16
        } else {
            let mut at = 0;
            ints::decode(rest, &mut at, n, |t| times.push(t))?;
            at
        };
        e.encoded.extend_from_slice(rest.get(..used)?);
        e.layout = layout;
        Some(k)
    }
}

/// [`super::decode`], taking the block's timestamps from `timestamps` when it has them
/// (and leaving them there otherwise): the samples of `block` with `start <= t <= end`,
/// appended to `out`. `None` if the block is damaged or its column missing.
pub fn decode(
    block: &[u8],
    column: Option<&[u8]>,
    start: i64,
    end: i64,
    timestamps: &mut Timestamps,
    out: &mut Vec<(i64, f64)>,
) -> Option<()> {
    let mut at = 0;
    let (n, first, last) = header(block, &mut at)?;
    if last < start || first > end {
        return Some(());
    }
    let layout = block[0];
    if layout == SHARED && column.is_none() {
        return None;
    }
    let rest = &block[at..];
    let k = match timestamps.find(layout, n, rest) {
        Some(k) => k,
        None => timestamps.decode(layout, n, rest, column)?,
    };
    let entry = &timestamps.entries[k];
    let times = entry.times.as_slice();
    let lo = times.partition_point(|&t| t < start);
    let hi = times.partition_point(|&t| t <= end);
    out.reserve(hi - lo);
    each_value(block, at + entry.encoded.len(), n, |i, v| {
        if (lo..hi).contains(&i) {
            out.push((times[i], v));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::{decode as plain, encode, encode_sharing};
    use super::{Timestamps, decode};

    #[test]
    fn reused_timestamps_decode_as_each_block_alone() {
        // Three series on one host's instants, one on its own; a shared column and inline
        // timestamps; values of both kinds.
        let instants: Vec<i64> = (0..500).map(|i| 1_000 + i * 10_000 + i % 3).collect();
        let other: Vec<i64> = (0..500).map(|i| 1_000 + i * 10_000).collect();
        let series: Vec<Vec<(i64, f64)>> = vec![
            instants.iter().map(|&t| (t, t as f64 / 100.0)).collect(),
            instants.iter().map(|&t| (t, (t % 7) as f64)).collect(),
            other.iter().map(|&t| (t, 0.1 + t as f64)).collect(),
            instants.iter().map(|&t| (t, f64::NAN)).collect(),
        ];
        let mut blocks = Vec::new();
        for samples in &series {
            let (mut block, mut column) = (Vec::new(), Vec::new());
            let shared = encode_sharing(samples, &mut block, &mut column).is_some();
            blocks.push((block, shared.then_some(column)));
            let mut block = Vec::new();
            encode(samples, &mut block);
            blocks.push((block, None));
        }
        let mut timestamps = Timestamps::default();
        for (start, end) in [
            (i64::MIN, i64::MAX),
            (2_000_000, 3_000_000),
            (0, 1_000),
            (9e9 as i64, i64::MAX),
        ] {
            for _ in 0..2 {
                for (block, column) in &blocks {
                    let (mut want, mut got) = (vec![(1, 1.0)], vec![(1, 1.0)]);
                    plain(block, column.as_deref(), start, end, &mut want).unwrap();
                    decode(
                        block,
                        column.as_deref(),
                        start,
                        end,
                        &mut timestamps,
                        &mut got,
                    )
                    .unwrap();
                    let bits = |s: &[(i64, f64)]| {
                        s.iter().map(|p| (p.0, p.1.to_bits())).collect::<Vec<_>>()
                    };
                    assert_eq!(bits(&got), bits(&want), "[{start}, {end}]");
                }
            }
        }
        // A damaged block is refused, and leaves nothing the next block could take.
        let (block, _) = &blocks[1];
        let mut out = Vec::new();
        for cut in 0..block.len() {
            let mut fresh = Timestamps::default();
            let damaged = &block[..cut];
            assert!(decode(damaged, None, i64::MIN, i64::MAX, &mut fresh, &mut out).is_none());
            out.clear();
            decode(block, None, i64::MIN, i64::MAX, &mut fresh, &mut out).unwrap();
            assert_eq!(out.len(), 500, "after a cut at {cut}");
        }
    }
}
