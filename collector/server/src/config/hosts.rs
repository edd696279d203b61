//! `[hosts]`: when a connected host that stopped sending is shown as down.

use serde::Deserialize;
use std::time::Duration;

/// `[hosts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostsConfig {
    /// A connected host that has sent nothing for this long (or three of its intervals,
    /// whichever is longer) is shown as down.
    #[serde(with = "vigil_config::duration")]
    pub down_after: Duration,
}

impl Default for HostsConfig {
    fn default() -> Self {
        Self {
            down_after: Duration::from_secs(30),
        }
    }
}
