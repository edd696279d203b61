use super::*;
use std::time::Duration;
use vigil_proto::v1::{Hello, Label};
use vigil_store::memory::MemoryStore;

const START: i64 = 1_800_000_000_000;

fn hello(host: &str, labels: &[(&str, &str)]) -> Hello {
    Hello {
        hostname: host.to_owned(),
        interval_ms: 10_000,
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        ..Hello::default()
    }
}

/// Every `up` series with its samples.
fn ups(store: &dyn Store) -> Vec<(Labels, Vec<(i64, f64)>)> {
    stored(store, "up")
}

#[test]
fn silent_hosts_get_up_0_with_their_target_labels_and_reporting_ones_none() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = Registry::new(store.clone(), Duration::from_secs(60), 100);
    registry
        .connect("web-1", &hello("web-1", &[("env", "prod")]), "peer", START)
        .unwrap();
    registry
        .connect(
            "db-1",
            &hello("db-1", &[("job", "db"), ("instance", "db-1:9100")]),
            "peer",
            START,
        )
        .unwrap();
    let silence = Silence::new(Arc::new(Relabeler::default()), START, u64::MAX);

    // 25 s is two intervals and 5 s: not silent yet.
    assert_eq!(
        silence
            .write(store.as_ref(), &registry, START + 25_000)
            .unwrap(),
        0
    );
    registry.seen("web-1", START + 20_000);
    assert_eq!(
        silence
            .write(store.as_ref(), &registry, START + 26_000)
            .unwrap(),
        1
    );
    let written = ups(store.as_ref());
    assert_eq!(written.len(), 1);
    let (labels, samples) = &written[0];
    assert_eq!(
        labels,
        &Labels::from_pairs(&[
            ("__name__", "up"),
            ("host", "db-1"),
            ("instance", "db-1:9100"),
            ("job", "db"),
        ])
    );
    assert_eq!(samples, &vec![(START + 26_000, 0.0)]);
    assert_eq!(
        silence
            .write(store.as_ref(), &registry, START + 46_000)
            .unwrap(),
        2
    );
    let web = ups(store.as_ref())
        .into_iter()
        .find(|(l, _)| l.get("host") == "web-1")
        .expect("web-1's up");
    assert_eq!(web.0.get("job"), "node", "job defaults to node");
    assert_eq!(
        web.0.get("instance"),
        "web-1",
        "instance defaults to the host"
    );
    assert_eq!(web.0.get("env"), "prod");
}

#[test]
fn silence_counts_from_the_collectors_start_and_follows_relabelling() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = Registry::new(store.clone(), Duration::from_secs(60), 100);
    registry
        .connect("web-1", &hello("web-1", &[]), "peer", START)
        .unwrap();
    let relabel = Relabeler::new(&[crate::relabel::RelabelConfig {
        source_labels: vec!["instance".into()],
        target_label: "node".into(),
        ..Default::default()
    }])
    .unwrap();
    // The collector started an hour after the host was last heard from.
    let started = START + 3_600_000;
    let silence = Silence::new(Arc::new(relabel), started, u64::MAX);
    assert_eq!(
        silence
            .write(store.as_ref(), &registry, started + 20_000)
            .unwrap(),
        0
    );
    assert_eq!(
        silence
            .write(store.as_ref(), &registry, started + 30_000)
            .unwrap(),
        1
    );
    assert_eq!(ups(store.as_ref())[0].0.get("node"), "web-1");
}
