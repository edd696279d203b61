//! The `vigil.v1.Rules` gRPC service behind `vigil rules` and `vigil alerts`: a thin
//! adapter that converts a [`RulesView`]'s snapshot into wire types and asks it to reload.
//! The wire format is documented in `proto/vigil/v1/rules.proto`.
//!
//! A collector without a rules runtime (`None`) answers with no groups and no alerts, and
//! refuses `Reload` with FAILED_PRECONDITION.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};
use vigil_proto::v1::rules_server::{Rules, RulesServer};
use vigil_proto::v1::{
    Alert, AlertState as WireAlertState, CrossingEta, ForecastRule, Label, ListAlertsRequest,
    ListAlertsResponse, ListRulesRequest, ListRulesResponse, ReloadRequest, ReloadResponse,
    RuleGroup, RuleHealth, RuleKind as WireRuleKind, RuleStatus as WireRuleStatus,
};

use super::status::{
    ActiveAlert, AlertState, GroupStatus, Health, RuleStatus, RulesSnapshot, RulesView,
};
use crate::notify::notifier::Notifier;
use vigil_forecast::{Direction, ModelChoice, Season};
use vigil_rules::spec::{ForecastSpec, RuleKind};

/// The service as the server mounts it.
pub fn server(
    view: Option<Arc<dyn RulesView>>,
    notifier: Option<Notifier>,
) -> RulesServer<RulesService> {
    RulesServer::new(RulesService { view, notifier })
}

/// The Rules service.
pub struct RulesService {
    /// The running rules; `None` when the collector runs none.
    view: Option<Arc<dyn RulesView>>,
    /// The notifier, to say which alerts are silenced; `None` without one (tests).
    notifier: Option<Notifier>,
}

/// The view's snapshot, taken on a blocking thread (it may wait for a lock held by an
/// evaluation); empty without a view.
pub async fn snapshot(view: Option<&Arc<dyn RulesView>>) -> Result<RulesSnapshot, String> {
    let Some(view) = view.cloned() else {
        return Ok(RulesSnapshot::default());
    };
    tokio::task::spawn_blocking(move || view.snapshot())
        .await
        .map_err(|e| format!("reading the rules' state failed: {e}"))
}

#[tonic::async_trait]
impl Rules for RulesService {
    async fn list_rules(
        &self,
        _request: Request<ListRulesRequest>,
    ) -> Result<Response<ListRulesResponse>, Status> {
        let snapshot = snapshot(self.view.as_ref())
            .await
            .map_err(Status::internal)?;
        Ok(Response::new(ListRulesResponse {
            groups: snapshot.groups.iter().map(wire_group).collect(),
        }))
    }

    async fn list_alerts(
        &self,
        _request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        let snapshot = snapshot(self.view.as_ref())
            .await
            .map_err(Status::internal)?;
        let now_ms = vigil_store::clock::now_ms();
        let alerts = snapshot
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .flat_map(|r| &r.alerts)
            .map(|a| {
                let mut wire = wire_alert(a);
                if let Some(notifier) = &self.notifier {
                    wire.silenced_by = notifier.silences.silenced_by(&a.labels, now_ms);
                    wire.inhibited_by = notifier.dispatcher.inhibited_by(&a.labels, now_ms);
                }
                wire
            })
            .collect();
        Ok(Response::new(ListAlertsResponse { alerts }))
    }

    async fn reload(
        &self,
        _request: Request<ReloadRequest>,
    ) -> Result<Response<ReloadResponse>, Status> {
        let Some(view) = self.view.clone() else {
            return Err(Status::failed_precondition(
                "this collector runs no rules, so there is nothing to reload; list rule files \
                 under [rules] files in its config and restart it",
            ));
        };
        let reloaded = tokio::task::spawn_blocking(move || view.reload())
            .await
            .map_err(|e| Status::internal(format!("reloading the rules failed: {e}")))?;
        Ok(Response::new(wire_reload(reloaded)))
    }
}

/// A reload's outcome; an error's lines become one diagnostic each.
fn wire_reload(reloaded: Result<super::status::ReloadReport, String>) -> ReloadResponse {
    match reloaded {
        Ok(report) => ReloadResponse {
            ok: true,
            files: report.files as u64,
            rules: report.rules as u64,
            unchanged: report.unchanged as u64,
            diagnostics: Vec::new(),
        },
        Err(error) => ReloadResponse {
            ok: false,
            diagnostics: error
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect(),
            ..ReloadResponse::default()
        },
    }
}

/// A group in its wire form.
pub fn wire_group(group: &GroupStatus) -> RuleGroup {
    RuleGroup {
        name: group.name.clone(),
        file: group.file.clone(),
        interval_seconds: group.interval_seconds,
        last_evaluation_ms: group.last_evaluation_ms.unwrap_or(0),
        rules: group.rules.iter().map(wire_rule).collect(),
    }
}

/// A rule in its wire form.
fn wire_rule(status: &RuleStatus) -> WireRuleStatus {
    let rule = &status.rule;
    let (kind, query, clear, forecast) = match &rule.kind {
        RuleKind::Threshold { expr, clear } => (
            WireRuleKind::Threshold,
            expr.clone(),
            clear.clone().unwrap_or_default(),
            None,
        ),
        RuleKind::Forecast(spec) => (
            WireRuleKind::Forecast,
            spec.expr.clone(),
            String::new(),
            Some(wire_forecast(spec)),
        ),
        RuleKind::Record { expr } => (WireRuleKind::Record, expr.clone(), String::new(), None),
    };
    WireRuleStatus {
        name: rule.name.clone(),
        kind: kind.into(),
        query,
        clear,
        for_seconds: rule.for_.as_secs_f64(),
        keep_firing_for_seconds: rule.keep_firing_for.as_secs_f64(),
        labels: wire_labels(&rule.labels),
        annotations: wire_labels(&rule.annotations),
        line: u32::try_from(rule.line).unwrap_or(u32::MAX),
        health: match status.health {
            Health::Unknown => RuleHealth::Unknown,
            Health::Ok => RuleHealth::Ok,
            Health::Err => RuleHealth::Err,
        }
        .into(),
        last_error: status.last_error.clone().unwrap_or_default(),
        last_evaluation_ms: status.last_evaluation_ms.unwrap_or(0),
        evaluation_seconds: status.evaluation_seconds,
        alerts: status.alerts.iter().map(wire_alert).collect(),
        forecast,
    }
}

/// A forecast block in its wire form; names as written in rule files.
fn wire_forecast(spec: &ForecastSpec) -> ForecastRule {
    ForecastRule {
        threshold: spec.threshold,
        direction: match spec.direction {
            Direction::Above => "above",
            Direction::Below => "below",
        }
        .to_owned(),
        lookback_seconds: spec.lookback.as_secs_f64(),
        horizon_seconds: spec.horizon.as_secs_f64(),
        model: match spec.model {
            ModelChoice::Linear => "linear",
            ModelChoice::TheilSen => "theil_sen",
            ModelChoice::Holt => "holt",
            ModelChoice::HoltWinters => "holt_winters",
            ModelChoice::Auto => "auto",
        }
        .to_owned(),
        season: match spec.season {
            Some(Season::Daily) => "daily",
            Some(Season::Weekly) => "weekly",
            None => "",
        }
        .to_owned(),
    }
}

/// An active alert in its wire form.
pub fn wire_alert(alert: &ActiveAlert) -> Alert {
    Alert {
        rule: alert.rule.clone(),
        labels: wire_labels(&alert.labels),
        annotations: wire_labels(&alert.annotations),
        state: match alert.state {
            AlertState::Pending => WireAlertState::Pending,
            AlertState::Firing => WireAlertState::Firing,
        }
        .into(),
        value: alert.value,
        active_since_ms: alert.active_since_ms,
        firing_since_ms: alert.firing_since_ms.unwrap_or(0),
        eta: alert
            .eta_ms
            .map(|(eta_ms, lower_ms, upper_ms)| CrossingEta {
                eta_ms,
                lower_ms,
                upper_ms,
            }),
        // Filled by the service from the notifier's silences and inhibitions.
        silenced_by: Vec::new(),
        inhibited_by: Vec::new(),
    }
}

fn wire_labels(map: &BTreeMap<String, String>) -> Vec<Label> {
    map.iter()
        .map(|(name, value)| Label {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// Hand-built snapshots and a fake [`RulesView`] for the tests of the service, the HTTP
/// API and the CLI.
#[cfg(test)]
pub(crate) mod fixture {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::super::status::*;
    use vigil_forecast::{Direction, ModelChoice, Season};
    use vigil_rules::spec::{ForecastSpec, Rule, RuleKind};

    /// 2026-11-21T05:50:00Z in milliseconds: "now" in the fixtures.
    pub const T: i64 = 1_795_240_200_000;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn rule(name: &str, kind: RuleKind, line: usize) -> Rule {
        Rule {
            name: name.into(),
            kind,
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            line,
        }
    }

    /// Two groups: `node` (a firing threshold alert, a pending forecast, a recording rule,
    /// a failing rule) and the built-in host-down group, never evaluated.
    pub fn snapshot() -> RulesSnapshot {
        let mut high_cpu = rule(
            "HighCpu",
            RuleKind::Threshold {
                expr: "cpu_busy > 90".into(),
                clear: Some("cpu_busy < 80".into()),
            },
            4,
        );
        high_cpu.for_ = Duration::from_secs(300);
        high_cpu.keep_firing_for = Duration::from_secs(60);
        high_cpu.labels = map(&[("severity", "page")]);
        high_cpu.annotations = map(&[("summary", "CPU at {{ $value }}% on {{ $labels.host }}")]);
        let mut disk_full = rule(
            "DiskFull",
            RuleKind::Forecast(ForecastSpec {
                expr: "disk_used_ratio".into(),
                threshold: 0.9,
                direction: Direction::Above,
                lookback: Duration::from_secs(7 * 86_400),
                horizon: Duration::from_secs(3 * 86_400),
                model: ModelChoice::HoltWinters,
                season: Some(Season::Daily),
            }),
            14,
        );
        disk_full.for_ = Duration::from_secs(600);
        let cpu_alert = ActiveAlert {
            rule: "HighCpu".into(),
            labels: map(&[
                ("alertname", "HighCpu"),
                ("host", "web-1"),
                ("severity", "page"),
            ]),
            annotations: map(&[("summary", "CPU at 97.5% on web-1")]),
            state: AlertState::Firing,
            value: 97.5,
            active_since_ms: T - 900_000,
            firing_since_ms: Some(T - 600_000),
            eta_ms: None,
        };
        let disk_alert = ActiveAlert {
            rule: "DiskFull".into(),
            labels: map(&[
                ("alertname", "DiskFull"),
                ("host", "db-1"),
                ("mount", "/var"),
            ]),
            annotations: BTreeMap::new(),
            state: AlertState::Pending,
            value: 0.93,
            active_since_ms: T - 120_500,
            firing_since_ms: None,
            eta_ms: Some((T + 2 * 86_400_000, T + 86_400_000, T + 3 * 86_400_000 - 1)),
        };
        let ok = |rule: Rule, alerts: Vec<ActiveAlert>, seconds: f64| RuleStatus {
            rule,
            health: Health::Ok,
            last_error: None,
            last_evaluation_ms: Some(T - 12_000),
            evaluation_seconds: seconds,
            alerts,
        };
        let mut record = rule(
            "host:cpu_busy:avg5m",
            RuleKind::Record {
                expr: "avg_over_time(cpu_busy[5m])".into(),
            },
            22,
        );
        record.labels = map(&[("team", "ops")]);
        let failing = RuleStatus {
            rule: rule(
                "Broken",
                RuleKind::Threshold {
                    expr: "rate(x[5m]) > on(a) y".into(),
                    clear: None,
                },
                25,
            ),
            health: Health::Err,
            last_error: Some("many-to-many matching not allowed".into()),
            last_evaluation_ms: Some(T - 12_000),
            evaluation_seconds: 0.000_000_5,
            alerts: vec![],
        };
        RulesSnapshot {
            groups: vec![
                GroupStatus {
                    name: "node".into(),
                    file: "/etc/vigil/rules/node.yml".into(),
                    interval_seconds: 30.0,
                    last_evaluation_ms: Some(T - 12_000),
                    rules: vec![
                        ok(high_cpu, vec![cpu_alert], 0.0015),
                        ok(disk_full, vec![disk_alert], 0.25),
                        ok(record, vec![], 0.000_042_148),
                        failing,
                    ],
                },
                GroupStatus {
                    name: "vigil".into(),
                    file: "(built-in)".into(),
                    interval_seconds: 15.0,
                    last_evaluation_ms: None,
                    rules: vec![RuleStatus {
                        rule: rule(
                            "HostDown",
                            RuleKind::Threshold {
                                expr: "vigil_host_up == 0".into(),
                                clear: None,
                            },
                            0,
                        ),
                        health: Health::Unknown,
                        last_error: None,
                        last_evaluation_ms: None,
                        evaluation_seconds: 0.0,
                        alerts: vec![],
                    }],
                },
            ],
        }
    }

    /// A [`RulesView`] showing [`snapshot`], whose reload answers `reload`.
    pub struct FakeView {
        /// What `reload` answers.
        pub reload: Mutex<Result<ReloadReport, String>>,
    }

    impl RulesView for FakeView {
        fn snapshot(&self) -> RulesSnapshot {
            snapshot()
        }
        fn reload(&self) -> Result<ReloadReport, String> {
            self.reload.lock().unwrap().clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{FakeView, T};
    use super::*;
    use std::sync::Mutex;

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
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../cli/testdata/rules_fixture.pb");
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
}
