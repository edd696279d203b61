//! The service on the fixture's snapshot: rules and alerts in wire form, reloads, a
//! collector without rules, and the CLI's copy of the fixture.

use super::fixture::{FakeView, T};
use super::*;
use std::sync::Mutex;
use vigil_proto::v1::{AlertState as WireAlertState, RuleHealth, RuleKind as WireRuleKind};

fn service(reload: Result<super::super::status::ReloadReport, String>) -> RulesService {
    RulesService {
        view: Some(Arc::new(FakeView {
            reload: Mutex::new(reload),
        })),
        notifier: None,
    }
}

/// The CLI's rendering tests read the fixture's wire form from a file of theirs
/// (`collector/cli/testdata/rules_fixture.pb`), since the CLI does not depend on the
/// collector. This keeps that file equal to the snapshot here;
/// `VIGIL_BLESS=1 cargo test -p vigil-collector cli_fixture` rewrites it.
#[test]
fn cli_fixture_is_the_snapshot_in_wire_form() {
    use prost::Message;
    let wire = ListRulesResponse {
        groups: super::fixture::snapshot()
            .groups
            .iter()
            .map(wire_group)
            .collect(),
    }
    .encode_to_vec();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/testdata/rules_fixture.pb");
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &wire).unwrap();
    }
    let on_disk = std::fs::read(&path).unwrap_or_default();
    assert!(
        on_disk == wire,
        "{} is out of date: run VIGIL_BLESS=1 cargo test -p vigil-collector cli_fixture",
        path.display()
    );
}

#[tokio::test]
async fn rules_in_wire_form() {
    let groups = service(Ok(Default::default()))
        .list_rules(Request::new(ListRulesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert_eq!(groups.len(), 2);
    let node = &groups[0];
    assert_eq!((node.name.as_str(), node.interval_seconds), ("node", 30.0));
    assert_eq!(node.last_evaluation_ms, T - 12_000);
    let cpu = &node.rules[0];
    assert_eq!(cpu.kind(), WireRuleKind::Threshold);
    assert_eq!(
        (cpu.query.as_str(), cpu.clear.as_str()),
        ("cpu_busy > 90", "cpu_busy < 80")
    );
    assert_eq!(
        (cpu.for_seconds, cpu.keep_firing_for_seconds),
        (300.0, 60.0)
    );
    assert_eq!(cpu.health(), RuleHealth::Ok);
    assert_eq!(cpu.line, 4);
    assert_eq!(cpu.alerts[0].state(), WireAlertState::Firing);
    assert_eq!(cpu.alerts[0].firing_since_ms, T - 600_000);
    let disk = &node.rules[1];
    assert_eq!(disk.kind(), WireRuleKind::Forecast);
    let forecast = disk.forecast.as_ref().unwrap();
    assert_eq!(
        (
            forecast.model.as_str(),
            forecast.season.as_str(),
            forecast.direction.as_str()
        ),
        ("holt_winters", "daily", "above")
    );
    assert_eq!(forecast.horizon_seconds, 259_200.0);
    assert_eq!(disk.alerts[0].eta.unwrap().lower_ms, T + 86_400_000);
    assert_eq!(disk.alerts[0].firing_since_ms, 0);
    assert_eq!(node.rules[2].kind(), WireRuleKind::Record);
    assert_eq!(node.rules[3].health(), RuleHealth::Err);
    assert_eq!(
        node.rules[3].last_error,
        "many-to-many matching not allowed"
    );
    assert_eq!(groups[1].last_evaluation_ms, 0);
    assert_eq!(groups[1].rules[0].health(), RuleHealth::Unknown);
}

#[tokio::test]
async fn alerts_of_every_rule() {
    let alerts = service(Ok(Default::default()))
        .list_alerts(Request::new(ListAlertsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .alerts;
    let names: Vec<_> = alerts.iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(names, ["HighCpu", "DiskFull"]);
    assert_eq!(alerts[0].labels[1].name, "host");
    assert_eq!(alerts[0].labels[1].value, "web-1");
    assert_eq!(alerts[1].value, 0.93);
}

#[tokio::test]
async fn reload_reports_counts_or_diagnostics() {
    let report = super::super::status::ReloadReport {
        files: 2,
        rules: 9,
        unchanged: 7,
    };
    let ok = service(Ok(report))
        .reload(Request::new(ReloadRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.ok);
    assert_eq!((ok.files, ok.rules, ok.unchanged), (2, 9, 7));
    let bad = service(Err("a.yml:3: bad\nb.yml:7: worse\n".into()))
        .reload(Request::new(ReloadRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!bad.ok);
    assert_eq!(bad.diagnostics, ["a.yml:3: bad", "b.yml:7: worse"]);
}

#[tokio::test]
async fn without_rules_nothing_to_show_or_reload() {
    let none = RulesService {
        view: None,
        notifier: None,
    };
    let groups = none
        .list_rules(Request::new(ListRulesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert!(groups.is_empty());
    let status = none
        .reload(Request::new(ReloadRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("[rules] files"),
        "{}",
        status.message()
    );
}
