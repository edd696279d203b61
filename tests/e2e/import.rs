//! `vigil import`: history from OpenMetrics and Prometheus text goes through the collector
//! (same checks as agent ingest) and reads back exactly; re-import adds nothing; a bad line
//! stops the import with its number, after storing every line before it.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use vigil_tests::{Collector, assert_exit, bin, now_ms, stderr, vigil, vigil_json};

/// Whole seconds since the Unix epoch, `back` seconds ago.
fn seconds_ago(back: i64) -> i64 {
    now_ms() / 1000 - back
}

fn import(url: &str, dir: &Path, name: &str, text: &str, extra: &[&str]) -> Output {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let mut args = vec!["import", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    vigil(url, &args)
}

/// Series of a matrix query, sorted, as (labels, [(seconds, value as Prometheus prints it)]).
fn matrix(url: &str, expr: &str) -> Vec<(Value, Vec<(f64, String)>)> {
    let data = vigil_json(url, &["query", expr]);
    assert_eq!(data["resultType"], "matrix", "{data}");
    let mut all: Vec<(Value, Vec<(f64, String)>)> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let values = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_owned()))
                .collect();
            (s["metric"].clone(), values)
        })
        .collect();
    all.sort_by_key(|(labels, _)| labels.to_string());
    all
}

fn sample_count(url: &str, expr: &str) -> usize {
    matrix(url, expr).iter().map(|(_, v)| v.len()).sum()
}

#[test]
fn openmetrics_reads_back_exactly_and_reimport_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let t = seconds_ago(3600);
    let text = format!(
        "# HELP imp_requests Requests served.\n\
         # TYPE imp_requests counter\n\
         imp_requests_total{{host=\"web-1\",path=\"/a\\\"b\\\\c\\nd\"}} 1 {t}\n\
         imp_requests_total{{host=\"web-1\",path=\"/a\\\"b\\\\c\\nd\"}} 5 {}\n\
         imp_requests_total{{host=\"web-1\",path=\"/a\\\"b\\\\c\\nd\"}} 2 {}\n\
         # TYPE imp_temp_celsius gauge\n\
         # UNIT imp_temp_celsius celsius\n\
         imp_temp_celsius{{host=\"db-1\",sensor=\"a\"}} NaN {t}\n\
         imp_temp_celsius{{host=\"db-1\",sensor=\"a\"}} +Inf {}.5\n\
         imp_temp_celsius{{host=\"db-1\",sensor=\"a\"}} -Inf {}\n\
         imp_temp_celsius{{sensor=\"b\"}} 21.25 {t}\n\
         # EOF\n",
        t + 15,
        t + 30,
        t + 15,
        t + 30
    );
    let out = import(&url, dir.path(), "history.om", &text, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("imported 7 samples from "),
        "{}",
        stderr(&out)
    );

    let expected = vec![
        (
            json!({"__name__": "imp_requests_total", "host": "web-1", "path": "/a\"b\\c\nd"}),
            vec![
                (t as f64, "1".to_owned()),
                ((t + 15) as f64, "5".to_owned()),
                ((t + 30) as f64, "2".to_owned()),
            ],
        ),
        (
            json!({"__name__": "imp_temp_celsius", "host": "db-1", "sensor": "a"}),
            vec![
                (t as f64, "NaN".to_owned()),
                (t as f64 + 15.5, "+Inf".to_owned()),
                ((t + 30) as f64, "-Inf".to_owned()),
            ],
        ),
        // No host label in the file: none is added.
        (
            json!({"__name__": "imp_temp_celsius", "sensor": "b"}),
            vec![(t as f64, "21.25".to_owned())],
        ),
    ];
    let mut expected = expected;
    expected.sort_by_key(|(labels, _)| labels.to_string());
    assert_eq!(matrix(&url, "{__name__=~\"imp_.+\"}[2h]"), expected);
    let series = vigil_json(&url, &["series", "imp_requests_total"]);
    assert_eq!(
        series,
        json!([{"__name__": "imp_requests_total", "host": "web-1", "path": "/a\"b\\c\nd"}])
    );

    let out = import(&url, dir.path(), "history.om", &text, &["--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["imported_samples"], 7);
    assert_eq!(summary["lines"], 12);
    assert_eq!(summary["stopped_at_line"], Value::Null);
    assert_eq!(matrix(&url, "{__name__=~\"imp_.+\"}[2h]"), expected);
}

#[test]
fn prometheus_text_from_stdin_in_many_pipelined_requests() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    // Scrape order (time-major), the worst case for grouping: 20 series × 600 samples.
    let t0_ms = seconds_ago(7200) * 1000 + 123;
    let mut text = String::from("# HELP imp_big A big one.\n# TYPE imp_big gauge\n");
    for i in 0..600i64 {
        for s in 0..20 {
            writeln!(
                text,
                "imp_big{{host=\"h{}\",s=\"{s}\"}} {} {}",
                s % 3,
                i * 100 + s,
                t0_ms + i * 5000
            )
            .unwrap();
        }
    }
    let file = dir.path().join("big.prom");
    std::fs::write(&file, &text).unwrap();
    let run = || {
        Command::new(bin("vigil"))
            .args([
                "--collector",
                &url,
                "import",
                "--format",
                "prometheus",
                "--batch-samples",
                "700",
                "-",
            ])
            .stdin(Stdio::from(std::fs::File::open(&file).unwrap()))
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 12,000 samples from standard input"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("12,002 lines read"),
        "{}",
        stderr(&out)
    );

    let series = matrix(&url, "imp_big[3h]");
    assert_eq!(series.len(), 20);
    let s7 = series.iter().find(|(l, _)| l["s"] == "7").unwrap();
    assert_eq!(s7.0, json!({"__name__": "imp_big", "host": "h1", "s": "7"}));
    assert_eq!(s7.1.len(), 600);
    assert_eq!(s7.1[0], (t0_ms as f64 / 1000.0, "7".to_owned()));
    assert_eq!(
        s7.1[599],
        ((t0_ms + 599 * 5000) as f64 / 1000.0, "59907".to_owned())
    );

    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sample_count(&url, "imp_big[3h]"), 12_000);
}

#[test]
fn a_bad_line_stops_the_import_after_storing_every_line_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let url = collector.url();
    let t = seconds_ago(600);
    let good = |name: &str, n: i64| -> String {
        (0..n)
            .map(|i| format!("{name}{{host=\"web-1\"}} {i} {}\n", t + i))
            .collect()
    };
    // (file body after the good lines, line of the bad one, what stderr must say)
    let long = "x".repeat(10_000);
    let cases: Vec<(&str, String, &str)> = vec![
        // Refused by the collector: the same rule agent ingest applies.
        (
            "imp_name",
            format!("imp-bad{{host=\"web-1\"}} 1 {t}\n"),
            "must match [a-zA-Z_:][a-zA-Z0-9_:]*",
        ),
        (
            "imp_huge",
            format!("imp_huge{{host=\"web-1\",v=\"{long}\"}} 1 {t}\n"),
            "10000 bytes, over the limit of 2048",
        ),
        (
            "imp_future",
            format!("imp_future{{host=\"web-1\"}} 1 {}\n", t + 86_400),
            "ahead of the collector's clock",
        ),
        // Refused by the parser.
        (
            "imp_syntax",
            format!("imp_syntax{{host=\"web-1\" 1 {t}\n"),
            "missing its closing }",
        ),
        (
            "imp_nots",
            "imp_nots{host=\"web-1\"} 1\n".to_owned(),
            "has no timestamp",
        ),
        (
            "imp_value",
            format!("imp_value{{host=\"web-1\"}} one {t}\n"),
            "\"one\" is not a number",
        ),
    ];
    for (name, bad, says) in cases {
        let text = format!(
            "# TYPE {name} gauge\n{}{bad}{}# EOF\n",
            good(name, 5),
            good("imp_after", 3)
        );
        let out = import(&url, dir.path(), &format!("{name}.om"), &text, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("error: line 7: "), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(
            err.contains("imported 5 samples") && err.contains("stopped at line 7"),
            "{name}: {err}"
        );
        assert_eq!(
            sample_count(&url, &format!("{name}[1h]")),
            5,
            "{name}: lines before the bad one"
        );
        assert_eq!(
            sample_count(&url, "imp_after[1h]"),
            0,
            "{name}: nothing after it"
        );
    }

    // A file that is not what --format says: milliseconds in OpenMetrics.
    let out = import(
        &url,
        dir.path(),
        "ms.om",
        &format!("imp_ms 1 {}\n# EOF\n", t * 1000),
        &[],
    );
    assert_exit(&out, 1, &["line 1: ", "--format prometheus"]);
    // A cut-short OpenMetrics file: everything is stored, and the missing # EOF is reported.
    let out = import(&url, dir.path(), "cut.om", &good("imp_cut", 4), &[]);
    assert_exit(&out, 1, &["line 5: the input ends without \"# EOF\""]);
    assert_eq!(sample_count(&url, "imp_cut[1h]"), 4);
    // A missing file.
    let out = vigil(&url, &["import", "/nonexistent/history.om"]);
    assert_exit(&out, 1, &["cannot open /nonexistent/history.om"]);
}

/// `vigil import FILE` with `VIGIL_TOKEN` set to `token` (when given).
fn import_as(url: &str, dir: &Path, text: &str, token: Option<&str>, extra: &[&str]) -> Output {
    let file = dir.join("tok.om");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(bin("vigil"));
    cmd.args(["--collector", url, "import", file.to_str().unwrap()])
        .args(extra);
    if let Some(token) = token {
        cmd.env("VIGIL_TOKEN", token);
    }
    cmd.output().unwrap()
}

#[test]
fn imports_need_an_admin_or_an_agent_token_for_every_host() {
    const ADMIN: &str = "import-admin-secret-0123";
    const WEB: &str = "import-web-secret-0123456";
    let dir = tempfile::tempdir().unwrap();
    let tokens = format!(
        r#"[{{ name = "ops", role = "admin", secret = "{ADMIN}" }},
            {{ name = "web-agents", role = "agent", secret = "{WEB}", hosts = ["web-*"] }}]"#
    );
    let collector = Collector::start(
        &dir.path().join("data"),
        &[
            ("VIGIL_COLLECTOR__AUTH__TOKENS", &tokens),
            (
                "VIGIL_COLLECTOR__SERVER__AGENT_TOKENS",
                "[\"old-agent-token\"]",
            ),
        ],
    );
    let url = collector.url();
    let count = |expr: &str| -> usize {
        let out = Command::new(bin("vigil"))
            .args(["--collector", &url, "query", expr, "--output", "json"])
            .env("VIGIL_TOKEN", ADMIN)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let data: Value = serde_json::from_slice(&out.stdout).unwrap();
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().map_or(0, Vec::len))
            .sum()
    };
    let web = format!("imp_tok{{host=\"web-1\"}} 1 {}\n# EOF\n", seconds_ago(60));
    let db = format!("imp_tok{{host=\"db-1\"}} 1 {}\n# EOF\n", seconds_ago(60));

    let out = import_as(&url, dir.path(), &web, None, &[]);
    assert_exit(&out, 1, &["--token"]);
    assert_eq!(count("imp_tok[1h]"), 0);

    let out = import_as(&url, dir.path(), &db, Some(WEB), &[]);
    assert_exit(&out, 1, &["\"db-1\""]);
    assert_eq!(count("imp_tok[1h]"), 0, "a refused host stores nothing");

    let out = import_as(&url, dir.path(), &web, Some(WEB), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = import_as(&url, dir.path(), &db, Some(ADMIN), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count("imp_tok[1h]"), 2);

    // The old agent tokens, passed as `vigil import --token`, still work for any host.
    let old = format!("imp_old{{host=\"db-2\"}} 1 {}\n# EOF\n", seconds_ago(60));
    let out = import_as(
        &url,
        dir.path(),
        &old,
        None,
        &["--token", "old-agent-token"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count("imp_old[1h]"), 1);
}
