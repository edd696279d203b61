//! `[limits]`: the checks on [`Limits`] when the config is loaded. The type and the checks
//! it drives at run time live in [`crate::limits`].

use super::ConfigError;
use crate::limits::Limits;

/// Limits that would refuse every agent or every series.
pub(super) fn validate(limits: &Limits) -> Result<(), ConfigError> {
    if limits.max_message_bytes < 64 << 10 {
        return Err(ConfigError::at(
            "limits.max_message_bytes",
            "must be at least 65536",
        ));
    }
    if limits.max_series_per_host == 0 {
        return Err(ConfigError::at(
            "limits.max_series_per_host",
            "must be at least 1",
        ));
    }
    if limits.max_labels_per_series < 2 {
        return Err(ConfigError::at(
            "limits.max_labels_per_series",
            "must be at least 2 (name and host)",
        ));
    }
    Ok(())
}
