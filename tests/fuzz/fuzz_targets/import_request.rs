//! An ImportRequest from arbitrary bytes through the collector's backfill
//! (`import::backfill::Backfill`) over the in-memory store at a fixed clock.
//!
//! Input: one byte choosing the caller (see `vigil_fuzz::caller`), one choosing a
//! retention, then the request as protobuf. Checked beyond "no panic": what is acknowledged
//! is a prefix of the request, all of it when nothing is refused, and a refusal names a
//! line within the request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use vigil_collector::import::backfill::{Backfill, BackfillError};
use vigil_collector::limits::Limits;
use vigil_proto::v1::ImportRequest;
use vigil_store::memory::MemoryStore;

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| import(data)));

fn import(data: &[u8]) {
    let [who, retention, rest @ ..] = data else {
        return;
    };
    let Ok(request) = ImportRequest::decode(rest) else {
        return;
    };
    let limits = Arc::new(Limits {
        max_series_per_host: 40,
        max_labels_per_series: 8,
        max_label_name_bytes: 32,
        max_label_value_bytes: 64,
        max_hosts: 3,
        max_import_past: Duration::from_secs(u64::from(*retention & 0x0f) * 86_400),
        ..Limits::default()
    });
    let backfill = Backfill::new(Arc::new(MemoryStore::new()), limits)
        .with_retention(Duration::from_secs(u64::from(*retention >> 4) * 7 * 86_400));
    let samples = request.values.len() as u64;
    let lines: u64 = request
        .line_deltas
        .iter()
        .fold(0u64, |sum, d| sum.saturating_add(*d));
    match backfill.write(request, &vigil_fuzz::caller(*who), vigil_fuzz::NOW_MS) {
        Ok(response) => {
            assert!(response.accepted_samples <= samples, "{response:?}");
            match &response.rejection {
                None => assert_eq!(response.accepted_samples, samples, "{response:?}"),
                Some(r) => {
                    assert!(response.accepted_samples < samples, "{response:?}");
                    assert!(r.line <= lines, "{response:?}");
                    assert!(!r.reason.is_empty() && !r.message.is_empty());
                }
            }
        }
        Err(BackfillError::Refused(v)) => assert!(!v.message.is_empty()),
        Err(BackfillError::Store(e)) => panic!("the in-memory store failed: {e}"),
    }
}
