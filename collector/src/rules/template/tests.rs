//! Templates as alert rules use them, with the text Prometheus 2.42 gives for them.

use std::collections::BTreeMap;

use super::{TemplateData, check, expand};

fn labels() -> BTreeMap<String, String> {
    [("instance", "web-1:9100"), ("device", "sda1"), ("job", "node")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn run(template: &str, value: f64) -> String {
    let labels = labels();
    let mut vars = BTreeMap::new();
    vars.insert("eta".to_owned(), "1700000000".to_owned());
    vars.insert("model".to_owned(), "holt".to_owned());
    let data = TemplateData { labels: Some(&labels), value, vars };
    expand(template, &data).unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn labels_and_value() {
    assert_eq!(run("Host {{ $labels.instance }} at {{ $value }}", 0.5), "Host web-1:9100 at 0.5");
    assert_eq!(run("{{ .Labels.device }} {{ .Value }}", 1e6), "sda1 1e+06");
    assert_eq!(run("[{{ $labels.nosuch }}]", 1.0), "[<no value>]");
    assert_eq!(
        run("LABELS = {{ $labels }}", 1.0),
        "LABELS = map[device:sda1 instance:web-1:9100 job:node]"
    );
    assert_eq!(run("{{ $externalLabels.x }}|{{ $externalURL }}", 1.0), "<no value>|");
    assert_eq!(run("{{ index $labels \"job\" }}", 1.0), "node");
}

#[test]
fn helpers_and_pipes() {
    assert_eq!(run("{{ $value | humanize }}B", 1234567.0), "1.235MB");
    assert_eq!(run("{{ humanize1024 $value }}", 1073741824.0), "1Gi");
    assert_eq!(run("{{ $value | humanizePercentage }}", 0.4567), "45.67%");
    assert_eq!(run("{{ $value | humanizeDuration }}", 3725.0), "1h 2m 5s");
    assert_eq!(run("{{ $value | humanizeTimestamp }}", 1700000000.0), "2023-11-14 22:13:20 +0000 UTC");
    assert_eq!(run("{{ printf \"%.2f\" $value }}%", 12.3456), "12.35%");
    assert_eq!(run("{{ $value | printf \"%.0f\" }}", 2.5), "2");
    assert_eq!(run("{{ $labels.job | toUpper }} {{ toLower \"ABC\" }} {{ title \"disk full\" }}", 0.0), "NODE abc Disk Full");
    assert_eq!(run("{{ reReplaceAll \":.*\" \"\" $labels.instance }}", 0.0), "web-1");
    assert_eq!(run("{{ $labels.instance | stripPort }}", 0.0), "web-1");
    assert_eq!(run("{{ humanize \"1500\" }}", 0.0), "1.5k");
    assert_eq!(run("{{ (humanize $value) | toUpper }}", 1500.0), "1.5K");
}

#[test]
fn forecast_variables() {
    assert_eq!(run("full at {{ $eta | humanizeTimestamp }} ({{ $model }})", 0.0),
        "full at 2023-11-14 22:13:20 +0000 UTC (holt)");
    assert_eq!(run("{{ $eta_lower }}", 0.0), "<no value>");
}

#[test]
fn conditions_and_trimming() {
    let t = "{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}warning{{ else }}ok{{ end }}";
    assert_eq!(run(t, 95.0), "critical");
    assert_eq!(run(t, 85.0), "warning");
    assert_eq!(run(t, 5.0), "ok");
    assert_eq!(run("a  {{- \" b \" -}}  c", 0.0), "a b c");
    assert_eq!(run("{{ if eq $labels.job \"node\" }}yes{{ end }}", 0.0), "yes");
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
    assert!(expand("{{ humanize \"abc\" }}", &data).unwrap_err().contains("invalid syntax"));
    assert!(expand("{{ humanize }}", &data).unwrap_err().contains("wrong number of args"));
}
