//! Silences on an in-memory store: adding, matching, expiring, reloading, retention and
//! the errors that say what is wrong.

use super::*;
use vigil_store::memory::MemoryStore;

const NOW: i64 = 1_795_000_000_000;
const HOUR: i64 = 3_600_000;

fn new(matchers: &[&str]) -> NewSilence {
    NewSilence {
        matchers: matchers.iter().map(|m| (*m).to_owned()).collect(),
        starts_at_ms: 0,
        ends_at_ms: NOW + HOUR,
        created_by: "ann".into(),
        comment: "disk swap".into(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> LabelMap {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// Opens the silences kept in `store` as a collector starting at `NOW` would.
fn open(store: &Arc<dyn Store>) -> Silences {
    Silences::open(store.clone(), NOW).unwrap()
}

#[test]
fn add_match_expire_and_reload() {
    let store = store();
    let silences = open(&store);
    let s = silences
        .add(new(&["alertname=DiskFull", r#"host=~"db-.*""#]), NOW)
        .unwrap();
    assert_eq!(s.id.len(), 16);
    assert!(s.id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(s.matchers, [r#"alertname="DiskFull""#, r#"host=~"db-.*""#]);
    assert_eq!((s.starts_at_ms, s.ends_at_ms), (NOW, NOW + HOUR));

    let db1 = labels(&[("alertname", "DiskFull"), ("host", "db-1")]);
    let web1 = labels(&[("alertname", "DiskFull"), ("host", "web-1")]);
    assert_eq!(
        silences.silenced_by(&db1, NOW + 1),
        std::slice::from_ref(&s.id)
    );
    assert!(silences.silenced_by(&web1, NOW + 1).is_empty());
    assert!(silences.silenced_by(&db1, NOW + HOUR).is_empty());

    // A pending one does not mute yet.
    let later = silences
        .add(
            NewSilence {
                starts_at_ms: NOW + HOUR,
                ends_at_ms: NOW + 2 * HOUR,
                ..new(&["host=web-1"])
            },
            NOW,
        )
        .unwrap();
    assert!(silences.silenced_by(&web1, NOW).is_empty());
    assert_eq!(later.state(NOW), SilenceState::Pending);
    let listed: Vec<String> = silences
        .list(false, NOW)
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [later.id.clone(), s.id.clone()]);

    let expired = silences.expire(&s.id, NOW + 10).unwrap();
    assert_eq!(expired.ends_at_ms, NOW + 10);
    assert!(silences.silenced_by(&db1, NOW + 11).is_empty());
    assert!(matches!(
        silences.expire(&s.id, NOW + 20),
        Err(SilenceError::AlreadyExpired(_))
    ));
    assert!(matches!(
        silences.expire("0123456789abcdef", NOW),
        Err(SilenceError::NotFound(_))
    ));
    assert_eq!(silences.list(false, NOW + 20).len(), 1);
    assert_eq!(silences.list(true, NOW + 20).len(), 2);
    drop(silences);

    // Survives a restart (the expired one is still within its retention).
    let silences = open(&store);
    let mut ids: Vec<String> = silences
        .list(true, NOW + 20)
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    let mut expected = vec![s.id.clone(), later.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(silences.silenced_by(&web1, NOW + HOUR + 1), [later.id]);
}

#[test]
fn expired_silences_are_removed_after_the_retention() {
    let store = store();
    let silences = open(&store);
    let old = silences.add(new(&["host=a"]), NOW).unwrap();
    silences.expire(&old.id, NOW + 1).unwrap();
    let later = NOW + RETENTION.as_millis() as i64 + 10;
    assert!(silences.list(true, later).is_empty());
    silences
        .add(
            NewSilence {
                ends_at_ms: later + HOUR,
                ..new(&["host=b"])
            },
            later,
        )
        .unwrap();
    let left: Vec<Vec<String>> = silences
        .list(true, later)
        .into_iter()
        .map(|s| s.matchers)
        .collect();
    assert_eq!(left, [vec![r#"host="b""#.to_owned()]]);
    assert_eq!(silences.store.kv_scan(Space::Silences).unwrap().len(), 1);
}

#[test]
fn bad_silences_say_what_is_wrong() {
    let store = store();
    let silences = open(&store);
    for (silence, says) in [
        (new(&[]), "at least one matcher"),
        (new(&["host"]), "bad matcher \"host\""),
        (new(&[r#"host=~"(""#]), "bad regex"),
        (new(&[r#"host=~".*""#]), "would silence every alert"),
        (new(&["host!=x"]), "would silence every alert"),
        (
            NewSilence {
                ends_at_ms: NOW - 1,
                ..new(&["host=a"])
            },
            "before it starts",
        ),
        (
            NewSilence {
                comment: " ".into(),
                ..new(&["host=a"])
            },
            "--comment",
        ),
        (
            NewSilence {
                created_by: String::new(),
                ..new(&["host=a"])
            },
            "--author",
        ),
    ] {
        let err = silences.add(silence.clone(), NOW).unwrap_err().to_string();
        assert!(err.contains(says), "{silence:?}: {err}");
    }
    assert!(silences.list(true, NOW).is_empty());
}
