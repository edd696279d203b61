//! Rule-file checks: every problem is reported with its file and line; globs and the
//! `vigil rules check` report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CheckReport, Diagnostic, check_report, load_file, load_files, parse};
use crate::spec::RuleKind;

/// A fixture under `testdata/`.
pub(super) fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Problems in `text`, as (line, message).
fn problems(text: &str) -> Vec<(Option<usize>, String)> {
    match parse::read(Path::new("t.yml"), text) {
        Ok(f) => panic!("accepted: {f:?}"),
        Err(d) => d.into_iter().map(|d| (d.line, d.message)).collect(),
    }
}

/// The one problem in `text`: its line, and that its message contains `needle`.
fn one_problem(text: &str, line: usize, needle: &str) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, Some(line), "{found:#?}");
    assert!(
        found[0].1.contains(needle),
        "{:?} lacks {needle:?}",
        found[0].1
    );
}

#[test]
fn awesome_prometheus_alerts_load_unchanged() {
    let file = load_file(&testdata("awesome_node_exporter.yml")).unwrap();
    assert_eq!(file.groups.len(), 1);
    let group = &file.groups[0];
    assert_eq!(
        (group.name.as_str(), group.line, group.interval),
        ("NodeExporter", 6, None)
    );
    assert_eq!(group.rules.len(), 19);
    let first = &group.rules[0];
    assert_eq!(first.name, "HostOutOfMemory");
    assert_eq!(first.line, 10);
    assert_eq!(first.for_, Duration::from_secs(120));
    assert_eq!(first.labels["severity"], "warning");
    assert_eq!(
        first.annotations["summary"],
        "Host out of memory (instance {{ $labels.instance }})"
    );
    match &first.kind {
        RuleKind::Threshold { expr, clear } => {
            assert!(
                expr.starts_with("(node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes")
            );
            assert_eq!(clear, &None);
        }
        other => panic!("{other:?}"),
    }
    let under = group
        .rules
        .iter()
        .find(|r| r.name == "HostMemoryIsUnderutilized")
        .unwrap();
    assert_eq!(under.for_, Duration::from_secs(7 * 86400));
}

#[test]
fn node_mixin_loads_unchanged() {
    let file = load_file(&testdata("node_mixin.yml")).unwrap();
    let names: Vec<&str> = file
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().map(|r| r.name.as_str()))
        .collect();
    assert_eq!(names.len(), 10);
    assert_eq!(names[0], "NodeFilesystemSpaceFillingUp");
    assert_eq!(names[6], "instance:node_num_cpu:sum");
    let rec = &file.groups[1].rules[0];
    assert_eq!(rec.line, 76);
    assert!(
        matches!(&rec.kind, RuleKind::Record { expr } if expr.contains("count without (cpu, mode)"))
    );
    assert_eq!(file.groups[0].rules[0].for_, Duration::from_secs(3600));
}

#[test]
fn beyond_basics_promql_loads_and_what_2_42_lacks_is_named() {
    let problems = load_file(&testdata("beyond_basics.yml")).unwrap_err();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 1, "only the rule 2.42 cannot run: {text:#?}");
    assert!(
        text[0].contains("beyond_basics.yml:18: group \"beyond-basics\", rule 4, \"TooNew\"")
            && text[0].contains("sort_by_label"),
        "{}",
        text[0]
    );
}

const HEAD: &str = "groups:\n  - name: g\n    rules:\n";

#[test]
fn syntax_errors_have_their_line() {
    let found = problems("groups:\n  - name: g\n    rules: [\n  - x: : :\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].0.is_some_and(|l| l >= 3), "{found:?}");
    assert!(found[0].1.starts_with("YAML syntax error"), "{found:?}");
}

#[test]
fn unknown_fields_are_named() {
    one_problem(
        &format!("{HEAD}      - alert: A\n        expr: up\n        bogus: 1\n"),
        6,
        "unknown field \"bogus\" in a rule",
    );
    one_problem(
        "groups:\n  - name: g\n    evaluation: 1m\n",
        3,
        "unknown field \"evaluation\" in a group",
    );
    one_problem(
        "group:\n  - name: g\n",
        1,
        "unknown field \"group\" in the file",
    );
    one_problem(
        &format!(
            "{HEAD}      - alert: A\n        forecast:\n          expr: x\n          threshold: 1\n          lookback: 1d\n          horizon: 1d\n          trend: up\n"
        ),
        10,
        "unknown field \"trend\" in `forecast:`",
    );
}

#[test]
fn groups_need_unique_names() {
    one_problem(
        "groups:\n  - name: g\n    rules: []\n  - name: g\n",
        4,
        "group name \"g\" is repeated",
    );
    one_problem("groups:\n  - rules: []\n", 2, "a group needs a `name:`");
}

#[test]
fn rules_need_a_name_and_an_expression() {
    one_problem(
        &format!("{HEAD}      - expr: up\n"),
        4,
        "one of `alert:` or `record:` must be set",
    );
    one_problem(
        &format!("{HEAD}      - alert: A\n        record: b\n        expr: up\n"),
        4,
        "only one of `alert:` and `record:`",
    );
    one_problem(
        &format!("{HEAD}      - alert: A\n        for: 5m\n"),
        4,
        "field \"expr\" must be set",
    );
    one_problem(
        &format!("{HEAD}      - alert: A\n        expr: \"\"\n"),
        5,
        "field \"expr\" must be set",
    );
    one_problem(
        &format!("{HEAD}      - alert: A\n        expr: sum(up\n"),
        5,
        "could not parse expression",
    );
}

#[test]
fn names_and_labels_are_checked() {
    one_problem(
        &format!("{HEAD}      - record: bad name\n        expr: up\n"),
        4,
        "invalid recording rule name: bad name",
    );
    one_problem(
        &format!("{HEAD}      - record: a:b\n        expr: up\n        for: 5m\n"),
        6,
        "invalid field \"for\" in recording rule",
    );
    one_problem(
        &format!(
            "{HEAD}      - alert: Any name is fine!\n        expr: up\n        labels:\n          a-b: x\n"
        ),
        7,
        "invalid label name: a-b",
    );
    one_problem(
        &format!(
            "{HEAD}      - alert: A\n        expr: up\n        labels:\n          __name__: x\n"
        ),
        7,
        "invalid label name: __name__",
    );
    one_problem(
        &format!(
            "{HEAD}      - alert: A\n        expr: up\n        annotations:\n          \"a b\": x\n"
        ),
        7,
        "invalid annotation name: a b",
    );
}

#[test]
fn templates_are_checked() {
    one_problem(
        &format!(
            "{HEAD}      - alert: A\n        expr: up\n        annotations:\n          summary: \"{{{{ $value | nosuch }}}}\"\n"
        ),
        7,
        "annotation \"summary\": function \"nosuch\" not defined",
    );
    one_problem(
        &format!(
            "{HEAD}      - alert: A\n        expr: up\n        labels:\n          sev: \"{{{{ $valeu }}}}\"\n"
        ),
        7,
        "label \"sev\": undefined variable \"$valeu\"",
    );
}

#[test]
fn expression_types_and_support() {
    one_problem(
        &format!("{HEAD}      - alert: A\n        expr: up[5m]\n"),
        5,
        "range vector",
    );
    one_problem(
        &format!("{HEAD}      - record: r\n        expr: '\"s\"'\n"),
        5,
        "gives a string",
    );
    one_problem(
        &format!(
            "{HEAD}      - alert: A\n        expr: up\n        clear: sort_by_label(x, \"a\")\n"
        ),
        6,
        "clear: could not parse expression",
    );
}

#[test]
fn durations_are_checked() {
    one_problem(
        &format!("{HEAD}      - alert: A\n        expr: up\n        for: -5m\n"),
        6,
        "cannot be negative",
    );
    one_problem(
        &format!("{HEAD}      - alert: A\n        expr: up\n        keep_firing_for: 5 minutes\n"),
        6,
        "not a valid duration",
    );
    one_problem(
        "groups:\n  - name: g\n    interval: 1x\n",
        3,
        "interval: \"1x\" is not a valid duration",
    );
}

#[test]
fn forecast_parameters_are_checked() {
    let forecast = |body: &str| format!("{HEAD}      - alert: A\n        forecast:\n{body}");
    let ok = "          expr: x\n          threshold: 1\n          lookback: 1d\n          horizon: 1d\n";
    assert!(parse::read(Path::new("t.yml"), &forecast(ok)).is_ok());
    let with = |extra: &str| forecast(&format!("{ok}{extra}"));
    one_problem(
        &forecast(
            "          expr: x\n          threshold: lots\n          lookback: 1d\n          horizon: 1d\n",
        ),
        7,
        "threshold \"lots\" is not a number",
    );
    one_problem(
        &forecast(
            "          expr: x\n          threshold: 1\n          lookback: 0s\n          horizon: 1d\n",
        ),
        8,
        "lookback must be longer than 0",
    );
    one_problem(
        &forecast("          expr: x\n          threshold: 1\n          lookback: 1d\n"),
        5,
        "`horizon:` must be set",
    );
    one_problem(
        &with("          model: prophet\n"),
        10,
        "unknown model \"prophet\"; use one of linear, theil_sen, holt, holt_winters, auto",
    );
    one_problem(
        &with("          model: holt_winters\n"),
        10,
        "holt_winters needs `season: daily`",
    );
    one_problem(
        &with("          direction: up\n"),
        10,
        "unknown direction \"up\"",
    );
    one_problem(
        &with("          season: monthly\n"),
        10,
        "unknown season \"monthly\"",
    );
    one_problem(
        &with("          model: linear\n          season: daily\n"),
        11,
        "`season:` only applies to holt_winters and auto",
    );
    one_problem(
        &format!(
            "{HEAD}      - alert: A\n        expr: up\n        forecast: {{expr: x, threshold: 1, lookback: 1d, horizon: 1d}}\n"
        ),
        6,
        "one of `expr:`, `forecast:` or `anomaly:`, not more",
    );
    one_problem(
        &with("        clear: up\n"),
        10,
        "`clear:` only goes with `expr:`",
    );
    one_problem(
        &forecast(
            "          expr: x[5m]\n          threshold: 1\n          lookback: 1d\n          horizon: 1d\n",
        ),
        6,
        "forecast: expr: expression gives a range vector",
    );
}

#[test]
fn anomaly_rules_read_with_defaults_and_their_parameters_are_checked() {
    let anomaly = |body: &str| format!("{HEAD}      - alert: A\n        anomaly:\n{body}");
    let ok = "          expr: rate(x[5m])\n";
    let file = parse::read(Path::new("t.yml"), &anomaly(ok)).unwrap();
    let RuleKind::Anomaly(spec) = &file.groups[0].rules[0].kind else {
        panic!("not an anomaly rule: {file:?}");
    };
    assert_eq!(spec.expr, "rate(x[5m])");
    assert_eq!(spec.model, crate::spec::AnomalyModel::Auto);
    assert_eq!(spec.threshold, 0.5, "medium sensitivity by default");
    assert_eq!(spec.step, Duration::from_secs(60));
    assert_eq!(spec.warmup, Duration::from_secs(86_400));
    assert!(spec.alerting);
    let with = |extra: &str| anomaly(&format!("{ok}{extra}"));
    let spec_of = |text: &str| match parse::read(Path::new("t.yml"), text).unwrap().groups[0].rules
        [0]
    .kind
    .clone()
    {
        RuleKind::Anomaly(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        spec_of(&with("          sensitivity: high\n")).threshold,
        0.3
    );
    assert_eq!(spec_of(&with("          threshold: 0.8\n")).threshold, 0.8);
    let custom = spec_of(&with(
        "          model: seasonal\n          step: 5m\n          warmup: 8d\n",
    ));
    assert_eq!(custom.model, crate::spec::AnomalyModel::Seasonal);
    assert_eq!(custom.step, Duration::from_secs(300));
    assert_eq!(custom.warmup, Duration::from_secs(8 * 86_400));

    one_problem(
        &with("          threshold: 1.5\n"),
        7,
        "threshold \"1.5\" is not a score in (0, 1]",
    );
    one_problem(
        &with("          threshold: 0\n"),
        7,
        "is not a score in (0, 1]",
    );
    one_problem(
        &with("          sensitivity: paranoid\n"),
        7,
        "unknown sensitivity \"paranoid\"; use one of low, medium, high",
    );
    one_problem(
        &with("          sensitivity: low\n          threshold: 0.9\n"),
        8,
        "either `sensitivity:` or `threshold:`, not both",
    );
    one_problem(
        &with("          model: kmeans\n"),
        7,
        "unknown model \"kmeans\"; use one of auto, seasonal",
    );
    one_problem(
        &with("          step: 0s\n"),
        7,
        "step 0s is out of range; use 1s to 1h",
    );
    one_problem(&with("          step: 2h\n"), 7, "step 2h is out of range");
    one_problem(
        &with("          warmup: 30d\n"),
        7,
        "warmup 30d is out of range; use 0s to 14d",
    );
    one_problem(&with("          warmup: soon\n"), 7, "warmup");
    one_problem(
        &with("          window: 1h\n"),
        7,
        "unknown field \"window\" in `anomaly:`",
    );
    one_problem(
        &anomaly("          model: auto\n"),
        5,
        "field \"expr\" must be set",
    );
    one_problem(
        &anomaly("          expr: x[5m]\n"),
        6,
        "anomaly: expr: expression gives a range vector",
    );
    one_problem(
        &format!("{HEAD}      - alert: A\n        expr: up\n        anomaly: {{expr: x}}\n"),
        6,
        "one of `expr:`, `forecast:` or `anomaly:`, not more",
    );
    one_problem(
        &with("        clear: up\n"),
        7,
        "`clear:` only goes with `expr:`, not with `anomaly:`",
    );
    one_problem(
        &format!("{HEAD}      - record: r\n        expr: up\n        anomaly: {{expr: x}}\n"),
        6,
        "invalid field \"anomaly\" in recording rule",
    );
    one_problem(
        &format!("{HEAD}      - alert: A\n        anomaly: x\n"),
        5,
        "anomaly: must be a mapping",
    );
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let text = format!(
        "{HEAD}      - alert: A\n        expr: sum(\n      - record: bad name\n        expr: up\n      - alert: C\n        expr: up\n        for: 1x\n  - name: g\n"
    );
    let found = problems(&text);
    let lines: Vec<Option<usize>> = found.iter().map(|p| p.0).collect();
    assert_eq!(
        lines,
        vec![Some(5), Some(6), Some(10), Some(11)],
        "{found:#?}"
    );
}

#[test]
fn empty_files_and_groups_are_fine() {
    assert_eq!(parse::read(Path::new("t.yml"), "").unwrap().groups, vec![]);
    assert_eq!(
        parse::read(Path::new("t.yml"), "groups: []\n")
            .unwrap()
            .groups,
        vec![]
    );
    let g = parse::read(Path::new("t.yml"), "groups:\n  - name: g\n    limit: 10\n").unwrap();
    assert_eq!(g.groups[0].rules, vec![]);
}

#[test]
fn globs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("node_mixin.yml"), dir.path().join("a.yml")).unwrap();
    std::fs::copy(testdata("vigil_extensions.yml"), dir.path().join("b.yml")).unwrap();
    std::fs::write(
        dir.path().join("c.yml"),
        format!("{HEAD}      - alert: A\n        expr: rate(x[5m]\n"),
    )
    .unwrap();
    let files = load_files(&[dir.path().join("[ab].yml")]).unwrap();
    assert_eq!(
        files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
        vec![dir.path().join("a.yml"), dir.path().join("b.yml")]
    );
    let problems = load_files(&[dir.path().join("*.yml")]).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].file, dir.path().join("c.yml"));
    assert_eq!(problems[0].line, Some(5));

    let report: CheckReport =
        check_report(&[dir.path().join("*.yml"), dir.path().join("none/*.yml")]);
    assert!(!report.ok());
    assert_eq!(report.files.len(), 2);
    let d = dir.path().display();
    let expected = format!(
        "Checking {d}/a.yml\n  SUCCESS: 10 rules found\n\n\
         Checking {d}/b.yml\n  SUCCESS: 4 rules found\n\n\
         Checking {d}/c.yml\n  FAILED:\n{}\n\n\
         Checking {d}/none/*.yml\n  FAILED:\n{d}/none/*.yml: no file matches this pattern\n\n",
        problems[0]
    );
    assert_eq!(report.text, expected);
    let missing = load_file(&dir.path().join("missing.yml")).unwrap_err();
    assert!(
        missing[0].message.starts_with("cannot read the rule file"),
        "{missing:?}"
    );
    let _: &Diagnostic = &missing[0];
}

mod fixtures;
