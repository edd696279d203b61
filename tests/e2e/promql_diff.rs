//! Differential test: the same synthetic dataset goes into Debian's Prometheus 2.42
//! (backfilled with `promtool`) and into Vigil (`vigil import`), the same PromQL corpus
//! runs against both HTTP APIs, and the answers must agree: same result type, same series,
//! same timestamps, values within 1e-9 relative (see `vigil_tests::promql_compare`).
//!
//! Every mismatch is collected before failing, printed, and written to
//! `/tmp/promql_diff_report.txt` (rewritten each run) for whoever is fixing the engine.
//!
//! `PROMQL_DIFF_PROMETHEUS_ONLY=1` checks the corpus against Prometheus alone (every
//! query must succeed there and some evaluation of each must return data).

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::process::Command;
use vigil_tests::prom_api::{Answer, ApiClient, Eval};
use vigil_tests::prometheus::{self, Prometheus};
use vigil_tests::promql_compare::{
    Closeness, closeness, differences, error_text, metadata_differences,
};
use vigil_tests::promql_corpus::{Case, EMPTY_BY_DESIGN, Times, cases};
use vigil_tests::promql_requests::{bad_requests, metadata_requests, spelled_requests};
use vigil_tests::{collector_with_import, dataset, now_ms};

const REPORT: &str = "/tmp/promql_diff_report.txt";
/// A copy of the dataset the report was made from, to reproduce a mismatch by hand.
const DATASET_COPY: &str = "/tmp/promql_diff_dataset.om";

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn has_data(a: &Answer) -> bool {
    match a.body["data"]["result"].as_array() {
        Some(items) => !items.is_empty(),
        None => !a.body["data"]["result"].is_null(),
    }
}

/// `GET /api/v1/query?query=…&time=…`, for reproducing a mismatch by hand.
fn request_line(path: &str, params: &[(String, String)]) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://x{path}"), params).unwrap();
    let method = if path.ends_with("/query_range") {
        "POST"
    } else {
        "GET"
    };
    format!("{method} {}?{}", url.path(), url.query().unwrap_or(""))
}

/// The two servers, and what the checks found so far.
struct Run {
    api: ApiClient,
    prom: String,
    /// None when checking the corpus against Prometheus alone.
    vigil: Option<String>,
    times: Times,
    requests: usize,
    failed_requests: usize,
    failed_exprs: usize,
    /// Readable mismatches, for the report.
    report: String,
    /// Cases Prometheus itself does not answer as the corpus expects.
    corpus_errors: Vec<String>,
    /// Sample values compared in agreeing answers, and how many were not bit-identical.
    values: usize,
    inexact: usize,
    /// The largest relative difference accepted, and where.
    loosest: (f64, String),
    /// Expressions with values equal only within tolerance, and how many.
    inexact_by_expr: std::collections::BTreeMap<String, usize>,
}

impl Run {
    /// Prometheus's and Vigil's answers (Prometheus's twice without Vigil).
    fn both(&self, path: &str, params: &[(String, String)]) -> (Answer, Answer) {
        match &self.vigil {
            Some(v) => self.api.both(&self.prom, v, path, params),
            None => {
                let p = self.api.get(&self.prom, path, params);
                (p.clone(), p)
            }
        }
    }

    /// Records one failed request: a title line and at most 12 difference lines.
    fn fail(&mut self, title: &str, diffs: &[String]) {
        self.failed_requests += 1;
        let _ = writeln!(self.report, "✗ {title}");
        for line in diffs.iter().take(12) {
            let _ = writeln!(self.report, "    {line}");
        }
        if diffs.len() > 12 {
            let _ = writeln!(
                self.report,
                "    … and {} more differences",
                diffs.len() - 12
            );
        }
    }

    /// Adds up how many values matched bit for bit, and remembers the loosest match.
    fn note_closeness(&mut self, expr: &str, where_: &str, c: Closeness) {
        self.values += c.values;
        self.inexact += c.inexact;
        if c.inexact > 0 {
            *self.inexact_by_expr.entry(expr.to_owned()).or_default() += c.inexact;
        }
        if c.max_rel > self.loosest.0 {
            self.loosest = (c.max_rel, format!("{expr}   [{where_}]"));
        }
    }

    /// Every evaluation of one corpus expression.
    fn case(&mut self, case: &Case) {
        let (mut any_data, mut failed) = (false, false);
        for eval in &case.evals {
            let (path, params) = eval.request(&case.expr);
            let (p, v) = self.both(path, &params);
            self.requests += 1;
            let where_ = eval.describe(self.times.end);
            if case.expect_error != (p.body["status"] != "success") {
                let want = if case.expect_error {
                    "an error"
                } else {
                    "success"
                };
                self.corpus_errors.push(format!(
                    "{} [{where_}]: want {want} from Prometheus, got {}",
                    case.expr,
                    error_text(&p)
                ));
                continue;
            }
            any_data |= has_data(&p);
            let ordered = case.ordered || matches!(eval, Eval::Range { .. });
            let mut diffs = differences(&p, &v, ordered);
            if diffs.is_empty() {
                self.note_closeness(&case.expr, &where_, closeness(&p, &v));
            }
            if !diffs.is_empty() {
                failed = true;
                diffs.insert(0, request_line(path, &params));
                self.fail(&format!("{}   [{where_}]", case.expr), &diffs);
            }
        }
        self.failed_exprs += usize::from(failed);
        if !any_data && !case.expect_error && !EMPTY_BY_DESIGN.contains(&case.expr.as_str()) {
            self.corpus_errors.push(format!(
                "{}: Prometheus returned no data at any evaluation",
                case.expr
            ));
        }
    }

    /// Requests both must refuse with 400 bad_data.
    fn bad_requests(&mut self) {
        for (expr, eval) in bad_requests(self.times) {
            let (path, params) = eval.request(expr);
            let (p, v) = self.both(path, &params);
            let where_ = eval.describe(self.times.end);
            if p.status != 400 || p.body["errorType"] != "bad_data" {
                self.corpus_errors.push(format!(
                    "bad request {expr} [{where_}]: Prometheus answered {}",
                    error_text(&p)
                ));
            }
            self.requests += 1;
            if v.status != 400 || v.body["errorType"] != "bad_data" {
                let want = format!(
                    "want HTTP 400 bad_data like Prometheus ({})",
                    error_text(&p)
                );
                self.fail(
                    &format!("{expr}   [{where_}]"),
                    &[want, format!("got {}", error_text(&v))],
                );
            }
        }
    }

    /// Times and steps in their other spellings, and the metadata endpoints.
    fn other_requests(&mut self) {
        for (path, params) in spelled_requests(self.times) {
            self.requests += 1;
            let (p, v) = self.both(path, &params);
            if p.body["status"] != "success" || !has_data(&p) {
                let line = request_line(path, &params);
                self.corpus_errors
                    .push(format!("{line}: Prometheus gave no data"));
            }
            let diffs = differences(&p, &v, path.ends_with("_range"));
            if !diffs.is_empty() {
                self.fail(&request_line(path, &params), &diffs);
            }
        }
        for (path, params) in metadata_requests() {
            self.requests += 1;
            let (p, v) = self.both(&path, &params);
            let diffs = metadata_differences(&p, &v);
            if !diffs.is_empty() {
                self.fail(&request_line(&path, &params), &diffs);
            }
        }
    }
}

#[test]
fn promql_answers_match_prometheus() {
    prometheus::ensure_installed();
    let only_prometheus = std::env::var_os("PROMQL_DIFF_PROMETHEUS_ONLY").is_some();
    let dir = tempfile::tempdir().unwrap();
    let data = dataset::generate(now_ms());
    let file = dir.path().join("dataset.om");
    std::fs::write(&file, &data.text).unwrap();
    let times = Times {
        start: data.start_ms,
        end: data.end_ms,
    };

    let blocks = dir.path().join("prometheus");
    prometheus::backfill(&file, &blocks);
    let prom = Prometheus::start(&blocks);
    let vigil_server =
        (!only_prometheus).then(|| collector_with_import(&dir.path().join("vigil"), &file));

    let mut run = Run {
        api: ApiClient::new(),
        prom: prom.url(),
        vigil: vigil_server.as_ref().map(|(_, url)| url.clone()),
        times,
        requests: 0,
        failed_requests: 0,
        failed_exprs: 0,
        report: String::new(),
        corpus_errors: Vec::new(),
        values: 0,
        inexact: 0,
        loosest: (0.0, String::new()),
        inexact_by_expr: Default::default(),
    };
    let corpus = cases(times);
    for case in &corpus {
        run.case(case);
    }
    if run.vigil.is_some() {
        run.bad_requests();
        run.other_requests();
    }

    let header = format!(
        "PromQL differential test, Vigil vs Prometheus 2.42, {}\n\
         dataset {}..{} ({} samples); {} expressions, {} requests\n\
         {} requests differ ({} expressions)\n\
         values match within 1e-9 relative or 1e-12 absolute; NaN matches NaN\n\
         of {} values in agreeing answers, {} are not bit-identical (largest relative \
         difference {:e}{})\n\
         the dataset is in {DATASET_COPY} (load it with promtool / vigil import)\n\n",
        utc_now(),
        dataset::seconds(times.start),
        dataset::seconds(times.end),
        data.samples,
        corpus.len(),
        run.requests,
        run.failed_requests,
        run.failed_exprs,
        run.values,
        run.inexact,
        run.loosest.0,
        if run.loosest.1.is_empty() {
            String::new()
        } else {
            format!(", in {}", run.loosest.1)
        },
    );
    let inexact: Vec<String> = run
        .inexact_by_expr
        .iter()
        .map(|(expr, n)| format!("  {n:>5}  {expr}"))
        .collect();
    let full = format!(
        "{header}{}\nvalues equal within tolerance but not bit-identical, by expression:\n{}\n",
        run.report,
        inexact.join("\n")
    );
    if run.vigil.is_some() {
        let _ = std::fs::copy(&file, DATASET_COPY);
        let _ = std::fs::write(REPORT, &full);
    }
    assert!(
        run.corpus_errors.is_empty(),
        "the corpus itself is wrong (Prometheus disagrees with it):\n{}",
        run.corpus_errors.join("\n")
    );
    if run.vigil.is_none() {
        eprintln!(
            "corpus checked against Prometheus alone: {} expressions, {} requests",
            corpus.len(),
            run.requests
        );
        return;
    }
    assert_eq!(
        run.failed_requests, 0,
        "Vigil disagrees with Prometheus (also in {REPORT}):\n{full}"
    );
}
