//! `vigil notify test RECEIVER`: a test notification sent to every integration of one
//! receiver at once, bypassing routing and the outbox, with what each answered.
//!
//! The notification is marked `test`; it holds one firing alert
//! `{alertname="VigilTest", receiver="<name>"}` with a summary annotation, so a receiver's
//! own routing can recognise it.

use super::model::{Alert, LabelMap, Notification, Outcome};
use super::receivers::Receivers;
use std::sync::Arc;
use std::time::Instant;

/// What one integration made of the test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestAnswer {
    /// `email`, `webhook` or `alertmanager`.
    pub kind: &'static str,
    /// Where it delivered (no secrets).
    pub target: String,
    /// `accepted`, `retry` or `rejected`.
    pub result: &'static str,
    /// The receiver's answer, or the error.
    pub answer: String,
    /// How long the attempt took.
    pub seconds: f64,
}

/// The test notification for `receiver`.
pub fn test_notification(receiver: &str, external_url: &str, now_ms: i64) -> Notification {
    let labels: LabelMap = [("alertname", "VigilTest"), ("receiver", receiver)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let annotations: LabelMap = [(
        "summary".to_owned(),
        format!("Test notification from Vigil to receiver {receiver}"),
    )]
    .into();
    Notification {
        receiver: receiver.to_owned(),
        group_key: format!("{{}}:{{alertname=\"VigilTest\",receiver={receiver:?}}}"),
        group_labels: [("alertname".to_owned(), "VigilTest".to_owned())].into(),
        alerts: vec![Alert {
            labels,
            annotations,
            starts_at_ms: now_ms,
            ends_at_ms: None,
            generator_url: String::new(),
        }],
        external_url: external_url.to_owned(),
        created_ms: now_ms,
        test: true,
        refresh: false,
        group_interval_ms: 0,
        incident: None,
    }
}

/// Sends the test notification to every integration of `receiver` concurrently; answers
/// come in configuration order. An unknown receiver is an error naming those that exist.
pub async fn test_receiver(
    receivers: Arc<Receivers>,
    receiver: &str,
    external_url: &str,
) -> Result<Vec<TestAnswer>, String> {
    let Some(found) = receivers.get(receiver) else {
        let names: Vec<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
        return Err(if names.is_empty() {
            format!("no receiver is named {receiver:?}: none is configured ([[notify.receivers]])")
        } else {
            format!(
                "no receiver is named {receiver:?}; the receivers are: {}",
                names.join(", ")
            )
        });
    };
    let now_ms = vigil_store::clock::now_ms();
    let notification = Arc::new(test_notification(receiver, external_url, now_ms));
    let mut tasks = Vec::new();
    for index in 0..found.integrations.len() {
        let (receivers, notification, name) =
            (receivers.clone(), notification.clone(), receiver.to_owned());
        tasks.push(tokio::spawn(async move {
            let integration = &receivers.get(&name)?.integrations[index];
            let started = Instant::now();
            let outcome = integration.send(&notification).await;
            let seconds = started.elapsed().as_secs_f64();
            let (result, answer) = match outcome {
                Outcome::Accepted { answer } => ("accepted", answer),
                Outcome::Retry { error } => ("retry", error),
                Outcome::Rejected { error } => ("rejected", error),
            };
            Some(TestAnswer {
                kind: integration.kind(),
                target: integration.describe(),
                result,
                answer,
                seconds,
            })
        }));
    }
    let mut answers = Vec::new();
    for (index, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Some(answer)) => answers.push(answer),
            Ok(None) | Err(_) => {
                let integration = &found.integrations[index];
                answers.push(TestAnswer {
                    kind: integration.kind(),
                    target: integration.describe(),
                    result: "retry",
                    answer: "the attempt did not finish (internal error)".into(),
                    seconds: 0.0,
                });
            }
        }
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::NotifyConfig;

    #[tokio::test]
    async fn an_unknown_receiver_names_the_ones_that_exist() {
        let config: NotifyConfig = toml::from_str(
            "[[receivers]]\nname = \"ops\"\n[[receivers.webhook]]\nurl = \"http://127.0.0.1:9/\"\n\
             [[receivers]]\nname = \"pager\"\n[[receivers.webhook]]\nurl = \"http://127.0.0.1:9/\"\n",
        )
        .unwrap();
        let receivers = Arc::new(Receivers::from_config(&config).unwrap());
        let err = test_receiver(receivers, "nosuch", "").await.unwrap_err();
        assert_eq!(
            err,
            "no receiver is named \"nosuch\"; the receivers are: ops, pager"
        );
    }

    #[test]
    fn the_test_notification_fires_one_vigil_test_alert() {
        let n = test_notification("ops", "https://vigil", 1_700_000_000_000);
        assert!(n.test);
        assert_eq!(n.status(), "firing");
        assert_eq!(n.alerts[0].labels["alertname"], "VigilTest");
        assert!(n.alerts[0].annotations["summary"].contains("ops"));
    }
}
