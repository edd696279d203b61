//! Hand-built snapshots and a fake [`RulesView`] for the tests of the service, the HTTP
//! API and the CLI.

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
        watch: None,
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
        watch: None,
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
                    watch: None,
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
