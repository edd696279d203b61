//! `--shift HOST:METRIC:FACTOR:AT`: a level shift injected into one host's series at a
//! known time, so that an end-to-end test of anomaly detection has a host that changes
//! beside hosts that do not.
//!
//! From AT on (every sample stamped at or after it, backfilled or live) each series named
//! METRIC on host HOST, whatever its other labels, reports FACTOR × its normal value:
//! - a gauge (and a constant): the value it would have had, multiplied;
//! - a counter: each scrape's increase multiplied, so it stays monotonic (it still restarts
//!   from zero on a reboot or a churn) and its rate is FACTOR × the normal rate. It starts
//!   from its unshifted value before AT and grows FACTOR times as fast from there (values
//!   are no longer whole numbers of the unit when FACTOR is not whole).
//!
//! Several shifts on one series multiply. The shift is applied where a host makes its
//! scrapes ([`super::fleet::Host::next_scrape`]), so gRPC, `--vm-url` and `--emit` carry
//! the same shifted samples. It draws no random numbers: the other series, and the shifted
//! ones before AT, are exactly what they are without it.
//!
//! Syntax, split at the first and the last two colons (a metric name may hold colons):
//! ```text
//! HOST    index of the host, 0-based: 3 is host-00003 (below --hosts)
//! METRIC  metric name, e.g. node_load1 (a name no series has only draws a warning)
//! FACTOR  positive number, e.g. 3 or 0.2
//! AT      Unix seconds, or relative to --end: end, end-DURATION, end+DURATION
//!         (humantime durations: end-20m, end+1h30m)
//! ```

use super::catalogue::{Kind, Unit};
use super::fleet::Fleet;

/// One `--shift`, its start resolved against `--end`.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelShift {
    /// The flag's value as given, to name it in messages.
    pub text: String,
    /// Index of the host whose series shift.
    pub host: u32,
    /// Metric name of the series that shift.
    pub metric: String,
    /// What the series' values (gauges) or increases (counters) are multiplied by.
    pub factor: f64,
    /// Samples stamped at or after this (milliseconds since the epoch) are shifted.
    pub at_ms: i64,
}

impl LevelShift {
    /// Parses one `--shift` value for a fleet of `hosts` hosts whose backfill ends at
    /// `end_ms`; Err names the flag and the part that is wrong.
    pub fn parse(text: &str, hosts: u32, end_ms: i64) -> Result<Self, String> {
        let wrong = |why: String| format!("--shift {text:?}: {why}");
        let form = || wrong("expected HOST:METRIC:FACTOR:AT, e.g. 0:node_load1:3:end-20m".into());
        let (host, rest) = text.split_once(':').ok_or_else(form)?;
        let mut tail = rest.rsplitn(3, ':');
        let (at, factor, metric) = match (tail.next(), tail.next(), tail.next()) {
            (Some(at), Some(factor), Some(metric)) => (at, factor, metric),
            _ => return Err(form()),
        };
        let host: u32 = host.parse().map_err(|_| {
            wrong(format!(
                "HOST {host:?} is not a host index (0 is host-00000)"
            ))
        })?;
        if host >= hosts {
            return Err(wrong(format!(
                "HOST {host} is not below --hosts {hosts} (hosts are 0 to {})",
                hosts.saturating_sub(1)
            )));
        }
        if !is_metric_name(metric) {
            return Err(wrong(format!(
                "METRIC {metric:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
            )));
        }
        let factor = match factor.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => f,
            _ => return Err(wrong(format!("FACTOR {factor:?} is not a positive number"))),
        };
        let at_ms = parse_at(at, end_ms).map_err(wrong)?;
        Ok(Self {
            text: text.to_owned(),
            host,
            metric: metric.to_owned(),
            factor,
            at_ms,
        })
    }

    /// A warning when no series of the fleet's hosts has the shift's metric name, so the
    /// shift changes nothing (a typo, or a family cut by a small --series-per-host).
    pub fn unmatched(&self, fleet: &Fleet) -> Option<String> {
        (!fleet.has_metric(&self.metric)).then(|| {
            format!(
                "--shift {:?}: no series named {:?} on {} (with --series-per-host {}); \
                 nothing is shifted",
                self.text,
                self.metric,
                Fleet::host_name(self.host),
                fleet.spec().series_per_host
            )
        })
    }

    /// The shift as the JSON report's context lists it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "host": Fleet::host_name(self.host),
            "metric": self.metric,
            "factor": self.factor,
            "at_ms": self.at_ms,
        })
    }
}

/// AT: Unix seconds, `end`, `end-DURATION` or `end+DURATION`, in milliseconds.
fn parse_at(at: &str, end_ms: i64) -> Result<i64, String> {
    let neither = || {
        format!(
            "AT {at:?} is neither Unix seconds nor end, end-DURATION or end+DURATION \
             (e.g. end-20m)"
        )
    };
    let Some(offset) = at.strip_prefix("end") else {
        return at
            .parse::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(neither);
    };
    let (sign, duration) = match offset.split_at_checked(1) {
        None => return Ok(end_ms),
        Some(("-", d)) => (-1, d),
        Some(("+", d)) => (1, d),
        Some(_) => return Err(neither()),
    };
    let ms = humantime::parse_duration(duration)
        .map_err(|e| format!("AT {at:?}: {duration:?} is not a duration (e.g. 20m, 1h30m): {e}"))?
        .as_millis();
    i64::try_from(ms)
        .ok()
        .and_then(|ms| end_ms.checked_add(sign * ms))
        .ok_or_else(|| format!("AT {at:?} is out of range"))
}

/// Whether `name` is a Prometheus metric name.
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The shifts acting on one series slot of one host, with a counter's shifted count.
#[derive(Debug, Clone)]
pub(super) struct SlotShift {
    /// (at_ms, factor) of every shift on the slot.
    starts: Vec<(i64, f64)>,
    /// A counter's shifted value, in ticks (None for gauges and constants).
    counter_ticks: Option<f64>,
}

impl SlotShift {
    /// The shifts of `shifts` on the slot named `metric` of host `host`, which starts at
    /// `ticks`; None when there are none (the slot's samples are left alone).
    pub(super) fn of_slot(
        shifts: &[LevelShift],
        host: u32,
        metric: &str,
        kind: &Kind,
        ticks: f64,
    ) -> Option<Box<Self>> {
        let starts: Vec<(i64, f64)> = shifts
            .iter()
            .filter(|s| s.host == host && s.metric == metric)
            .map(|s| (s.at_ms, s.factor))
            .collect();
        let counter_ticks = matches!(kind, Kind::Counter { .. }).then_some(ticks);
        (!starts.is_empty()).then(|| {
            Box::new(Self {
                starts,
                counter_ticks,
            })
        })
    }

    /// The product of the factors of the shifts started by `ts` (1 before the first).
    fn factor_at(&self, ts: i64) -> f64 {
        self.starts
            .iter()
            .filter(|(at, _)| ts >= *at)
            .map(|(_, factor)| factor)
            .product()
    }

    /// A counter grew by `increase` ticks in the scrape stamped `ts`, after restarting from
    /// zero if `restart`.
    pub(super) fn counted(&mut self, restart: bool, increase: f64, ts: i64) {
        let factor = self.factor_at(ts);
        if let Some(ticks) = &mut self.counter_ticks {
            if restart {
                *ticks = 0.0;
            }
            // × 1.0 before the shift: the same sum as the unshifted counter's, bit for bit.
            *ticks += increase * factor;
        }
    }

    /// What the slot reports at `ts` instead of its unshifted `value`.
    pub(super) fn value(&self, unit: Unit, value: f64, ts: i64) -> f64 {
        match self.counter_ticks {
            Some(ticks) => unit.value(ticks),
            None => value * self.factor_at(ts),
        }
    }
}

#[cfg(test)]
mod tests;
