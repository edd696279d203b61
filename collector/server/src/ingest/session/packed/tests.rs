//! Reading compact scrapes: the documented bytes give the documented values, every f64
//! comes back exactly, and hostile bytes are refused by name, bounded, and poison only the
//! stream's compact state.

use super::*;

const MAX: usize = 1000;

fn compact(series_ids: &[u64], packed: &[u8]) -> Scrape {
    Scrape {
        timestamp_ms: 0,
        series_ids: series_ids.to_vec(),
        values: Vec::new(),
        packed: packed.to_vec(),
    }
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Reads `scrape` as batch `seq`, expecting a refusal; returns its message.
fn refusal(state: &mut Compact, seq: u64, scrape: &Scrape) -> String {
    let v = state
        .read(seq, 0, scrape, MAX)
        .expect_err("the scrape must be refused");
    assert!(
        v.message.starts_with(&format!("batch {seq} scrape 0: ")),
        "names the batch: {}",
        v.message
    );
    v.message
}

#[test]
fn the_documented_example_reads_back() {
    // The same bytes the agent's encoder writes (agent/src/encode/packed/tests.rs) and
    // ingest.proto shows.
    let mut state = Compact::default();
    let first = compact(
        &[1, 2, 3],
        &[
            0x00, 0x03, 0x00, 0x0b, 0x0a, 0x07, 0x80, 0x10, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x80,
        ],
    );
    let values = state.read(1, 0, &first, MAX).unwrap();
    assert!(same_bits(&values, &[0.5, 1024.0, -0.0]));
    assert_eq!(state.ids(), &[1, 2, 3]);
    let second = compact(&[], &[0x01, 0x03, 0x04, 0x0f, 0x32, 0x11]);
    let values = state.read(2, 0, &second, MAX).unwrap();
    assert!(same_bits(&values, &[0.75, 9216.0, -0.0]));
    let third = compact(&[3, 1], &[0x00, 0x02, 0x01, 0x04]);
    let values = state.read(3, 0, &third, MAX).unwrap();
    assert!(same_bits(&values, &[-0.0, 0.76]));
    assert_eq!(state.ids(), &[3, 1]);
    assert_eq!(samples_carried(&third), 2);
}

/// Writes the raw form of `values` (no previous state needed), then the same values again
/// as "unchanged", and reads both back.
#[test]
fn raw_values_and_unchanged_bits_keep_every_bit() {
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::from_bits(0xfff0_0000_0000_0001),
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        1.8e19,
    ];
    let ids: Vec<u64> = (1..=specials.len() as u64).collect();
    let mut packed = vec![0x00, specials.len() as u8, 0x00, 0x00];
    for v in specials {
        packed.push(0x03);
        packed.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    let mut state = Compact::default();
    let values = state.read(1, 0, &compact(&ids, &packed), MAX).unwrap();
    assert!(same_bits(&values, &specials));
    let again = compact(&[], &[0x01, specials.len() as u8, 0xff, 0x03]);
    let values = state.read(2, 0, &again, MAX).unwrap();
    assert!(same_bits(&values, &specials));
}

#[test]
fn deltas_pages_and_escapes_follow_the_format() {
    let mut state = Compact::default();
    // 3 series: 12.25 (k=2), 4096 (k=0), i64::MAX (k=0).
    let mut first = vec![0x00, 0x03, 0x00];
    first.extend([0x0f, 0x92, 0x13]); // escape k=2, zigzag(1225) = 2450
    first.extend([0x07, 0x80, 0x40]); // escape k=0, zigzag(4096) = 8192
    first.push(0x07);
    first.extend([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    let values = state.read(1, 0, &compact(&[1, 2, 3], &first), MAX).unwrap();
    assert!(same_bits(&values, &[12.25, 4096.0, i64::MAX as f64]));
    // -1 hundredth (delta zigzag 1 → u 2), +3 pages (zigzag 6 → u 25), +1 wrapping around.
    let second = compact(&[], &[0x01, 0x03, 0x00, 0x02, 0x19, 0x04]);
    let values = state.read(2, 0, &second, MAX).unwrap();
    assert!(same_bits(&values, &[12.24, 16384.0, i64::MIN as f64]));
    // An escape to a shorter exponent rescales down: 12.24 at k=1 is 122 (truncated), +1.
    let third = compact(&[], &[0x01, 0x03, 0x06, 0x0b, 0x02]);
    let values = state.read(3, 0, &third, MAX).unwrap();
    assert!(same_bits(&values, &[12.3, 16384.0, i64::MIN as f64]));
}

#[test]
fn values_of_a_changed_series_list_follow_their_series() {
    let mut state = Compact::default();
    // 7 → 1.0, 8 → 2.0 (escape k=0: zigzag 2, 4).
    let first = compact(&[7, 8], &[0x00, 0x02, 0x00, 0x07, 0x02, 0x07, 0x04]);
    state.read(1, 0, &first, MAX).unwrap();
    // Now 9 (new), 8 (unchanged), 7 (+1): 9 must be absolute, 8's bit is bit 1.
    let second = compact(&[9, 8, 7], &[0x00, 0x03, 0x02, 0x07, 0x06, 0x04]);
    let values = state.read(2, 0, &second, MAX).unwrap();
    assert_eq!(values, vec![3.0, 2.0, 2.0]);
    // A delta for the new series without a previous value is refused.
    let mut state = Compact::default();
    state.read(1, 0, &first, MAX).unwrap();
    let message = refusal(&mut state, 2, &compact(&[9, 8], &[0x00, 0x02, 0x02, 0x02]));
    assert!(
        message.contains("a delta from no previous value at sample 0 (series id 9) of 2"),
        "{message}"
    );
}

#[test]
fn hostile_bytes_are_refused_by_name() {
    let base = || {
        let mut state = Compact::default();
        state
            .read(
                1,
                0,
                &compact(&[1, 2], &[0x00, 0x02, 0x00, 0x07, 0x02, 0x07, 0x04]),
                MAX,
            )
            .unwrap();
        state
    };
    let cases: Vec<(Scrape, &str)> = vec![
        (
            compact(&[1, 2], &[0x00]),
            "is cut short in its sample count",
        ),
        (
            compact(&[1, 2], &[0x00, 0x02]),
            "is cut short in its bitmap of 2 samples",
        ),
        (
            compact(&[1, 2], &[0x00, 0x02, 0x00, 0x07]),
            "is cut short at sample 0 (series id 1) of 2",
        ),
        (
            compact(&[1, 2], &[0x00, 0x02, 0x00, 0x03, 1, 2]),
            "is cut short at sample 0",
        ),
        (
            compact(&[1, 2], &[0x00, 0x03, 0x00]),
            "declares 3 samples but series_ids has 2",
        ),
        (
            compact(&[], &[0x01, 0x05, 0x00]),
            "declares 5 samples but the previous compact scrape had 2",
        ),
        (
            compact(&[1], &[0x01, 0x02, 0x03]),
            "repeats the previous scrape's series but series_ids has 1 too",
        ),
        (
            compact(&[1, 2], &[0x07, 0x02, 0x03]),
            "starts with header 0x07",
        ),
        (
            compact(&[1, 2], &[0x00, 0x02, 0x04, 0x00]),
            "sets bitmap bits past its 2 samples",
        ),
        (
            compact(&[], &[0x01, 0x02, 0x01, 0x53]),
            "unknown value code 20 (0 to 19 are defined) at sample 1",
        ),
        (
            compact(&[], &[0x01, 0x02, 0x03, 0x00]),
            "has 1 bytes left after its 2 samples",
        ),
        (
            compact(
                &[],
                &[
                    0x01, 0x02, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
                ],
            ),
            "has a varint past 64 bits at sample 0",
        ),
        (
            compact(
                &[],
                &[
                    0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
            ),
            "declares 18446744073709551615 samples, over limits.max_series_ids_per_stream (1000)",
        ),
        (
            Scrape {
                values: vec![1.0],
                ..compact(&[1, 2], &[0x01, 0x02, 0x03])
            },
            "is set and so is values (1 of them)",
        ),
    ];
    for (scrape, want) in cases {
        let mut state = base();
        let message = refusal(&mut state, 9, &scrape);
        assert!(message.contains(want), "{want:?} in {message}");
        assert!(message.contains("Scrape.packed"), "{message}");
        // Lost: even a well-formed scrape is refused now, naming the batch that lost it.
        let later = refusal(
            &mut state,
            10,
            &compact(&[1], &[0x00, 0x01, 0x00, 0x07, 0x02]),
        );
        assert!(
            later.contains("compact state was lost at batch 9") && later.contains("reconnect"),
            "{later}"
        );
    }
}

#[test]
fn a_stream_without_a_previous_scrape_refuses_what_needs_one() {
    let mut state = Compact::default();
    let message = refusal(&mut state, 4, &compact(&[], &[0x01, 0x00]));
    assert!(
        message.contains("none came before on this stream"),
        "{message}"
    );
    let mut state = Compact::default();
    let message = refusal(&mut state, 4, &compact(&[5], &[0x00, 0x01, 0x01]));
    assert!(
        message.contains(
            "marks sample 0 (series id 5) unchanged, but that series has no previous value"
        ),
        "{message}"
    );
}

#[test]
fn too_many_samples_are_refused_before_anything_is_allocated() {
    let mut state = Compact::default();
    let ids: Vec<u64> = (0..=MAX as u64).collect();
    let mut packed = vec![0x00];
    packed.extend([0xe9, 0x07]); // 1001
    let v = state
        .read(3, 0, &compact(&ids, &packed), MAX)
        .expect_err("over the limit");
    assert_eq!(v.kind, Refusal::Exhausted);
    assert!(v.message.contains("raise the limit"), "{}", v.message);
    // The count the Ack reports stays bounded by the bytes sent.
    assert_eq!(
        samples_carried(&compact(&[], &[0x01, 0xff, 0xff, 0xff, 0x7f])),
        40
    );
    assert_eq!(samples_carried(&compact(&[1, 2, 3], &[0x01])), 3);
}

/// xorshift64*: a small deterministic source.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_bytes_never_panic_and_keep_the_state_bounded() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        let mut state = Compact::default();
        state
            .read(
                1,
                0,
                &compact(
                    &[1, 2, 3],
                    &[0x00, 0x03, 0x00, 0x07, 0x02, 0x07, 0x04, 0x07, 0x06],
                ),
                MAX,
            )
            .unwrap();
        let len = (rng.next() % 24) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(b) = bytes.first_mut() {
            *b &= 0x01; // mostly valid headers, to get past them
        }
        if bytes.is_empty() {
            continue;
        }
        let ids: Vec<u64> = (0..rng.next() % 5).collect();
        let scrape = compact(&ids, &bytes);
        match state.read(2, 0, &scrape, MAX) {
            Ok(values) => {
                assert_eq!(values.len(), state.ids().len());
                assert!(values.len() as u64 <= samples_carried(&scrape));
            }
            Err(v) => assert!(v.message.contains("Scrape.packed"), "{}", v.message),
        }
        assert!(state.ids().len() <= MAX);
    }
}
