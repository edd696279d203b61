use super::*;
use tonic::Code;
use vigil_store::Labels;
use vigil_store::memory::MemoryStore;

const NOW: i64 = 1_800_000_000_000;

fn hello(host: &str) -> Hello {
    Hello {
        hostname: host.to_owned(),
        interval_ms: 10_000,
        ..Hello::default()
    }
}

fn connect(registry: &Registry, host: &str) -> Result<(), ConnectError> {
    registry.connect(host, &hello(host), "127.0.0.1:1", NOW)
}

/// Gives `host` one series, as an import would.
fn import_series(store: &dyn Store, host: &str) {
    let labels = Labels::from_pairs(&[("__name__", "imported"), ("host", host)]);
    store.resolve_series(host, &[labels], 10).unwrap();
}

#[test]
fn a_new_host_past_max_hosts_is_refused_and_known_ones_go_on() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = Registry::new(store.clone(), Duration::from_secs(30), 3);
    // An imported host counts; series without a host label, rule output without one and
    // the collector's own series do not.
    import_series(store.as_ref(), "imported");
    for account in [UNHOSTED, "(rules)", SELF_HOST] {
        let loose = Labels::from_pairs(&[("__name__", "loose")]);
        store.resolve_series(account, &[loose], 10).unwrap();
    }
    connect(&registry, "a").unwrap();
    connect(&registry, "b").unwrap();

    let Err(ConnectError::Refused(v)) = connect(&registry, "c") else {
        panic!("a fourth host must be refused");
    };
    assert_eq!(
        (v.code(), v.reason),
        (Code::ResourceExhausted, "host_limit")
    );
    assert!(
        v.message.contains("\"c\"") && v.message.contains("at most 3 hosts (limits.max_hosts)"),
        "{}",
        v.message
    );
    assert!(store.host("c").unwrap().is_none(), "nothing kept of it");

    // Known hosts reconnect: by their record, or by their imported series.
    connect(&registry, "a").unwrap();
    connect(&registry, "imported").unwrap();
    let hosts: Vec<String> = registry
        .hosts(NOW)
        .unwrap()
        .into_iter()
        .map(|h| h.host)
        .collect();
    assert_eq!(hosts, ["a", "b", "imported"]);
}

#[test]
fn host_limit_names_the_first_host_that_does_not_fit() {
    let store = MemoryStore::new();
    import_series(&store, "old");
    let none = host_limit(&store, &["old", "new-1", "new-1", UNHOSTED], 2).unwrap();
    assert!(none.is_none());
    let (i, v) = host_limit(&store, &["old", "new-1", "old", "new-2", "new-3"], 2)
        .unwrap()
        .expect("new-2 does not fit");
    assert_eq!(i, 3);
    assert!(v.message.contains("\"new-2\""), "{}", v.message);
    // Only known hosts: no counting at all.
    assert!(host_limit(&store, &["old"], 1).unwrap().is_none());
}

#[test]
fn a_host_s_clock_skew_and_refused_samples_come_from_its_batches() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = Registry::new(store, Duration::from_secs(30), 10);
    connect(&registry, "ahead").unwrap();
    connect(&registry, "old-agent").unwrap();
    // An hour ahead; then a batch that does not say when it was sent changes nothing.
    registry.batch("ahead", NOW, NOW + 3_600_000, 300);
    registry.batch("ahead", NOW + 1_000, 0, 300);
    registry.batch("old-agent", NOW, 0, 0);
    registry.batch("never-connected", NOW, NOW, 5);
    assert_eq!(registry.skews(), vec![("ahead".to_owned(), 3_600_000)]);
    let hosts = registry.hosts(NOW).unwrap();
    let ahead = hosts.iter().find(|h| h.host == "ahead").unwrap();
    assert!(ahead.clock_skew_known);
    assert_eq!(
        (ahead.clock_skew_ms, ahead.samples_refused),
        (3_600_000, 600)
    );
    let old = hosts.iter().find(|h| h.host == "old-agent").unwrap();
    assert!(!old.clock_skew_known);
    assert_eq!(old.samples_refused, 0);
    // Absurd send times from a broken or hostile agent: no overflow, no panic.
    registry.batch("ahead", i64::MIN + 1, i64::MAX, 0);
    assert_eq!(registry.skews()[0].1, i64::MAX);
    registry.batch("ahead", i64::MAX, 1, 0);
    assert!(registry.skews()[0].1 < 0);
}
