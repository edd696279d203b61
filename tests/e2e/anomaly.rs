//! Anomaly rules end to end: two load-generator agents stream six hours of history and then
//! live data over gRPC; on one of them `node_load1` shifts to four times its level. An
//! `anomaly:` rule fires for that host and not for the clean one, the score series and
//! `vigil anomalies` show it, the built-in host rate counts it, and after `kill -9` the
//! collector takes its detectors back from the store instead of learning afresh.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vigil_tests::query_vector as query;
use vigil_tests::{
    Collector, Running, bin, env_refs, free_port, now_ms, rules_settings, vigil, vigil_json,
    wait_for,
};

const SHIFTED: &str = "host-00000";
const CLEAN: &str = "host-00001";
/// Grid points of the six hours of history at the rule's 10-second step.
const HISTORY_POINTS: usize = 6 * 360;

fn rules(warmup: &str) -> String {
    format!(
        r#"groups:
  - name: unusual
    interval: 1s
    rules:
      - alert: LoadUnlikeItself
        anomaly:
          expr: node_load1
          step: 10s
          warmup: {warmup}
        labels:
          severity: warning
        annotations:
          summary: "{{{{ $labels.host }}}} load {{{{ $value }}}}, expected {{{{ $lower }}}} to {{{{ $upper }}}} (score {{{{ $score }}}})"
"#
    )
}

fn collector(port: u16, dir: &Path, rules_file: &Path) -> Collector {
    let settings = rules_settings(rules_file);
    Collector::start_on(port, &dir.join("data"), &env_refs(&settings))
}

/// The anomaly rule's status in `vigil rules --output json`.
fn rule_status(url: &str) -> Value {
    let groups = vigil_json(url, &["rules"]);
    groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .find(|r| r["name"] == "LoadUnlikeItself")
        .unwrap_or_else(|| panic!("no anomaly rule in {groups}"))
}

#[test]
fn an_anomaly_rule_fires_on_a_level_shift_not_on_a_clean_host_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("rules.yml");
    std::fs::write(&rules_file, "groups: []\n").unwrap();
    let mut c = collector(free_port(), dir.path(), &rules_file);
    let url = c.url();

    // Two agents: six hours of 10-second scrapes, then live; host 0's load is four times
    // its usual level from three minutes before the end of the history on.
    let mut loadgen = Command::new(bin("vigil-loadgen"));
    loadgen
        .args([
            "--collector",
            &url,
            "--hosts",
            "2",
            "--series-per-host",
            "100",
        ])
        .args(["--interval", "10s", "--backfill", "6h", "--duration", "15m"])
        .args(["--seed", "7", "--shift", "0:node_load1:4:end-3m"]);
    let mut loadgen = Running::spawn(loadgen, dir.path().join("loadgen.log"));
    wait_for(
        Duration::from_secs(120),
        "the history of both hosts",
        || {
            assert!(loadgen.alive(), "loadgen ended: {}", loadgen.log());
            let counts = query(&url, "count_over_time(node_load1[7h])");
            (counts.len() == 2 && counts.iter().all(|(_, n)| *n >= HISTORY_POINTS as f64))
                .then_some(())
        },
    );

    // The rule arrives once the history is in, as it would on a collector that has been
    // running: it learns each host from the six hours.
    std::fs::write(&rules_file, rules("6h")).unwrap();
    let reload = vigil(&url, &["rules", "reload"]);
    assert!(reload.status.success(), "{reload:?}");
    let firing = wait_for(Duration::from_secs(60), "the shifted host's alert", || {
        let found = query(
            &url,
            r#"ALERTS{alertname="LoadUnlikeItself",alertstate="firing"}"#,
        );
        (!found.is_empty()).then_some(found)
    });
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0].0["host"], SHIFTED);

    let alerts = vigil_json(&url, &["alerts"]);
    let summary = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "LoadUnlikeItself")
        .map(|a| a["annotations"]["summary"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{alerts}"));
    assert!(summary.starts_with("host-00000 load "), "{summary}");
    assert!(summary.contains(", expected "), "{summary}");

    // Every history point of both hosts was scored; the clean one never reached 0.5.
    let scores = query(
        &url,
        r#"count_over_time(vigil_anomaly_score{anomaly_rule="LoadUnlikeItself"}[7h])"#,
    );
    assert_eq!(scores.len(), 2, "{scores:?}");
    assert!(
        scores.iter().all(|(_, n)| *n >= HISTORY_POINTS as f64),
        "{scores:?}"
    );
    let peak = |host: &str| {
        query(
            &url,
            &format!(
                r#"max_over_time(vigil_anomaly_score{{anomaly_rule="LoadUnlikeItself",host="{host}"}}[7h])"#
            ),
        )[0]
            .1
    };
    assert!(peak(SHIFTED) >= 0.5, "{}", peak(SHIFTED));
    assert!(peak(CLEAN) < 0.5, "the clean host scored {}", peak(CLEAN));
    let above = query(
        &url,
        r#"vigil_anomaly_value{host="host-00000",metric="node_load1"} > vigil_anomaly_upper"#,
    );
    assert_eq!(
        above.len(),
        1,
        "the shifted load is above its band: {above:?}"
    );

    // `vigil anomalies` ranks the shifted host's load; the clean host has none from this rule.
    let listed = vigil_json(&url, &["anomalies", "--host", SHIFTED, "--since", "1h"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "LoadUnlikeItself")
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    assert!(row["score"].as_f64().unwrap() >= 0.5, "{row}");
    assert_eq!(row["metric"], "node_load1", "{row}");
    assert!(!row["points"].as_array().unwrap().is_empty(), "{row}");
    let clean = vigil_json(&url, &["anomalies", "--host", CLEAN, "--since", "1h"]);
    assert!(
        clean
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["rule"] != "LoadUnlikeItself"),
        "{clean}"
    );
    let table = vigil(&url, &["anomalies", "--host", SHIFTED, "--output", "table"]);
    assert!(table.status.success(), "{table:?}");
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("node_load1"),
        "{table:?}"
    );

    // The default rules watch the core series of both hosts and feed the host rate.
    let rates = wait_for(Duration::from_secs(30), "the host anomaly rate", || {
        let found = query(&url, "vigil_host_anomaly_rate");
        (found.len() == 2).then_some(found)
    });
    assert!(
        rates.iter().all(|(_, r)| (0.0..=1.0).contains(r)),
        "{rates:?}"
    );

    let status = rule_status(&url);
    assert_eq!(status["kind"], "anomaly", "{status}");
    assert_eq!(status["anomaly"]["watched_series"], 2, "{status}");
    assert_eq!(status["anomaly"]["restored_series"], 0, "{status}");

    // kill -9 after the first checkpoint (taken at the first evaluation). The restarted
    // collector reads the rule with a one-minute warm-up: a detector learning afresh would
    // spend its first 30 points warming up (no band); one taken back has its band at once.
    std::fs::write(&rules_file, rules("1m")).unwrap();
    c.process.kill9();
    let restarted_at = now_ms();
    let c = collector(c.port, dir.path(), &rules_file);
    let restored = wait_for(
        Duration::from_secs(60),
        "the detectors to be taken back",
        || {
            let s = rule_status(&url);
            (s["anomaly"]["watched_series"] == 2).then_some(s)
        },
    );
    assert_eq!(restored["anomaly"]["restored_series"], 2, "{restored}");
    assert!(
        c.process.log().contains("anomaly detectors restored"),
        "{}",
        c.process.log()
    );
    // The agents reconnect (backing off up to 30 s) and their next scrapes are scored.
    wait_for(
        Duration::from_secs(120),
        "a live point scored after the restart",
        || {
            let lower = query(
                &url,
                r#"timestamp(vigil_anomaly_lower{host="host-00001",anomaly_rule="LoadUnlikeItself"})"#,
            );
            (lower.len() == 1 && lower[0].1 * 1000.0 > restarted_at as f64).then_some(())
        },
    );
    let still = query(
        &url,
        r#"ALERTS{alertname="LoadUnlikeItself",alertstate="firing"}"#,
    );
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(still[0].0["host"], SHIFTED);
    drop(loadgen);
}
