//! The sink collectors write into, and the agent's table of series ids.
//!
//! A series gets a small integer id the first time any collector writes it; the id stays
//! the same for the life of the agent process, so a batch can name series by id and the
//! stream only has to define each series once (see `vigil/v1/ingest.proto`).

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
    /// Sorted-label buffer reused per sample.
    sorted: Vec<(usize, usize)>,
    /// This round's series ids and values, in the order written.
    round_ids: Vec<u64>,
    round_values: Vec<f64>,
}

impl Sink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one sample of the series `name{labels}`. Labels may come in any order.
    pub fn push(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sorted.clear();
        self.sorted.extend((0..labels.len()).map(|i| (i, i)));
        self.sorted.sort_by(|a, b| labels[a.0].0.cmp(labels[b.0].0));
        self.scratch.clear();
        self.scratch.push_str(name);
        for &(i, _) in &self.sorted {
            self.scratch.push('\0');
            self.scratch.push_str(labels[i].0);
            self.scratch.push('\0');
            self.scratch.push_str(labels[i].1);
        }
        let id = match self.ids.get(self.scratch.as_str()) {
            Some(&id) => id,
            None => {
                let key = SeriesKey {
                    name: name.to_owned(),
                    labels: self
                        .sorted
                        .iter()
                        .map(|&(i, _)| (labels[i].0.to_owned(), labels[i].1.to_owned()))
                        .collect(),
                };
                self.keys.push(key);
                let id = self.keys.len() as u64;
                self.ids.insert(self.scratch.clone(), id);
                id
            }
        };
        self.round_ids.push(id);
        self.round_values.push(value);
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
        (
            std::mem::replace(&mut self.round_ids, Vec::with_capacity(n)),
            std::mem::replace(&mut self.round_values, Vec::with_capacity(n)),
        )
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
}
