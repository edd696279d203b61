use super::*;
use crate::collect::testdata_paths;
use crate::collect::{interrupts, schedstat, thermal_zone, time};
use std::collections::BTreeMap;

#[test]
fn file_names_split_as_node_exporters_pattern_does() {
    let cases = [
        ("temp1_input", Some(("temp", 1, "input"))),
        ("temp1_crit_alarm", Some(("temp", 1, "crit_alarm"))),
        ("pwm1", Some(("pwm", 1, ""))),
        ("in10_min", Some(("in", 10, "min"))),
        ("temp", Some(("temp", 0, ""))),
        ("beep_enable", Some(("beep_enable", 0, ""))),
        ("update_interval", Some(("update_interval", 0, ""))),
        ("pwm1_auto_point1_pwm", Some(("pwm", 1, "auto_point1_pwm"))),
        ("trip_point_0_temp", Some(("trip_point_", 0, "temp"))),
        // The longest type that lets the rest fit.
        ("fan_1x", Some(("fan", 0, "1x"))),
        ("temp1_", None),
        ("1temp", None),
        ("in0input", None),
        ("", None),
    ];
    for (name, want) in cases {
        assert_eq!(split_file_name(name), want, "{name}");
    }
}

#[test]
fn names_and_scales_follow_node_exporter() {
    let m = |kind, property, plain| metric_for(kind, property, plain);
    let milli = Scale::Times(0.001);
    let micro = Scale::Over(1e6);
    let cases = [
        (("temp", "input", false), ("node_hwmon_temp_celsius", milli)),
        (("temp", "", false), ("node_hwmon_temp_celsius", milli)),
        (
            ("temp", "crit_alarm", false),
            ("node_hwmon_temp_crit_alarm_celsius", milli),
        ),
        (
            ("temp", "alarm", false),
            ("node_hwmon_temp_alarm", Scale::AsRead),
        ),
        (
            ("temp", "type", false),
            ("node_hwmon_temp_type", Scale::AsRead),
        ),
        (("in", "input", false), ("node_hwmon_in_volts", milli)),
        (
            ("in", "beep", false),
            ("node_hwmon_in_beep_enabled", Scale::AsRead),
        ),
        (("cpu", "vid", false), ("node_hwmon_cpu_vid_volts", milli)),
        (("curr", "input", false), ("node_hwmon_curr_amps", milli)),
        (
            ("energy", "input", false),
            ("node_hwmon_energy_joule_total", micro),
        ),
        (
            ("power", "average", false),
            ("node_hwmon_power_average_watt", micro),
        ),
        (
            ("power", "accuracy", false),
            ("node_hwmon_power_accuracy", micro),
        ),
        (
            ("power", "average_interval", false),
            ("node_hwmon_power_average_interval_seconds", milli),
        ),
        (("humidity", "input", false), ("node_hwmon_humidity", micro)),
        (
            ("fan", "input", false),
            ("node_hwmon_fan_rpm", Scale::AsRead),
        ),
        (
            ("fan", "target", false),
            ("node_hwmon_fan_target_rpm", Scale::AsRead),
        ),
        (
            ("fan", "pulses", false),
            ("node_hwmon_fan_pulses", Scale::AsRead),
        ),
        (
            ("fan", "fault", false),
            ("node_hwmon_fan_fault", Scale::AsRead),
        ),
        (("pwm", "", true), ("node_hwmon_pwm", Scale::AsRead)),
        (
            ("pwm", "input", true),
            ("node_hwmon_pwm_input", Scale::AsRead),
        ),
        (
            ("pwm", "Auto-Mode", true),
            ("node_hwmon_pwm_auto_mode", Scale::AsRead),
        ),
    ];
    for ((kind, property, plain), (name, scale)) in cases {
        assert_eq!(
            m(kind, property, plain),
            (name.to_owned(), scale),
            "{kind} {property}"
        );
    }
}

#[test]
fn names_are_cleaned_as_node_exporter_cleans_them() {
    assert_eq!(clean("coretemp.0"), "coretemp_0");
    assert_eq!(clean("0000:3d:00.0"), "0000:3d:00_0");
    assert_eq!(clean("ACPI Power Meter\n"), "acpi_power_meter");
    assert_eq!(clean("__x__"), "x");
    assert_eq!(clean("\n"), "");
}

#[test]
fn values_are_scaled_and_garbage_left_out() {
    assert_eq!(
        value_of("84850\n", Scale::Times(0.001)),
        Some(84.850_000_000_000_01)
    );
    assert_eq!(
        value_of("-273150\n", Scale::Times(0.001)),
        Some(-273.150_000_000_000_03)
    );
    assert_eq!(value_of("12500000\n", Scale::Over(1e6)), Some(12.5));
    assert_eq!(value_of("1\n", Scale::Flag), Some(1.0));
    assert_eq!(value_of("2\n", Scale::Flag), Some(0.0));
    assert_eq!(value_of("N/A\n", Scale::AsRead), None);
}

/// Series of a Prometheus text exposition: (name, sorted labels) -> value.
type Exposition = BTreeMap<(String, Vec<(String, String)>), f64>;

/// Parses the sample lines of a Prometheus text exposition (enough of the format for
/// node_exporter's output: quoted label values with `\\`, `\"` and `\n` escapes).
fn parse_exposition(text: &str) -> Exposition {
    let mut series = Exposition::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name_end, mut labels) = (line.find(['{', ' ']).expect("a name"), Vec::new());
        let name = line[..name_end].to_owned();
        let mut rest = &line[name_end..];
        if let Some(inner) = rest.strip_prefix('{') {
            rest = inner;
            while !rest.starts_with('}') {
                let (label, after) = rest.split_once("=\"").expect("label=\"");
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next().expect("a closing quote") {
                        (i, '"') => break i,
                        (_, '\\') => match chars.next().expect("an escape").1 {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        (_, c) => value.push(c),
                    }
                };
                labels.push((label.to_owned(), value));
                rest = after[end + 1..].trim_start_matches(',');
            }
            rest = &rest[1..];
        }
        labels.sort();
        let value = rest.trim().parse().expect("a value");
        series.insert((name, labels), value);
    }
    series
}

#[test]
fn the_recorded_tree_gives_exactly_what_node_exporter_gives() {
    let paths = testdata_paths();
    let expected_text = std::fs::read_to_string(
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/collect/testdata"))
            .join("node_exporter/metrics.prom"),
    )
    .expect("the recorded node_exporter output");
    let expected = parse_exposition(&expected_text);

    let mut sink = Sink::new();
    let now = Instant::now();
    Hwmon::new(&paths)
        .collect_at(now, &mut sink)
        .expect("hwmon");
    thermal_zone::ThermalZone::new(&paths)
        .collect_at(now, &mut sink)
        .expect("thermal_zone");
    time::Time::new(&paths).collect(&mut sink).expect("time");
    schedstat::Schedstat::new(&paths)
        .collect(&mut sink)
        .expect("schedstat");
    interrupts::Interrupts::new(&paths)
        .collect(&mut sink)
        .expect("interrupts");
    let ours: Exposition = sink
        .round()
        .filter(|(k, _)| k.name != "node_time_seconds" && k.name != "node_time_zone_offset_seconds")
        .map(|(k, v)| ((k.name.clone(), k.labels.clone()), v))
        .collect();
    assert_eq!(ours.len(), sink.len() - 2, "a series written twice");
    let missing: Vec<_> = expected.keys().filter(|k| !ours.contains_key(*k)).collect();
    let extra: Vec<_> = ours.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(missing.is_empty(), "missing: {missing:#?}");
    assert!(extra.is_empty(), "not in node_exporter's: {extra:#?}");
    for (key, value) in &expected {
        assert_eq!(
            ours[key].to_bits(),
            value.to_bits(),
            "{key:?}: {} vs {value}",
            ours[key]
        );
    }
}

#[test]
fn the_listing_is_reused_until_due_and_made_again_when_a_chip_vanishes() {
    let dir = std::env::temp_dir().join(format!("vigil-hwmon-{}", std::process::id()));
    let chip = dir.join("class/hwmon/hwmon0");
    std::fs::create_dir_all(&chip).expect("temp dir");
    std::fs::write(chip.join("name"), "drivetemp\n").expect("write");
    std::fs::write(chip.join("temp1_input"), "35000\n").expect("write");
    let paths = Paths {
        sys: dir.clone(),
        ..testdata_paths()
    };
    let mut source = Hwmon::new(&paths);
    let mut sink = Sink::new();
    let start = Instant::now();
    source.collect_at(start, &mut sink).expect("collects");
    // No device link: the chip is named by its `name` file.
    let labels = [("chip", "drivetemp"), ("sensor", "temp1")];
    assert_eq!(
        sink.value_of("node_hwmon_temp_celsius", &labels),
        Some(35.0)
    );
    assert_eq!(sink.len(), 2);

    // A new sensor file is not seen before the listing is due.
    std::fs::write(chip.join("temp1_max"), "60000\n").expect("write");
    sink.take_round();
    source
        .collect_at(start + Duration::from_secs(30), &mut sink)
        .expect("collects");
    assert_eq!(sink.len(), 2);
    sink.take_round();
    let due = start + REDISCOVER_EVERY;
    source.collect_at(due, &mut sink).expect("collects");
    assert_eq!(
        sink.value_of("node_hwmon_temp_max_celsius", &labels),
        Some(60.0)
    );
    assert_eq!(sink.len(), 3);

    // The chip goes: its values are left out quietly and the next round lists again,
    // finding a chip with neither device nor name, named by its directory.
    std::fs::remove_dir_all(&chip).expect("remove");
    let other = dir.join("class/hwmon/hwmon1");
    std::fs::create_dir_all(&other).expect("dir");
    std::fs::write(other.join("in0_input"), "1200\n").expect("write");
    sink.take_round();
    source.collect_at(due, &mut sink).expect("quiet");
    assert_eq!(sink.len(), 0);
    sink.take_round();
    source.collect_at(due, &mut sink).expect("lists again");
    let labels = [("chip", "hwmon1"), ("sensor", "in0")];
    assert_eq!(sink.value_of("node_hwmon_in_volts", &labels), Some(1.2));
    assert_eq!(sink.len(), 1);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn a_host_without_hwmon_is_quiet() {
    let paths = Paths {
        sys: "/nonexistent/sys".into(),
        ..testdata_paths()
    };
    let mut sink = Sink::new();
    Hwmon::new(&paths).collect(&mut sink).expect("quiet");
    assert!(sink.is_empty());
}

/// Prints this host's series of the six sources in Prometheus text, to compare with
/// node_exporter's /metrics: `cargo test -p vigil-agent --lib live_series -- --ignored
/// --nocapture`.
#[test]
#[ignore = "prints; for comparing with a node_exporter run by hand"]
fn live_series() {
    let paths = Paths::default();
    let mut sink = Sink::new();
    let results = [
        crate::collect::timex::Timex::new().collect(&mut sink),
        time::Time::new(&paths).collect(&mut sink),
        Hwmon::new(&paths).collect(&mut sink),
        thermal_zone::ThermalZone::new(&paths).collect(&mut sink),
        schedstat::Schedstat::new(&paths).collect(&mut sink),
        interrupts::Interrupts::new(&paths).collect(&mut sink),
    ];
    for result in results {
        result.expect("collects");
    }
    let mut lines: Vec<String> = sink
        .round()
        .map(|(k, v)| {
            let labels: Vec<String> = k.labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
            format!("{}{{{}}} {v}", k.name, labels.join(","))
        })
        .collect();
    lines.sort();
    println!("{}", lines.join("\n"));
}
