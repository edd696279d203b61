//! What each metric the agent sends is: its type, unit and a line of help, sent once per
//! metric name and stream in `Batch.metadata` (see [`crate::encode`]) and served by the
//! collector's `/api/v1/metadata`, so Grafana's query editor shows what node_exporter users
//! are used to seeing.
//!
//! Two static tables, nothing built at run time:
//! - [`table::NAMES`]: every fixed name any source writes, sorted, found by binary search;
//! - [`FAMILIES`]: names built from what the kernel lists (`node_memory_<Field>_bytes`,
//!   `node_vmstat_<field>`, `node_netstat_<Proto>_<field>`, `node_hwmon_<sensor>_celsius`…),
//!   matched by prefix and suffix, most specific first.
//!
//! Types follow node_exporter 1.5 where it states one; where it leaves a metric untyped
//! (vmstat, netstat) the known fields are typed by what they are (counter or gauge) and the
//! rest stay unspecified. Units are the unit suffix the name carries, or empty.

mod table;

use vigil_proto::v1::MetricType;

/// What one metric name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Metric name; for a [`Family`], a pattern with `*` where the kernel's field goes.
    pub name: &'static str,
    /// Counter, gauge, info…
    pub kind: MetricType,
    /// Base unit ("seconds", "bytes", "celsius"), empty when the name carries none.
    pub unit: &'static str,
    /// One line saying what it measures.
    pub help: &'static str,
}

/// Names `prefix` + something + `suffix`, all described by `meta`.
#[derive(Debug)]
pub struct Family {
    /// What every name of the family starts with.
    pub prefix: &'static str,
    /// What every name of the family ends with ("" for any ending).
    pub suffix: &'static str,
    /// The description shared by the family.
    pub meta: Meta,
}

/// The description of metric `name`, `None` for a name no source writes.
pub fn lookup(name: &str) -> Option<&'static Meta> {
    if let Ok(i) = table::NAMES.binary_search_by(|m| m.name.cmp(name)) {
        return Some(&table::NAMES[i]);
    }
    FAMILIES
        .iter()
        .find(|f| {
            name.len() > f.prefix.len() + f.suffix.len()
                && name.starts_with(f.prefix)
                && name.ends_with(f.suffix)
        })
        .map(|f| &f.meta)
}

/// Every fixed name, sorted.
pub fn names() -> &'static [Meta] {
    &table::NAMES
}

const fn family(
    prefix: &'static str,
    suffix: &'static str,
    name: &'static str,
    kind: MetricType,
    unit: &'static str,
    help: &'static str,
) -> Family {
    Family {
        prefix,
        suffix,
        meta: Meta {
            name,
            kind,
            unit,
            help,
        },
    }
}

const COUNTER: MetricType = MetricType::Counter;
const GAUGE: MetricType = MetricType::Gauge;
const UNTYPED: MetricType = MetricType::Unspecified;

/// Families of names built from the kernel's own field and sensor names, checked in order
/// after the fixed names: the first whose prefix and suffix match describes the name.
pub static FAMILIES: [Family; 14] = [
    family(
        "node_memory_",
        "_bytes",
        "node_memory_*_bytes",
        GAUGE,
        "bytes",
        "A /proc/meminfo field that the kernel gives in kB, here in bytes.",
    ),
    family(
        "node_memory_",
        "",
        "node_memory_*",
        GAUGE,
        "",
        "A /proc/meminfo field without a unit (a count of huge pages).",
    ),
    family(
        "node_vmstat_",
        "",
        "node_vmstat_*",
        UNTYPED,
        "",
        "A /proc/vmstat field as the kernel reports it (event counts and page counts).",
    ),
    family(
        "node_netstat_",
        "",
        "node_netstat_*",
        UNTYPED,
        "",
        "A protocol statistic from /proc/net/{netstat,snmp,snmp6}, named Proto_Field.",
    ),
    family(
        "node_sockstat_",
        "_bytes",
        "node_sockstat_*_bytes",
        GAUGE,
        "bytes",
        "Memory held by sockets of one protocol (/proc/net/sockstat pages), in bytes.",
    ),
    family(
        "node_sockstat_",
        "",
        "node_sockstat_*",
        GAUGE,
        "",
        "A socket count or memory figure of one protocol from /proc/net/sockstat{,6}.",
    ),
    family(
        "node_hwmon_",
        "_celsius",
        "node_hwmon_*_celsius",
        GAUGE,
        "celsius",
        "A temperature reading or limit of a hardware sensor, in degrees Celsius.",
    ),
    family(
        "node_hwmon_",
        "_volts",
        "node_hwmon_*_volts",
        GAUGE,
        "volts",
        "A voltage reading or limit of a hardware sensor, in volts.",
    ),
    family(
        "node_hwmon_",
        "_amps",
        "node_hwmon_*_amps",
        GAUGE,
        "amps",
        "A current reading or limit of a hardware sensor, in amperes.",
    ),
    family(
        "node_hwmon_",
        "_watt",
        "node_hwmon_*_watt",
        GAUGE,
        "watt",
        "A power reading or limit of a hardware sensor, in watts.",
    ),
    family(
        "node_hwmon_",
        "_joule_total",
        "node_hwmon_*_joule_total",
        COUNTER,
        "joule",
        "Energy a hardware sensor has measured since it started counting, in joules.",
    ),
    family(
        "node_hwmon_",
        "_rpm",
        "node_hwmon_*_rpm",
        GAUGE,
        "rpm",
        "A fan speed reading or limit, in revolutions per minute.",
    ),
    family(
        "node_hwmon_",
        "_seconds",
        "node_hwmon_*_seconds",
        GAUGE,
        "seconds",
        "A hardware sensor's averaging or update interval, in seconds.",
    ),
    family(
        "node_hwmon_",
        "",
        "node_hwmon_*",
        GAUGE,
        "",
        "Another value a hardware sensor exposes in /sys/class/hwmon, as read.",
    ),
];

#[cfg(test)]
mod tests;
