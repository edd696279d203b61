//! Warnings for a query whose reads met damaged data: the store leaves what it cannot read
//! out of the result (see `vigil_store::damage`), and the answer names it, in the
//! Prometheus API's `warnings` field and on the CLI, instead of failing whole.

use crate::rules::evaluate::{describe, rfc3339};
use vigil_store::Store;
use vigil_store::damage::{Loss, collect};

/// Longest engine message kept in a warning.
const MAX_DETAIL: usize = 240;

/// Runs `work` (a query, on this thread), returning its result and one warning per damaged
/// part its reads left out.
pub fn with_warnings<T>(store: &dyn Store, work: impl FnOnce() -> T) -> (T, Vec<String>) {
    let (value, losses, more) = collect(work);
    if losses.is_empty() {
        return (value, Vec::new());
    }
    let ids: Vec<u64> = losses.iter().filter_map(|l| l.series).collect();
    let labels = store.series_labels(&ids).unwrap_or_default();
    let mut names = ids.iter().zip(labels);
    let mut warnings: Vec<String> = losses
        .iter()
        .map(|loss| {
            let series = match loss.series {
                Some(_) => match names.next() {
                    Some((_, Some(labels))) => describe(&labels),
                    Some((id, None)) => format!("series {id}"),
                    None => "a series".to_owned(),
                },
                None => "some series".to_owned(),
            };
            warning(&series, loss)
        })
        .collect();
    if more > 0 {
        warnings.push(format!("and {more} more damaged parts left out"));
    }
    (value, warnings)
}

fn warning(series: &str, loss: &Loss) -> String {
    let mut detail = loss.detail.clone();
    if detail.len() > MAX_DETAIL {
        let cut = (0..=MAX_DETAIL)
            .rev()
            .find(|&i| detail.is_char_boundary(i))
            .unwrap_or(0);
        detail.truncate(cut);
        detail.push('…');
    }
    format!(
        "damaged data left out: {series} from {} to {} cannot be read ({detail}); run \
         `vigil-collector repair` while the collector is stopped",
        rfc3339(loss.from_ms),
        rfc3339(loss.to_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::Labels;
    use vigil_store::damage::note;
    use vigil_store::memory::MemoryStore;

    #[test]
    fn each_loss_is_named_by_its_series_labels_and_times() {
        let store = MemoryStore::new();
        let labels = Labels::from_pairs(&[("__name__", "node_load1"), ("host", "web-1")]);
        let id = store.resolve_series("web-1", &[labels], 10).unwrap()[0];
        let (n, warnings) = with_warnings(&store, || {
            note(Loss {
                series: Some(id),
                from_ms: 7_200_000,
                to_ms: 14_399_999,
                detail: "Corruption: block checksum mismatch in /data/000012.sst".into(),
            });
            42
        });
        assert_eq!(n, 42);
        assert_eq!(
            warnings,
            vec![
                "damaged data left out: node_load1{host=\"web-1\"} from 1970-01-01T02:00:00Z to \
                 1970-01-01T03:59:59Z cannot be read (Corruption: block checksum mismatch in \
                 /data/000012.sst); run `vigil-collector repair` while the collector is stopped"
                    .to_owned()
            ]
        );
        let (_, none) = with_warnings(&store, || ());
        assert!(none.is_empty());
    }
}
