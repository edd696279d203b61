//! Grafana's view of Vigil: the shipped dashboard (`deploy/grafana/dashboards/
//! vigil-fleet.json`) and data source (`deploy/grafana/provisioning/datasources/vigil.yml`)
//! against a collector fed by a real agent. Every template variable is resolved the way
//! Grafana resolves `label_values(selector, label)` (label values with `match[]`, `start`,
//! `end`; and through `/api/v1/series` as older Grafana does), every panel query is sent
//! with Grafana's variables substituted, as a range query over the agent's lifetime, by GET
//! and by POST, with the data source's bearer token; each must answer data and no error.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigil_tests::{Collector, Running, bin, env_refs, free_port, now_ms, rules_settings, wait_for};

const READ: &str = "grafana-read-secret-0123456789";
const AGENT: &str = "grafana-agent-secret-0123456789";
const HOST: &str = "grafana-host";

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The data source's settings that shape Grafana's requests.
struct DataSource {
    /// `jsonData.timeInterval`, in seconds: the least `$__interval`.
    scrape_s: i64,
    /// `jsonData.httpMethod`.
    method: String,
    /// `jsonData.httpHeaderName1` and `secureJsonData.httpHeaderValue1` with the token.
    header: (String, String),
}

fn data_source() -> DataSource {
    let text = std::fs::read_to_string(repo_file(
        "deploy/grafana/provisioning/datasources/vigil.yml",
    ))
    .unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let ds = &yaml["datasources"][0];
    assert_eq!(ds["type"].as_str(), Some("prometheus"));
    let json = &ds["jsonData"];
    let interval = json["timeInterval"].as_str().unwrap();
    let scrape_s = humantime::parse_duration(interval).unwrap().as_secs() as i64;
    let value = ds["secureJsonData"]["httpHeaderValue1"].as_str().unwrap();
    DataSource {
        scrape_s,
        method: json["httpMethod"].as_str().unwrap().to_owned(),
        header: (
            json["httpHeaderName1"].as_str().unwrap().to_owned(),
            value.replace("${VIGIL_READ_TOKEN}", READ),
        ),
    }
}

/// Every panel's query expressions (rows' panels included), with the panel's title.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            walk(&panel["panels"], out);
            let title = panel["title"].as_str().unwrap_or("").to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.clone(), expr.to_owned()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `label_values(selector, label)` or `label_values(label)`: (selector, label).
fn label_values_call(query: &str) -> (Option<String>, String) {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("only label_values() variables are supported: {query}"));
    match inner.rsplit_once(',') {
        Some((selector, label)) => (Some(selector.trim().to_owned()), label.trim().to_owned()),
        None => (None, inner.trim().to_owned()),
    }
}

/// Replaces Grafana's `$name` and `${name}` forms, longest names first.
fn substitute(text: &str, vars: &[(String, String)]) -> String {
    let mut vars: Vec<&(String, String)> = vars.iter().collect();
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    out
}

struct Grafana {
    base: String,
    http: reqwest::Client,
    ds: DataSource,
}

impl Grafana {
    /// GET or POST (form) `path` with `params`: the JSON body, or why there is none.
    async fn call(&self, post: bool, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|e| e.to_string())?;
        let request = if post {
            let form = url.query().unwrap_or("").to_owned();
            let mut bare = url.clone();
            bare.set_query(None);
            self.http
                .post(bare)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
        } else {
            self.http.get(url)
        };
        let response = request
            .header(&self.ds.header.0, &self.ds.header.1)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if status != 200 || body["status"] != "success" {
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(body["data"].clone())
    }
}

/// Starts the agent with its token (what `vigil_tests::Agent` does, plus the token).
fn agent(grpc: &str, dir: &Path) -> Running {
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args(["--collector", grpc, "--interval", "1s", "--hostname", HOST])
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .env("VIGIL_AGENT__TOKEN", AGENT)
        .env("RUST_LOG", "info");
    Running::spawn(cmd, dir.join("agent.log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_answers_data_by_get_and_post() {
    let dir = tempfile::tempdir().unwrap();
    let ds = data_source();
    assert_eq!(ds.method, "POST");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/grafana/dashboards/vigil-fleet.json")).unwrap(),
    )
    .unwrap();

    // A rule that always fires, so that the alerts panels have something to show.
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: grafana\n    rules:\n      - alert: GrafanaTestLoad\n        \
         expr: node_load1 >= 0\n        labels:\n          severity: info\n",
    )
    .unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[[auth.tokens]]\nname = \"grafana\"\nrole = \"read\"\nsecret = \"{READ}\"\n\n\
             [[auth.tokens]]\nname = \"agents\"\nrole = \"agent\"\nsecret = \"{AGENT}\"\n"
        ),
    )
    .unwrap();
    let http_port = free_port();
    let listen = format!("127.0.0.1:{http_port}");
    let settings = rules_settings(&rules);
    let collector = Collector::start_with_args(
        free_port(),
        &dir.path().join("data"),
        &env_refs(&settings),
        &[
            "--config",
            config.to_str().unwrap(),
            "--http-listen",
            &listen,
        ],
    );
    wait_for(Duration::from_secs(10), "the HTTP API to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", http_port)).ok()
    });
    let started_ms = now_ms();
    let _agent = agent(&collector.url(), dir.path());
    let grafana = Grafana {
        base: format!("http://{listen}"),
        http: vigil_tests::http_client().build().unwrap(),
        ds,
    };

    // The agent runs long enough for every rate window to hold samples and for the
    // collector's housekeeping (every 10 s) to write its own counters twice, and until the
    // test alert fires.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let now = now_ms();
        let time = secs(now);
        let params = [("query", "ALERTS{alertstate=\"firing\"}"), ("time", &*time)];
        let firing = grafana
            .call(false, "/api/v1/query", &params)
            .await
            .is_ok_and(|d| d["result"].as_array().is_some_and(|r| !r.is_empty()));
        if firing && now - started_ms >= 25_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the test alert never fired:\n{}",
            collector.process.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Grafana's time range is the agent's lifetime; $__interval never below the scrape
    // interval; $__rate_interval = max($__interval + scrape, 4 × scrape).
    let end_ms = now_ms();
    let (start_s, end_s) = (started_ms / 1000, end_ms / 1000 + 1);
    let range_s = end_s - start_s;
    let scrape = grafana.ds.scrape_s;
    let interval_s = scrape.max(range_s / 1000);
    let rate_interval_s = (interval_s + scrape).max(4 * scrape);
    let mut vars: Vec<(String, String)> = vec![
        ("__interval".into(), format!("{interval_s}s")),
        ("__interval_ms".into(), (interval_s * 1000).to_string()),
        ("__rate_interval".into(), format!("{rate_interval_s}s")),
        ("__range".into(), format!("{range_s}s")),
        ("__range_s".into(), range_s.to_string()),
        ("__range_ms".into(), (range_s * 1000).to_string()),
        ("datasource".into(), "vigil".into()),
    ];
    let (start, end) = (start_s.to_string(), end_s.to_string());
    let mut failures: Vec<String> = Vec::new();

    // Template variables, in order, as Grafana resolves them.
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().unwrap().to_owned();
        let query = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap();
        let query = substitute(query, &vars);
        let (selector, label) = label_values_call(&query);
        let mut params: Vec<(&str, &str)> = vec![("start", &start), ("end", &end)];
        if let Some(s) = &selector {
            params.push(("match[]", s));
        }
        let path = format!("/api/v1/label/{label}/values");
        let values: Vec<String> = match grafana.call(false, &path, &params).await {
            Ok(data) => serde_json::from_value(data).unwrap(),
            Err(e) => {
                failures.push(format!("variable {name}: {query}: {e}"));
                Vec::new()
            }
        };
        if values.is_empty() {
            failures.push(format!("variable {name}: {query}: no values"));
        }
        // Older Grafana reads the same through /api/v1/series (and /api/v1/labels), by
        // GET or POST as the data source says.
        if let Some(s) = &selector {
            let params = [("match[]", s.as_str()), ("start", &start), ("end", &end)];
            for post in [false, true] {
                match grafana.call(post, "/api/v1/series", &params).await {
                    Ok(series) => {
                        let seen: BTreeSet<String> = series
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter_map(|s| s[&label].as_str().map(str::to_owned))
                            .collect();
                        let want: BTreeSet<String> = values.iter().cloned().collect();
                        if seen != want {
                            failures.push(format!(
                                "variable {name}: /api/v1/series (post {post}) gives {seen:?}, \
                                 label values {want:?}"
                            ));
                        }
                    }
                    Err(e) => failures.push(format!("variable {name}: series: {e}")),
                }
                match grafana.call(post, "/api/v1/labels", &params).await {
                    Ok(names) if names.as_array().unwrap().iter().any(|n| n == &label) => {}
                    Ok(names) => failures.push(format!(
                        "variable {name}: /api/v1/labels lacks {label}: {names}"
                    )),
                    Err(e) => failures.push(format!("variable {name}: labels: {e}")),
                }
            }
        }
        let chosen = values
            .iter()
            .find(|v| v.as_str() == HOST || v.as_str() == "node")
            .or(values.first())
            .cloned()
            .unwrap_or_default();
        vars.push((name, chosen));
    }

    // Every panel query, over the whole range, by GET (step in seconds) and POST (step as
    // a duration), with a timeout as Grafana sends it.
    let queries = panel_queries(&dashboard);
    assert!(queries.len() >= 40, "{} queries", queries.len());
    let step = interval_s.to_string();
    let step_duration = format!("{interval_s}s");
    for (title, expr) in &queries {
        let query = substitute(expr, &vars);
        assert!(
            !query.contains('$'),
            "{title}: unresolved variable in {query}"
        );
        for post in [false, true] {
            let step = if post { &step_duration } else { &step };
            let params = [
                ("query", query.as_str()),
                ("start", &start),
                ("end", &end),
                ("step", step),
                ("timeout", "60s"),
            ];
            match grafana.call(post, "/api/v1/query_range", &params).await {
                Ok(data) => {
                    let result = data["result"].as_array().cloned().unwrap_or_default();
                    let points = result
                        .iter()
                        .map(|s| s["values"].as_array().map_or(0, Vec::len))
                        .sum::<usize>();
                    if points == 0 {
                        failures.push(format!("{title}: no data: {query}"));
                    }
                }
                Err(e) => failures.push(format!("{title}: {query}: {e}")),
            }
        }
        // Stat and table panels also ask for the last value alone.
        let params = [
            ("query", query.as_str()),
            ("time", &end),
            ("timeout", "60s"),
        ];
        if let Err(e) = grafana.call(true, "/api/v1/query", &params).await {
            failures.push(format!("{title} (instant): {query}: {e}"));
        }
    }

    // The query editor's help texts.
    match grafana
        .call(
            false,
            "/api/v1/metadata",
            &[("metric", "node_cpu_seconds_total")],
        )
        .await
    {
        Ok(meta) if meta["node_cpu_seconds_total"][0]["type"] == "counter" => {}
        Ok(meta) => failures.push(format!("metadata of node_cpu_seconds_total: {meta}")),
        Err(e) => failures.push(format!("metadata: {e}")),
    }

    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} of {} dashboard queries failed (variables {vars:?}):\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[test]
fn variables_are_substituted_like_grafana() {
    let vars = vec![
        ("__interval".to_owned(), "10s".to_owned()),
        ("__interval_ms".to_owned(), "10000".to_owned()),
        ("job".to_owned(), "node".to_owned()),
    ];
    assert_eq!(
        substitute(
            "rate(x{job=\"$job\"}[$__interval]) * ${__interval_ms}",
            &vars
        ),
        "rate(x{job=\"node\"}[10s]) * 10000"
    );
    assert_eq!(
        label_values_call("label_values(node_uname_info{job=\"a,b\"}, instance)"),
        (
            Some("node_uname_info{job=\"a,b\"}".to_owned()),
            "instance".to_owned()
        )
    );
    assert_eq!(
        label_values_call("label_values(job)"),
        (None, "job".to_owned())
    );
}
