use super::*;

fn sample(line: &str, format: Format) -> (String, f64, i64) {
    match parse_line(line, format) {
        Ok(Line::Sample {
            series,
            value,
            timestamp_ms,
        }) => (series.to_owned(), value, timestamp_ms),
        other => panic!("{line:?} did not parse as a sample: {other:?}"),
    }
}

fn error(line: &str, format: Format) -> String {
    match parse_line(line, format) {
        Err(e) => e,
        Ok(other) => panic!("{line:?} parsed: {other:?}"),
    }
}

#[test]
fn openmetrics_timestamps_are_seconds_truncated_as_prometheus_does() {
    let (series, value, ts) = sample("node_load1{host=\"a\"} 0.5 1700000000", Format::OpenMetrics);
    assert_eq!(series, "node_load1{host=\"a\"}");
    assert_eq!(value, 0.5);
    assert_eq!(ts, 1_700_000_000_000);
    assert_eq!(
        sample("m 1 1700000000.123", Format::OpenMetrics).2,
        1_700_000_000_123
    );
    // 1.001 * 1000 is 1000.9999999999999 in floating point; Prometheus truncates to 1000.
    assert_eq!(sample("m 1 1.001", Format::OpenMetrics).2, 1000);
    assert_eq!(sample("m 1 -1.5", Format::OpenMetrics).2, -1500);
}

#[test]
fn prometheus_timestamps_are_milliseconds() {
    assert_eq!(
        sample("m 2 1700000000123", Format::Prometheus).2,
        1_700_000_000_123
    );
    let e = error("m 2 1700000000.5", Format::Prometheus);
    assert!(e.contains("not an integer number of milliseconds"), "{e}");
}

#[test]
fn milliseconds_in_an_openmetrics_file_get_a_hint() {
    let e = error("m 2 1700000000123", Format::OpenMetrics);
    assert!(e.contains("--format prometheus"), "{e}");
}

#[test]
fn special_values() {
    assert!(sample("m NaN 1", Format::OpenMetrics).1.is_nan());
    assert_eq!(sample("m +Inf 1", Format::OpenMetrics).1, f64::INFINITY);
    assert_eq!(sample("m -Inf 1", Format::OpenMetrics).1, f64::NEG_INFINITY);
    assert_eq!(sample("m 1e3 1", Format::OpenMetrics).1, 1000.0);
    assert_eq!(sample("m -0.25 1", Format::Prometheus).1, -0.25);
    let e = error("m twelve 1", Format::OpenMetrics);
    assert!(e.contains("\"twelve\" is not a number"), "{e}");
}

#[test]
fn samples_without_timestamps_are_refused() {
    let e = error("node_load1 0.5", Format::OpenMetrics);
    assert!(
        e.contains("no timestamp") && e.contains("node_load1"),
        "{e}"
    );
    let e = error("node_load1 0.5", Format::Prometheus);
    assert!(e.contains("no timestamp"), "{e}");
    let e = error("node_load1", Format::Prometheus);
    assert!(e.contains("has no value"), "{e}");
}

#[test]
fn exemplars_are_skipped_in_openmetrics_only() {
    let line = "rpc_total{code=\"200\"} 7 1700000000 # {trace_id=\"x\"} 1 1700000000";
    assert_eq!(sample(line, Format::OpenMetrics).1, 7.0);
    let e = error(
        "rpc_total 7 1700000000 # {trace_id=\"x\"} 1",
        Format::Prometheus,
    );
    assert!(e.contains("unexpected \"#\""), "{e}");
}

#[test]
fn labels_with_escapes_spaces_and_braces_in_values() {
    let line = "m{a=\"x \\\"y\\\" } z\",b=\"back\\\\slash\",c=\"new\\nline\", d = \"\\t\",} 1 2";
    let (series, _, ts) = sample(line, Format::Prometheus);
    assert_eq!(ts, 2);
    let (name, labels) = parse_series(&series).expect("labels parse");
    assert_eq!(name, "m");
    assert_eq!(
        labels,
        vec![
            ("a".into(), "x \"y\" } z".into()),
            ("b".into(), "back\\slash".into()),
            ("c".into(), "new\nline".into()),
            // Unknown escapes stay as written, as in Prometheus's parsers.
            ("d".into(), "\\t".into()),
        ]
    );
    assert_eq!(
        parse_series("up").expect("bare name"),
        ("up".into(), vec![])
    );
    assert_eq!(
        parse_series("up{}").expect("empty set"),
        ("up".into(), vec![])
    );
}

#[test]
fn broken_label_sets_say_what_is_wrong() {
    let e = error("m{a=\"x} 1 2", Format::OpenMetrics);
    assert!(e.contains("closing quote"), "{e}");
    let e = error("m{a=\"x\" 1 2", Format::OpenMetrics);
    assert!(e.contains("closing }"), "{e}");
    let e = parse_series("m{a=x}").expect_err("unquoted");
    assert!(e.contains("double quotes"), "{e}");
    let e = parse_series("m{a}").expect_err("no value");
    assert!(e.contains("no =\"value\""), "{e}");
    let e = parse_series("m{a=\"1\" b=\"2\"}").expect_err("no comma");
    assert!(e.contains("expected , or }"), "{e}");
    let e = error("{a=\"1\"} 1 2", Format::OpenMetrics);
    assert!(e.contains("start with a metric name"), "{e}");
}

#[test]
fn metadata_comments_and_eof() {
    for line in [
        "# HELP m Some help text.",
        "# TYPE m counter",
        "# UNIT m seconds",
        "",
        "   ",
        "# just a comment",
    ] {
        assert_eq!(
            parse_line(line, Format::OpenMetrics),
            Ok(Line::Skip),
            "{line:?}"
        );
    }
    assert_eq!(parse_line("# EOF", Format::OpenMetrics), Ok(Line::Eof));
    assert_eq!(parse_line("# EOF\r", Format::OpenMetrics), Ok(Line::Eof));
    assert_eq!(parse_line("# EOF", Format::Prometheus), Ok(Line::Skip));
    assert_eq!(
        parse_line("# TYPE m untyped", Format::Prometheus),
        Ok(Line::Skip)
    );
    let e = error("# TYPE m countr", Format::OpenMetrics);
    assert!(e.contains("\"countr\" is not a metric type"), "{e}");
    let e = error("# TYPE", Format::Prometheus);
    assert!(e.contains("needs a metric name"), "{e}");
}

#[test]
fn tabs_and_repeated_spaces_separate_tokens() {
    assert_eq!(
        sample("m{a=\"b\"}\t 3  4", Format::Prometheus),
        ("m{a=\"b\"}".into(), 3.0, 4)
    );
    assert_eq!(sample("  m 3 4 ", Format::Prometheus), ("m".into(), 3.0, 4));
    let e = error("m 1 2 3", Format::Prometheus);
    assert!(e.contains("unexpected \"3\""), "{e}");
}
