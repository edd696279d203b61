//! `[incidents]`: how firing alerts are grouped into incidents, and when one ends.

use super::ConfigError;
use crate::http::series::is_label_name;
use serde::Deserialize;
use std::time::Duration;

/// `[incidents]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// Group firing alerts into incidents (kept in the store, listed by `vigil incidents`).
    pub enabled: bool,
    /// How long an incident stays open to related alerts after one last joined or fired.
    #[serde(with = "vigil_config::duration")]
    pub window: Duration,
    /// How long an alert that joins no incident waits for others before one opens for it
    /// (so that what fails together is seen together).
    #[serde(with = "vigil_config::duration")]
    pub open_after: Duration,
    /// The same alert on at least this many hosts within `window` is one fleet incident.
    pub fleet_hosts: usize,
    /// Labels that say where something is (e.g. `["site", "rack", "service"]`): alerts
    /// sharing a value of one of them belong together.
    pub topology_labels: Vec<String>,
    /// Alerts that absorb every other alert of their host while they fire.
    pub absorbing_alerts: Vec<String>,
    /// How long an incident whose alerts have all resolved waits before it resolves; an
    /// alert that fires again in that time reopens it.
    #[serde(with = "vigil_config::duration")]
    pub quiet_period: Duration,
    /// How long resolved incidents are kept.
    #[serde(with = "vigil_config::duration")]
    pub retention: Duration,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        let engine = crate::incidents::Settings::default();
        Self {
            enabled: true,
            window: engine.window,
            open_after: engine.open_after,
            fleet_hosts: engine.fleet_hosts,
            topology_labels: engine.topology_labels,
            absorbing_alerts: engine.absorbing,
            quiet_period: engine.quiet_period,
            retention: Duration::from_secs(90 * 86_400),
        }
    }
}

impl IncidentsConfig {
    /// A fleet of at least two hosts, label names Prometheus accepts, a retention of at
    /// least a day.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.fleet_hosts < 2 {
            return Err(ConfigError::at(
                "incidents.fleet_hosts",
                "must be at least 2 (the hosts that make one fleet incident), like 5",
            ));
        }
        if let Some(bad) = self.topology_labels.iter().find(|l| !is_label_name(l)) {
            return Err(ConfigError::at(
                "incidents.topology_labels",
                format!(
                    "{bad:?} is not a label name (letters, digits and _, not starting with a digit)"
                ),
            ));
        }
        if self.retention < Duration::from_secs(86_400) {
            return Err(ConfigError::at(
                "incidents.retention",
                "must be at least 1d, like 90d",
            ));
        }
        Ok(())
    }

    /// The engine's settings.
    pub fn settings(&self) -> crate::incidents::Settings {
        crate::incidents::Settings {
            window: self.window,
            open_after: self.open_after,
            fleet_hosts: self.fleet_hosts,
            topology_labels: self.topology_labels.clone(),
            absorbing: self.absorbing_alerts.clone(),
            quiet_period: self.quiet_period,
        }
    }
}
