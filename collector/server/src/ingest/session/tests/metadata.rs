//! `Batch.metadata`: kept per metric name for `/api/v1/metadata`; a bad entry is ignored and
//! counted, and never fails the batch or its samples.

use super::*;
use vigil_proto::v1::{MetricMetadata, MetricType};

#[test]
fn metadata_is_kept_and_bad_entries_do_not_fail_the_batch() {
    let (mut session, _, counters) = session(Limits::default());
    let entry = |name: &str, help: String| MetricMetadata {
        name: name.into(),
        r#type: MetricType::Gauge as i32,
        help,
        unit: String::new(),
    };
    let ack = session
        .handle(
            Batch {
                metadata: vec![
                    entry("node_load1", "1m load average.".into()),
                    entry("no good", String::new()),
                    entry("node_load5", "x".repeat(100_000)),
                ],
                seq: 1,
                definitions: vec![def(1, "node_load1"), def(2, "node_load5")],
                scrapes: vec![scrape(NOW, &[1, 2])],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (2, 0));
    assert!(ack.rejection.is_none(), "{ack:?}");
    let kept = counters.metadata.get("node_load1").unwrap();
    assert_eq!(
        (kept.kind, kept.help.as_str()),
        ("gauge", "1m load average.")
    );
    assert_eq!(counters.metadata.len(), 1);
    assert_eq!(
        counters.metadata.ignored(),
        [("bad_metric_name", 1), ("help_too_long", 1)]
    );
}
