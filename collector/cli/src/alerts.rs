//! `vigil alerts`: the firing alerts, then the pending ones, from the collector's Rules
//! service.
//!
//! `--output json` writes one array, an object per alert, in the table's order:
//!
//! ```text
//!   {"name":"DiskFull",                  the rule (alertname)
//!    "state":"firing"|"pending",
//!    "labels":{…},"annotations":{…},     alertname included; annotations expanded
//!    "value":"0.93",                     the expression's value (forecasts: the predicted
//!                                        value at the horizon), as Prometheus writes values
//!    "active_since":1795240079.5,        Unix seconds the condition has held since
//!    "firing_since":null,                Unix seconds it has fired since; null while pending
//!    "eta":1795413000,                   forecasts: predicted crossing time and its band,
//!    "eta_lower":1795326600,             Unix seconds; null for other alerts
//!    "eta_upper":1795499399.999,
//!    "silenced_by":["3f9a0c2e71d4b8a6"],  ids of the silences muting it now; [] if none
//!    "inhibited_by":[]}                   alerts that inhibit it ("alertname{labels}")
//! ```
//!
//! A silenced or inhibited alert still fires, but is not sent; the table says so in its
//! STATE column: `firing (silenced by 3f9a0c2e71d4b8a6)`.
//!
//! `--output csv` has the same columns, labels and annotations as `k=v;k=v`, ids joined
//! with `;`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use vigil_proto::v1::rules_client::RulesClient;
use vigil_proto::v1::{Alert, AlertState, Label, ListAlertsRequest};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;

/// Fetches the active alerts and prints them.
pub async fn run(target: &Target, output: Output) -> Result<(), Error> {
    let collector = Collector::connect(target).await?;
    let mut client = RulesClient::new(collector.channel());
    let response = client.list_alerts(ListAlertsRequest {}).await;
    let mut alerts = response
        .map_err(|s| refused(target, s))?
        .into_inner()
        .alerts;
    if alerts.is_empty() && output == Output::Table {
        eprintln!("no alert is pending or firing");
        return Ok(());
    }
    sort(&mut alerts);
    let mut out = output::stdout();
    render(&alerts, output, time::now_ms(), &mut out)?;
    Ok(out.flush()?)
}

/// The error for a refused Rules call; a collector from before the Rules service answers
/// UNIMPLEMENTED without a message.
pub(super) fn refused(target: &Target, status: tonic::Status) -> Error {
    if status.code() == tonic::Code::Unimplemented && status.message().is_empty() {
        return Error::from(tonic::Status::unimplemented(format!(
            "the collector at {} has no rules service: it is older than this vigil; upgrade \
             vigil-collector",
            target.url
        )));
    }
    target.refusal(status)
}

/// Firing before pending, then by rule name and labels.
pub fn sort(alerts: &mut [Alert]) {
    let key = |a: &Alert| {
        let labels: Vec<(String, String)> = a
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        (a.state() != AlertState::Firing, a.rule.clone(), labels)
    };
    alerts.sort_by_cached_key(key);
}

/// Writes `alerts` in the chosen format; `now_ms` anchors SINCE and ETA in tables.
pub fn render(alerts: &[Alert], output: Output, now_ms: i64, w: &mut dyn Write) -> io::Result<()> {
    let records = alerts.iter().map(AlertRecord::new);
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(w, &CSV_HEADER, records.map(|r| r.csv_row())),
        Output::Table => {
            let mut table =
                output::table(&["NAME", "STATE", "LABELS", "VALUE", "SINCE", "ETA"], &[3]);
            for alert in alerts {
                let since = match alert.firing_since_ms {
                    0 => alert.active_since_ms,
                    firing => firing,
                };
                table.add_row(vec![
                    alert.rule.clone(),
                    state_cell(alert),
                    compact_labels(&alert.labels),
                    output::format_value(alert.value),
                    format!(
                        "{} ({})",
                        time::format_ago(since, now_ms),
                        time::format_utc(since).get(..19).unwrap_or_default()
                    ),
                    alert.eta.map_or_else(
                        || "-".to_owned(),
                        |eta| format_eta(eta.eta_ms, eta.lower_ms, eta.upper_ms, now_ms),
                    ),
                ]);
            }
            output::write_table(w, &table)
        }
    }
}

fn state_name(alert: &Alert) -> &'static str {
    match alert.state() {
        AlertState::Firing => "firing",
        AlertState::Pending => "pending",
        AlertState::Unspecified => "unknown",
    }
}

/// The state, and why a firing alert is not sent: `firing (silenced by 3f9a…)`.
fn state_cell(alert: &Alert) -> String {
    let mut why = Vec::new();
    if !alert.silenced_by.is_empty() {
        why.push(format!("silenced by {}", alert.silenced_by.join(", ")));
    }
    if !alert.inhibited_by.is_empty() {
        why.push(format!("inhibited by {}", alert.inhibited_by.join(", ")));
    }
    if why.is_empty() {
        state_name(alert).to_owned()
    } else {
        format!("{} ({})", state_name(alert), why.join("; "))
    }
}

/// Labels other than `alertname`, as `host=web-1,severity=page` (`-` when none).
fn compact_labels(labels: &[Label]) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .filter(|l| l.name != "alertname")
        .map(|l| format!("{}={}", l.name, l.value))
        .collect();
    if pairs.is_empty() {
        "-".to_owned()
    } else {
        pairs.join(",")
    }
}

/// A predicted crossing and its band: "in 2d (1d..2d 23h)"; the band is left out when
/// it is no wider than the display's precision.
fn format_eta(eta_ms: i64, lower_ms: i64, upper_ms: i64, now_ms: i64) -> String {
    let (lower, upper) = (
        format_span(lower_ms - now_ms),
        format_span(upper_ms - now_ms),
    );
    if lower == upper {
        format_in(eta_ms, now_ms)
    } else {
        format!("{} ({lower}..{upper})", format_in(eta_ms, now_ms))
    }
}

/// How far ahead `then_ms` is: "in 2d 4h"; "now" once it has passed.
pub(super) fn format_in(then_ms: i64, now_ms: i64) -> String {
    if then_ms <= now_ms {
        "now".to_owned()
    } else {
        format!("in {}", format_span(then_ms - now_ms))
    }
}

/// A span in its two largest units, floored: "2d 4h", "5h 30m", "12m 5s", "42s"; "0s" for
/// none or less.
pub(super) fn format_span(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let (big, small) = if days > 0 {
        ((days, 'd'), (hours, 'h'))
    } else if hours > 0 {
        ((hours, 'h'), (minutes, 'm'))
    } else if minutes > 0 {
        ((minutes, 'm'), (seconds, 's'))
    } else {
        return format!("{seconds}s");
    };
    if small.0 == 0 {
        format!("{}{}", big.0, big.1)
    } else {
        format!("{}{} {}{}", big.0, big.1, small.0, small.1)
    }
}

/// Column names of `--output csv`: the keys of the JSON objects, in the same order.
const CSV_HEADER: [&str; 12] = [
    "name",
    "state",
    "labels",
    "annotations",
    "value",
    "active_since",
    "firing_since",
    "eta",
    "eta_lower",
    "eta_upper",
    "silenced_by",
    "inhibited_by",
];

/// One alert as `--output json` writes it (fields in this order).
#[derive(Serialize)]
struct AlertRecord<'a> {
    name: &'a str,
    state: &'static str,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
    value: String,
    active_since: serde_json::Number,
    firing_since: Option<serde_json::Number>,
    eta: Option<serde_json::Number>,
    eta_lower: Option<serde_json::Number>,
    eta_upper: Option<serde_json::Number>,
    silenced_by: &'a [String],
    inhibited_by: &'a [String],
}

impl<'a> AlertRecord<'a> {
    fn new(alert: &'a Alert) -> Self {
        let eta = |pick: fn(&vigil_proto::v1::CrossingEta) -> i64| {
            alert.eta.as_ref().map(|e| output::unix_seconds(pick(e)))
        };
        AlertRecord {
            name: &alert.rule,
            state: state_name(alert),
            labels: output::label_map(&alert.labels),
            annotations: output::label_map(&alert.annotations),
            value: output::format_value(alert.value),
            active_since: output::unix_seconds(alert.active_since_ms),
            firing_since: (alert.firing_since_ms != 0)
                .then(|| output::unix_seconds(alert.firing_since_ms)),
            eta: eta(|e| e.eta_ms),
            eta_lower: eta(|e| e.lower_ms),
            eta_upper: eta(|e| e.upper_ms),
            silenced_by: &alert.silenced_by,
            inhibited_by: &alert.inhibited_by,
        }
    }

    /// The record as a CSV row: maps as `k=v;k=v`, nulls as empty cells.
    fn csv_row(&self) -> Vec<String> {
        let pairs = |map: &BTreeMap<&str, &str>| {
            let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
            pairs.join(";")
        };
        let number =
            |n: &Option<serde_json::Number>| n.as_ref().map_or_else(String::new, |n| n.to_string());
        vec![
            self.name.to_owned(),
            self.state.to_owned(),
            pairs(&self.labels),
            pairs(&self.annotations),
            self.value.clone(),
            self.active_since.to_string(),
            number(&self.firing_since),
            number(&self.eta),
            number(&self.eta_lower),
            number(&self.eta_upper),
            self.silenced_by.join(";"),
            self.inhibited_by.join(";"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    const T: i64 = fixture::T;

    /// The fixture's alerts, pending first, as the service would send them.
    fn alerts() -> Vec<Alert> {
        let mut alerts: Vec<Alert> = fixture::alerts().into_iter().rev().collect();
        sort(&mut alerts);
        alerts
    }

    fn rendered(output: Output) -> String {
        let mut out = Vec::new();
        render(&alerts(), output, T, &mut out).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn table_firing_first() {
        assert_eq!(
            rendered(Output::Table),
            "NAME       STATE     LABELS                     VALUE   SINCE                           ETA\n\
             HighCpu    firing    host=web-1,severity=page    97.5   10m ago (2026-11-21 05:40:00)   -\n\
             DiskFull   pending   host=db-1,mount=/var        0.93   2m ago (2026-11-21 05:47:59)    in 2d (1d..2d 23h)\n"
        );
    }

    #[test]
    fn json() {
        assert_eq!(
            rendered(Output::Json),
            concat!(
                r#"[{"name":"HighCpu","state":"firing","labels":{"alertname":"HighCpu","#,
                r#""host":"web-1","severity":"page"},"annotations":{"summary":"CPU at 97.5% on web-1"},"#,
                r#""value":"97.5","active_since":1795239300,"firing_since":1795239600,"#,
                r#""eta":null,"eta_lower":null,"eta_upper":null,"silenced_by":[],"inhibited_by":[]},"#,
                r#"{"name":"DiskFull","state":"pending","labels":{"alertname":"DiskFull","#,
                r#""host":"db-1","mount":"/var"},"annotations":{},"value":"0.93","#,
                r#""active_since":1795240079.5,"firing_since":null,"eta":1795413000,"#,
                r#""eta_lower":1795326600,"eta_upper":1795499399.999,"silenced_by":[],"inhibited_by":[]}]"#,
                "\n"
            )
        );
    }

    #[test]
    fn csv() {
        assert_eq!(
            rendered(Output::Csv),
            "name,state,labels,annotations,value,active_since,firing_since,eta,eta_lower,eta_upper,\
             silenced_by,inhibited_by\n\
             HighCpu,firing,alertname=HighCpu;host=web-1;severity=page,summary=CPU at 97.5% on web-1,\
             97.5,1795239300,1795239600,,,,,\n\
             DiskFull,pending,alertname=DiskFull;host=db-1;mount=/var,,0.93,1795240079.5,,\
             1795413000,1795326600,1795499399.999,,\n"
        );
    }

    #[test]
    fn silenced_and_inhibited_alerts_say_so() {
        let mut alerts = alerts();
        alerts[0].silenced_by = vec!["3f9a0c2e71d4b8a6".into()];
        alerts[1].inhibited_by = vec![r#"HostDown{host="db-1"}"#.into()];
        let mut out = Vec::new();
        render(&alerts, Output::Table, T, &mut out).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(
            table.contains("HighCpu    firing (silenced by 3f9a0c2e71d4b8a6)   "),
            "{table}"
        );
        assert!(
            table.contains(r#"pending (inhibited by HostDown{host="db-1"})"#),
            "{table}"
        );
        let mut out = Vec::new();
        render(&alerts, Output::Json, T, &mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json[0]["state"], "firing");
        assert_eq!(json[0]["silenced_by"][0], "3f9a0c2e71d4b8a6");
        assert_eq!(json[1]["inhibited_by"][0], r#"HostDown{host="db-1"}"#);
    }

    #[test]
    fn spans() {
        assert_eq!(format_span(0), "0s");
        assert_eq!(format_span(-5_000), "0s");
        assert_eq!(format_span(42_999), "42s");
        assert_eq!(format_span(725_000), "12m 5s");
        assert_eq!(format_span(3_600_000), "1h");
        assert_eq!(format_span(19_800_000), "5h 30m");
        assert_eq!(format_span(187_200_000), "2d 4h");
        assert_eq!(format_in(T - 1, T), "now");
        assert_eq!(format_in(T + 90_000, T), "in 1m 30s");
        assert_eq!(
            format_eta(T + 90_000, T + 90_000, T + 90_500, T),
            "in 1m 30s"
        );
        assert_eq!(
            format_eta(T + 90_000, T + 60_000, T + 99_000, T),
            "in 1m 30s (1m..1m 39s)"
        );
    }
}
