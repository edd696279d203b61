//! An import file from arbitrary bytes: `vigil import`'s reader (lines → bounded
//! ImportRequests, as the CLI sends them), then each request through the collector's
//! backfill over the in-memory store, as an admin, at a fixed clock.
//!
//! Input: one byte choosing the format (low bit) and the request size (so files cut into
//! several requests), then the file. Checked beyond "no panic": every request the reader
//! builds is well formed (the collector never calls one malformed), and what the collector
//! acknowledges is what the reader parsed, up to its first refusal.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use vigil_cli::{ImportBatcher, ImportFormat, ImportItem, read_import};
use vigil_collector::import::backfill::{Backfill, BackfillError};
use vigil_collector::limits::Limits;
use vigil_store::memory::MemoryStore;

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| import(data)));

fn import(data: &[u8]) {
    let Some((&options, file)) = data.split_first() else {
        return;
    };
    let format = if options & 1 == 0 {
        ImportFormat::OpenMetrics
    } else {
        ImportFormat::Prometheus
    };
    let max_samples = usize::from(options >> 1) % 16 + 1;
    let backfill = Backfill::new(
        Arc::new(MemoryStore::new()),
        Arc::new(Limits {
            max_series_per_host: 40,
            max_hosts: 3,
            ..Limits::default()
        }),
    );
    let admin = vigil_fuzz::caller(1);
    let mut refused = false;
    let mut read = 0u64;
    let mut ended = false;
    read_import(
        file,
        format,
        ImportBatcher::new(max_samples, 1 << 20),
        |n| read += n,
        |item| {
            assert!(!ended, "nothing follows the reader's last item");
            match item {
                ImportItem::Request(piece) => {
                    let r = &piece.request;
                    let n = r.values.len();
                    assert!(n > 0 && n <= max_samples, "{n} samples");
                    assert_eq!(r.timestamps_ms.len(), n);
                    assert_eq!(r.series_index.len(), n);
                    assert_eq!(r.line_deltas.len(), n);
                    assert!(piece.first_line >= 1);
                    if refused {
                        return false;
                    }
                    let samples = n as u64;
                    match backfill.write(piece.request, &admin, vigil_fuzz::NOW_MS) {
                        Ok(response) => {
                            if let Some(r) = &response.rejection {
                                assert_ne!(r.reason, "malformed_request", "{r:?}");
                                refused = true;
                            } else {
                                assert_eq!(response.accepted_samples, samples);
                            }
                        }
                        Err(BackfillError::Refused(v)) => panic!("an admin was refused: {v}"),
                        Err(BackfillError::Store(e)) => panic!("the in-memory store failed: {e}"),
                    }
                    true
                }
                ImportItem::Bad { line, message } => {
                    assert!(line >= 1 && !message.is_empty());
                    ended = true;
                    true
                }
                ImportItem::Done { .. } => {
                    ended = true;
                    true
                }
            }
        },
    );
    assert!(read <= file.len() as u64);
}
