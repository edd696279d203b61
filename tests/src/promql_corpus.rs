//! The PromQL differential-test corpus: every expression with the evaluations (instant
//! times, range windows) it runs at, relative to the synthetic dataset's times.
//!
//! Default evaluations for an expression (see [`Times::default_evals`]):
//! ```text
//! instant at end            – exactly on every regular host's last sample
//! instant at end-7.5s       – between two samples
//! instant at start+100m+7.25s – 5 minutes after web-2's counter reset, db-1 still alive
//! range start+10m..end, step 60s        – every point on a sample timestamp
//! range start+60m+3.5s..end-20m, step 37s – points between samples, across cache-1's gap
//! ```

use crate::dataset::{DB_STOPS_BEFORE_END_MS, LONG_GAP_MS, REBOOT_AFTER_MS, SHORT_GAP_MS};
use crate::prom_api::Eval;

mod exprs;
mod full;
pub use exprs::EMPTY_BY_DESIGN;
use exprs::{ERRORS, INSTANT_ONLY, STANDARD};

const S: i64 = 1000;
const M: i64 = 60 * S;

/// The dataset's time range, from which evaluation times are derived.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// First sample (ms).
    pub start: i64,
    /// Last regular sample (ms).
    pub end: i64,
}

impl Times {
    /// Instant evaluations used by most expressions.
    pub fn default_instants(&self) -> Vec<Eval> {
        vec![
            Eval::Instant(self.end),
            Eval::Instant(self.end - 7_500),
            Eval::Instant(self.start + 100 * M + 7_250),
        ]
    }

    /// Instant and range evaluations used by most expressions.
    pub fn default_evals(&self) -> Vec<Eval> {
        let mut evals = self.default_instants();
        evals.push(Eval::Range {
            start: self.start + 10 * M,
            end: self.end,
            step: 60 * S,
        });
        evals.push(Eval::Range {
            start: self.start + 60 * M + 3_500,
            end: self.end - 20 * M,
            step: 37 * S,
        });
        evals
    }

    /// db-1's last sample.
    fn db_last(&self) -> i64 {
        self.end - DB_STOPS_BEFORE_END_MS
    }

    /// Around the 5-minute lookback edge after db-1 stops (Prometheus 2.x selects samples
    /// in the closed interval [t-5m, t]).
    fn lookback_edge(&self) -> Vec<Eval> {
        let last = self.db_last();
        vec![
            Eval::Instant(last + 299 * S),
            Eval::Instant(last + 300 * S),
            Eval::Instant(last + 300 * S + 1),
            Eval::Instant(last + 301 * S),
            Eval::Range {
                start: last - M,
                end: last + 7 * M,
                step: 15 * S,
            },
            Eval::Range {
                start: last - M + 500,
                end: last + 7 * M,
                step: 30 * S,
            },
        ]
    }

    /// Where windows reach back before the first sample (rate extrapolation).
    fn series_start(&self) -> Vec<Eval> {
        vec![
            Eval::Instant(self.start + 2 * M),
            Eval::Instant(self.start + 5 * M),
            Eval::Instant(self.start + 5 * M + 1),
            Eval::Range {
                start: self.start - M,
                end: self.start + 12 * M,
                step: 15 * S,
            },
        ]
    }

    /// Across web-2's reboot (its counters reset).
    fn reboot(&self) -> Vec<Eval> {
        let at = self.start + REBOOT_AFTER_MS;
        vec![
            Eval::Instant(at),
            Eval::Instant(at + 60 * S + 7_500),
            Eval::Range {
                start: at - 10 * M,
                end: at + 20 * M,
                step: 15 * S,
            },
        ]
    }

    /// Across cache-1's long and short gaps.
    fn gaps(&self) -> Vec<Eval> {
        let long = self.start + LONG_GAP_MS.0;
        let short = self.start + SHORT_GAP_MS.0;
        vec![
            Eval::Instant(long + 10 * M),
            Eval::Instant(short + M),
            Eval::Range {
                start: long - 5 * M,
                end: long + 20 * M,
                step: 15 * S,
            },
            Eval::Range {
                start: short - 5 * M,
                end: short + 10 * M,
                step: 20 * S,
            },
        ]
    }

    /// The whole dataset at a coarse step, and at the scrape interval.
    fn whole(&self) -> Vec<Eval> {
        vec![
            Eval::Range {
                start: self.start,
                end: self.end,
                step: 300 * S,
            },
            Eval::Range {
                start: self.start,
                end: self.end,
                step: 15 * S,
            },
        ]
    }
}

/// One expression and where it is evaluated.
#[derive(Debug, Clone)]
pub struct Case {
    /// The PromQL expression.
    pub expr: String,
    /// Its evaluations.
    pub evals: Vec<Eval>,
    /// Whether Prometheus refuses it (then Vigil must refuse it the same way).
    pub expect_error: bool,
    /// Whether the order of an instant answer's series matters too (`sort`, `sort_desc`);
    /// range answers are always compared in order.
    pub ordered: bool,
}

/// Every case of the corpus.
pub fn cases(t: Times) -> Vec<Case> {
    let case = |expr: &str, evals: Vec<Eval>| Case {
        expr: expr.to_owned(),
        evals,
        expect_error: false,
        ordered: expr.starts_with("sort(") || expr.starts_with("sort_desc("),
    };
    let mut all: Vec<Case> = STANDARD
        .iter()
        .map(|e| case(e, t.default_evals()))
        .collect();
    all.extend(ERRORS.iter().map(|e| Case {
        expect_error: true,
        ..case(e, vec![Eval::Instant(t.end), t.default_evals()[3]])
    }));
    // The @ modifier pins a selector to a time, whatever the evaluation time.
    let at = |ms: i64| crate::dataset::seconds(ms);
    let reboot = t.start + REBOOT_AFTER_MS;
    for e in [
        format!("node_load1 @ {}", at(t.start + 60 * M)),
        format!(
            r#"rate(node_cpu_seconds_total{{host="web-2"}}[5m] @ {})"#,
            at(reboot + M)
        ),
        format!("node_load1 offset 5m @ {}", at(t.end - 7_500)),
    ] {
        all.push(case(&e, t.default_evals()));
    }
    // Windows that begin before the data does.
    for e in [
        "rate(node_cpu_seconds_total[5m])",
        "increase(node_network_receive_bytes_total[5m])",
        "delta(node_load1[5m])",
        "irate(node_cpu_seconds_total[5m])",
        "deriv(node_load1[5m])",
        "avg_over_time(node_load1[5m])",
        "node_load1",
    ] {
        all.push(case(e, t.series_start()));
    }
    // Single-point and fine-step ranges.
    for e in [
        "sum(node_load1)",
        r#"rate(node_cpu_seconds_total{host="edge-1"}[1m])"#,
    ] {
        all.push(case(
            e,
            vec![
                Eval::Range {
                    start: t.end,
                    end: t.end,
                    step: 60 * S,
                },
                Eval::Range {
                    start: t.end - 10 * M,
                    end: t.end,
                    step: S,
                },
            ],
        ));
    }
    all.extend(INSTANT_ONLY.iter().map(|e| case(e, t.default_instants())));
    // Staleness: db-1 stops reporting; the lookback edge.
    for e in [
        r#"node_load1{host="db-1"}"#,
        r#"rate(node_cpu_seconds_total{host="db-1",mode="user"}[5m])"#,
        r#"count(node_cpu_seconds_total{host="db-1"})"#,
        r#"node_load1{host="db-1"} offset 1m"#,
    ] {
        all.push(case(e, t.lookback_edge()));
    }
    // Counter resets.
    for e in [
        r#"rate(node_cpu_seconds_total{host="web-2"}[5m])"#,
        r#"increase(node_cpu_seconds_total{host="web-2",cpu="0"}[15m])"#,
        r#"resets(node_network_receive_bytes_total{host="web-2"}[10m])"#,
        r#"irate(node_network_transmit_bytes_total{host="web-2"}[1m])"#,
        r#"node_boot_time_seconds{host="web-2"} - node_boot_time_seconds{host="web-2"} offset 1h"#,
    ] {
        all.push(case(e, t.reboot()));
    }
    // Missing data.
    for e in [
        r#"node_load1{host="cache-1"}"#,
        r#"rate(node_cpu_seconds_total{host="cache-1",cpu="1"}[5m])"#,
        r#"count_over_time(node_load5{host="cache-1"}[10m])"#,
        r#"absent(node_load1{host="cache-1"})"#,
    ] {
        all.push(case(e, t.gaps()));
    }
    for e in [
        "sum(rate(node_cpu_seconds_total[5m]))",
        r#"max_over_time(node_load1{host="edge-1"}[1m])"#,
    ] {
        all.push(case(e, t.whole()));
    }
    all.extend(full::cases(t, case));
    all
}
