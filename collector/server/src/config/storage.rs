//! `[storage]`: the data directory, durability, block size, compaction, how long raw
//! samples and the downsampled tiers are kept, and where backups may go.

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The smallest `storage.block_cache_bytes`: below it RocksDB would read every index
/// and filter block from disk again for each lookup.
pub const MIN_BLOCK_CACHE: u64 = 1 << 20;
/// The largest `storage.block_cache_bytes`: no machine this runs on has more.
const MAX_BLOCK_CACHE: u64 = 1 << 40;

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Data directory (RocksDB).
    pub data_dir: PathBuf,
    /// The only directory backups go under: `vigil backup DIR` names a new directory
    /// inside it (relative to it, or absolute within it). Created by the first backup;
    /// relative to the working directory, like `data_dir`.
    pub backup_dir: PathBuf,
    /// fsync before acknowledging; off survives `kill -9` of the collector but not power loss.
    pub sync: bool,
    /// Time window of one compressed block per series. Fixed when a data directory is
    /// created (a later change is logged and ignored for that directory).
    #[serde(with = "vigil_config::duration")]
    pub block_duration: Duration,
    /// How often closed windows are looked for and compacted into blocks.
    #[serde(with = "vigil_config::duration")]
    pub compaction_interval: Duration,
    /// How long samples are kept ("0s": forever).
    #[serde(with = "vigil_config::duration")]
    pub retention: Duration,
    /// How long the 5-minute downsampled tier is kept ("0s": forever); at least as long
    /// as `retention`. Queries read it where raw samples have expired; tiers are built
    /// only when `retention` is set.
    #[serde(with = "vigil_config::duration")]
    pub retention_5m: Duration,
    /// How long the 1-hour downsampled tier is kept ("0s": forever); at least as long as
    /// `retention` and `retention_5m`.
    #[serde(with = "vigil_config::duration")]
    pub retention_1h: Duration,
    /// Free bytes the collector keeps on the data directory's filesystem: below them
    /// (or below what a flush and compaction need, if more) ingest is refused until
    /// space returns. Unset: 1 GiB, or 5 % of a smaller filesystem; 0 turns it off.
    pub min_free_bytes: Option<u64>,
    /// How often the collector reads every table of the data directory through, to find
    /// damaged data before a query does ("0s": never). The first scrub starts a minute
    /// after start.
    #[serde(with = "vigil_config::duration")]
    pub scrub_interval: Duration,
    /// RocksDB's block cache, shared by every family (decompressed blocks: recent samples
    /// that dashboards, rules and anomaly scoring read again and again). Unset: an eighth
    /// of `limits.max_memory_bytes`, between 16 and 256 MiB. From 1 MiB; at most half the
    /// memory budget.
    pub block_cache_bytes: Option<u64>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./vigil-data"),
            backup_dir: PathBuf::from("./vigil-backups"),
            sync: true,
            block_duration: Duration::from_secs(2 * 3600),
            compaction_interval: Duration::from_secs(60),
            retention: Duration::ZERO,
            retention_5m: Duration::ZERO,
            retention_1h: Duration::ZERO,
            min_free_bytes: None,
            scrub_interval: Duration::from_secs(86_400),
            block_cache_bytes: None,
        }
    }
}

impl StorageConfig {
    /// A data directory, sane block and compaction periods, and retentions that keep
    /// whole blocks and let each coarser tier outlive the finer ones.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::at(key, why));
        if self.data_dir.as_os_str().is_empty() {
            return bad("storage.data_dir", "must not be empty".into());
        }
        if self.backup_dir.as_os_str().is_empty() {
            return bad(
                "storage.backup_dir",
                "must not be empty, like \"/var/backups/vigil\"".into(),
            );
        }
        let (backups, data) = (
            std::path::absolute(&self.backup_dir),
            std::path::absolute(&self.data_dir),
        );
        if let (Ok(backups), Ok(data)) = (backups, data)
            && backups.starts_with(&data)
        {
            return bad(
                "storage.backup_dir",
                format!(
                    "{} is inside storage.data_dir ({}); put backups beside the data directory, \
                     like the default ./vigil-backups",
                    self.backup_dir.display(),
                    self.data_dir.display()
                ),
            );
        }
        if self.block_duration < Duration::from_secs(1)
            || self.block_duration > Duration::from_secs(7 * 86_400)
        {
            return bad(
                "storage.block_duration",
                "must be between 1s and 7d, like 2h".into(),
            );
        }
        if let Some(bytes) = self.block_cache_bytes
            && !(MIN_BLOCK_CACHE..=MAX_BLOCK_CACHE).contains(&bytes)
        {
            return bad(
                "storage.block_cache_bytes",
                format!(
                    "{bytes} is out of range: from 1 MiB ({MIN_BLOCK_CACHE}) to 1 TiB, like \
                     268435456 (256 MiB); leave it unset to size it from limits.max_memory_bytes"
                ),
            );
        }
        if self.compaction_interval < Duration::from_millis(100) {
            return bad(
                "storage.compaction_interval",
                "must be at least 100ms, like 1m".into(),
            );
        }
        if !self.retention.is_zero() && self.retention < self.block_duration {
            return bad(
                "storage.retention",
                "must be 0s (keep forever) or at least storage.block_duration, like 90d".into(),
            );
        }
        // A coarser tier must outlive every finer one (0s: forever, the longest).
        let kept = |d: Duration| if d.is_zero() { Duration::MAX } else { d };
        for (key, value, finer) in [
            (
                "storage.retention_5m",
                self.retention_5m,
                vec![("storage.retention", self.retention)],
            ),
            (
                "storage.retention_1h",
                self.retention_1h,
                vec![
                    ("storage.retention", self.retention),
                    ("storage.retention_5m", self.retention_5m),
                ],
            ),
        ] {
            for (finer_key, finer_value) in finer {
                if kept(value) < kept(finer_value) {
                    return bad(
                        key,
                        format!(
                            "must be at least {finer_key} ({}), or 0s to keep it forever",
                            if finer_value.is_zero() {
                                "0s, forever".to_owned()
                            } else {
                                humantime::format_duration(finer_value).to_string()
                            }
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_cache_is_sized_within_reason() {
        for ok in [None, Some(MIN_BLOCK_CACHE), Some(4 << 30)] {
            StorageConfig {
                block_cache_bytes: ok,
                ..StorageConfig::default()
            }
            .validate()
            .unwrap();
        }
        for bad in [0, MIN_BLOCK_CACHE - 1, (1 << 40) + 1] {
            let e = StorageConfig {
                block_cache_bytes: Some(bad),
                ..StorageConfig::default()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with("storage.block_cache_bytes:") && e.contains("out of range"),
                "{e}"
            );
        }
    }

    #[test]
    fn backups_go_beside_the_data_not_inside_it() {
        let d = StorageConfig::default();
        assert_eq!(d.backup_dir, PathBuf::from("./vigil-backups"));
        d.validate().unwrap();
        for inside in ["./vigil-data", "vigil-data/backups"] {
            let e = StorageConfig {
                backup_dir: PathBuf::from(inside),
                ..StorageConfig::default()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with("storage.backup_dir:") && e.contains("inside storage.data_dir"),
                "{e}"
            );
        }
        let e = StorageConfig {
            backup_dir: PathBuf::new(),
            ..StorageConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("storage.backup_dir: must not be empty"),
            "{e}"
        );
        // The data directory may be inside the backup directory (backups into it are refused).
        StorageConfig {
            data_dir: PathBuf::from("/srv/vigil/data"),
            backup_dir: PathBuf::from("/srv/vigil"),
            ..StorageConfig::default()
        }
        .validate()
        .unwrap();
    }
}
