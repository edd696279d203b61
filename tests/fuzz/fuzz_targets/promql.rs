//! PromQL from arbitrary text, parsed and evaluated by `vigil_promql::Engine` over the
//! fixed data set on the in-memory store (`vigil_fuzz::dataset`), as an instant query and
//! as a range query over a bounded range.
//!
//! Input: thirteen bytes of times (little-endian u32s: the time, the range's length, the
//! step; then whether to run the range query), then the query. Times stay around the data
//! set (within a day of it, at most 300 steps), so inputs spend their time in the
//! evaluator rather than in steps over nothing; the engine's own limits are set low for the
//! same reason. Checked beyond "no panic": a range query answers with a matrix whose
//! samples lie on its steps.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use vigil_fuzz::{NOW_MS, SPAN_MS};
use vigil_promql::{Engine, EngineOptions, Value};

const DAY_MS: i64 = 86_400_000;
const MAX_STEPS: i64 = 300;

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| evaluate(data)));

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let store: Arc<dyn vigil_store::Store> = vigil_fuzz::dataset();
        Engine::new(
            store,
            EngineOptions {
                max_samples: 2_000_000,
                max_series: 10_000,
                max_steps: MAX_STEPS,
                timeout: Duration::from_secs(2),
                ..EngineOptions::default()
            },
        )
    })
}

fn number(bytes: &[u8]) -> i64 {
    i64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn evaluate(data: &[u8]) {
    if data.len() < 13 {
        return;
    }
    let (head, query) = data.split_at(13);
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let engine = engine();
    let start = NOW_MS - SPAN_MS + number(&head[0..4]) % (2 * DAY_MS) - DAY_MS;
    let _ = engine.instant(query, start);
    if head[12] & 1 == 0 {
        return;
    }
    let end = start + number(&head[4..8]) % (3 * 3_600_000);
    let step = number(&head[8..12]) % 600_000 + 1;
    if let Ok(value) = engine.range(query, start, end, step) {
        let Value::Matrix(series) = value else {
            panic!("a range query answered with {value:?}");
        };
        for s in &series {
            for &(t, _) in &s.points {
                assert!(
                    t >= start && t <= end && (t - start) % step == 0,
                    "sample at {t} is not a step of {start}..{end} by {step}"
                );
            }
        }
    }
}
