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
    if limits.max_unhosted_series == 0 {
        return Err(ConfigError::at(
            "limits.max_unhosted_series",
            "must be at least 1 (series without a host label, from imports and remote write)",
        ));
    }
    if limits.max_past < std::time::Duration::from_secs(60) {
        return Err(ConfigError::at(
            "limits.max_past",
            "must be at least 1m, like 7d (agents re-send what they spooled while the collector was away)",
        ));
    }
    if limits.max_hosts == 0 {
        return Err(ConfigError::at("limits.max_hosts", "must be at least 1"));
    }
    if (limits.max_series_ids_per_stream as u64) < limits.max_series_per_host {
        return Err(ConfigError::at(
            "limits.max_series_ids_per_stream",
            format!(
                "must be at least limits.max_series_per_host ({}): an agent defines each of its series once per stream",
                limits.max_series_per_host
            ),
        ));
    }
    if limits.max_query_bytes < 1024 {
        return Err(ConfigError::at(
            "limits.max_query_bytes",
            "must be at least 1024 (the default is 131072)",
        ));
    }
    let deepest = vigil_promql::parse::MAX_QUERY_DEPTH;
    if !(8..=deepest).contains(&limits.max_query_depth) {
        return Err(ConfigError::at(
            "limits.max_query_depth",
            format!(
                "must be between 8 and {deepest} (the default is {}): deeper expressions \
                 would not fit the stack of the threads queries are parsed on",
                vigil_promql::parse::DEFAULT_MAX_QUERY_DEPTH
            ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn error(limits: Limits) -> String {
        validate(&limits).unwrap_err().to_string()
    }

    #[test]
    fn the_hardening_bounds_name_their_keys() {
        validate(&Limits::default()).unwrap();
        let e = error(Limits {
            max_past: Duration::from_secs(10),
            ..Limits::default()
        });
        assert!(e.starts_with("limits.max_past: must be at least 1m"), "{e}");
        let e = error(Limits {
            max_hosts: 0,
            ..Limits::default()
        });
        assert!(e.starts_with("limits.max_hosts:"), "{e}");
        let e = error(Limits {
            max_series_per_host: 200_000,
            ..Limits::default()
        });
        assert!(
            e.starts_with("limits.max_series_ids_per_stream: must be at least limits.max_series_per_host (200000)"),
            "{e}"
        );
    }

    #[test]
    fn query_text_limits_name_their_keys() {
        let e = error(Limits {
            max_query_bytes: 100,
            ..Limits::default()
        });
        assert!(
            e.starts_with("limits.max_query_bytes: must be at least 1024"),
            "{e}"
        );
        for depth in [0, vigil_promql::parse::MAX_QUERY_DEPTH + 1] {
            let e = error(Limits {
                max_query_depth: depth,
                ..Limits::default()
            });
            assert!(
                e.starts_with("limits.max_query_depth: must be between 8 and 1024"),
                "{e}"
            );
        }
    }
}
