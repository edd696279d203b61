//! The alertmanager integration: forwards alerts to an existing Alertmanager with
//! `POST <url>/api/v2/alerts`, as Prometheus does, for teams that already route with one.
//!
//! Body: a JSON array of `{labels, annotations, startsAt, endsAt, generatorURL}`.
//! Alertmanager ends an alert by itself at its `endsAt`, so a firing alert is sent with
//! `endsAt = created + 4 × max(group_interval, 60 s)`: Vigil sends every group again at
//! each group interval (refresh notifications, see [`Integration::takes_refresh`]), well
//! before that. A resolved alert carries its real end, which resolves it at once.
//!
//! [`Integration::takes_refresh`]: super::receivers::Integration::takes_refresh

use super::config::AlertmanagerConfig;
use super::http_client;
use super::model::{Alert, Notification, Outcome};
use super::render::rfc3339;
use super::secret::Secret;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

/// The shortest interval `endsAt` is computed from, so a short group interval does not
/// make alerts flap when one refresh is late.
const MIN_REFRESH_MS: i64 = 60_000;

/// One configured Alertmanager.
pub struct AlertmanagerTarget {
    endpoint: String,
    headers: Vec<(HeaderName, Secret)>,
    client: reqwest::Client,
    base: String,
}

impl AlertmanagerTarget {
    /// Checks the URL and loads header secrets; the error names the key.
    pub fn new(config: &AlertmanagerConfig) -> Result<Self, String> {
        let base = config.url.trim_end_matches('/').to_owned();
        let endpoint = format!("{base}/api/v2/alerts");
        reqwest::Url::parse(&endpoint).map_err(|e| format!("url: {:?}: {e}", config.url))?;
        let mut headers = Vec::new();
        for (name, source) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers: {name:?} is not a valid header name"))?;
            let value = source.load().map_err(|e| format!("headers.{name}: {e}"))?;
            HeaderValue::from_str(value.expose()).map_err(|_| {
                format!("headers.{name}: the value has characters a header cannot carry")
            })?;
            headers.push((header, value));
        }
        let client = http_client::client(config.ca_file.as_deref(), config.timeout)?;
        Ok(Self {
            endpoint,
            headers,
            client,
            base,
        })
    }

    /// `alertmanager at http://…`.
    pub fn describe(&self) -> String {
        format!("alertmanager at {}", self.base)
    }

    /// Posts the notification's alerts once.
    pub async fn send(&self, notification: &Notification) -> Outcome {
        let body = serde_json::Value::Array(
            notification
                .alerts
                .iter()
                .map(|a| postable(a, notification))
                .collect(),
        );
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        for (name, value) in &self.headers {
            if let Ok(mut v) = HeaderValue::from_str(value.expose()) {
                v.set_sensitive(true);
                request = request.header(name.clone(), v);
            }
        }
        let secrets: Vec<&Secret> = self.headers.iter().map(|(_, v)| v).collect();
        http_client::send(request, &secrets).await
    }
}

/// One alert as Alertmanager's `PostableAlert`.
fn postable(alert: &Alert, n: &Notification) -> serde_json::Value {
    let ends_at = alert
        .ends_at_ms
        .unwrap_or_else(|| n.created_ms + 4 * n.group_interval_ms.max(MIN_REFRESH_MS));
    let mut out = serde_json::json!({
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(alert.starts_at_ms),
        "endsAt": rfc3339(ends_at),
    });
    // Alertmanager checks generatorURL as a URI: leave it out rather than send "".
    if !alert.generator_url.is_empty() {
        out["generatorURL"] = serde_json::json!(alert.generator_url);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::tests::sample;

    #[test]
    fn firing_alerts_end_four_intervals_ahead_resolved_at_their_end() {
        let mut n = sample();
        let firing = postable(&n.alerts[0], &n);
        assert_eq!(firing["endsAt"], rfc3339(n.created_ms + 4 * 300_000));
        assert_eq!(firing["startsAt"], rfc3339(n.alerts[0].starts_at_ms));
        assert_eq!(firing["labels"]["alertname"], "HighCpu");
        assert_eq!(firing["generatorURL"], "http://vigil/graph?g0.expr=cpu");
        let resolved = postable(&n.alerts[1], &n);
        assert_eq!(resolved["endsAt"], "2023-11-14T22:14:20.5Z");
        // A short group interval still gives four minutes.
        n.group_interval_ms = 1000;
        n.alerts[0].generator_url.clear();
        let short = postable(&n.alerts[0], &n);
        assert_eq!(short["endsAt"], rfc3339(n.created_ms + 240_000));
        assert!(short.get("generatorURL").is_none());
    }
}
