//! Go templates from arbitrary text with varied data: alert templates
//! (`vigil_rules::template::{check, expand}`: `$labels`, `$value`, the `humanize*`
//! helpers, `printf`) and notification templates (`check_notification`,
//! `expand_notification`, as text and as HTML: `.Alerts`, `range`, maps).
//!
//! Input: three bytes (which kind, which `$value`, how many alerts), the template, and
//! after a NUL the labels as `name=value` lines. Checked beyond "no panic": a template
//! that expands passes its check.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use vigil_rules::template::{
    AlertData, NotificationData, TemplateData, check, check_notification, expand,
    expand_notification,
};

/// Bounds on the data, so that nested `range`s stay small.
const MAX_LABELS: usize = 6;
const MAX_ALERTS: usize = 4;

const VALUES: [f64; 8] = [
    0.93,
    f64::NAN,
    f64::NEG_INFINITY,
    1e21,
    -0.0,
    12_345.678,
    1.5e-7,
    0.0,
];

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| render(data)));

fn render(data: &[u8]) {
    let [kind, value, alerts, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (template, labels) = text
        .split_once('\0')
        .unwrap_or((text, "host=web-1\nseverity=page"));
    let labels: BTreeMap<String, String> = labels
        .lines()
        .filter_map(|l| l.split_once('='))
        .take(MAX_LABELS)
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    match kind % 3 {
        0 => {
            let data = TemplateData {
                labels: Some(&labels),
                value: VALUES[usize::from(*value) % VALUES.len()],
                vars: [("eta", "1700003600.5"), ("model", "linear")]
                    .into_iter()
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .collect(),
            };
            let checked = check(template);
            if expand(template, &data).is_ok() {
                assert_eq!(checked, Ok(()), "it expanded, so it passes the check");
            }
        }
        html => {
            let alerts: Vec<AlertData> = (0..usize::from(*alerts) % (MAX_ALERTS + 1))
                .map(|i| {
                    let mut labels = labels.clone();
                    labels.insert("instance".into(), format!("web-{i}:9100"));
                    AlertData {
                        status: if i % 2 == 0 { "firing" } else { "resolved" }.to_owned(),
                        annotations: [("summary".to_owned(), format!("<b>{i}</b> & more"))]
                            .into_iter()
                            .collect(),
                        labels,
                        starts_at: "2023-11-14T22:13:20Z".to_owned(),
                        ends_at: "0001-01-01T00:00:00Z".to_owned(),
                        generator_url: format!("http://collector:9090/graph?i={i}"),
                        fingerprint: format!("{i:016x}"),
                    }
                })
                .collect();
            let data = NotificationData {
                receiver: "ops".to_owned(),
                status: if alerts.is_empty() {
                    "resolved"
                } else {
                    "firing"
                }
                .to_owned(),
                group_labels: labels.clone(),
                common_labels: labels,
                common_annotations: BTreeMap::new(),
                external_url: "http://collector:9090".to_owned(),
                group_key: "{}:{alertname=\"HostDown\"}".to_owned(),
                alerts,
            };
            let checked = check_notification(template);
            if expand_notification(template, &data, html == 2).is_ok() {
                assert_eq!(checked, Ok(()), "it expanded, so it passes the check");
            }
        }
    }
}
