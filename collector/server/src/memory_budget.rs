//! The memory budget (`limits.max_memory_bytes`): what the collector may hold, so that load
//! it can refuse never gets it OOM-killed.
//!
//! - **The budget.** Unset, it is [`DEFAULT_SHARE`] of the machine's memory, or of the
//!   cgroup's limit where one is set (cgroup v2 `memory.max`, v1
//!   `memory.limit_in_bytes`): a container's limit, a systemd unit's `MemoryMax`. 0 turns
//!   it off. VictoriaMetrics bounds its caches the same way (`-memory.allowedPercent`, 60 by
//!   default).
//! - **Caches sized from it.** RocksDB's block cache and memtable budget are shares of it
//!   ([`cache_sizes`]), never more than the fixed sizes a large machine gets.
//! - **Admission.** The resident memory is read every 200 ms ([`CHECK_EVERY`])
//!   ([`MemoryBudget::observe`]). Past [`REFUSE_AT`] of the budget, new series are refused
//!   (`RESOURCE_EXHAUSTED`, naming the budget) while existing series keep flowing: series
//!   state is what grows without bound under load (a new fleet, label churn), and refusing
//!   it costs no acknowledged sample (the sender keeps it). Queries have their share
//!   ([`query_samples`]): `limits.max_query_samples` is lowered to it when it is smaller.
//!   Each transition is logged once; refusals are counted in
//!   `vigil_collector_rejected_total{reason="memory_budget"}`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tracing::{info, warn};

/// Share of the machine's (or the cgroup's) memory the budget is by default.
pub const DEFAULT_SHARE: f64 = 0.6;

/// Past this share of the budget new series are refused; the rest is room for the series
/// already there, queries and RocksDB's own.
pub const REFUSE_AT: f64 = 0.9;

/// How often the resident memory is read: a burst of new series grows it by tens of
/// megabytes a second.
pub const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Bytes a query may use per sample it holds (timestamp, value, and the vectors' slack).
const BYTES_PER_QUERY_SAMPLE: u64 = 32;

/// Where the budget came from, for the log and `vigil status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Bytes (0: no budget).
    pub bytes: u64,
    /// "limits.max_memory_bytes", "60% of the cgroup's memory.max (… bytes)", …
    pub source: String,
}

/// The budget for `configured` (`limits.max_memory_bytes`): itself when set, else
/// [`DEFAULT_SHARE`] of the cgroup's limit or the machine's memory.
pub fn budget(configured: Option<u64>) -> Budget {
    budget_from(configured, cgroup_limit(Path::new("/")), mem_total())
}

fn budget_from(
    configured: Option<u64>,
    cgroup: Option<(u64, &'static str)>,
    machine: Option<u64>,
) -> Budget {
    if let Some(bytes) = configured {
        return Budget {
            bytes,
            source: if bytes == 0 {
                "limits.max_memory_bytes = 0: no budget".into()
            } else {
                "limits.max_memory_bytes".into()
            },
        };
    }
    let share = |total: u64| (total as f64 * DEFAULT_SHARE) as u64;
    match (cgroup, machine) {
        (Some((limit, file)), machine) if machine.is_none_or(|m| limit < m) => Budget {
            bytes: share(limit),
            source: format!("60% of the cgroup's {file} ({limit} bytes)"),
        },
        (_, Some(total)) => Budget {
            bytes: share(total),
            source: format!("60% of the machine's memory ({total} bytes)"),
        },
        (Some((limit, file)), None) => Budget {
            bytes: share(limit),
            source: format!("60% of the cgroup's {file} ({limit} bytes)"),
        },
        (None, None) => Budget {
            bytes: 0,
            source: "no budget: neither the machine's memory nor a cgroup limit could be read"
                .into(),
        },
    }
}

/// RocksDB's block cache and memtable budget for a memory budget of `bytes` (0: none):
/// an eighth and a sixteenth of it, between a floor that keeps RocksDB working and the
/// sizes a large machine gets; the block cache is `block_cache` when set
/// (`storage.block_cache_bytes`), which may be at most half the budget.
pub fn cache_sizes(bytes: u64, block_cache: Option<u64>) -> Result<(usize, usize), String> {
    const CACHE: (u64, u64) = (16 << 20, 256 << 20);
    const MEMTABLES: (u64, u64) = (16 << 20, 96 << 20);
    let clamp = |v: u64, (lo, hi): (u64, u64)| v.clamp(lo, hi) as usize;
    let (cache, memtables) = if bytes == 0 {
        (CACHE.1 as usize, MEMTABLES.1 as usize)
    } else {
        (clamp(bytes / 8, CACHE), clamp(bytes / 16, MEMTABLES))
    };
    match block_cache {
        None => Ok((cache, memtables)),
        Some(set) if bytes > 0 && set > bytes / 2 => Err(format!(
            "storage.block_cache_bytes ({set}) is more than half of the memory budget \
             ({bytes} bytes, limits.max_memory_bytes or a share of the machine's memory): \
             lower it, or raise limits.max_memory_bytes"
        )),
        Some(set) => Ok((usize::try_from(set).unwrap_or(usize::MAX), memtables)),
    }
}

/// The most samples one query may hold within a quarter of the budget; `configured` when
/// that is smaller or there is no budget.
pub fn query_samples(configured: u64, bytes: u64) -> u64 {
    if bytes == 0 {
        return configured;
    }
    configured.min(bytes / 4 / BYTES_PER_QUERY_SAMPLE)
}

/// MemTotal of `/proc/meminfo`, in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// This process's cgroup memory limit, and the file it was read from: cgroup v2
/// `memory.max` ("max": none), or v1 `memory.limit_in_bytes` (a huge value: none). `root`
/// is `/` (a test passes a directory laid out the same way).
fn cgroup_limit(root: &Path) -> Option<(u64, &'static str)> {
    let cgroups = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let fs = root.join("sys/fs/cgroup");
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        let read = |file: &Path| std::fs::read_to_string(file).ok();
        if id == "0" && controllers.is_empty() {
            if let Some(text) = read(&fs.join(path).join("memory.max")) {
                let text = text.trim();
                if text != "max"
                    && let Ok(limit) = text.parse::<u64>()
                {
                    return Some((limit, "memory.max"));
                }
            }
        } else if controllers.split(',').any(|c| c == "memory")
            && let Some(text) = read(&fs.join("memory").join(path).join("memory.limit_in_bytes"))
            && let Ok(limit) = text.trim().parse::<u64>()
            // v1 writes "no limit" as the largest page-aligned value.
            && limit < 1 << 62
        {
            return Some((limit, "memory.limit_in_bytes"));
        }
    }
    None
}

/// The budget and the resident memory last read, shared by housekeeping and admission.
#[derive(Debug, Default)]
pub struct MemoryBudget {
    bytes: AtomicU64,
    resident: AtomicU64,
    over: AtomicBool,
}

impl MemoryBudget {
    /// Sets the budget, bytes (0: none).
    pub fn set_budget(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// The budget, bytes (0: none).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Takes in the resident memory just read; logs crossing [`REFUSE_AT`] either way once.
    pub fn observe(&self, resident: u64) {
        self.resident.store(resident, Ordering::Relaxed);
        let budget = self.bytes();
        let over = budget > 0 && resident as f64 >= budget as f64 * REFUSE_AT;
        if self.over.swap(over, Ordering::AcqRel) != over {
            if over {
                warn!(
                    resident,
                    budget,
                    "memory budget: new series are refused until memory drops (existing \
                     series go on); raise limits.max_memory_bytes or the memory limit"
                );
            } else {
                info!(
                    resident,
                    budget, "memory budget: new series are accepted again"
                );
            }
        }
    }

    /// Why new series are refused now, or `None` while there is room.
    pub fn refuses_new_series(&self) -> Option<String> {
        if !self.over.load(Ordering::Acquire) {
            return None;
        }
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        Some(format!(
            "the collector holds {:.0} MiB, past {:.0}% of its memory budget of {:.0} MiB \
             (limits.max_memory_bytes); new series are refused until memory drops, existing \
             series go on",
            mib(self.resident.load(Ordering::Relaxed)),
            REFUSE_AT * 100.0,
            mib(self.bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn the_block_cache_is_as_set_up_to_half_the_budget() {
        // As set, above the default's cap or below its floor, up to half the budget.
        assert_eq!(cache_sizes(4 << 30, Some(1 << 30)), Ok((1 << 30, 96 << 20)));
        assert_eq!(cache_sizes(512 * MIB, Some(MIB)), Ok((1 << 20, 32 << 20)));
        assert_eq!(cache_sizes(0, Some(8 << 30)), Ok((8 << 30, 96 << 20)));
        let e = cache_sizes(1 << 30, Some(600 * MIB)).unwrap_err();
        assert!(
            e.starts_with("storage.block_cache_bytes (629145600) is more than half")
                && e.contains("limits.max_memory_bytes"),
            "{e}"
        );
    }

    #[test]
    fn the_budget_is_the_setting_else_a_share_of_the_smaller_of_cgroup_and_machine() {
        assert_eq!(
            budget_from(Some(GIB), Some((MIB, "memory.max")), None).bytes,
            GIB
        );
        assert_eq!(budget_from(Some(0), None, Some(GIB)).bytes, 0);
        let b = budget_from(None, Some((GIB, "memory.max")), Some(24 * GIB));
        assert_eq!(b.bytes, (GIB as f64 * 0.6) as u64);
        assert!(b.source.contains("cgroup's memory.max"), "{}", b.source);
        let b = budget_from(None, Some((64 * GIB, "memory.max")), Some(24 * GIB));
        assert!(b.source.contains("machine's memory"), "{}", b.source);
        assert_eq!(budget_from(None, None, None).bytes, 0);
    }

    #[test]
    fn cgroup_limits_are_read_from_v2_and_v1_and_no_limit_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc/self")).unwrap();
        std::fs::create_dir_all(root.join("sys/fs/cgroup/system.slice/vigil.service")).unwrap();
        std::fs::write(
            root.join("proc/self/cgroup"),
            "0::/system.slice/vigil.service\n",
        )
        .unwrap();
        let max = root.join("sys/fs/cgroup/system.slice/vigil.service/memory.max");
        std::fs::write(&max, "536870912\n").unwrap();
        assert_eq!(cgroup_limit(root), Some((512 * MIB, "memory.max")));
        std::fs::write(&max, "max\n").unwrap();
        assert_eq!(cgroup_limit(root), None);

        std::fs::write(
            root.join("proc/self/cgroup"),
            "4:memory:/docker/abc\n1:cpu:/\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("sys/fs/cgroup/memory/docker/abc")).unwrap();
        let v1 = root.join("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes");
        std::fs::write(&v1, "1073741824\n").unwrap();
        assert_eq!(cgroup_limit(root), Some((GIB, "memory.limit_in_bytes")));
        std::fs::write(&v1, "9223372036854771712\n").unwrap();
        assert_eq!(cgroup_limit(root), None);
    }

    #[test]
    fn caches_and_queries_get_shares_of_it() {
        assert_eq!(cache_sizes(0, None), Ok((256 << 20, 96 << 20)));
        assert_eq!(cache_sizes(16 * GIB, None), Ok((256 << 20, 96 << 20)));
        assert_eq!(cache_sizes(512 * MIB, None), Ok((64 << 20, 32 << 20)));
        assert_eq!(cache_sizes(64 * MIB, None), Ok((16 << 20, 16 << 20)));
        assert_eq!(query_samples(20_000_000, 0), 20_000_000);
        assert_eq!(query_samples(20_000_000, 16 * GIB), 20_000_000);
        assert_eq!(query_samples(20_000_000, 512 * MIB), 4 * MIB);
    }

    #[test]
    fn past_ninety_percent_new_series_are_refused_and_room_brings_them_back() {
        let m = MemoryBudget::default();
        m.set_budget(1000 * MIB);
        m.observe(800 * MIB);
        assert_eq!(m.refuses_new_series(), None);
        m.observe(950 * MIB);
        let why = m.refuses_new_series().unwrap();
        assert!(why.contains("950 MiB") && why.contains("1000 MiB"), "{why}");
        assert!(why.contains("limits.max_memory_bytes"), "{why}");
        m.observe(700 * MIB);
        assert_eq!(m.refuses_new_series(), None);
        let none = MemoryBudget::default();
        none.observe(u64::MAX / 2);
        assert_eq!(none.refuses_new_series(), None);
    }
}
