use super::*;
use crate::loadgen::catalogue::{Template, templates};
use crate::loadgen::fleet::{FleetSpec, Host};

const END_MS: i64 = 1_763_700_000_000;

/// Two hosts, 300 series, jittered scrapes every 10 s from `END_MS`.
fn spec() -> FleetSpec {
    FleetSpec {
        hosts: 2,
        series_per_host: 300,
        interval_ms: 10_000,
        jitter_ms: 30,
        seed: 7,
        start_ms: END_MS,
    }
}

fn shift(text: &str) -> LevelShift {
    LevelShift::parse(text, 2, END_MS).unwrap()
}

type Scrape = (i64, Vec<u64>, Vec<f64>);

fn scrapes(mut host: Host, steps: usize) -> Vec<Scrape> {
    (0..steps)
        .map(|_| {
            let (ts, ids, values) = host.next_scrape();
            (ts, ids.to_vec(), values.to_vec())
        })
        .collect()
}

/// The scrapes of host `index` without and with `shifts`: the same timestamps and ids.
fn plain_and_shifted(
    spec: FleetSpec,
    shifts: &[&str],
    index: u32,
    steps: usize,
) -> Vec<(Scrape, Scrape)> {
    let shifts = shifts.iter().map(|s| shift(s)).collect();
    let plain = scrapes(Fleet::new(spec.clone()).host(index), steps);
    let shifted = scrapes(Fleet::new(spec).with_shifts(shifts).host(index), steps);
    for (p, s) in plain.iter().zip(&shifted) {
        assert_eq!(
            (p.0, &p.1),
            (s.0, &s.1),
            "timestamps and series ids do not move"
        );
    }
    plain.into_iter().zip(shifted).collect()
}

#[test]
fn parses_every_form_of_at_and_metric_names_with_colons() {
    let s = shift("0:node_load1:3:end-20m");
    assert_eq!(
        (s.host, s.metric.as_str(), s.factor, s.at_ms),
        (0, "node_load1", 3.0, END_MS - 1_200_000)
    );
    assert_eq!(s.text, "0:node_load1:3:end-20m");
    let s = shift("1:node_memory_MemAvailable_bytes:0.2:end+5m");
    assert_eq!((s.host, s.factor, s.at_ms), (1, 0.2, END_MS + 300_000));
    assert_eq!(shift("1:node_load5:1.5:end").at_ms, END_MS);
    assert_eq!(shift("0:node_load5:2:end-1h30m").at_ms, END_MS - 5_400_000);
    assert_eq!(shift("0:node_load5:2:1763699000").at_ms, 1_763_699_000_000);
    let s = shift("1:job:node_load1:avg:2e0:end");
    assert_eq!(
        (s.host, s.metric.as_str(), s.factor),
        (1, "job:node_load1:avg", 2.0)
    );
}

#[test]
fn a_bad_value_is_refused_naming_the_flag_and_the_part() {
    for (text, message) in [
        (
            "0:node_load1:x:end-20m",
            r#"FACTOR "x" is not a positive number"#,
        ),
        (
            "0:node_load1:0:end",
            r#"FACTOR "0" is not a positive number"#,
        ),
        (
            "0:node_load1:-2:end",
            r#"FACTOR "-2" is not a positive number"#,
        ),
        (
            "0:node_load1:inf:end",
            r#"FACTOR "inf" is not a positive number"#,
        ),
        (
            "0:node_load1:NaN:end",
            r#"FACTOR "NaN" is not a positive number"#,
        ),
        (
            "x:node_load1:2:end",
            r#"HOST "x" is not a host index (0 is host-00000)"#,
        ),
        (
            "-1:node_load1:2:end",
            r#"HOST "-1" is not a host index (0 is host-00000)"#,
        ),
        (
            "2:node_load1:2:end",
            "HOST 2 is not below --hosts 2 (hosts are 0 to 1)",
        ),
        (
            "0::2:end",
            r#"METRIC "" is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"#,
        ),
        ("0:1load:2:end", r#"METRIC "1load" is not a metric name"#),
        (
            "0:node_load1:2:soon",
            r#"AT "soon" is neither Unix seconds nor end, end-DURATION"#,
        ),
        ("0:node_load1:2:", r#"AT "" is neither Unix seconds"#),
        ("0:node_load1:2:1.5", r#"AT "1.5" is neither Unix seconds"#),
        (
            "0:node_load1:2:end*5m",
            r#"AT "end*5m" is neither Unix seconds"#,
        ),
        (
            "0:node_load1:2:end-",
            r#"AT "end-": "" is not a duration (e.g. 20m, 1h30m)"#,
        ),
        (
            "0:node_load1:2:end-20q",
            r#"AT "end-20q": "20q" is not a duration"#,
        ),
        (
            "0:node_load1:2",
            "expected HOST:METRIC:FACTOR:AT, e.g. 0:node_load1:3:end-20m",
        ),
        ("node_load1", "expected HOST:METRIC:FACTOR:AT"),
        ("", "expected HOST:METRIC:FACTOR:AT"),
    ] {
        let error = LevelShift::parse(text, 2, END_MS).unwrap_err();
        let flag = format!("--shift {text:?}: ");
        assert!(
            error.starts_with(&flag) && error[flag.len()..].starts_with(message),
            "{text}: {error}"
        );
    }
    assert_eq!(
        LevelShift::parse("0:node_load1:x:end-20m", 2, END_MS).unwrap_err(),
        r#"--shift "0:node_load1:x:end-20m": FACTOR "x" is not a positive number"#
    );
}

#[test]
fn a_metric_no_series_has_draws_a_warning() {
    let fleet = Fleet::new(spec());
    assert_eq!(shift("0:node_load1:3:end").unmatched(&fleet), None);
    assert_eq!(
        shift("1:node_lod1:3:end").unmatched(&fleet).unwrap(),
        concat!(
            r#"--shift "1:node_lod1:3:end": no series named "node_lod1" on host-00001"#,
            " (with --series-per-host 300); nothing is shifted"
        )
    );
    // A small catalogue stops before the load averages.
    let small = Fleet::new(FleetSpec {
        series_per_host: 20,
        ..spec()
    });
    assert!(shift("0:node_load1:3:end").unmatched(&small).is_some());
}

#[test]
fn a_gauge_is_multiplied_from_at_on_and_nothing_else_moves() {
    // Within the jitter of step 50's scrape: its own timestamp decides.
    let text = "1:node_load1:3:end+500s15ms";
    let at = END_MS + 500_015;
    let all = templates(300);
    let load1 = all.iter().position(|t| t.name == "node_load1").unwrap();
    let (mut before, mut after) = (0, 0);
    for (plain, shifted) in plain_and_shifted(spec(), &[text], 1, 100) {
        let ts = plain.0;
        for (slot, (p, s)) in plain.2.iter().zip(&shifted.2).enumerate() {
            if slot == load1 && ts >= at {
                assert_eq!(*s, p * 3.0, "at {ts}");
                assert!(*p > 0.0);
                after += 1;
            } else {
                assert_eq!(s.to_bits(), p.to_bits(), "{} at {ts}", all[slot].name);
                before += (slot == load1) as u32;
            }
        }
    }
    assert_eq!(before + after, 100);
    assert!((50..=51).contains(&before), "{before} samples before AT");
    // The other host is untouched.
    for (plain, shifted) in plain_and_shifted(spec(), &[text], 0, 100) {
        assert_eq!(plain, shifted);
    }
}

/// Every series of the counter family shifts, each step's increase multiplied; the value
/// at AT is the unshifted one and no counter goes down.
#[test]
fn a_counter_grows_factor_times_as_fast_and_stays_monotonic() {
    let all = templates(300);
    let cpu: Vec<usize> = slots_named(&all, "node_cpu_seconds_total");
    assert_eq!(
        cpu.len(),
        32,
        "all series of the name, whatever their labels"
    );
    for factor in [5.0, 0.2] {
        let text = format!("0:node_cpu_seconds_total:{factor}:end+10m");
        let at = END_MS + 600_000;
        let pairs = plain_and_shifted(spec(), &[&text], 0, 200);
        for &slot in &cpu {
            let (mut plain_growth, mut shifted_growth) = (0.0, 0.0);
            for step in 1..pairs.len() {
                let ((ts, _, p), (_, _, s)) = &pairs[step];
                let (p0, s0) = (pairs[step - 1].0.2[slot], pairs[step - 1].1.2[slot]);
                let (p_inc, s_inc) = (p[slot] - p0, s[slot] - s0);
                assert!(s_inc >= 0.0, "slot {slot} went down at {ts}");
                if *ts < at {
                    assert_eq!(s[slot].to_bits(), p[slot].to_bits(), "slot {slot} at {ts}");
                } else {
                    let want = p_inc * factor;
                    assert!(
                        (s_inc - want).abs() <= 1e-9 * p[slot].max(1.0),
                        "slot {slot} at {ts}: grew {s_inc}, want {want}"
                    );
                    plain_growth += p_inc;
                    shifted_growth += s_inc;
                }
            }
            if plain_growth > 0.0 {
                let ratio = shifted_growth / plain_growth;
                assert!(
                    (ratio - factor).abs() < 1e-6 * factor,
                    "slot {slot}: ×{ratio}"
                );
            }
        }
        // The other series of the host, and the other host, are untouched.
        for (plain, shifted) in &pairs {
            for (slot, (p, s)) in plain.2.iter().zip(&shifted.2).enumerate() {
                if !cpu.contains(&slot) {
                    assert_eq!(p.to_bits(), s.to_bits(), "{}", all[slot].name);
                }
            }
        }
        for (plain, shifted) in plain_and_shifted(spec(), &[&text], 1, 200) {
            assert_eq!(plain, shifted);
        }
    }
}

/// A shifted counter still restarts from zero where the unshifted one does (a new churned
/// series here), and then grows by the shifted increases.
#[test]
fn a_shifted_counter_restarts_where_the_unshifted_one_does() {
    let spec = FleetSpec {
        interval_ms: 120_000,
        ..spec()
    };
    let all = templates(300);
    let tasks = slots_named(&all, "app_task_cpu_seconds_total");
    let pairs = plain_and_shifted(spec, &["0:app_task_cpu_seconds_total:4:end"], 0, 400);
    let mut restarts = 0;
    for step in 1..pairs.len() {
        let ((_, ids, p), (_, _, s)) = &pairs[step];
        let (p0, s0) = (&pairs[step - 1].0.2, &pairs[step - 1].1.2);
        for &slot in &tasks {
            if ids[slot] != pairs[step - 1].0.1[slot] {
                restarts += 1;
                assert!(p[slot] < p0[slot] && s[slot] < s0[slot]);
                // From zero, every increase shifted.
                assert!((s[slot] - 4.0 * p[slot]).abs() < 1e-9 * s[slot].max(1.0));
            } else {
                assert!(s[slot] >= s0[slot]);
            }
        }
    }
    assert!(restarts >= tasks.len(), "{restarts} new series in 13 h");
}

#[test]
fn shifts_on_one_series_multiply() {
    let shifts = [
        "0:node_memory_MemAvailable_bytes:2:end+100s",
        "0:node_memory_MemAvailable_bytes:0.25:end+200s",
    ];
    let slot = slots_named(&templates(300), "node_memory_MemAvailable_bytes")[0];
    for (step, (plain, shifted)) in plain_and_shifted(spec(), &shifts, 0, 30)
        .into_iter()
        .enumerate()
    {
        let factor = match step {
            0..10 => 1.0,
            10..20 => 2.0,
            _ => 0.5,
        };
        assert_eq!(shifted.2[slot], plain.2[slot] * factor, "step {step}");
    }
}

/// No shifts, or shifts that start after the last sample, leave every sample as it was.
#[test]
fn without_a_shift_in_range_the_samples_are_as_before() {
    let late = [
        "0:node_load1:3:end+1h",
        "0:node_cpu_seconds_total:3:end+1h",
        "0:node_network_receive_bytes_total:0.5:end+1h",
    ];
    for shifts in [&late[..], &[]] {
        for (plain, shifted) in plain_and_shifted(spec(), shifts, 0, 300) {
            let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&plain.2), bits(&shifted.2));
        }
    }
}

fn slots_named(all: &[Template], name: &str) -> Vec<usize> {
    (0..all.len()).filter(|&i| all[i].name == name).collect()
}
