//! The official PromQL compliance suite, differentially: every expanded query of
//! prometheus/compliance's `promql/promql-test-queries.yml` (vendored, unmodified, in
//! `tests/data/promql-compliance/`) runs against Debian's Prometheus 2.42 and against
//! Vigil over the same synthetic demo-service data (backfilled with `promtool`, imported
//! with `vigil import`), as a range query over the tester's window (10 minutes ending
//! 12 minutes before the newest data, every 10 s) and as an instant query at the window's
//! end. Answers are compared with `vigil_tests::promql_compare`'s rules (stricter than the
//! tester's 1e-5; the table also counts differences within the tester's tolerance).
//!
//! Prints a table per section of the file and writes every difference to
//! `/tmp/promql_compliance_report.txt` (rewritten each run), then requires every expanded
//! query to be identical, or refused alike by both (the suite's `should_fail` cases and
//! any function newer than Prometheus 2.42), except those in [`KNOWN_DIFFERENCES`].

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use vigil_tests::dataset::seconds;
use vigil_tests::prom_api::{Answer, ApiClient, Eval};
use vigil_tests::prometheus::{self, Prometheus};
use vigil_tests::promql_compare::{Closeness, closeness, error_text};
use vigil_tests::promql_compliance::expand::{self, Case, QUERY_FILE};
use vigil_tests::promql_compliance::outcome::{
    Row, Verdict, error_key, has_data, judge, table, within_tester_tolerance,
};
use vigil_tests::promql_compliance::{Request, both_all, demo};
use vigil_tests::{collector_with_import, now_ms};

const REPORT: &str = "/tmp/promql_compliance_report.txt";
/// The dataset the report was made from, to reproduce a difference by hand.
const DATASET_COPY: &str = "/tmp/promql_compliance_dataset.om";
/// Requests in flight at once (each goes to both servers).
const WORKERS: usize = 4;
/// Most difference lines written to the report per request.
const MAX_LINES: usize = 12;

/// Expanded queries whose answers may differ from Prometheus 2.42's, each with the reason.
/// The goal is an empty list: add an entry only for a difference that is meant (a
/// Prometheus 2.42 bug Vigil does not copy, say), never for a missing feature.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Expanded queries that return no sample on Prometheus over the whole window, by their
/// nature rather than for want of data: every other query must return data there, or the
/// dataset does not exercise it.
const EMPTY_ON_PROMETHEUS: &[&str] = &[
    // Selectors that match nothing (a non-matching regex, metrics that do not exist).
    r#"demo_memory_usage_bytes{instance=~"host"}"#,
    r#"nonexistent_metric_name"#,
    r#"sum(nonexistent_metric_name)"#,
    r#"avg(nonexistent_metric_name)"#,
    r#"max(nonexistent_metric_name)"#,
    r#"min(nonexistent_metric_name)"#,
    r#"count(nonexistent_metric_name)"#,
    r#"stddev(nonexistent_metric_name)"#,
    r#"stdvar(nonexistent_metric_name)"#,
    r#"delta(nonexistent_metric[5m])"#,
    r#"rate(nonexistent_metric[5m])"#,
    r#"increase(nonexistent_metric[5m])"#,
    r#"histogram_quantile(0.9, nonexistent_metric)"#,
    // Series that exist, so absent() and absent_over_time() are empty.
    r#"absent_over_time(demo_memory_usage_bytes[1s])"#,
    r#"absent_over_time(demo_memory_usage_bytes[15s])"#,
    r#"absent_over_time(demo_memory_usage_bytes[1m])"#,
    r#"absent_over_time(demo_memory_usage_bytes[5m])"#,
    r#"absent_over_time(demo_memory_usage_bytes[15m])"#,
    r#"absent_over_time(demo_memory_usage_bytes[1h])"#,
    r#"absent(demo_memory_usage_bytes)"#,
    // A 1-second window holds at most one sample at a 5-second scrape interval.
    r#"delta(demo_cpu_usage_seconds_total[1s])"#,
    r#"rate(demo_cpu_usage_seconds_total[1s])"#,
    r#"increase(demo_cpu_usage_seconds_total[1s])"#,
    r#"deriv(demo_disk_usage_bytes[1s])"#,
    r#"predict_linear(demo_disk_usage_bytes[1s], 600)"#,
    r#"idelta(demo_cpu_usage_seconds_total[1s])"#,
    r#"irate(demo_cpu_usage_seconds_total[1s])"#,
    // clamp() with min > max returns nothing (documented).
    r#"clamp(demo_memory_usage_bytes, 1000000000000, 0)"#,
    // histogram_quantile() over series without an `le` label returns nothing.
    r#"histogram_quantile(0.9, demo_memory_usage_bytes)"#,
    // Comparison filters (no `bool`) that no sample passes: byte counts are neither tiny, negative, nor equal to the time, and a series equals itself.
    r#"demo_memory_usage_bytes == 1.2345"#,
    r#"demo_memory_usage_bytes < 1.2345"#,
    r#"demo_memory_usage_bytes <= 1.2345"#,
    r#"0.12345 == demo_memory_usage_bytes"#,
    r#"0.12345 > demo_memory_usage_bytes"#,
    r#"0.12345 >= demo_memory_usage_bytes"#,
    r#"(1 * 2 + 4 / 6 - (10%7)^2) == demo_memory_usage_bytes"#,
    r#"(1 * 2 + 4 / 6 - (10%7)^2) > demo_memory_usage_bytes"#,
    r#"(1 * 2 + 4 / 6 - (10%7)^2) >= demo_memory_usage_bytes"#,
    r#"demo_memory_usage_bytes == (1 * 2 + 4 / 6 - 10)"#,
    r#"demo_memory_usage_bytes < (1 * 2 + 4 / 6 - 10)"#,
    r#"demo_memory_usage_bytes <= (1 * 2 + 4 / 6 - 10)"#,
    r#"demo_memory_usage_bytes != on(instance, job, type) demo_memory_usage_bytes"#,
    r#"demo_memory_usage_bytes < on(instance, job, type) demo_memory_usage_bytes"#,
    r#"demo_memory_usage_bytes > on(instance, job, type) demo_memory_usage_bytes"#,
    r#"sum by(instance, type) (demo_memory_usage_bytes) != on(instance, type) group_left(job) demo_memory_usage_bytes"#,
    r#"sum by(instance, type) (demo_memory_usage_bytes) < on(instance, type) group_left(job) demo_memory_usage_bytes"#,
    r#"sum by(instance, type) (demo_memory_usage_bytes) > on(instance, type) group_left(job) demo_memory_usage_bytes"#,
    r#"time() == demo_memory_usage_bytes"#,
    r#"demo_memory_usage_bytes == time()"#,
];

/// Both answers to one request, and the verdict.
struct Checked {
    prometheus: Answer,
    vigil: Answer,
    verdict: Verdict,
}

/// One expanded query's range and instant checks.
struct Outcome<'a> {
    case: &'a Case,
    range: Checked,
    instant: Checked,
}

fn describe(params: &[(String, String)]) -> String {
    params
        .iter()
        .filter(|(k, _)| k != "query")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_diff(report: &mut String, kind: &str, request: &Request, checked: &Checked) {
    let Verdict::Differ(lines) = &checked.verdict else {
        return;
    };
    let _ = writeln!(report, "  {kind} ({}):", describe(&request.1));
    for line in lines.iter().take(MAX_LINES) {
        let _ = writeln!(report, "    {line}");
    }
    if lines.len() > MAX_LINES {
        let _ = writeln!(report, "    … and {} more", lines.len() - MAX_LINES);
    }
}

#[test]
fn compliance_queries_match_prometheus() {
    prometheus::ensure_installed();
    let mut templates = expand::templates(QUERY_FILE).unwrap();
    let removed = expand::removed_upstream(templates.len());
    let removed_templates = removed.len();
    templates.extend(removed);
    let cases = expand::expand(&templates).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = demo::generate(now_ms());
    let file = dir.path().join("demo.om");
    std::fs::write(&file, &data.text).unwrap();
    let blocks = dir.path().join("prometheus");
    prometheus::backfill(&file, &blocks);
    let prom = Prometheus::start(&blocks);
    let (_collector, vigil_url) = collector_with_import(&dir.path().join("vigil"), &file);

    let range = Eval::Range {
        start: data.window_start_ms,
        end: data.window_end_ms,
        step: demo::STEP_MS,
    };
    let instant = Eval::Instant(data.window_end_ms);
    let requests: Vec<Request> = cases
        .iter()
        .flat_map(|c| [range.request(&c.query), instant.request(&c.query)])
        .collect();
    let api = ApiClient::new();
    let mut answers = both_all(&api, &prom.url(), &vigil_url, &requests, WORKERS).into_iter();
    let outcomes: Vec<Outcome> = cases
        .iter()
        .map(|case| {
            let mut check = |ordered: bool| {
                let (p, v) = answers.next().unwrap();
                let verdict = judge(&p, &v, ordered, !case.skip_comparison);
                Checked {
                    prometheus: p,
                    vigil: v,
                    verdict,
                }
            };
            let range = check(true);
            let instant = check(false);
            Outcome {
                case,
                range,
                instant,
            }
        })
        .collect();

    // Tally by section, in the file's order.
    let mut rows: Vec<(String, Row)> = Vec::new();
    let mut per_template: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut vigil_errors: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let (mut both_error, mut rejected_by_prometheus, mut no_data, mut suite_errors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut details = String::new();
    let mut values = Closeness::default();
    let mut with_data = 0usize;
    for (k, o) in outcomes.iter().enumerate() {
        let t = &templates[o.case.template];
        if rows.last().is_none_or(|(name, _)| *name != t.section) {
            rows.push((t.section.clone(), Row::default()));
        }
        let row = &mut rows.last_mut().unwrap().1;
        row.total += 1;
        let entry = per_template.entry(t.index).or_default();
        entry.1 += 1;
        let query = o.case.query.as_str();
        let prom_ok = o.range.prometheus.body["status"] == "success";
        if !prom_ok && !o.case.should_fail {
            rejected_by_prometheus.push(format!("{query}   ({})", error_text(&o.range.prometheus)));
        }
        if prom_ok && o.case.should_fail {
            suite_errors.push(format!(
                "{query}: the suite expects an error, Prometheus answered"
            ));
        }
        if prom_ok
            && !has_data(&o.range.prometheus)
            && !has_data(&o.instant.prometheus)
            && !EMPTY_ON_PROMETHEUS.contains(&query)
        {
            no_data.push(query.to_owned());
        }
        with_data += usize::from(has_data(&o.range.prometheus));
        for checked in [&o.range, &o.instant] {
            if checked.verdict == Verdict::Identical {
                let c = closeness(&checked.prometheus, &checked.vigil);
                values.values += c.values;
                values.inexact += c.inexact;
                values.max_rel = values.max_rel.max(c.max_rel);
            }
        }
        match &o.range.verdict {
            Verdict::Identical => row.identical += 1,
            Verdict::BothError { prometheus } => {
                row.both_error += 1;
                both_error.push(format!("{query}   ({prometheus})"));
            }
            Verdict::Differ(_) => {
                row.differing += 1;
                entry.0 += 1;
                if within_tester_tolerance(&o.range.prometheus, &o.range.vigil) {
                    row.within_tester_tolerance += 1;
                }
                if prom_ok && o.range.vigil.body["status"] != "success" {
                    vigil_errors
                        .entry(error_key(&o.range.vigil))
                        .or_default()
                        .push(query);
                }
            }
        }
        if matches!(o.instant.verdict, Verdict::Differ(_)) {
            row.instant_differing += 1;
        }
        if matches!(o.range.verdict, Verdict::Differ(_))
            || matches!(o.instant.verdict, Verdict::Differ(_))
        {
            let _ = writeln!(details, "✗ {query}");
            write_diff(&mut details, "range", &requests[2 * k], &o.range);
            write_diff(&mut details, "instant", &requests[2 * k + 1], &o.instant);
        }
    }

    let (file_rows, extra_rows): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(name, _)| name != expand::REMOVED_UPSTREAM);
    let summary = table(&file_rows, &extra_rows);
    let removed_cases: usize = extra_rows.iter().map(|(_, row)| row.total).sum();
    let mut report = format!(
        "PromQL compliance suite (prometheus/compliance promql-test-queries.yml), Vigil vs \
         Prometheus 2.42\n\
         {} templates, {} expanded queries, plus {} expanded from templates the file has \
         dropped; each a range query {}..{} step {}s and an instant query at {}\n\
         dataset {}..{}: {} series, {} samples (copied to {DATASET_COPY} when a check fails)\n\
         {with_data} range answers of Prometheus hold data; identical answers hold {} values, \
         of which {} are not bit-identical (largest relative difference {:e})\n\
         values match within 1e-9 relative or 1e-12 absolute (vigil_tests::promql_compare);\n\
         ≤1e-5: differing range answers the compliance tester itself would accept;\n\
         instant≠: instant answers that differ\n\n{summary}\n",
        templates.len() - removed_templates,
        cases.len() - removed_cases,
        removed_cases,
        seconds(data.window_start_ms),
        seconds(data.window_end_ms),
        seconds(demo::STEP_MS),
        seconds(data.window_end_ms),
        seconds(data.start_ms),
        seconds(data.end_ms),
        data.series,
        data.samples,
        values.values,
        values.inexact,
        values.max_rel,
    );
    let mut section = |title: &str, items: &[String]| {
        let _ = writeln!(report, "{title}: {}", items.len());
        for item in items {
            let _ = writeln!(report, "  {item}");
        }
        report.push('\n');
    };
    let mut by_error: Vec<(&String, &Vec<&str>)> = vigil_errors.iter().collect();
    by_error.sort_by_key(|(_, queries)| std::cmp::Reverse(queries.len()));
    let by_error: Vec<String> = by_error
        .iter()
        .map(|(key, queries)| format!("{:>4}  {key}   e.g. {}", queries.len(), queries[0]))
        .collect();
    section("Vigil fails where Prometheus answers, by error", &by_error);
    let by_template: Vec<String> = per_template
        .iter()
        .filter(|(_, (differ, _))| *differ > 0)
        .map(|(i, (differ, of))| format!("{differ:>3}/{of:<3} {}", templates[*i].query))
        .collect();
    section(
        "Templates with differing range answers (differing/expanded)",
        &by_template,
    );
    section("Both refuse alike", &both_error);
    section(
        "Prometheus 2.42 refuses, though the suite expects an answer",
        &rejected_by_prometheus,
    );
    section(
        "No data on Prometheus (not listed in EMPTY_ON_PROMETHEUS)",
        &no_data,
    );
    section(
        "The suite expects an error, Prometheus 2.42 answers",
        &suite_errors,
    );
    report.push_str("Every difference:\n");
    report.push_str(&details);
    let _ = std::fs::write(REPORT, &report);
    eprintln!("{summary}\nfull report: {REPORT}");

    let mut problems = Vec::new();
    let expanded = |q: &str| cases.iter().any(|c| c.query == q);
    for q in EMPTY_ON_PROMETHEUS
        .iter()
        .chain(KNOWN_DIFFERENCES.iter().map(|(q, _)| q))
    {
        if !expanded(q) {
            problems.push(format!(
                "listed here but not an expanded query of the suite: {q}"
            ));
        }
    }
    for o in &outcomes {
        let differs = matches!(o.range.verdict, Verdict::Differ(_))
            || matches!(o.instant.verdict, Verdict::Differ(_));
        let known = KNOWN_DIFFERENCES.iter().any(|(q, _)| *q == o.case.query);
        if differs && !known {
            problems.push(format!("differs: {}", o.case.query));
        }
        if !differs && known {
            problems.push(format!(
                "now identical, remove it from KNOWN_DIFFERENCES: {}",
                o.case.query
            ));
        }
    }
    for query in &no_data {
        problems.push(format!("no data on Prometheus: {query}"));
    }
    problems.extend(suite_errors.iter().cloned());
    if !problems.is_empty() {
        // ~190 MB: kept only when there is something to reproduce.
        let _ = std::fs::copy(&file, DATASET_COPY);
    }
    assert!(
        problems.is_empty(),
        "{} problems (details in {REPORT}):\n{summary}\n{}",
        problems.len(),
        problems.join("\n")
    );
}
