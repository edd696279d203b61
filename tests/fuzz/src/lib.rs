//! What the fuzz targets share: the fixed clock, a small fixed data set on the in-memory
//! store, the callers a request can come from, and the panic rule.
//!
//! Every target runs on `vigil_store::memory::MemoryStore` with the clock at [`NOW_MS`], so
//! an input does the same thing on every run and on any date, and nothing here links
//! RocksDB.

use std::sync::{Arc, OnceLock};
use vigil_collector::auth::{Caller, Identity, Role};
use vigil_store::memory::MemoryStore;
use vigil_store::{Labels, SeriesSamples, Store};

/// The fixed "now" of every target: 2023-11-14T22:13:20Z.
pub const NOW_MS: i64 = 1_700_000_000_000;

/// Scrape interval of the data set.
pub const STEP_MS: i64 = 15_000;

/// How far back the data set reaches from [`NOW_MS`].
pub const SPAN_MS: i64 = 3_600_000;

/// Who sent a request, chosen by one byte of the input: an open collector, an admin,
/// a reader, an agent token for `web-*`, or a client certificate for `web-1`.
pub fn caller(selector: u8) -> Caller {
    let token = |role: Role, hosts: Option<Vec<String>>| Caller {
        name: format!("fuzz-{}", role.as_str()),
        identity: Identity::Token { role, hosts },
        certificate_host: None,
        peer: None,
    };
    match selector % 5 {
        0 => Caller::anonymous(None),
        1 => token(Role::Admin, None),
        2 => token(Role::Read, None),
        3 => token(Role::Agent, Some(vec!["web-*".to_owned()])),
        _ => Caller {
            name: "cert:web-1".to_owned(),
            identity: Identity::Certificate,
            certificate_host: Some("web-1".to_owned()),
            peer: None,
        },
    }
}

/// The data set the PromQL and HTTP targets read (built once, never written to): three
/// hosts over the hour before [`NOW_MS`] at 15 s, with counters (one reset), gauges,
/// histogram buckets and a series of NaN, ±Inf and -0.0.
pub fn dataset() -> Arc<MemoryStore> {
    static STORE: OnceLock<Arc<MemoryStore>> = OnceLock::new();
    STORE.get_or_init(|| Arc::new(build_dataset())).clone()
}

/// A series' value at the i-th scrape.
type ValueAt = Box<dyn Fn(i64) -> f64>;

fn build_dataset() -> MemoryStore {
    let store = MemoryStore::new();
    let steps = SPAN_MS / STEP_MS;
    let times = |i: i64| NOW_MS - SPAN_MS + i * STEP_MS;
    for (h, host) in ["web-1", "web-2", "db-1"].into_iter().enumerate() {
        let h = h as i64;
        let mut series: Vec<(Labels, ValueAt)> = Vec::new();
        for cpu in ["0", "1"] {
            for (m, mode) in ["idle", "user", "system"].into_iter().enumerate() {
                let rate = (m as i64 + 1) * (h + 1);
                let labels = labels(
                    "node_cpu_seconds_total",
                    host,
                    &[("cpu", cpu), ("mode", mode)],
                );
                // A counter in hundredths, reset a third of the way through.
                series.push((
                    labels,
                    Box::new(move |i| ((i % (steps / 3 + 7)) * rate) as f64 / 100.0),
                ));
            }
        }
        series.push((
            labels("node_load1", host, &[]),
            Box::new(move |i| {
                if i % 97 == 13 {
                    f64::NAN
                } else {
                    ((i * 7 + h * 13) % 300) as f64 / 100.0
                }
            }),
        ));
        series.push((
            labels(
                "node_filesystem_avail_bytes",
                host,
                &[("mountpoint", "/"), ("fstype", "ext4")],
            ),
            Box::new(move |i| (50_000_000_000 - i * 1_000_000 * (h + 1)) as f64),
        ));
        series.push((
            labels("up", host, &[]),
            Box::new(|i| (i % 50 != 7) as u8 as f64),
        ));
        for (le, share) in [("0.1", 3), ("0.5", 8), ("+Inf", 10)] {
            series.push((
                labels("http_request_duration_seconds_bucket", host, &[("le", le)]),
                Box::new(move |i| (i * share * (h + 2)) as f64),
            ));
        }
        if host == "db-1" {
            series.push((
                labels("odd_values", host, &[("kind", "special")]),
                Box::new(|i| {
                    [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 1e308][(i % 6) as usize]
                }),
            ));
        }
        let (sets, values): (Vec<Labels>, Vec<_>) = series.into_iter().unzip();
        let ids = store
            .resolve_series(host, &sets, u64::MAX)
            .expect("the in-memory store creates series");
        let samples: Vec<SeriesSamples> = ids
            .into_iter()
            .zip(values)
            .map(|(id, value)| SeriesSamples {
                id,
                samples: (0..=steps).map(|i| (times(i), value(i))).collect(),
            })
            .collect();
        store.append(&samples).expect("the in-memory store appends");
    }
    store
}

fn labels(name: &str, host: &str, extra: &[(&str, &str)]) -> Labels {
    let mut pairs = vec![
        ("__name__".to_owned(), name.to_owned()),
        ("host".to_owned(), host.to_owned()),
    ];
    pairs.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    Labels::new(pairs)
}

/// Runs one input under the panic rule. libFuzzer's own hook aborts on every panic, also
/// on one the code under test catches on purpose (the PromQL parser runs under
/// `catch_unwind`; a blocking task's panic becomes an error the HTTP target then reports
/// itself). Here a caught panic goes by silently, and one that reaches the target is
/// printed with its place and aborts, which libFuzzer records as a crash.
pub fn run(body: impl FnOnce()) {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            let text = format!("{info}\n{}", std::backtrace::Backtrace::capture());
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
        }))
    });
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_err() {
        let text = LAST_PANIC.with(|last| last.borrow_mut().take());
        eprintln!(
            "panic escaped the fuzz target: {}",
            text.unwrap_or_else(|| "(no message)".into())
        );
        std::process::abort();
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}
