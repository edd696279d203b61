//! `[rules]`: which rule files to load and how often their groups are evaluated.

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[rules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Rule files (Prometheus's format plus Vigil's extensions); globs such as
    /// `/etc/vigil/rules/*.yml` are allowed. Relative paths are relative to the working
    /// directory. Re-read on SIGHUP and `vigil rules reload`.
    pub files: Vec<PathBuf>,
    /// How often a group is evaluated when it does not set its own `interval`.
    #[serde(with = "vigil_config::duration")]
    pub evaluation_interval: Duration,
    /// The built-in `HostDown` alert fires for a host silent this long ("0s" turns it off).
    #[serde(with = "vigil_config::duration")]
    pub host_down_after: Duration,
    /// The built-in `SystemdUnitFailed` alert fires for a unit an agent reports failed for
    /// this long ("0s" turns it off).
    #[serde(with = "vigil_config::duration")]
    pub systemd_unit_failed_for: Duration,
    /// The built-in `CollectorDiskFilling` alert fires when the collector's own forecast
    /// of its data directory's free space reaches what the storage guard keeps within
    /// this horizon ("0s" turns it off).
    #[serde(with = "vigil_config::duration")]
    pub collector_disk_filling_within: Duration,
    /// The built-in `HostClockSkew` alert fires for a host whose clock is more than this
    /// ahead of or behind the collector's for 5 minutes ("0s" turns it off).
    #[serde(with = "vigil_config::duration")]
    pub host_clock_skew_over: Duration,
    /// The built-in anomaly rules score every host's CPU, memory, load, disk and network
    /// rates (7 series per host) and feed the host anomaly rate; they raise no alert of
    /// their own.
    pub default_anomaly_rules: bool,
    /// The built-in `HostAnomalous` alert fires for a host whose share of anomalous
    /// watched series is at least this (with at least two of them) for 10 minutes
    /// (0 turns it off).
    pub host_anomaly_rate_over: f64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            evaluation_interval: Duration::from_secs(60),
            host_down_after: Duration::from_secs(120),
            systemd_unit_failed_for: Duration::from_secs(60),
            collector_disk_filling_within: Duration::from_secs(24 * 3600),
            host_clock_skew_over: Duration::from_secs(60),
            default_anomaly_rules: true,
            host_anomaly_rate_over: 0.3,
        }
    }
}

impl RulesConfig {
    /// An evaluation interval of at least a second, and no empty file entry.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.evaluation_interval < Duration::from_secs(1) {
            return Err(ConfigError::at(
                "rules.evaluation_interval",
                "must be at least 1s, like 1m",
            ));
        }
        if !(0.0..=1.0).contains(&self.host_anomaly_rate_over) {
            return Err(ConfigError::at(
                "rules.host_anomaly_rate_over",
                "must be a share from 0 (off) to 1, like 0.3",
            ));
        }
        if self.files.iter().any(|f| f.as_os_str().is_empty()) {
            return Err(ConfigError::at(
                "rules.files",
                "an entry is empty; give a path or a glob",
            ));
        }
        Ok(())
    }
}
