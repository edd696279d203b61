//! Templates as alert rules use them, with the text Prometheus 2.42 gives for them.

use std::collections::BTreeMap;

use super::{TemplateData, check, expand};

fn labels() -> BTreeMap<String, String> {
    [
        ("instance", "web-1:9100"),
        ("device", "sda1"),
        ("job", "node"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn run(template: &str, value: f64) -> String {
    let labels = labels();
    let mut vars = BTreeMap::new();
    vars.insert("eta".to_owned(), "1700000000".to_owned());
    vars.insert("model".to_owned(), "holt".to_owned());
    let data = TemplateData {
        labels: Some(&labels),
        value,
        vars,
    };
    expand(template, &data).unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn labels_and_value() {
    assert_eq!(
        run("Host {{ $labels.instance }} at {{ $value }}", 0.5),
        "Host web-1:9100 at 0.5"
    );
    assert_eq!(run("{{ .Labels.device }} {{ .Value }}", 1e6), "sda1 1e+06");
    assert_eq!(run("[{{ $labels.nosuch }}]", 1.0), "[]");
    assert_eq!(
        run("LABELS = {{ $labels }}", 1.0),
        "LABELS = map[device:sda1 instance:web-1:9100 job:node]"
    );
    assert_eq!(run("{{ $externalLabels.x }}|{{ $externalURL }}", 1.0), "|");
    assert_eq!(run("{{ index $labels \"job\" }}", 1.0), "node");
}

#[test]
fn helpers_and_pipes() {
    assert_eq!(run("{{ $value | humanize }}B", 1234567.0), "1.235MB");
    assert_eq!(run("{{ humanize1024 $value }}", 1073741824.0), "1Gi");
    assert_eq!(run("{{ $value | humanizePercentage }}", 0.4567), "45.67%");
    assert_eq!(run("{{ $value | humanizeDuration }}", 3725.0), "1h 2m 5s");
    assert_eq!(
        run("{{ $value | humanizeTimestamp }}", 1700000000.0),
        "2023-11-14 22:13:20 +0000 UTC"
    );
    assert_eq!(run("{{ printf \"%.2f\" $value }}%", 12.3456), "12.35%");
    assert_eq!(run("{{ $value | printf \"%.0f\" }}", 2.5), "2");
    assert_eq!(
        run(
            "{{ $labels.job | toUpper }} {{ toLower \"ABC\" }} {{ title \"disk full\" }}",
            0.0
        ),
        "NODE abc Disk Full"
    );
    assert_eq!(
        run("{{ reReplaceAll \":.*\" \"\" $labels.instance }}", 0.0),
        "web-1"
    );
    assert_eq!(run("{{ $labels.instance | stripPort }}", 0.0), "web-1");
    assert_eq!(run("{{ humanize \"1500\" }}", 0.0), "1.5k");
    assert_eq!(run("{{ (humanize $value) | toUpper }}", 1500.0), "1.5K");
}

#[test]
fn forecast_variables() {
    assert_eq!(
        run("full at {{ $eta | humanizeTimestamp }} ({{ $model }})", 0.0),
        "full at 2023-11-14 22:13:20 +0000 UTC (holt)"
    );
    assert_eq!(run("[{{ $eta_lower }}]", 0.0), "[]");
}

#[test]
fn conditions_and_trimming() {
    let t =
        "{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}warning{{ else }}ok{{ end }}";
    assert_eq!(run(t, 95.0), "critical");
    assert_eq!(run(t, 85.0), "warning");
    assert_eq!(run(t, 5.0), "ok");
    assert_eq!(run("a  {{- \" b \" -}}  c", 0.0), "a b c");
    assert_eq!(
        run("{{ if eq $labels.job \"node\" }}yes{{ end }}", 0.0),
        "yes"
    );
}

#[test]
fn check_names_what_is_wrong() {
    assert_eq!(check("{{ $labels.x }} {{ $value | humanize }}"), Ok(()));
    let e = check("{{ $value | nosuch }}").unwrap_err();
    assert!(e.contains("function \"nosuch\" not defined"), "{e}");
    let e = check("{{ $valu }}").unwrap_err();
    assert!(e.contains("undefined variable \"$valu\""), "{e}");
    let e = check("{{ query \"up\" | first | value }}").unwrap_err();
    assert!(e.contains("\"query\" is not supported"), "{e}");
    let e = check("{{ .Foo }}").unwrap_err();
    assert!(e.contains("can't evaluate field Foo"), "{e}");
    assert!(check("{{ range $labels }}{{ end }}").is_err());
    assert!(check("{{ $value.x }}").is_err());
    assert!(check("no templates at all").is_ok());
}

#[test]
fn expand_errors_on_bad_input() {
    let data = TemplateData::default();
    assert!(
        expand("{{ humanize \"abc\" }}", &data)
            .unwrap_err()
            .contains("invalid syntax")
    );
    assert!(
        expand("{{ humanize }}", &data)
            .unwrap_err()
            .contains("wrong number of args")
    );
}

/// The same three annotations expanded by Prometheus 2.42 (`promtool test rules`, Debian's
/// 2.42.0 package, alert on `x{instance="web-1:9100"}` at each value), and by Vigil.
#[test]
fn same_text_as_prometheus() {
    let a = "{{ $value | humanize }}|{{ humanize1024 $value }}|{{ $value | humanizePercentage }}|{{ $value | humanizeDuration }}|{{ $value | humanizeTimestamp }}";
    let b = "{{ printf \"%.2f\" $value }}|{{ $value }}|{{ printf \"%d\" $value }}|{{ printf \"%5.1f|%-6.2e|%g|%s\" $value $value $value $labels.instance }}|{{ $labels }}|{{ $labels.nosuch }}";
    let c = "{{ if gt $value 100.0 }}big{{ else }}small{{ end }} {{ title \"disk full\" }} {{ $labels.instance | stripPort }} {{ reReplaceAll \":(.*)\" \"<$1>\" $labels.instance }} {{ print 1 2 \"a\" 3 }} {{ printf \"%v %q\" true \"x\" }}";
    let cases: [(f64, &str, &str); 13] = [
        (
            1234567.0,
            "1.235M|1.177Mi|1.235e+08%|14d 6h 56m 7s|1970-01-15 06:56:07 +0000 UTC",
            "1234567.00|1.234567e+06|%!d(float64=1.234567e+06)|1234567.0|1.23e+06|1.234567e+06|web-1:9100",
        ),
        (
            0.00012345,
            "123.4u|0.0001234|0.01234%|123.4us|1970-01-01 00:00:00 +0000 UTC",
            "0.00|0.00012345|%!d(float64=0.00012345)|  0.0|1.23e-04|0.00012345|web-1:9100",
        ),
        (
            0.1234567,
            "123.5m|0.1235|12.35%|123.5ms|1970-01-01 00:00:00.123 +0000 UTC",
            "0.12|0.1234567|%!d(float64=0.1234567)|  0.1|1.23e-01|0.1234567|web-1:9100",
        ),
        (
            90061.5,
            "90.06k|87.95ki|9.006e+06%|1d 1h 1m 1s|1970-01-02 01:01:01.5 +0000 UTC",
            "90061.50|90061.5|%!d(float64=90061.5)|90061.5|9.01e+04|90061.5|web-1:9100",
        ),
        (
            1700000000.128,
            "1.7G|1.583Gi|1.7e+11%|19675d 22h 13m 20s|2023-11-14 22:13:20.128 +0000 UTC",
            "1700000000.13|1.700000000128e+09|%!d(float64=1.700000000128e+09)|1700000000.1|1.70e+09|1.700000000128e+09|web-1:9100",
        ),
        (
            -2500.0,
            "-2.5k|-2.441ki|-2.5e+05%|-41m 40s|1969-12-31 23:18:20 +0000 UTC",
            "-2500.00|-2500|%!d(float64=-2500)|-2500.0|-2.50e+03|-2500|web-1:9100",
        ),
        (
            1e21,
            "",
            "1000000000000000000000.00|1e+21|%!d(float64=1e+21)|1000000000000000000000.0|1.00e+21|1e+21|web-1:9100",
        ),
        (
            0.0,
            "0|0|0%|0s|1970-01-01 00:00:00 +0000 UTC",
            "0.00|0|%!d(float64=0)|  0.0|0.00e+00|0|web-1:9100",
        ),
        (
            123456789.0,
            "123.5M|117.7Mi|1.235e+10%|1428d 21h 33m 9s|1973-11-29 21:33:09 +0000 UTC",
            "123456789.00|1.23456789e+08|%!d(float64=1.23456789e+08)|123456789.0|1.23e+08|1.23456789e+08|web-1:9100",
        ),
        (
            0.5,
            "500m|0.5|50%|500ms|1970-01-01 00:00:00.5 +0000 UTC",
            "0.50|0.5|%!d(float64=0.5)|  0.5|5.00e-01|0.5|web-1:9100",
        ),
        (
            1e-07,
            "100n|1e-07|1e-05%|100ns|1970-01-01 00:00:00 +0000 UTC",
            "0.00|1e-07|%!d(float64=1e-07)|  0.0|1.00e-07|1e-07|web-1:9100",
        ),
        (
            100000.0,
            "100k|97.66ki|1e+07%|1d 3h 46m 40s|1970-01-02 03:46:40 +0000 UTC",
            "100000.00|100000|%!d(float64=100000)|100000.0|1.00e+05|100000|web-1:9100",
        ),
        (
            1000000.0,
            "1M|976.6ki|1e+08%|11d 13h 46m 40s|1970-01-12 13:46:40 +0000 UTC",
            "1000000.00|1e+06|%!d(float64=1e+06)|1000000.0|1.00e+06|1e+06|web-1:9100",
        ),
    ];
    let labels: BTreeMap<String, String> = [("__name__", "x"), ("instance", "web-1:9100")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (value, want_a, want_b) in cases {
        let data = TemplateData {
            labels: Some(&labels),
            value,
            vars: BTreeMap::new(),
        };
        let got_a = expand(a, &data);
        if want_a.is_empty() {
            // Prometheus: "error calling humanizeTimestamp: 1e+21 cannot be represented as
            // a nanoseconds timestamp since it overflows int64".
            assert!(
                got_a
                    .unwrap_err()
                    .contains("cannot be represented as a nanoseconds timestamp")
            );
        } else {
            assert_eq!(got_a.unwrap(), want_a, "a at {value}");
        }
        let want_b = format!("{want_b}|map[__name__:x instance:web-1:9100]|");
        assert_eq!(expand(b, &data).unwrap(), want_b, "b at {value}");
        let size = if value > 100.0 { "big" } else { "small" };
        let want_c = format!("{size} Disk Full web-1 web-1<9100> 1 2a3 true \"x\"");
        assert_eq!(expand(c, &data).unwrap(), want_c, "c at {value}");
    }
}
