//! The sink collectors write into, and the agent's table of series ids.
//!
//! A series gets a small integer id the first time any collector writes it; the id stays
//! the same for the life of the agent process, so a batch can name series by id and the
//! stream only has to define each series once (see `vigil/v1/ingest.proto`).
//!
//! Collectors write the same series in the same order every round, so the sink remembers
//! which series followed which last time and first checks whether the next push is that
//! one, by comparing its name and labels with the remembered key: no key to build and no
//! hash to compute in the steady state. A push that is not the expected series (a new
//! device, one gone, a label value that changed) falls back to the lookup table.

use std::collections::HashMap;

/// Name and labels of one series, labels sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesKey {
    /// Metric name, e.g. `node_cpu_seconds_total`.
    pub name: String,
    /// Labels sorted by name, e.g. `[("cpu", "0"), ("mode", "idle")]`.
    pub labels: Vec<(String, String)>,
}

/// Collects one round of samples and remembers every series seen so far.
#[derive(Debug, Default)]
pub struct Sink {
    /// Lookup key (name and labels joined by NUL) → id. NUL cannot appear in a metric name
    /// and is vanishingly rare in a label value, and a clash would only merge two series.
    ids: HashMap<String, u64>,
    /// Definitions, indexed by `id - 1`.
    keys: Vec<SeriesKey>,
    /// Reused buffer for building lookup keys without allocating per sample.
    scratch: String,
    /// Indices of the labels being pushed, in label-name order; reused per sample.
    sorted: Vec<usize>,
    /// This round's series ids and values, in the order written.
    round_ids: Vec<u64>,
    round_values: Vec<f64>,
    /// `next[id]`: the id pushed right after `id` the last time `id` was pushed (0: none
    /// yet); `next[0]` is the first id of a round.
    next: Vec<u64>,
    /// The id pushed last in this round, 0 before the first push.
    last: u64,
    /// Pushes that went to the lookup table.
    #[cfg(test)]
    table_lookups: usize,
}

impl Sink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one sample of the series `name{labels}`. Labels may come in any order.
    pub fn push(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sorted.clear();
        self.sorted.extend(0..labels.len());
        self.sorted.sort_by(|&a, &b| labels[a].0.cmp(labels[b].0));
        let expected = self.next.get(self.last as usize).copied().unwrap_or(0);
        let id = if expected != 0 && self.is_series(expected, name, labels) {
            expected
        } else {
            self.look_up(name, labels)
        };
        let last = self.last as usize;
        if self.next.len() <= last {
            self.next.resize(last + 1, 0);
        }
        self.next[last] = id;
        self.last = id;
        self.round_ids.push(id);
        self.round_values.push(value);
    }

    /// Whether series `id` is `name{labels}`, labels taken in `self.sorted` order.
    fn is_series(&self, id: u64, name: &str, labels: &[(&str, &str)]) -> bool {
        let Some(key) = self.series(id) else {
            return false;
        };
        key.name == name
            && key.labels.len() == labels.len()
            && key.labels.iter().zip(&self.sorted).all(|((k, v), &i)| {
                let (name, value) = labels[i];
                k == name && v == value
            })
    }

    /// The id of `name{labels}` from the table, defining the series if it is new; labels
    /// taken in `self.sorted` order.
    fn look_up(&mut self, name: &str, labels: &[(&str, &str)]) -> u64 {
        #[cfg(test)]
        {
            self.table_lookups += 1;
        }
        self.scratch.clear();
        self.scratch.push_str(name);
        for &i in &self.sorted {
            self.scratch.push('\0');
            self.scratch.push_str(labels[i].0);
            self.scratch.push('\0');
            self.scratch.push_str(labels[i].1);
        }
        if let Some(&id) = self.ids.get(self.scratch.as_str()) {
            return id;
        }
        let key = SeriesKey {
            name: name.to_owned(),
            labels: self
                .sorted
                .iter()
                .map(|&i| (labels[i].0.to_owned(), labels[i].1.to_owned()))
                .collect(),
        };
        self.keys.push(key);
        let id = self.keys.len() as u64;
        self.ids.insert(self.scratch.clone(), id);
        id
    }

    /// Number of samples written this round.
    pub fn len(&self) -> usize {
        self.round_ids.len()
    }

    /// True when nothing was written this round.
    pub fn is_empty(&self) -> bool {
        self.round_ids.is_empty()
    }

    /// Ends the round: returns its series ids and values and starts an empty round.
    pub fn take_round(&mut self) -> (Vec<u64>, Vec<f64>) {
        let n = self.round_ids.len();
        self.last = 0;
        (
            std::mem::replace(&mut self.round_ids, Vec::with_capacity(n)),
            std::mem::replace(&mut self.round_values, Vec::with_capacity(n)),
        )
    }

    /// The id of `key`, adding it to the table if new, without writing a sample: for
    /// series of rounds an earlier process spooled.
    pub fn intern(&mut self, key: &SeriesKey) -> u64 {
        let labels: Vec<(&str, &str)> = key
            .labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.push(&key.name, &labels, 0.0);
        let id = self.round_ids.pop().unwrap_or_default();
        self.round_values.pop();
        id
    }

    /// The series with this id, if any.
    pub fn series(&self, id: u64) -> Option<&SeriesKey> {
        id.checked_sub(1).and_then(|i| self.keys.get(i as usize))
    }

    /// Value of the sample last pushed for `name{labels}` this round (for tests).
    pub fn value_of(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut want: Vec<(&str, &str)> = labels.to_vec();
        want.sort();
        self.round_ids
            .iter()
            .zip(&self.round_values)
            .rev()
            .find_map(|(&id, &v)| {
                let key = self.series(id)?;
                let same = key.name == name
                    && key.labels.len() == want.len()
                    && key
                        .labels
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.0 == b.0 && a.1 == b.1);
                same.then_some(v)
            })
    }

    /// Every sample of this round as (series, value), for tests and debugging.
    pub fn round(&self) -> impl Iterator<Item = (&SeriesKey, f64)> {
        self.round_ids
            .iter()
            .zip(&self.round_values)
            .filter_map(|(&id, &v)| Some((self.series(id)?, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_series_keeps_its_id_whatever_the_label_order() {
        let mut sink = Sink::new();
        sink.push("m", &[("b", "2"), ("a", "1")], 1.0);
        sink.push("m", &[("a", "1"), ("b", "2")], 2.0);
        sink.push("m", &[("a", "1")], 3.0);
        let (ids, values) = sink.take_round();
        assert_eq!(ids, vec![1, 1, 2]);
        assert_eq!(values, vec![1.0, 2.0, 3.0]);
        let key = sink.series(1).unwrap();
        assert_eq!(
            key.labels,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert!(sink.is_empty());
        sink.push("m", &[("a", "1")], 4.0);
        assert_eq!(sink.take_round().0, vec![2]);
    }

    /// One sample: name, labels, value.
    type Sample<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

    /// Pushes one round of samples and returns their ids.
    fn round(sink: &mut Sink, series: &[Sample]) -> Vec<u64> {
        for (name, labels, value) in series {
            sink.push(name, labels, *value);
        }
        sink.take_round().0
    }

    #[test]
    fn a_steady_round_needs_no_table_lookup_and_changes_still_get_the_right_ids() {
        let mut sink = Sink::new();
        let cpu0: &[(&str, &str)] = &[("mode", "idle"), ("cpu", "0")];
        let cpu1: &[(&str, &str)] = &[("cpu", "1"), ("mode", "idle")];
        let host: &[(&str, &str)] = &[("nodename", "a")];
        let steady = [("cpu", cpu0, 1.0), ("cpu", cpu1, 2.0), ("up", host, 1.0)];
        assert_eq!(round(&mut sink, &steady), [1, 2, 3]);
        assert_eq!(sink.table_lookups, 3);
        for _ in 0..3 {
            assert_eq!(round(&mut sink, &steady), [1, 2, 3]);
        }
        assert_eq!(sink.table_lookups, 3, "steady rounds went to the table");

        // A label value changed in place, a series gone, the order changed.
        let renamed: &[(&str, &str)] = &[("nodename", "b")];
        let changed = [("cpu", cpu1, 2.0), ("up", renamed, 1.0), ("cpu", cpu0, 1.0)];
        assert_eq!(round(&mut sink, &changed), [2, 4, 1]);
        assert_eq!(round(&mut sink, &changed), [2, 4, 1]);
        assert_eq!(round(&mut sink, &steady), [1, 2, 3]);
        let key = sink.series(4).expect("defined");
        assert_eq!(key.labels, [("nodename".to_owned(), "b".to_owned())]);
        // Same name and label names, another value; and a label missing.
        let other: &[(&str, &str)] = &[("cpu", "0"), ("mode", "user")];
        let fewer: &[(&str, &str)] = &[("cpu", "1")];
        let odd = [("cpu", other, 0.5), ("cpu", fewer, 0.0), ("up", host, 1.0)];
        assert_eq!(round(&mut sink, &odd), [5, 6, 3]);
        assert_eq!(sink.series(5).expect("defined").labels[1].1, "user");
    }
}
