//! Which series a remote gets, and with which labels: `external_labels` are added where
//! the series lacks them, then `write_relabel` runs, then `match` chooses. Built once per
//! remote from its [`RemoteWriteConfig`].

use super::config::RemoteWriteConfig;
use super::wire;
use crate::relabel::{Outcome, Relabeler};
use vigil_store::selector::Selector;
use vigil_store::{Labels, METRIC_NAME};

/// A remote's compiled `external_labels`, `write_relabel` and `match`.
#[derive(Debug)]
pub struct SeriesFilter {
    external: Vec<(String, String)>,
    relabeler: Relabeler,
    selectors: Vec<Selector>,
}

impl SeriesFilter {
    /// Compiles the entry's filter. The error starts with the key inside the entry
    /// (`match[0]: …`, `write_relabel[1].regex: …`, `external_labels.x: …`); the caller
    /// puts `remote_write[i].` before it.
    pub fn new(config: &RemoteWriteConfig) -> Result<SeriesFilter, String> {
        let mut external = Vec::with_capacity(config.external_labels.len());
        for (name, value) in &config.external_labels {
            let at = format!("external_labels.{name}");
            if name == METRIC_NAME {
                return Err(format!(
                    "{at}: the metric name cannot be an external label; use write_relabel to \
                     rename metrics"
                ));
            }
            if !valid_label_name(name) {
                return Err(format!(
                    "{at}: {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                ));
            }
            if value.is_empty() {
                return Err(format!(
                    "{at}: the value is empty; give one or remove the label"
                ));
            }
            external.push((name.clone(), value.clone()));
        }
        let relabeler = Relabeler::new(&config.write_relabel).map_err(|e| {
            // `relabel[2].regex: …` from the shared checker → `write_relabel[2].regex: …`.
            match e.strip_prefix("relabel[") {
                Some(rest) => format!("write_relabel[{rest}"),
                None => format!("write_relabel: {e}"),
            }
        })?;
        let selectors = config
            .r#match
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Selector::parse(text).map_err(|e| {
                    format!("match[{i}]: {e}; write a selector like {{__name__=~\"node_.*\"}}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SeriesFilter {
            external,
            relabeler,
            selectors,
        })
    }

    /// The labels to send for a series stored with `labels`, sorted by name, or `None`
    /// when this remote does not get it (dropped by `write_relabel`, or matching no
    /// selector of `match`).
    pub fn apply(&self, labels: &Labels) -> Option<Vec<wire::Label>> {
        let labels = if self.external.iter().all(|(n, _)| !labels.get(n).is_empty()) {
            labels.clone()
        } else {
            let mut pairs = labels.pairs().to_vec();
            for (name, value) in &self.external {
                if labels.get(name).is_empty() {
                    pairs.push((name.clone(), value.clone()));
                }
            }
            Labels::new(pairs)
        };
        let labels = match self.relabeler.apply(labels) {
            Outcome::Keep(labels) => labels,
            Outcome::Dropped | Outcome::Invalid(_) => return None,
        };
        if !self.selectors.is_empty() && !self.selectors.iter().any(|s| s.matches(&labels)) {
            return None;
        }
        Some(
            labels
                .pairs()
                .iter()
                .filter(|(_, value)| !value.is_empty())
                .map(|(name, value)| wire::Label {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        )
    }
}

/// Prometheus' label-name syntax.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relabel::{Action, RelabelConfig};

    fn names(labels: &[wire::Label]) -> Vec<(String, String)> {
        labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn config() -> RemoteWriteConfig {
        RemoteWriteConfig {
            url: "http://127.0.0.1:1/api/v1/write".into(),
            external_labels: [("site", "a"), ("host", "collector-1")]
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            ..RemoteWriteConfig::default()
        }
    }

    #[test]
    fn external_labels_are_added_where_missing_and_sorted() {
        let filter = SeriesFilter::new(&config()).unwrap();
        let own = Labels::from_pairs(&[("__name__", "up"), ("host", "web-1"), ("zone", "z")]);
        assert_eq!(
            names(&filter.apply(&own).unwrap()),
            pairs(&[
                ("__name__", "up"),
                ("host", "web-1"),
                ("site", "a"),
                ("zone", "z")
            ]),
            "the series' own host wins over the external one"
        );
        let unhosted = Labels::from_pairs(&[("__name__", "up"), ("site", "b")]);
        assert_eq!(
            names(&filter.apply(&unhosted).unwrap()),
            pairs(&[("__name__", "up"), ("host", "collector-1"), ("site", "b")])
        );
    }

    #[test]
    fn write_relabel_runs_after_external_labels_and_match_last() {
        let mut c = config();
        c.write_relabel = vec![
            RelabelConfig {
                action: Action::Drop,
                source_labels: vec!["__name__".into()],
                regex: "node_softnet_.*".into(),
                ..RelabelConfig::default()
            },
            RelabelConfig {
                source_labels: vec!["site".into()],
                target_label: "region".into(),
                replacement: "eu-$1".into(),
                ..RelabelConfig::default()
            },
        ];
        c.r#match = vec![
            r#"{__name__=~"node_.*"}"#.into(),
            r#"{region="eu-b"}"#.into(),
        ];
        let filter = SeriesFilter::new(&c).unwrap();
        let sent = |pairs: &[(&str, &str)]| filter.apply(&Labels::from_pairs(pairs));
        let load = sent(&[("__name__", "node_load1"), ("host", "h")]).unwrap();
        assert!(
            names(&load).contains(&("region".into(), "eu-a".into())),
            "relabelling sees the external label: {load:?}"
        );
        assert_eq!(sent(&[("__name__", "node_softnet_dropped_total")]), None);
        assert_eq!(
            sent(&[("__name__", "up"), ("host", "h")]),
            None,
            "no selector matches"
        );
        assert!(
            sent(&[("__name__", "up"), ("site", "b")]).is_some(),
            "the second selector matches after relabelling"
        );

        let mut keep = config();
        keep.write_relabel = vec![RelabelConfig {
            action: Action::Keep,
            source_labels: vec!["__name__".into()],
            regex: "up".into(),
            ..RelabelConfig::default()
        }];
        let filter = SeriesFilter::new(&keep).unwrap();
        assert!(
            filter
                .apply(&Labels::from_pairs(&[("__name__", "up")]))
                .is_some()
        );
        assert!(
            filter
                .apply(&Labels::from_pairs(&[("__name__", "node_load1")]))
                .is_none()
        );
    }

    #[test]
    fn errors_name_the_key_inside_the_entry() {
        let mut c = config();
        c.r#match = vec!["up".into(), "{".into()];
        let e = SeriesFilter::new(&c).unwrap_err();
        assert!(e.starts_with("match[1]: "), "{e}");
        let mut c = config();
        c.write_relabel = vec![RelabelConfig {
            regex: "(".into(),
            target_label: "x".into(),
            ..RelabelConfig::default()
        }];
        let e = SeriesFilter::new(&c).unwrap_err();
        assert!(e.starts_with("write_relabel[0].regex: "), "{e}");
        for bad in ["__name__", "1x", "a-b"] {
            let mut c = config();
            c.external_labels.insert(bad.into(), "v".into());
            let e = SeriesFilter::new(&c).unwrap_err();
            assert!(e.starts_with(&format!("external_labels.{bad}: ")), "{e}");
        }
    }
}
