//! Current usage of hosts, as `vigil top` and `vigil host` show it: every figure is one
//! PromQL expression evaluated by the collector's engine, now.
//!
//! ```text
//! cpu %        100 * (1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle"}[W])))
//! memory %     100 * (1 - max by (host) (MemAvailable) / max by (host) (MemTotal))
//! fullest fs % 100 * max by (host) (1 - avail / (size > 0))      real filesystems only
//! disk r/w     sum by (host) (rate(node_disk_{read,written}_bytes_total[W]))
//! network      sum by (host) (rate(node_network_{receive,transmit}_bytes_total[W]))
//! load1        max by (host) (node_load1)
//! ```
//!
//! `W` is the rate window (`--window`, 1m by default: six samples at the agent's 10 s
//! interval). `vigil host` adds the same figures per filesystem, disk and interface.

use std::collections::BTreeMap;
use std::time::Duration;

use vigil_proto::v1::{QueryResult, SeriesSamples};

use super::client::Collector;
use super::error::Error;

/// Filesystems that are not disks: memory-backed or read-only images.
const FS_TYPES_EXCLUDED: &str = "tmpfs|ramfs|devtmpfs|squashfs|iso9660|erofs|nsfs";

/// Container runtimes' overlay mounts: each is a view of a filesystem counted already.
/// (The agent reports an overlay root `/`, which is kept: in a container it is the disk.)
const MOUNTPOINTS_EXCLUDED: &str = "/(var/lib/(docker|containers)|run/(containerd|docker))/.+";

/// Virtual interfaces whose traffic is also counted on a physical one (or never leaves).
const INTERFACES_EXCLUDED: &str = "lo|veth.+|docker.+|br-.+|virbr.+|cali.+|flannel.+|cni.+";

/// Block devices stacked on others (device mapper, software RAID), so counted twice.
const DISKS_EXCLUDED: &str = "dm-.+|md.+";

/// Which hosts the expressions cover.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every host.
    Fleet,
    /// One host, by name.
    Host(&'a str),
}

/// One selector: `name{matchers..., host="x"}`.
fn selector(name: &str, matchers: &[String], scope: Scope<'_>) -> String {
    let mut all: Vec<String> = matchers.to_vec();
    if let Scope::Host(host) = scope {
        all.push(format!("host=\"{}\"", escape(host)));
    }
    if all.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", all.join(","))
    }
}

/// A string as a PromQL double-quoted literal's contents.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A duration as PromQL writes it (`60s`, `1500ms`).
pub fn promql_duration(window: Duration) -> String {
    let ms = window.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The figures of one host's summary, in the order of [`summary_exprs`]; `None` where
/// the host has no data. Serialized with these names in `vigil top`'s and `vigil host`'s
/// JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// Busy CPU time, percent of all cores.
    pub cpu_percent: Option<f64>,
    /// Memory not available to new work, percent of MemTotal.
    pub memory_percent: Option<f64>,
    /// Used space of the fullest real filesystem, percent.
    pub fullest_filesystem_percent: Option<f64>,
    /// Bytes read from disks per second.
    pub disk_read_bytes_per_second: Option<f64>,
    /// Bytes written to disks per second.
    pub disk_write_bytes_per_second: Option<f64>,
    /// Bytes received per second over physical interfaces.
    pub network_receive_bytes_per_second: Option<f64>,
    /// Bytes sent per second over physical interfaces.
    pub network_transmit_bytes_per_second: Option<f64>,
    /// One-minute load average.
    pub load1: Option<f64>,
}

impl Usage {
    /// Column headings of [`Usage::cells`].
    pub const HEADINGS: [&'static str; 8] =
        ["CPU", "MEM", "DISK", "READ", "WRITE", "RX", "TX", "LOAD1"];

    /// The figures as table cells in human units (`-` when a host has no data).
    pub fn cells(&self) -> [String; 8] {
        use super::units::{self, or_dash};
        [
            or_dash(self.cpu_percent, units::percent),
            or_dash(self.memory_percent, units::percent),
            or_dash(self.fullest_filesystem_percent, units::percent),
            or_dash(self.disk_read_bytes_per_second, units::bytes_per_second),
            or_dash(self.disk_write_bytes_per_second, units::bytes_per_second),
            or_dash(
                self.network_receive_bytes_per_second,
                units::bytes_per_second,
            ),
            or_dash(
                self.network_transmit_bytes_per_second,
                units::bytes_per_second,
            ),
            or_dash(self.load1, units::decimal),
        ]
    }

    /// Mutable references to the fields, in the order of [`summary_exprs`].
    fn fields(&mut self) -> [&mut Option<f64>; 8] {
        [
            &mut self.cpu_percent,
            &mut self.memory_percent,
            &mut self.fullest_filesystem_percent,
            &mut self.disk_read_bytes_per_second,
            &mut self.disk_write_bytes_per_second,
            &mut self.network_receive_bytes_per_second,
            &mut self.network_transmit_bytes_per_second,
            &mut self.load1,
        ]
    }
}

/// The PromQL of each [`Usage`] field, by host.
pub fn summary_exprs(scope: Scope<'_>, window: Duration) -> [String; 8] {
    let w = promql_duration(window);
    let sel = |name: &str, matchers: &[String]| selector(name, matchers, scope);
    let real_fs = [
        format!("fstype!~\"{FS_TYPES_EXCLUDED}\""),
        format!("mountpoint!~\"{MOUNTPOINTS_EXCLUDED}\""),
    ];
    let disks = [format!("device!~\"{DISKS_EXCLUDED}\"")];
    let nics = [format!("device!~\"{INTERFACES_EXCLUDED}\"")];
    let sum_rate = |name: &str, matchers: &[String]| {
        format!("sum by (host) (rate({}[{w}]))", sel(name, matchers))
    };
    [
        format!(
            "100 * (1 - avg by (host) (rate({}[{w}])))",
            sel("node_cpu_seconds_total", &["mode=\"idle\"".to_owned()])
        ),
        format!(
            "100 * (1 - max by (host) ({}) / max by (host) ({}))",
            sel("node_memory_MemAvailable_bytes", &[]),
            sel("node_memory_MemTotal_bytes", &[])
        ),
        format!(
            "100 * max by (host) (1 - {} / ({} > 0))",
            sel("node_filesystem_avail_bytes", &real_fs),
            sel("node_filesystem_size_bytes", &real_fs)
        ),
        sum_rate("node_disk_read_bytes_total", &disks),
        sum_rate("node_disk_written_bytes_total", &disks),
        sum_rate("node_network_receive_bytes_total", &nics),
        sum_rate("node_network_transmit_bytes_total", &nics),
        format!("max by (host) ({})", sel("node_load1", &[])),
    ]
}

/// Evaluates the summary of every host in `scope` at `time_ms`, the queries in parallel.
pub async fn summary(
    collector: &Collector,
    scope: Scope<'_>,
    window: Duration,
    time_ms: i64,
) -> Result<BTreeMap<String, Usage>, Error> {
    let results = evaluate_all(collector, &summary_exprs(scope, window), time_ms).await?;
    let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
    for (index, result) in results.iter().enumerate() {
        for series in &result.series {
            let (Some(host), Some(value)) = (label(series, "host"), value(series)) else {
                continue;
            };
            let entry = usage.entry(host.to_owned()).or_default();
            if let Some(field) = entry.fields().into_iter().nth(index) {
                *field = Some(value);
            }
        }
    }
    Ok(usage)
}

/// Evaluates `exprs` at `time_ms` at once over clones of one connection; results in order.
pub async fn evaluate_all(
    collector: &Collector,
    exprs: &[String],
    time_ms: i64,
) -> Result<Vec<QueryResult>, Error> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, expr) in exprs.iter().enumerate() {
        let mut collector = collector.clone();
        let expr = expr.clone();
        tasks.spawn(async move {
            let result = collector.instant(&expr, time_ms).await;
            (index, result.map_err(|e| in_expr(&expr, e)))
        });
    }
    let mut results = vec![QueryResult::default(); exprs.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = match joined {
            Ok(done) => done,
            // Nothing aborts these tasks, so a task only fails by panicking: pass it on.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        if let Some(slot) = results.get_mut(index) {
            *slot = result?;
        }
    }
    Ok(results)
}

/// A failed built-in query names the expression, so the message tells which figure failed
/// (and makes a useful bug report when the engine refuses one of ours).
fn in_expr(expr: &str, err: Error) -> Error {
    match err {
        Error::Status(status) => {
            let message = format!("query {expr:?} failed: {}", status.message());
            Error::from(tonic::Status::new(status.code(), message))
        }
        other => other,
    }
}

/// The value of label `name` of a series, if set.
pub fn label<'a>(series: &'a SeriesSamples, name: &str) -> Option<&'a str> {
    series
        .labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

/// The (only) value of a vector sample; `None` for NaN, which no table should show as usage.
pub fn value(series: &SeriesSamples) -> Option<f64> {
    series.values.first().copied().filter(|v| !v.is_nan())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_expressions() {
        let exprs = summary_exprs(Scope::Fleet, Duration::from_secs(60));
        assert_eq!(
            exprs[0],
            "100 * (1 - avg by (host) (rate(node_cpu_seconds_total{mode=\"idle\"}[60s])))"
        );
        assert_eq!(
            exprs[1],
            "100 * (1 - max by (host) (node_memory_MemAvailable_bytes) \
             / max by (host) (node_memory_MemTotal_bytes))"
        );
        assert!(
            exprs[2].starts_with(
                "100 * max by (host) (1 - node_filesystem_avail_bytes{fstype!~\"tmpfs|"
            )
        );
        assert_eq!(
            exprs[3],
            "sum by (host) (rate(node_disk_read_bytes_total{device!~\"dm-.+|md.+\"}[60s]))"
        );
        assert_eq!(exprs[7], "max by (host) (node_load1)");
        for expr in &exprs {
            assert!(promql_parser::parser::parse(expr).is_ok(), "{expr}");
        }
    }

    #[test]
    fn failed_queries_name_the_expression() {
        let err = in_expr(
            "max by (host) (node_load1)",
            Error::from(tonic::Status::resource_exhausted(
                "execution: too many samples",
            )),
        );
        assert_eq!(
            err.to_string(),
            "query \"max by (host) (node_load1)\" failed: execution: too many samples"
        );
    }

    #[test]
    fn host_expressions_quote_the_name() {
        let exprs = summary_exprs(Scope::Host("we\"b\\1"), Duration::from_millis(1500));
        assert_eq!(
            exprs[7],
            "max by (host) (node_load1{host=\"we\\\"b\\\\1\"})"
        );
        assert!(exprs[0].contains("{mode=\"idle\",host=\"we\\\"b\\\\1\"}[1500ms]"));
        for expr in &exprs {
            assert!(promql_parser::parser::parse(expr).is_ok(), "{expr}");
        }
    }
}
