//! Rules and alerts as people and tools see them: `vigil alerts`, `vigil rules` (list,
//! check, reload) and the Prometheus-shaped `/api/v1/alerts` and `/api/v1/rules`, against a
//! real collector evaluating a rule file every second on data loaded with `vigil import`.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_tests::prom_api::ApiClient;
use vigil_tests::{
    Collector, env_refs, import_now, now_s, rules_settings, stderr, stdout, vigil, vigil_json,
    wait_for,
};

/// Writes [`RULES`] to `dir/rules.yml`; returns its path and the collector settings that
/// evaluate it every second.
fn write_rules(dir: &Path) -> (PathBuf, Vec<(&'static str, String)>) {
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let env = rules_settings(&rules);
    (rules, env)
}

/// The group `visibility` of a `/api/v1/rules` answer.
fn visibility(answer: &Value) -> Value {
    answer["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "visibility")
        .unwrap()
        .clone()
}

const RULES: &str = r#"groups:
  - name: visibility
    rules:
      - alert: ValueHigh
        expr: alerts_e2e_value > 50
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.host }} is at {{ $value }}"
      - alert: ValueSlow
        expr: alerts_e2e_value > 10
        for: 1h
      - record: alerts_e2e:doubled
        expr: alerts_e2e_value * 2
"#;

#[test]
fn firing_and_pending_alerts_show_in_the_cli_and_the_http_api() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, env) = write_rules(dir.path());
    let (c, http) = Collector::start_with_http(&dir.path().join("data"), &env_refs(&env));
    let before = now_s();
    import_now(&c.url(), dir.path(), "alerts_e2e_value", "web-1", 75.0);

    // vigil alerts: firing first, then pending.
    let alerts = wait_for(Duration::from_secs(20), "two active alerts", || {
        let alerts = vigil_json(&c.url(), &["alerts"]);
        (alerts.as_array().unwrap().len() == 2).then_some(alerts)
    });
    let high = &alerts[0];
    assert_eq!(high["name"], "ValueHigh", "{alerts}");
    assert_eq!(high["state"], "firing");
    assert_eq!(high["labels"]["alertname"], "ValueHigh");
    assert_eq!(high["labels"]["host"], "web-1");
    assert_eq!(high["labels"]["severity"], "page");
    assert_eq!(high["annotations"]["summary"], "web-1 is at 75");
    assert_eq!(high["value"], "75");
    let active = high["active_since"].as_f64().unwrap();
    assert!(active >= before - 1.0 && active <= now_s(), "{alerts}");
    assert!(high["firing_since"].as_f64().unwrap() >= active);
    assert_eq!(high["eta"], Value::Null);
    let slow = &alerts[1];
    assert_eq!(slow["name"], "ValueSlow");
    assert_eq!(slow["state"], "pending");
    assert_eq!(slow["firing_since"], Value::Null);

    let table = vigil(&c.url(), &["alerts"]);
    assert!(table.status.success());
    let table = stdout(&table);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines[1].starts_with("ValueHigh") && lines[1].contains("firing"),
        "{table}"
    );
    assert!(lines[1].contains("host=web-1,severity=page"), "{table}");
    assert!(
        lines[2].starts_with("ValueSlow") && lines[2].contains("pending"),
        "{table}"
    );

    // vigil rules: the group, each rule's health and alerts.
    let groups = wait_for(Duration::from_secs(10), "every rule evaluated", || {
        let groups = vigil_json(&c.url(), &["rules"]);
        let group = groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "visibility")?
            .clone();
        let all_ok = group["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["health"] == "ok");
        all_ok.then_some(group)
    });
    assert_eq!(groups["file"], rules.display().to_string());
    assert_eq!(groups["interval"], 1);
    let rules_json = groups["rules"].as_array().unwrap();
    let names: Vec<&str> = rules_json
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ValueHigh", "ValueSlow", "alerts_e2e:doubled"]);
    assert_eq!(rules_json[0]["kind"], "alert");
    assert_eq!(rules_json[0]["firing"], 1);
    assert_eq!(rules_json[1]["pending"], 1);
    assert_eq!(rules_json[1]["for"], 3600);
    assert_eq!(rules_json[2]["kind"], "record");
    assert!(rules_json[2]["last_evaluation"].as_f64().unwrap() >= before - 1.0);

    // The Prometheus HTTP API.
    let api = ApiClient::new();
    let answer = api.get(&http, "/api/v1/alerts", &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["status"], "success");
    let http_alerts = answer.body["data"]["alerts"].as_array().unwrap();
    assert_eq!(http_alerts.len(), 2, "{}", answer.body);
    let high = http_alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "ValueHigh")
        .unwrap();
    assert_eq!(high["state"], "firing");
    assert_eq!(high["value"], "7.5e+01");
    assert_eq!(high["annotations"]["summary"], "web-1 is at 75");
    let active_at = high["activeAt"].as_str().unwrap();
    assert!(
        active_at.len() >= 20 && active_at.ends_with('Z') && active_at.contains('T'),
        "{active_at}"
    );

    let answer = api.get(&http, "/api/v1/rules", &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let group = visibility(&answer.body);
    assert_eq!(group["interval"], 1);
    assert_eq!(group["limit"], 0);
    let rules_http = group["rules"].as_array().unwrap();
    assert_eq!(rules_http[0]["type"], "alerting");
    assert_eq!(rules_http[0]["state"], "firing");
    assert_eq!(rules_http[0]["query"], "alerts_e2e_value > 50");
    assert_eq!(rules_http[0]["labels"]["severity"], "page");
    assert_eq!(rules_http[0]["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(rules_http[1]["state"], "pending");
    assert_eq!(rules_http[1]["duration"], 3600);
    assert_eq!(rules_http[2]["type"], "recording");
    assert_eq!(rules_http[2]["health"], "ok");

    let params = |t: &str| vec![("type".to_owned(), t.to_owned())];
    let answer = api.get(&http, "/api/v1/rules", &params("record"));
    let group = visibility(&answer.body);
    assert_eq!(group["rules"].as_array().unwrap().len(), 1);
    assert_eq!(group["rules"][0]["name"], "alerts_e2e:doubled");
    let answer = api.get(&http, "/api/v1/rules", &params("bogus"));
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["errorType"], "bad_data");
}

const BAD_RULES: &str = r#"groups:
  - name: visibility
    rules:
      - alert: ValueHigh
        expr: alerts_e2e_value > 50
        for: soon
"#;

#[test]
fn rules_check_validates_files_offline() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&good, RULES).unwrap();
    std::fs::write(&bad, BAD_RULES).unwrap();
    // Nothing listens on this collector URL: checking needs none.
    let nowhere = format!("http://127.0.0.1:{}", vigil_tests::free_port());

    let out = vigil(&nowhere, &["rules", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("Checking {}\n  SUCCESS: 3 rules found\n\n", good.display())
    );

    let out = vigil(
        &nowhere,
        &[
            "rules",
            "check",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let printed = stdout(&out);
    assert!(printed.contains("SUCCESS: 3 rules found"), "{printed}");
    assert!(
        printed.contains(&format!(
            "Checking {}\n  FAILED:\n{}:6: ",
            bad.display(),
            bad.display()
        )),
        "{printed}"
    );
    assert!(printed.contains("soon"), "{printed}");
    assert_eq!(
        stderr(&out),
        "error: 1 of 2 rule files have problems; fix them and check again\n"
    );

    let out = vigil(
        &nowhere,
        &["rules", "check", bad.to_str().unwrap(), "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["file"], bad.display().to_string());
    assert_eq!(json[0]["problems"][0]["line"], 6);
}

#[test]
fn reload_with_a_bad_file_keeps_the_old_rules_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, env) = write_rules(dir.path());
    let c = Collector::start(&dir.path().join("data"), &env_refs(&env));
    let rule_names = || -> Vec<String> {
        let groups = vigil_json(&c.url(), &["rules"]);
        groups
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["name"] == "visibility")
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        rule_names(),
        ["ValueHigh", "ValueSlow", "alerts_e2e:doubled"]
    );

    std::fs::write(&rules, BAD_RULES).unwrap();
    let out = vigil(&c.url(), &["rules", "reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:6: ", rules.display())), "{err}");
    assert!(err.contains("keeps running the rules it had"), "{err}");
    assert_eq!(
        rule_names(),
        ["ValueHigh", "ValueSlow", "alerts_e2e:doubled"]
    );

    let fixed = RULES.replace("for: 1h", "for: 2h");
    std::fs::write(&rules, fixed).unwrap();
    let out = vigil(&c.url(), &["rules", "reload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.starts_with("reloaded: 3 rules from 1 file ("),
        "{printed}"
    );
    let groups = vigil_json(&c.url(), &["rules"]);
    let slow = groups
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == "visibility")
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .find(|r| r["name"] == "ValueSlow")
        .unwrap();
    assert_eq!(slow["for"], 7200);
}
