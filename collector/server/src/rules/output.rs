//! Series the rules write: recording rules' results and the `ALERTS` /
//! `ALERTS_FOR_STATE` series of alerts.
//!
//! Each writer remembers what it wrote last time; a series it no longer writes gets
//! Prometheus's staleness marker, so an instant query stops returning it at once instead
//! of five minutes (the lookback) later.
//!
//! A series is stored under the host named by its `host` label, or under the pseudo-host
//! [`RULES_HOST`] when it has none. Rule output does not count against a host's series
//! limit: the operator wrote the rules, and refusing their output would silently hide alerts.

use std::collections::{BTreeMap, HashSet};

use vigil_store::{Labels, METRIC_NAME, SeriesId, SeriesSamples, Store, StoreResult};

/// The host that series without a `host` label are stored under.
pub const RULES_HOST: &str = "(rules)";

/// Prometheus's staleness marker: "this series ended here".
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Writes one rule's series at each evaluation, and ends the ones that disappear.
#[derive(Debug, Default)]
pub struct SeriesWriter {
    previous: HashSet<SeriesId>,
}

impl SeriesWriter {
    /// Writes `series` at `now_ms` and a staleness marker for every series written last
    /// time but not now.
    pub fn write(
        &mut self,
        store: &dyn Store,
        now_ms: i64,
        series: &[(Labels, f64)],
    ) -> StoreResult<()> {
        let mut by_host: BTreeMap<&str, (Vec<Labels>, Vec<f64>)> = BTreeMap::new();
        for (labels, value) in series {
            let host = match labels.get("host") {
                "" => RULES_HOST,
                h => h,
            };
            let entry = by_host.entry(host).or_default();
            entry.0.push(labels.clone());
            entry.1.push(*value);
        }
        let mut samples = Vec::new();
        let mut current = HashSet::new();
        for (host, (labels, values)) in by_host {
            let ids = store.resolve_series(host, &labels, u64::MAX)?;
            for (id, value) in ids.into_iter().zip(values) {
                if current.insert(id) {
                    samples.push(SeriesSamples {
                        id,
                        samples: vec![(now_ms, value)],
                    });
                }
            }
        }
        for &id in self.previous.difference(&current) {
            samples.push(SeriesSamples {
                id,
                samples: vec![(now_ms, f64::from_bits(STALE_NAN))],
            });
        }
        if !samples.is_empty() {
            store.append(&samples)?;
        }
        self.previous = current;
        Ok(())
    }
}

/// `ALERTS{alertname, alertstate, …}` = 1 and `ALERTS_FOR_STATE{alertname, …}` = the unix
/// second the condition started holding, as Prometheus writes them.
pub fn alert_series(labels: &Labels, firing: bool, active_since_ms: i64) -> [(Labels, f64); 2] {
    let with = |name: &str, state: Option<&str>| {
        let mut pairs: Vec<(String, String)> = labels
            .pairs()
            .iter()
            .filter(|(n, _)| n != METRIC_NAME)
            .cloned()
            .collect();
        pairs.push((METRIC_NAME.to_owned(), name.to_owned()));
        if let Some(state) = state {
            pairs.push(("alertstate".to_owned(), state.to_owned()));
        }
        Labels::new(pairs)
    };
    let state = if firing { "firing" } else { "pending" };
    [
        (with("ALERTS", Some(state)), 1.0),
        (
            with("ALERTS_FOR_STATE", None),
            (active_since_ms / 1000) as f64,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::memory::MemoryStore;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    #[test]
    fn writes_under_the_host_label_and_ends_vanished_series() {
        let store = MemoryStore::new();
        let a = labels(&[("__name__", "rec"), ("host", "web-1")]);
        let b = labels(&[("__name__", "rec"), ("job", "x")]);
        let mut writer = SeriesWriter::default();
        writer
            .write(&store, 1000, &[(a.clone(), 1.0), (b.clone(), 2.0)])
            .unwrap();
        assert_eq!(store.series_count("web-1").unwrap(), 1);
        assert_eq!(store.series_count(RULES_HOST).unwrap(), 1);
        writer.write(&store, 2000, &[(a.clone(), 3.0)]).unwrap();
        let id_b = store.resolve_series(RULES_HOST, &[b], 10).unwrap()[0];
        let mut out = Vec::new();
        store.samples(id_b, 0, 5000, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], (1000, 2.0));
        assert_eq!(out[1].1.to_bits(), STALE_NAN);
    }

    #[test]
    fn alert_series_have_prometheus_names_and_labels() {
        let l = labels(&[("alertname", "HighCpu"), ("host", "a")]);
        let [(alerts, one), (for_state, since)] = alert_series(&l, true, 90_500);
        assert_eq!(alerts.name(), "ALERTS");
        assert_eq!(alerts.get("alertstate"), "firing");
        assert_eq!(alerts.get("alertname"), "HighCpu");
        assert_eq!(one, 1.0);
        assert_eq!(for_state.name(), "ALERTS_FOR_STATE");
        assert_eq!(for_state.get("alertstate"), "");
        assert_eq!(since, 90.0);
    }
}
