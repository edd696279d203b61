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
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vigil_tests::prom_api::{Answer, ApiClient, Eval};
use vigil_tests::prometheus::{self, Prometheus, http_ok};
use vigil_tests::promql_compare::{differences, error_text, metadata_differences};
use vigil_tests::promql_corpus::{Case, EMPTY_BY_DESIGN, Times, cases};
use vigil_tests::promql_requests::{
    UNSUPPORTED, bad_requests, metadata_requests, spelled_requests,
};
use vigil_tests::{Running, bin, dataset, free_port, vigil, wait_for};

const REPORT: &str = "/tmp/promql_diff_report.txt";
/// A copy of the dataset the report was made from, to reproduce a mismatch by hand.
const DATASET_COPY: &str = "/tmp/promql_diff_dataset.om";

/// A collector with the HTTP API on, and the ports it listens on.
struct VigilServer {
    _process: Running,
    grpc: u16,
    http: u16,
}

fn start_vigil(dir: &Path) -> VigilServer {
    let (grpc, http) = (free_port(), free_port());
    let mut cmd = Command::new(bin("vigil-collector"));
    cmd.arg("--grpc-listen")
        .arg(format!("127.0.0.1:{grpc}"))
        .arg("--http-listen")
        .arg(format!("127.0.0.1:{http}"))
        .arg("--data-dir")
        .arg(dir.join("vigil"))
        .env("RUST_LOG", "warn");
    let mut process = Running::spawn(cmd, dir.join("vigil-collector.log"));
    wait_for(Duration::from_secs(30), "the collector's HTTP API", || {
        assert!(process.alive(), "collector exited:\n{}", process.log());
        http_ok(http, "/api/v1/status/buildinfo").then_some(())
    });
    VigilServer {
        _process: process,
        grpc,
        http,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

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
    let vigil_server = (!only_prometheus).then(|| {
        let server = start_vigil(dir.path());
        let url = format!("http://127.0.0.1:{}", server.grpc);
        let out = vigil(&url, &["import", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "vigil import failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        server
    });
    let vigil_url = vigil_server
        .as_ref()
        .map(|s| format!("http://127.0.0.1:{}", s.http));
    let prom_url = prom.url();
    let api = ApiClient::new();

    let corpus = cases(times);
    let mut corpus_errors = Vec::new();
    let mut report = String::new();
    let (mut evals, mut failed_evals, mut failed_exprs) = (0, 0, 0);
    for Case {
        expr,
        evals: at,
        expect_error,
    } in &corpus
    {
        let mut any_data = false;
        let mut expr_failed = false;
        for eval in at {
            let (path, params) = eval.request(expr);
            let (p, v) = match &vigil_url {
                Some(v) => api.both(&prom_url, v, path, &params),
                None => {
                    let p = api.get(&prom_url, path, &params);
                    (p.clone(), p)
                }
            };
            evals += 1;
            if *expect_error != (p.body["status"] != "success") {
                let want = if *expect_error { "an error" } else { "success" };
                corpus_errors.push(format!(
                    "{expr} [{}]: want {want} from Prometheus, got {}",
                    eval.describe(times.end),
                    error_text(&p)
                ));
                continue;
            }
            any_data |= has_data(&p);
            let diffs = differences(&p, &v, matches!(eval, Eval::Range { .. }));
            if diffs.is_empty() {
                continue;
            }
            failed_evals += 1;
            expr_failed = true;
            let _ = writeln!(report, "✗ {expr}   [{}]", eval.describe(times.end));
            let _ = writeln!(report, "    {}", request_line(path, &params));
            for line in diffs.iter().take(12) {
                let _ = writeln!(report, "    {line}");
            }
            if diffs.len() > 12 {
                let _ = writeln!(report, "    … and {} more differences", diffs.len() - 12);
            }
        }
        failed_exprs += usize::from(expr_failed);
        if !any_data && !expect_error && !EMPTY_BY_DESIGN.contains(&expr.as_str()) {
            corpus_errors.push(format!(
                "{expr}: Prometheus returned no data at any evaluation"
            ));
        }
    }

    // Requests both must refuse, and constructs only Vigil refuses.
    for (expr, eval) in bad_requests(times) {
        let (path, params) = eval.request(expr);
        let p = api.get(&prom_url, path, &params);
        if p.status != 400 || p.body["errorType"] != "bad_data" {
            corpus_errors.push(format!(
                "bad request {expr} [{}]: Prometheus answered {}",
                eval.describe(times.end),
                error_text(&p)
            ));
        }
        if let Some(v_url) = &vigil_url {
            evals += 1;
            let v = api.get(v_url, path, &params);
            if v.status != 400 || v.body["errorType"] != "bad_data" {
                failed_evals += 1;
                let _ = writeln!(
                    report,
                    "✗ {expr}   [{}]: want HTTP 400 bad_data like Prometheus ({}), got {}",
                    eval.describe(times.end),
                    error_text(&p),
                    error_text(&v)
                );
            }
        }
    }
    if let Some(v_url) = &vigil_url {
        for (expr, construct) in UNSUPPORTED {
            evals += 1;
            let (path, params) = Eval::Instant(times.end).request(expr);
            let v = api.get(v_url, path, &params);
            let message = v.body["error"].as_str().unwrap_or("");
            if v.status != 400 || v.body["errorType"] != "bad_data" || !message.contains(construct)
            {
                failed_evals += 1;
                let _ = writeln!(
                    report,
                    "✗ {expr}: unsupported, want HTTP 400 bad_data naming {construct:?}, got {}",
                    error_text(&v)
                );
            }
        }
        for (path, params) in spelled_requests(times) {
            evals += 1;
            let (p, v) = api.both(&prom_url, v_url, path, &params);
            let diffs = differences(&p, &v, path.ends_with("_range"));
            if p.body["status"] != "success" || !has_data(&p) {
                corpus_errors.push(format!(
                    "{}: Prometheus gave no data",
                    request_line(path, &params)
                ));
            }
            if !diffs.is_empty() {
                failed_evals += 1;
                let _ = writeln!(report, "✗ {}", request_line(path, &params));
                for line in diffs.iter().take(12) {
                    let _ = writeln!(report, "    {line}");
                }
            }
        }
        for (path, params) in metadata_requests() {
            evals += 1;
            let (p, v) = api.both(&prom_url, v_url, &path, &params);
            let diffs = metadata_differences(&p, &v);
            if !diffs.is_empty() {
                failed_evals += 1;
                let _ = writeln!(report, "✗ {}", request_line(&path, &params));
                for line in diffs.iter().take(12) {
                    let _ = writeln!(report, "    {line}");
                }
            }
        }
    }

    let header = format!(
        "PromQL differential test, Vigil vs Prometheus 2.42, {}\n\
         dataset {}..{} ({} samples); {} expressions, {evals} evaluations\n\
         {failed_evals} requests differ ({failed_exprs} expressions)\n\
         values match within 1e-9 relative or 1e-12 absolute; NaN matches NaN\n\
         the dataset is in {DATASET_COPY} (load it with promtool / vigil import)\n\n",
        utc_now(),
        dataset::seconds(times.start),
        dataset::seconds(times.end),
        data.samples,
        corpus.len(),
    );
    let full = format!("{header}{report}");
    if vigil_url.is_some() {
        let _ = std::fs::copy(&file, DATASET_COPY);
        let _ = std::fs::write(REPORT, &full);
    }
    assert!(
        corpus_errors.is_empty(),
        "the corpus itself is wrong (Prometheus disagrees with it):\n{}",
        corpus_errors.join("\n")
    );
    if vigil_url.is_none() {
        eprintln!(
            "corpus checked against Prometheus alone: {} expressions, {evals} evaluations",
            corpus.len()
        );
        return;
    }
    assert_eq!(
        failed_evals, 0,
        "Vigil disagrees with Prometheus (also in {REPORT}):\n{full}"
    );
}
