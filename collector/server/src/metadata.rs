//! Metric metadata: the latest type, help text and unit per metric name, as agents send
//! them in `Batch.metadata`, served at `/api/v1/metadata` beside the collector's own
//! metrics' (see [`crate::own_metrics::METADATA`]).
//!
//! Kept in memory only: agents send each name's entry again on every new stream, so a
//! restarted collector knows them again as soon as its agents reconnect. What it holds is
//! bounded: at most [`MAX_NAMES`] names, help texts of at most [`MAX_HELP_BYTES`], units of
//! at most [`MAX_UNIT_BYTES`]. An entry that is not acceptable (a bad name, an overlong
//! help text, a bad unit, a new name once the table is full) is ignored and counted by
//! reason (`vigil_collector_metadata_ignored_total{reason}`); it never fails the batch
//! that carried it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use vigil_proto::v1::{MetricMetadata, MetricType};

/// Most metric names kept. A node_exporter-like agent has a few hundred.
pub const MAX_NAMES: usize = 10_000;
/// Longest help text kept, in bytes.
pub const MAX_HELP_BYTES: usize = 1024;
/// Longest unit kept, in bytes.
pub const MAX_UNIT_BYTES: usize = 64;
/// Longest metric name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// What one metric name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Prometheus's type name: `counter`, `gauge`, `histogram`, `summary`, `info`,
    /// `stateset` or `unknown`.
    pub kind: &'static str,
    /// One line saying what it measures.
    pub help: String,
    /// Base unit, empty when it has none.
    pub unit: String,
}

/// The latest metadata per metric name, shared by every ingest stream.
#[derive(Debug, Default)]
pub struct Metadata {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_name: BTreeMap<String, Entry>,
    ignored: BTreeMap<&'static str, u64>,
}

/// Prometheus's name for a proto type (a value this build does not know is `unknown`).
pub fn type_name(kind: i32) -> &'static str {
    match MetricType::try_from(kind) {
        Ok(MetricType::Counter) => "counter",
        Ok(MetricType::Gauge) => "gauge",
        Ok(MetricType::Histogram) => "histogram",
        Ok(MetricType::Summary) => "summary",
        Ok(MetricType::Info) => "info",
        Ok(MetricType::Stateset) => "stateset",
        Ok(MetricType::Unspecified) | Err(_) => "unknown",
    }
}

/// Why `m` is not kept, or `None` when it is acceptable.
fn refusal(m: &MetricMetadata) -> Option<&'static str> {
    let name_ok = !m.name.is_empty()
        && m.name.len() <= MAX_NAME_BYTES
        && m.name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic() || b == b'_' || b == b':' || (i > 0 && b.is_ascii_digit())
        });
    if !name_ok {
        return Some("bad_metric_name");
    }
    if m.help.len() > MAX_HELP_BYTES {
        return Some("help_too_long");
    }
    let unit_ok = m.unit.len() <= MAX_UNIT_BYTES
        && m.unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !unit_ok {
        return Some("bad_unit");
    }
    None
}

impl Metadata {
    /// Keeps the acceptable entries of one batch (the latest entry of a name wins);
    /// counts the others.
    pub fn record(&self, entries: &[MetricMetadata]) {
        if entries.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for m in entries {
            let why = refusal(m).or_else(|| {
                let full = inner.by_name.len() >= MAX_NAMES;
                (full && !inner.by_name.contains_key(&m.name)).then_some("too_many_names")
            });
            if let Some(why) = why {
                *inner.ignored.entry(why).or_default() += 1;
                continue;
            }
            let entry = Entry {
                kind: type_name(m.r#type),
                help: m.help.clone(),
                unit: m.unit.clone(),
            };
            match inner.by_name.get_mut(&m.name) {
                Some(old) if *old == entry => {}
                Some(old) => *old = entry,
                None => {
                    inner.by_name.insert(m.name.clone(), entry);
                }
            }
        }
    }

    /// The entry of `name`, if any.
    pub fn get(&self, name: &str) -> Option<Entry> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_name.get(name).cloned()
    }

    /// Every entry, sorted by name.
    pub fn all(&self) -> Vec<(String, Entry)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .by_name
            .iter()
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect()
    }

    /// How many names are kept.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_name
            .len()
    }

    /// Whether no name is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries ignored so far, by reason.
    pub fn ignored(&self) -> Vec<(&'static str, u64)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.ignored.iter().map(|(r, n)| (*r, *n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, kind: MetricType, help: &str, unit: &str) -> MetricMetadata {
        MetricMetadata {
            name: name.into(),
            r#type: kind as i32,
            help: help.into(),
            unit: unit.into(),
        }
    }

    #[test]
    fn keeps_the_latest_entry_per_name() {
        let m = Metadata::default();
        m.record(&[
            meta("node_load1", MetricType::Gauge, "old", ""),
            meta(
                "node_cpu_seconds_total",
                MetricType::Counter,
                "cpu",
                "seconds",
            ),
        ]);
        m.record(&[meta("node_load1", MetricType::Gauge, "1m load", "")]);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m.get("node_load1"),
            Some(Entry {
                kind: "gauge",
                help: "1m load".into(),
                unit: String::new()
            })
        );
        let names: Vec<String> = m.all().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["node_cpu_seconds_total", "node_load1"]);
        assert_eq!(m.get("node_cpu_seconds_total").unwrap().unit, "seconds");
        assert!(m.ignored().is_empty());
    }

    #[test]
    fn bad_entries_are_ignored_and_counted() {
        let m = Metadata::default();
        let long = "x".repeat(MAX_HELP_BYTES + 1);
        m.record(&[
            meta("1bad", MetricType::Gauge, "", ""),
            meta("", MetricType::Gauge, "", ""),
            meta("a-b", MetricType::Gauge, "", ""),
            meta("ok_but_long_help", MetricType::Gauge, &long, ""),
            meta("ok_bad_unit", MetricType::Gauge, "", "m/s"),
            meta("fine", MetricType::Counter, &"y".repeat(MAX_HELP_BYTES), ""),
        ]);
        assert_eq!(m.len(), 1);
        assert_eq!(
            m.ignored(),
            [
                ("bad_metric_name", 3),
                ("bad_unit", 1),
                ("help_too_long", 1)
            ]
        );
    }

    #[test]
    fn an_unknown_type_is_unknown() {
        let m = Metadata::default();
        let mut odd = meta("odd", MetricType::Gauge, "", "");
        odd.r#type = 99;
        m.record(&[odd, meta("info", MetricType::Info, "", "")]);
        assert_eq!(m.get("odd").unwrap().kind, "unknown");
        assert_eq!(m.get("info").unwrap().kind, "info");
    }

    #[test]
    fn names_are_capped_but_known_ones_still_update() {
        let m = Metadata::default();
        let many: Vec<MetricMetadata> = (0..MAX_NAMES + 5)
            .map(|i| meta(&format!("m{i}"), MetricType::Gauge, "", ""))
            .collect();
        m.record(&many);
        assert_eq!(m.len(), MAX_NAMES);
        assert_eq!(m.ignored(), [("too_many_names", 5)]);
        m.record(&[meta("m0", MetricType::Counter, "now a counter", "")]);
        assert_eq!(m.get("m0").unwrap().kind, "counter");
        assert_eq!(m.ignored(), [("too_many_names", 5)]);
    }
}
