//! The checks on a Hello's own fields, whoever sent it: a host name, facts and labels of
//! bounded size, and a collection interval in range. A Hello past them is refused before
//! anything of it is kept, so a client cannot make the collector hold (or store in the
//! host registry) more than these bounds.

use crate::limits::{self, Limits, Violation};
use std::time::Duration;
use vigil_proto::v1::Hello;

/// Longest host name, in bytes: the longest DNS name.
pub const MAX_HOSTNAME_BYTES: usize = 253;
/// Shortest collection interval an agent may announce (the agent itself allows 1s to 1h).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Longest collection interval an agent may announce.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// The host name of a Hello (or an imported `host` label), trimmed: not empty, at most
/// [`MAX_HOSTNAME_BYTES`], without spaces or control characters.
pub fn check_hostname(hostname: &str) -> Result<&str, Violation> {
    let host = hostname.trim();
    if host.is_empty() {
        return Err(Violation::invalid(
            "bad_hello",
            "hello has an empty hostname".into(),
        ));
    }
    if host.len() > MAX_HOSTNAME_BYTES {
        return Err(Violation::invalid(
            "bad_hello",
            format!(
                "hostname {:?}… is {} bytes, over the limit of {MAX_HOSTNAME_BYTES} (the longest DNS name)",
                limits::shorten(host),
                host.len()
            ),
        ));
    }
    if host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Violation::invalid(
            "bad_hello",
            format!(
                "hostname {:?} is not a valid host name (it has spaces or control characters)",
                limits::shorten(host)
            ),
        ));
    }
    Ok(host)
}

/// The rest of a Hello: every fact within `limits.max_label_value_bytes`, labels that
/// leave room for `__name__` and `host` under `limits.max_labels_per_series`, each label
/// valid and named once, and an interval from [`MIN_INTERVAL`] to [`MAX_INTERVAL`].
pub fn check_facts(hello: &Hello, limits: &Limits) -> Result<(), Violation> {
    for (field, value) in [
        ("machine_id", &hello.machine_id),
        ("os", &hello.os),
        ("kernel", &hello.kernel),
        ("arch", &hello.arch),
        ("cpu_model", &hello.cpu_model),
        ("agent_version", &hello.agent_version),
    ] {
        if value.len() > limits.max_label_value_bytes {
            return Err(Violation::invalid(
                "bad_hello",
                format!(
                    "hello field {field} is {} bytes, over the limit of {} (limits.max_label_value_bytes)",
                    value.len(),
                    limits.max_label_value_bytes
                ),
            ));
        }
    }
    let most = limits.max_labels_per_series.saturating_sub(2);
    if hello.labels.len() > most {
        return Err(Violation::invalid(
            "too_many_labels",
            format!(
                "hello has {} labels; with __name__ and host every series would have {}, over \
                 limits.max_labels_per_series ({}); set at most {most} labels in the agent config",
                hello.labels.len(),
                hello.labels.len() + 2,
                limits.max_labels_per_series
            ),
        ));
    }
    for (i, label) in hello.labels.iter().enumerate() {
        limits::check_label("(agent labels)", &label.name, &label.value, limits)?;
        if hello.labels[..i].iter().any(|l| l.name == label.name) {
            return Err(Violation::invalid(
                "duplicate_label",
                format!("hello has label {:?} twice", label.name),
            ));
        }
    }
    let interval = Duration::from_millis(hello.interval_ms);
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err(Violation {
            kind: limits::Refusal::OutOfRange,
            reason: "bad_interval",
            message: format!(
                "hello announces a collection interval of {} ms; the collector accepts {} to {} \
                 (set the agent's interval in that range)",
                hello.interval_ms,
                limits::config_duration(MIN_INTERVAL),
                limits::config_duration(MAX_INTERVAL)
            ),
        });
    }
    Ok(())
}
