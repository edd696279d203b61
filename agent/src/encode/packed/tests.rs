//! The compact format round-trips every f64 exactly, keeps state per stream, and writes the
//! bytes `ingest.proto` documents (the same vectors are checked by the collector's decoder).

use super::*;

/// A series' last value: its bits and its decimal form, if it had one.
type Known = (u64, Option<(i64, u8)>);

/// An independent reader of the format, written from `ingest.proto`: what the collector
/// must do, minus the limits and messages.
#[derive(Default)]
struct Reader {
    state: Option<(Vec<u64>, Vec<Known>)>,
    /// Samples read in each form: unchanged, delta, page delta, raw, escape.
    forms: [usize; 5],
}

impl Reader {
    fn unpack(&mut self, series_ids: &[u64], bytes: &[u8]) -> Result<(Vec<u64>, Vec<f64>), String> {
        let mut at = 0usize;
        let byte = |at: &mut usize| -> Result<u8, String> {
            let b = *bytes.get(*at).ok_or("cut short")?;
            *at += 1;
            Ok(b)
        };
        let varint = |at: &mut usize| -> Result<u64, String> {
            let mut v = 0u64;
            for i in 0..10 {
                let b = *bytes.get(*at).ok_or("cut short")?;
                *at += 1;
                v |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    return Ok(v);
                }
            }
            Err("varint too long".into())
        };
        let header = byte(&mut at)?;
        let n = varint(&mut at)? as usize;
        let (ids, olds): (Vec<u64>, Vec<Option<Known>>) = match header {
            0 => {
                if series_ids.len() != n {
                    return Err("count".into());
                }
                let olds = series_ids
                    .iter()
                    .map(|id| {
                        let (ids, prev) = self.state.as_ref()?;
                        let i = ids.iter().rposition(|x| x == id)?;
                        Some(prev[i])
                    })
                    .collect();
                (series_ids.to_vec(), olds)
            }
            1 => {
                let (ids, prev) = self.state.as_ref().ok_or("no previous")?;
                if ids.len() != n || !series_ids.is_empty() {
                    return Err("count".into());
                }
                (ids.clone(), prev.iter().copied().map(Some).collect())
            }
            _ => return Err("header".into()),
        };
        let bitmap: Vec<u8> = (0..n.div_ceil(8))
            .map(|_| byte(&mut at))
            .collect::<Result<_, _>>()?;
        let mut values = Vec::new();
        let mut next = Vec::new();
        for (i, old) in olds.into_iter().enumerate() {
            if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                let old = old.ok_or("unchanged without previous")?;
                self.forms[0] += 1;
                values.push(f64::from_bits(old.0));
                next.push(old);
                continue;
            }
            let previous = old.and_then(|o| o.1);
            let unzigzag = |z: u64| ((z >> 1) as i64) ^ -((z & 1) as i64);
            let u = varint(&mut at)?;
            let (m, k) = if u & 1 == 0 {
                let (pm, pk) = previous.ok_or("delta without decimal")?;
                self.forms[1] += 1;
                (pm.wrapping_add(unzigzag(u >> 1)), pk)
            } else if u & 3 == 1 {
                let (pm, pk) = previous.ok_or("delta without decimal")?;
                self.forms[2] += 1;
                (pm.wrapping_add(unzigzag(u >> 2).wrapping_shl(12)), pk)
            } else if u >> 2 == 0 {
                let raw: Vec<u8> = (0..8).map(|_| byte(&mut at)).collect::<Result<_, _>>()?;
                let bits = u64::from_le_bytes(raw.try_into().map_err(|_| "raw")?);
                self.forms[3] += 1;
                values.push(f64::from_bits(bits));
                next.push((bits, None));
                continue;
            } else if u >> 2 <= 19 {
                let k = (u >> 2) as u8 - 1;
                let d = unzigzag(varint(&mut at)?);
                self.forms[4] += 1;
                (base(previous, k).wrapping_add(d), k)
            } else {
                return Err("code".into());
            };
            let v = m as f64 / 10f64.powi(i32::from(k));
            values.push(v);
            next.push((v.to_bits(), Some((m, k))));
        }
        if at != bytes.len() {
            return Err("trailing bytes".into());
        }
        self.state = Some((ids.clone(), next));
        Ok((ids, values))
    }
}

/// xorshift64*: a small deterministic source for the property tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Values no encoder may bend.
const SPECIAL: [f64; 20] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    f64::MAX,
    f64::MIN,
    f64::EPSILON,
    9_007_199_254_740_992.0,
    9_223_372_036_854_775_807.0,
    -9_223_372_036_854_775_808.0,
    1.8e19,
    0.1 + 0.2,
    123_456_789.123_456_78,
    1e-300,
    4096.0,
    -1.5,
];

/// One series' next value, by kind: counters, decimals, pages, arbitrary bits, specials.
fn step(rng: &mut Rng, kind: u64, v: f64) -> f64 {
    if rng.below(3) == 0 {
        return v; // unchanged
    }
    match kind {
        0 => {
            let bits = rng.below(40);
            v + rng.below(1 << bits) as f64
        }
        1 => ((v * 100.0).round() + rng.below(500) as f64) / 100.0,
        2 => v + (rng.below(1000) as f64 - 500.0) * 4096.0,
        3 => f64::from_bits(rng.next()),
        4 => SPECIAL[rng.below(SPECIAL.len() as u64) as usize],
        5 => f64::from_bits(0x7ff0_0000_0000_0000 | (rng.next() & 0x000f_ffff_ffff_ffff) | 1),
        6 => (rng.next() as i64 >> rng.below(64)) as f64 / 10f64.powi(rng.below(19) as i32),
        _ => -v,
    }
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn every_value_round_trips_bit_for_bit_across_changing_rounds() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut forms = [0; 5];
    for stream in 0..40 {
        let mut packer = Packer::new();
        let mut reader = Reader::default();
        let width = 1 + rng.below(120) as usize;
        let mut ids: Vec<u64> = (1..=width as u64).collect();
        let mut kinds: Vec<u64> = ids.iter().map(|_| rng.below(8)).collect();
        let mut values: Vec<f64> = ids
            .iter()
            .map(|_| SPECIAL[rng.below(20) as usize])
            .collect();
        for round in 0..60 {
            for (v, &kind) in values.iter_mut().zip(&kinds) {
                *v = step(&mut rng, kind, *v);
            }
            if rng.below(10) == 0 {
                // The series change: one goes, one comes, the order moves.
                let i = rng.below(ids.len() as u64) as usize;
                ids.remove(i);
                kinds.remove(i);
                values.remove(i);
                ids.push(1000 + rng.below(50));
                kinds.push(rng.below(8));
                values.push(f64::from_bits(rng.next()));
                let j = rng.below(ids.len() as u64) as usize;
                ids.swap(0, j);
                values.swap(0, j);
                kinds.swap(0, j);
            }
            let packed = packer.pack(&ids, &values);
            let series = if packed.repeat { &[][..] } else { &ids[..] };
            let (got_ids, got) = reader
                .unpack(series, &packed.bytes)
                .unwrap_or_else(|e| panic!("stream {stream} round {round}: {e}"));
            assert_eq!(got_ids, ids, "stream {stream} round {round}");
            assert!(
                same_bits(&got, &values),
                "stream {stream} round {round}: {got:?} != {values:?}"
            );
        }
        forms
            .iter_mut()
            .zip(reader.forms)
            .for_each(|(a, b)| *a += b);
    }
    assert!(
        forms.iter().all(|&n| n > 100),
        "every form is exercised: {forms:?}"
    );
}

#[test]
fn each_special_value_survives_after_every_other() {
    for &a in &SPECIAL {
        for &b in &SPECIAL {
            let mut packer = Packer::new();
            let mut reader = Reader::default();
            for v in [a, b, a, a, b] {
                let packed = packer.pack(&[7], &[v]);
                let series = if packed.repeat { &[][..] } else { &[7][..] };
                let (_, got) = reader.unpack(series, &packed.bytes).unwrap();
                assert_eq!(got[0].to_bits(), v.to_bits(), "{a:e} then {b:e}");
            }
        }
    }
}

#[test]
fn the_bytes_are_those_the_proto_documents() {
    let mut packer = Packer::new();
    // First scrape: ids in series_ids, an escape to k=1 (0.5 = 5/10), an escape to k=0
    // (1024), and -0.0 raw (no decimal form gives back its sign).
    let first = packer.pack(&[1, 2, 3], &[0.5, 1024.0, -0.0]);
    assert_eq!(
        first,
        Packed {
            repeat: false,
            bytes: vec![
                0x00, 0x03, 0x00, 0x0b, 0x0a, 0x07, 0x80, 0x10, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x80
            ],
        }
    );
    // Same series: 0.75 needs k=2 (escape, from the previous 5 rescaled to 50: +25),
    // 9216 is 1024 + 2 pages (a page delta), -0.0 is unchanged (bit 2).
    let second = packer.pack(&[1, 2, 3], &[0.75, 9216.0, -0.0]);
    assert_eq!(
        second,
        Packed {
            repeat: true,
            bytes: vec![0x01, 0x03, 0x04, 0x0f, 0x32, 0x11],
        }
    );
    // New series list: 3 keeps its state (unchanged), 1 moves by one hundredth (a delta).
    let third = packer.pack(&[3, 1], &[-0.0, 0.76]);
    assert_eq!(
        third,
        Packed {
            repeat: false,
            bytes: vec![0x00, 0x02, 0x01, 0x04],
        }
    );
    let mut reader = Reader::default();
    reader.unpack(&[1, 2, 3], &first.bytes).unwrap();
    reader.unpack(&[], &second.bytes).unwrap();
    let (ids, values) = reader.unpack(&[3, 1], &third.bytes).unwrap();
    assert_eq!(ids, vec![3, 1]);
    assert!(same_bits(&values, &[-0.0, 0.76]));
}

#[test]
fn a_new_stream_starts_from_nothing() {
    let mut packer = Packer::new();
    packer.pack(&[1, 2], &[1.0, 2.0]);
    let again = Packer::new().pack(&[1, 2], &[1.0, 2.0]);
    assert!(!again.repeat);
    assert_eq!(
        Reader::default().unpack(&[1, 2], &again.bytes).unwrap().1,
        vec![1.0, 2.0]
    );
    // An empty round is a compact scrape too (header and count only).
    assert_eq!(Packer::new().pack(&[], &[]).bytes, vec![0x00, 0x00]);
}

#[test]
fn steady_host_metrics_take_little_room() {
    // 200 series: a quarter move a little each round, the rest stand still.
    let mut packer = Packer::new();
    let ids: Vec<u64> = (1..=200).collect();
    let mut values: Vec<f64> = (0..200).map(|i| (i * 4096) as f64).collect();
    let mut total = 0;
    for round in 0..100 {
        for (i, v) in values.iter_mut().enumerate() {
            if (i + round) % 4 == 0 {
                *v += if i % 2 == 0 { 4096.0 * 3.0 } else { 0.25 };
            }
        }
        let packed = packer.pack(&ids, &values);
        if round > 0 {
            total += packed.bytes.len();
        }
    }
    let per_sample = total as f64 / (99.0 * 200.0);
    assert!(per_sample < 0.6, "{per_sample} bytes a sample");
}

#[test]
fn exponents_do_not_drift_into_long_deltas() {
    // A series that once needed 9 decimals, then moves in whole units again.
    let mut packer = Packer::new();
    packer.pack(&[1], &[0.000_523_411]);
    packer.pack(&[1], &[1000.0]);
    let packed = packer.pack(&[1], &[2_000_000.0]);
    assert!(packed.bytes.len() <= 8, "{:?}", packed.bytes);
}

#[test]
fn helpers_follow_the_format() {
    assert_eq!(zigzag(0), 0);
    assert_eq!(zigzag(-1), 1);
    assert_eq!(zigzag(1), 2);
    assert_eq!(zigzag(i64::MIN), u64::MAX);
    assert_eq!(base(Some((5, 1)), 2), 50);
    assert_eq!(base(Some((57, 2)), 1), 5);
    assert_eq!(base(Some((i64::MAX, 0)), 3), 0, "overflow gives 0");
    assert_eq!(base(None, 4), 0);
    assert_eq!(decimal(1234.56), Some((123_456, 2)));
    assert_eq!(decimal(-0.0), None);
    assert_eq!(decimal(f64::NAN), None);
    assert_eq!(decimal(1.8e19), None);
    for k in 0..=MAX_EXPONENT {
        assert_eq!(POW10[usize::from(k)], 10f64.powi(i32::from(k)));
    }
    let mut v = Vec::new();
    put_varint(&mut v, 300);
    assert_eq!(v, vec![0xac, 0x02]);
    assert_eq!(varint_len(0), 1);
    assert_eq!(varint_len(127), 1);
    assert_eq!(varint_len(128), 2);
    assert_eq!(varint_len(u64::MAX), 10);
}
