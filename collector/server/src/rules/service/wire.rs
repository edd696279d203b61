//! The rules' state in its wire form (`proto/vigil/v1/rules.proto`): groups, rules,
//! forecast blocks, alerts and reload reports.

use std::collections::BTreeMap;

use vigil_proto::v1::{
    Alert, AlertState as WireAlertState, AnomalyRule, CrossingEta, ForecastRule, Label,
    ReloadResponse, RuleGroup, RuleHealth, RuleKind as WireRuleKind, RuleStatus as WireRuleStatus,
};

use super::super::status::{
    ActiveAlert, AlertState, GroupStatus, Health, ReloadReport, RuleStatus,
};
use vigil_forecast::{Direction, ModelChoice, Season};
use vigil_rules::spec::{ForecastSpec, RuleKind};

/// A reload's outcome; an error's lines become one diagnostic each.
pub(super) fn wire_reload(reloaded: Result<ReloadReport, String>) -> ReloadResponse {
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
    let anomaly = match &rule.kind {
        RuleKind::Anomaly(spec) => Some(AnomalyRule {
            model: spec.model.name().to_owned(),
            threshold: spec.threshold,
            step_seconds: spec.step.as_secs_f64(),
            warmup_seconds: spec.warmup.as_secs_f64(),
            alerting: spec.alerting,
            watched_series: status.watch.map_or(0, |w| w.0 as u64),
            restored_series: status.watch.map_or(0, |w| w.1 as u64),
        }),
        _ => None,
    };
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
        RuleKind::Anomaly(spec) => (
            WireRuleKind::Anomaly,
            spec.expr.clone(),
            String::new(),
            None,
        ),
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
        anomaly,
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
