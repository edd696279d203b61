//! The host anomaly rate, and the built-in rules that watch every host's core series.
//!
//! - **The rate.** Every anomaly rule marks, at each evaluation, which of its series are
//!   anomalous now (their latest score at or above the rule's threshold) on the [`Board`].
//!   The share of a host's watched series that are anomalous is its anomaly rate, as
//!   Netdata's node anomaly rate: recorded as `vigil_host_anomaly_rate{host}` (and the
//!   count as `vigil_host_anomalous_series{host}`) by the built-in group
//!   [`GROUP`], whose `HostAnomalous` alert fires for a host whose rate is at least
//!   `rules.host_anomaly_rate_over` (0.3) with at least [`MIN_ANOMALOUS`] series anomalous,
//!   for [`FOR`]. Its description names the series.
//! - **The default watch.** With `rules.default_anomaly_rules` (on by default), the
//!   built-in group [`WATCH_GROUP`] scores each host's CPU busy share, available memory,
//!   load, disk read and write rates and network receive and transmit rates (7 series per
//!   host) without alerting on any one of them: what they find reaches people through
//!   the host rate.
//!
//! A rule's marks expire when it has not marked for [`EXPIRY_STEPS`] of its steps (a
//! removed rule, a stalled evaluation), so they do not hold a host's rate up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use super::evaluate::{Outcome, observation};
use vigil_rules::spec::{AnomalyModel, AnomalySpec, Rule, RuleKind};
use vigil_store::{Labels, METRIC_NAME};

/// The built-in group of the host rate and its alert.
pub const GROUP: &str = "vigil-host-anomaly";
/// The built-in group of the default anomaly rules.
pub const WATCH_GROUP: &str = "vigil-anomaly-watch";
/// The recorded rate's name.
pub const RATE: &str = "vigil_host_anomaly_rate";
/// The recorded count's name.
pub const COUNT: &str = "vigil_host_anomalous_series";
/// The alert's name.
pub const ALERT: &str = "HostAnomalous";
/// How long a host's rate must hold before the alert fires.
pub const FOR: Duration = Duration::from_secs(600);
/// Fewest anomalous series for the alert (one odd series of three is not a host event).
pub const MIN_ANOMALOUS: usize = 2;
/// A rule's marks are dropped once it has not marked for this many of its steps.
pub const EXPIRY_STEPS: i64 = 3;
/// Marks are kept at least this long (a group evaluated less often than its step).
const EXPIRY_MIN_MS: i64 = 5 * 60_000;

/// One series' state as its rule last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesMark {
    /// Its host (`""` for a series without one: not counted).
    pub host: String,
    /// The watched series.
    pub series: Labels,
    /// Its latest score.
    pub score: f64,
    /// Whether the score is at or above its rule's threshold.
    pub anomalous: bool,
}

struct RuleMarks {
    at_ms: i64,
    expiry_ms: i64,
    marks: Vec<SeriesMark>,
}

/// What every anomaly rule last found, by rule.
#[derive(Default)]
pub struct Board {
    rules: Mutex<HashMap<Vec<u8>, RuleMarks>>,
}

/// A host's standing.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRate {
    /// Series watched.
    pub watched: usize,
    /// The anomalous ones, highest score first: (series, score).
    pub anomalous: Vec<(Labels, f64)>,
}

impl HostRate {
    /// The share of the watched series that are anomalous.
    pub fn rate(&self) -> f64 {
        self.anomalous.len() as f64 / self.watched.max(1) as f64
    }
}

impl Board {
    /// Replaces what the rule `key` (with its `step`) found at `now_ms`.
    pub fn mark(&self, key: &[u8], step_ms: i64, now_ms: i64, marks: Vec<SeriesMark>) {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.insert(
            key.to_vec(),
            RuleMarks {
                at_ms: now_ms,
                expiry_ms: (EXPIRY_STEPS * step_ms).max(EXPIRY_MIN_MS),
                marks,
            },
        );
    }

    /// Each host's standing at `now_ms`, from the rules that marked recently.
    pub fn hosts(&self, now_ms: i64) -> BTreeMap<String, HostRate> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.retain(|_, r| now_ms - r.at_ms <= r.expiry_ms);
        let mut hosts: BTreeMap<String, HostRate> = BTreeMap::new();
        for mark in rules.values().flat_map(|r| &r.marks) {
            if mark.host.is_empty() {
                continue;
            }
            let host = hosts.entry(mark.host.clone()).or_insert(HostRate {
                watched: 0,
                anomalous: Vec::new(),
            });
            host.watched += 1;
            if mark.anomalous {
                host.anomalous.push((mark.series.clone(), mark.score));
            }
        }
        for host in hosts.values_mut() {
            host.anomalous
                .sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        hosts
    }
}

/// The recording rules of the rate and the count, as `vigil rules` shows them.
pub fn record_rules() -> [Rule; 2] {
    let record = |name: &str, what: &str| Rule {
        name: name.to_owned(),
        kind: RuleKind::Record {
            expr: format!("(built-in) {what} of the host's series watched by anomaly rules"),
        },
        for_: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        line: 0,
    };
    [
        record(RATE, "the share anomalous now"),
        record(COUNT, "the number anomalous now"),
    ]
}

/// The alert, as `vigil rules` shows it.
pub fn alert_rule(over: f64) -> Rule {
    Rule {
        name: ALERT.to_owned(),
        kind: RuleKind::Threshold {
            expr: format!("(built-in) {RATE} >= {over} and {COUNT} >= {MIN_ANOMALOUS}"),
            clear: None,
        },
        for_: FOR,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "{{ $labels.host }} behaves unlike itself".to_owned(),
            ),
            (
                "description".to_owned(),
                "{{ $value | humanizePercentage }} of the series watched on {{ $labels.host }} \
                 are anomalous: {{ $series }}. See vigil anomalies --host {{ $labels.host }}."
                    .to_owned(),
            ),
        ]),
        line: 0,
    }
}

/// Evaluates one of the group's rules from the board.
pub fn evaluate(board: &Board, rule: &Rule, over: f64, now_ms: i64) -> Outcome {
    let hosts = board.hosts(now_ms);
    match &rule.kind {
        RuleKind::Record { .. } => Outcome::Recorded(
            hosts
                .iter()
                .map(|(host, standing)| {
                    let labels = Labels::new(vec![
                        (METRIC_NAME.to_owned(), rule.name.clone()),
                        ("host".to_owned(), host.clone()),
                    ]);
                    let value = if rule.name == COUNT {
                        standing.anomalous.len() as f64
                    } else {
                        standing.rate()
                    };
                    (labels, value)
                })
                .collect(),
        ),
        _ => {
            let observed = hosts
                .iter()
                .filter(|(_, s)| s.rate() >= over && s.anomalous.len() >= MIN_ANOMALOUS)
                .map(|(host, standing)| {
                    let named: Vec<String> = standing
                        .anomalous
                        .iter()
                        .take(5)
                        .map(|(series, score)| {
                            format!("{} ({score:.2})", super::evaluate::describe(series))
                        })
                        .collect();
                    let more = standing.anomalous.len().saturating_sub(named.len());
                    let mut list = named.join(", ");
                    if more > 0 {
                        list.push_str(&format!(" and {more} more"));
                    }
                    let labels = Labels::new(vec![("host".to_owned(), host.clone())]);
                    let vars = BTreeMap::from([("series".to_owned(), list)]);
                    observation(rule, &labels, standing.rate(), vars, None)
                })
                .collect();
            Outcome::Alerts {
                observed,
                cleared: Vec::new(),
                error: None,
            }
        }
    }
}

/// The default anomaly rules: each host's core series, scored every minute, not alerting.
pub fn watch_rules() -> Vec<Rule> {
    let rule = |name: &str, expr: &str| Rule {
        name: name.to_owned(),
        kind: RuleKind::Anomaly(AnomalySpec {
            expr: expr.to_owned(),
            model: AnomalyModel::Auto,
            threshold: 0.5,
            step: Duration::from_secs(60),
            warmup: Duration::from_secs(86_400),
            alerting: false,
        }),
        for_: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        line: 0,
    };
    vec![
        rule(
            "host_cpu_busy",
            r#"1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle"}[5m]))"#,
        ),
        rule(
            "host_memory_available_bytes",
            "sum by (host) (node_memory_MemAvailable_bytes)",
        ),
        rule("host_load1", "max by (host) (node_load1)"),
        rule(
            "host_disk_read_bytes",
            "sum by (host) (rate(node_disk_read_bytes_total[5m]))",
        ),
        rule(
            "host_disk_written_bytes",
            "sum by (host) (rate(node_disk_written_bytes_total[5m]))",
        ),
        rule(
            "host_network_receive_bytes",
            r#"sum by (host) (rate(node_network_receive_bytes_total{device!="lo"}[5m]))"#,
        ),
        rule(
            "host_network_transmit_bytes",
            r#"sum by (host) (rate(node_network_transmit_bytes_total{device!="lo"}[5m]))"#,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(host: &str, i: usize, anomalous: bool) -> SeriesMark {
        SeriesMark {
            host: host.to_owned(),
            series: Labels::from_pairs(&[("host", host), ("i", &i.to_string())]),
            score: if anomalous { 0.9 } else { 0.1 },
            anomalous,
        }
    }

    #[test]
    fn the_rate_is_the_share_of_a_hosts_watched_series_anomalous_now() {
        let board = Board::default();
        board.mark(
            b"a",
            60_000,
            0,
            vec![mark("h1", 0, true), mark("h1", 1, false)],
        );
        board.mark(
            b"b",
            60_000,
            0,
            vec![mark("h1", 2, true), mark("h2", 0, false), mark("", 0, true)],
        );
        let hosts = board.hosts(60_000);
        assert_eq!(hosts.len(), 2, "a series without a host is not counted");
        assert_eq!(hosts["h1"].watched, 3);
        assert!((hosts["h1"].rate() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(hosts["h2"].rate(), 0.0);

        let alert = alert_rule(0.3);
        let Outcome::Alerts { observed, .. } = evaluate(&board, &alert, 0.3, 60_000) else {
            panic!()
        };
        assert_eq!(observed.len(), 1);
        assert_eq!(observed[0].labels.get("host"), "h1");
        assert_eq!(observed[0].labels.get("alertname"), ALERT);
        let description = &observed[0].annotations["description"];
        assert!(
            description.starts_with("66.67% of the series"),
            "{description}"
        );
        assert!(
            description.contains("{host=\"h1\",i=\"0\"} (0.90)"),
            "{description}"
        );

        let [rate, count] = record_rules();
        let Outcome::Recorded(rates) = evaluate(&board, &rate, 0.3, 60_000) else {
            panic!()
        };
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[0].0.name(), RATE);
        let Outcome::Recorded(counts) = evaluate(&board, &count, 0.3, 60_000) else {
            panic!()
        };
        assert_eq!(counts[0].1, 2.0);
    }

    #[test]
    fn one_anomalous_series_is_not_a_host_event_and_old_marks_expire() {
        let board = Board::default();
        board.mark(
            b"a",
            60_000,
            0,
            vec![mark("h1", 0, true), mark("h1", 1, false)],
        );
        let Outcome::Alerts { observed, .. } = evaluate(&board, &alert_rule(0.3), 0.3, 1) else {
            panic!()
        };
        assert!(observed.is_empty(), "50 % but a single series");
        assert_eq!(board.hosts(EXPIRY_MIN_MS).len(), 1);
        assert!(
            board.hosts(EXPIRY_MIN_MS + 1).is_empty(),
            "the rule stopped marking"
        );
    }
}
