//! Anomaly rules: every series of the rule's expression is scored by its own online
//! detector (`vigil-anomaly`) on a grid of `step`, and the rule fires for the series whose
//! latest score reaches its threshold.
//!
//! # Feeding the detectors
//!
//! The expression is evaluated as a range query on the grid `k × step`, up to `now −`
//! [`SETTLE_MS`] (so the agents' last samples have arrived), from where the last
//! evaluation stopped: one point per step in steady state, none in between. A series the rule holds no
//! detector for is learned from `warmup` of history (read in chunks of [`CHUNK_STEPS`]), so
//! a new rule knows each series' habits from its first evaluation.
//!
//! Each scored point is written as four series with the watched series' labels (without
//! `__name__`), `metric` (the watched series' name, when it has one) and `anomaly_rule`:
//! `vigil_anomaly_score`, `vigil_anomaly_value`, `vigil_anomaly_lower` and
//! `vigil_anomaly_upper` (the band the value was expected in). Grafana and `vigil
//! anomalies` read them.
//!
//! # Surviving a restart
//!
//! The detectors are saved in the store (`Space::Anomaly`, about 1 KiB per series) after
//! the first evaluation and every [`CHECKPOINT_MS`], and on a clean stop. At start a rule
//! takes its saved detectors back and feeds them the history since they were saved: the
//! scores are those it would have given without the restart (after `kill -9` too, the
//! points since the last checkpoint being read again from the store). A saved detector is
//! keyed by the rule's file, group, name and definition: a changed `expr` or `step`
//! starts afresh.
//!
//! A series that has had no point for [`FORGET_MS`] while others had is forgotten (its
//! saved detector deleted): a host that was retired does not hold the catch-up back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tracing::{info, warn};

use super::{Outcome, observation};
use crate::rules::host_anomaly::{Board, SeriesMark};
use crate::rules::output::RULES_HOST;
use vigil_anomaly::{Detector, Scored};
use vigil_promql::{Engine, Value};
use vigil_rules::spec::{AnomalySpec, Rule};
use vigil_store::{KvOp, Labels, METRIC_NAME, SeriesId, SeriesSamples, Space, Store};

/// Grid points closer to now than this are left for the next evaluation.
pub const SETTLE_MS: i64 = 10_000;
/// Most grid steps read by one range query while catching up.
pub const CHUNK_STEPS: i64 = 720;
/// How often the detectors are saved.
pub const CHECKPOINT_MS: i64 = 10 * 60_000;
/// A series without a point for this long (while the rule's others had points) is forgotten.
pub const FORGET_MS: i64 = 3_600_000;
/// Names of the series each watched series gets, in the order of [`Tracked::ids`].
pub const OUTPUT_NAMES: [&str; 4] = [
    "vigil_anomaly_score",
    "vigil_anomaly_value",
    "vigil_anomaly_lower",
    "vigil_anomaly_upper",
];

/// One watched series.
struct Tracked {
    detector: Detector,
    /// The last grid point fed (Unix ms); `i64::MIN` before the first.
    fed_ms: i64,
    /// The last point's value and result.
    last: Option<(i64, f64, Scored)>,
    /// The output series' ids, once resolved.
    ids: Option<[SeriesId; 4]>,
    /// Changed since the last checkpoint.
    dirty: bool,
}

impl Tracked {
    fn new(detector: Detector, fed_ms: i64) -> Self {
        Self {
            detector,
            fed_ms,
            last: None,
            ids: None,
            dirty: true,
        }
    }
}

/// An anomaly rule's running state: a detector per series.
pub struct Watch {
    /// Identifies the rule's saved detectors: file, group, name and definition.
    key: Vec<u8>,
    series: HashMap<Labels, Tracked>,
    /// Whether the saved detectors were read back (on the first evaluation).
    loaded: bool,
    /// How many were.
    restored: usize,
    last_checkpoint_ms: Option<i64>,
    /// The last grid point the previous evaluation read up to.
    read_to: Option<i64>,
    /// Saved detectors of series forgotten since the last checkpoint.
    forgotten: Vec<Labels>,
}

impl Watch {
    /// The state of `rule` (an anomaly rule) of `group` in `file`, before its first
    /// evaluation.
    pub fn new(file: &str, group: &str, rule: &Rule, spec: &AnomalySpec) -> Self {
        Self {
            key: watch_key(file, group, &rule.name, spec),
            series: HashMap::new(),
            loaded: false,
            restored: 0,
            last_checkpoint_ms: None,
            read_to: None,
            forgotten: Vec::new(),
        }
    }

    /// Series watched.
    pub fn watched(&self) -> usize {
        self.series.len()
    }

    /// Detectors taken back from the store at start.
    pub fn restored(&self) -> usize {
        self.restored
    }

    /// The prefix of every saved detector of this rule.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Saves every detector changed since the last checkpoint (and deletes forgotten ones).
    pub fn checkpoint(&mut self, store: &dyn Store, now_ms: i64) {
        let mut ops: Vec<KvOp> = self
            .forgotten
            .iter()
            .map(|labels| KvOp::delete(Space::Anomaly, self.series_key(labels)))
            .collect();
        for (labels, t) in &self.series {
            if t.dirty {
                let mut value = t.fed_ms.to_le_bytes().to_vec();
                value.extend_from_slice(&t.detector.to_bytes());
                ops.push(KvOp::put(Space::Anomaly, self.series_key(labels), value));
            }
        }
        for chunk in ops.chunks(4_096) {
            if let Err(e) = store.kv_write(chunk) {
                warn!(error = %e, "saving anomaly detectors failed; the next checkpoint tries again");
                return;
            }
        }
        self.forgotten.clear();
        for t in self.series.values_mut() {
            t.dirty = false;
        }
        self.last_checkpoint_ms = Some(now_ms);
    }

    fn series_key(&self, labels: &Labels) -> Vec<u8> {
        let mut key = self.key.clone();
        for (name, value) in labels.pairs() {
            for part in [name, value] {
                key.extend_from_slice(&(part.len() as u32).to_be_bytes());
                key.extend_from_slice(part.as_bytes());
            }
        }
        key
    }

    /// Takes back the detectors saved for this rule.
    fn load(&mut self, store: &dyn Store) -> Result<usize, String> {
        let saved = store
            .kv_scan(Space::Anomaly)
            .map_err(|e| format!("reading saved anomaly detectors: {e}"))?;
        let mut restored = 0;
        for (key, value) in saved {
            let Some(rest) = key.strip_prefix(self.key.as_slice()) else {
                continue;
            };
            let (Some(labels), Some(fed)) = (decode_labels(rest), value.get(..8)) else {
                continue;
            };
            let fed_ms = i64::from_le_bytes(fed.try_into().unwrap_or_default());
            if let Some(detector) = Detector::from_bytes(&value[8..]) {
                let mut tracked = Tracked::new(detector, fed_ms);
                tracked.dirty = false;
                self.series.insert(labels, tracked);
                restored += 1;
            }
        }
        Ok(restored)
    }
}

/// `file \0 group \0 rule \0 digest-of-definition \0`: what a saved detector belongs to.
fn watch_key(file: &str, group: &str, rule: &str, spec: &AnomalySpec) -> Vec<u8> {
    // FNV-1a over what changes the points a detector is fed; the threshold and the
    // alerting flag do not.
    let definition = format!(
        "{}\u{0}{}\u{0}{}",
        spec.expr,
        spec.model.name(),
        spec.step.as_millis()
    );
    let digest = definition.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut key = Vec::new();
    for part in [file, group, rule, &format!("{digest:016x}")] {
        key.extend_from_slice(part.as_bytes());
        key.push(0);
    }
    key
}

fn decode_labels(mut bytes: &[u8]) -> Option<Labels> {
    let mut parts = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_at_checked(4)?;
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        let (text, rest) = rest.split_at_checked(len)?;
        parts.push(String::from_utf8(text.to_vec()).ok()?);
        bytes = rest;
    }
    if parts.len() % 2 != 0 {
        return None;
    }
    let mut pairs = Vec::with_capacity(parts.len() / 2);
    let mut it = parts.into_iter();
    while let (Some(n), Some(v)) = (it.next(), it.next()) {
        pairs.push((n, v));
    }
    Some(Labels::new(pairs))
}

/// Evaluates an anomaly rule at `now_ms`: feeds the detectors, writes the score series,
/// marks the board, and returns the series at or above the threshold as alerts (none for
/// a rule that does not alert).
pub fn evaluate(
    engine: &Engine,
    store: &dyn Store,
    rule: &Rule,
    spec: &AnomalySpec,
    watch: &Mutex<Watch>,
    board: Option<&Board>,
    now_ms: i64,
) -> Result<Outcome, String> {
    let mut watch = watch.lock().unwrap_or_else(|p| p.into_inner());
    if !watch.loaded {
        watch.loaded = true;
        match watch.load(store) {
            Ok(0) => {}
            Ok(n) => {
                watch.restored = n;
                info!(rule = %rule.name, series = n, "anomaly detectors restored");
            }
            Err(e) => warn!(rule = %rule.name, error = %e, "anomaly detectors start afresh"),
        }
    }
    let step = i64::try_from(spec.step.as_millis())
        .unwrap_or(60_000)
        .max(1_000);
    let warmup = i64::try_from(spec.warmup.as_millis()).unwrap_or(0);
    let end = (now_ms - SETTLE_MS).div_euclid(step) * step;
    let earliest = (end - warmup).div_euclid(step) * step;
    // From where the last evaluation read up to. At the first one, from where the
    // detectors taken back from the store left off (the one furthest behind, among
    // series still alive), never before the warm-up; everything from the warm-up while
    // none is known. A series whose points arrive later than the grid point they belong
    // to (an agent's spool replayed after an outage) is not read again: its detector
    // sees a gap.
    let mut from = match watch.read_to {
        Some(read) => read + step,
        None => {
            let newest = watch.series.values().map(|t| t.fed_ms).max();
            watch
                .series
                .values()
                .map(|t| t.fed_ms)
                .filter(|fed| newest.is_some_and(|n| *fed >= n - FORGET_MS))
                .min()
                .map_or(earliest, |fed| fed + step)
        }
    }
    .max(earliest);
    let mut failures = Vec::new();
    while from <= end {
        let to = (from + (CHUNK_STEPS - 1) * step).min(end);
        let matrix = match engine.range(&spec.expr, from, to, step) {
            Ok(Value::Matrix(m)) => m,
            Ok(other) => {
                return Err(format!(
                    "anomaly expr returned a {}; it must select series (an instant vector)",
                    other.type_name()
                ));
            }
            Err(e) => return Err(format!("anomaly expr: {e}")),
        };
        let mut written: Vec<SeriesSamples> = Vec::new();
        for series in matrix {
            if let Err(e) = feed(&mut watch, store, &rule.name, series, &mut written) {
                failures.push(e);
            }
        }
        if !written.is_empty()
            && let Err(e) = store.append(&written)
        {
            failures.push(format!("writing the anomaly scores: {e}"));
        }
        from = to + step;
        watch.read_to = Some(to);
    }
    forget(&mut watch);
    if watch
        .last_checkpoint_ms
        .is_none_or(|at| now_ms - at >= CHECKPOINT_MS || now_ms < at)
    {
        watch.checkpoint(store, now_ms);
    }

    // The latest point of each series still reporting decides its alert.
    let fresh_after = end - 2 * step;
    let mut observed = Vec::new();
    let mut marks = Vec::new();
    for (labels, t) in &watch.series {
        let Some((at, value, scored)) = t.last else {
            continue;
        };
        if at < fresh_after {
            continue;
        }
        let anomalous = scored.score >= spec.threshold;
        marks.push(SeriesMark {
            host: labels.get("host").to_owned(),
            series: labels.clone(),
            score: scored.score,
            anomalous,
        });
        if anomalous && spec.alerting {
            let vars = BTreeMap::from([
                ("score".to_owned(), format!("{:.2}", scored.score)),
                ("expected".to_owned(), number(scored.expected)),
                ("lower".to_owned(), number(scored.lower)),
                ("upper".to_owned(), number(scored.upper)),
                ("model".to_owned(), spec.model.name().to_owned()),
            ]);
            observed.push(observation(rule, labels, value, vars, None));
        }
    }
    if let Some(board) = board {
        board.mark(watch.key(), step, now_ms, marks);
    }
    let error = failures.first().map(|first| {
        format!(
            "{} series could not be scored or written; first: {first}",
            failures.len()
        )
    });
    Ok(Outcome::Alerts {
        observed,
        cleared: Vec::new(),
        error,
    })
}

/// Feeds `series`' new points to its detector and queues its output samples.
fn feed(
    watch: &mut Watch,
    store: &dyn Store,
    rule: &str,
    series: vigil_promql::Series,
    written: &mut Vec<SeriesSamples>,
) -> Result<(), String> {
    let tracked = watch
        .series
        .entry(series.labels.clone())
        .or_insert_with(|| Tracked::new(Detector::new(), i64::MIN));
    let mut out: [Vec<(i64, f64)>; 4] = Default::default();
    for &(t, v) in &series.points {
        if t <= tracked.fed_ms {
            continue;
        }
        let scored = tracked.detector.update(t, v);
        tracked.fed_ms = t;
        tracked.dirty = true;
        if v.is_finite() {
            tracked.last = Some((t, v, scored));
            for (column, x) in out
                .iter_mut()
                .zip([scored.score, v, scored.lower, scored.upper])
            {
                if x.is_finite() {
                    column.push((t, x));
                }
            }
        }
    }
    if out.iter().all(Vec::is_empty) {
        return Ok(());
    }
    let ids = match tracked.ids {
        Some(ids) => ids,
        None => {
            let ids = output_ids(store, rule, &series.labels)?;
            tracked.ids = Some(ids);
            ids
        }
    };
    for (id, samples) in ids.into_iter().zip(out) {
        if !samples.is_empty() {
            written.push(SeriesSamples { id, samples });
        }
    }
    Ok(())
}

/// The four output series of a watched series (stored under its host, outside its limit,
/// as all rule output is).
fn output_ids(store: &dyn Store, rule: &str, watched: &Labels) -> Result<[SeriesId; 4], String> {
    let labels: Vec<Labels> = OUTPUT_NAMES
        .iter()
        .map(|name| output_labels(name, rule, watched))
        .collect();
    let host = match watched.get("host") {
        "" => RULES_HOST,
        h => h,
    };
    let ids = store.resolve_series(host, &labels, u64::MAX).map_err(|e| {
        format!(
            "creating the anomaly series of {}: {e}",
            super::describe(watched)
        )
    })?;
    ids.try_into()
        .map_err(|_| "the store returned the wrong number of series".to_owned())
}

/// `name{...watched labels, metric="…", anomaly_rule="…"}`.
pub fn output_labels(name: &str, rule: &str, watched: &Labels) -> Labels {
    let mut pairs: Vec<(String, String)> = watched.without_name().pairs().to_vec();
    if !watched.name().is_empty() {
        pairs.push(("metric".to_owned(), watched.name().to_owned()));
    }
    pairs.push(("anomaly_rule".to_owned(), rule.to_owned()));
    pairs.push((METRIC_NAME.to_owned(), name.to_owned()));
    Labels::new(pairs)
}

/// Drops the series that have had no point for [`FORGET_MS`] while others had.
fn forget(watch: &mut Watch) {
    let Some(newest) = watch.series.values().map(|t| t.fed_ms).max() else {
        return;
    };
    let gone: Vec<Labels> = watch
        .series
        .iter()
        .filter(|(_, t)| t.fed_ms < newest - FORGET_MS)
        .map(|(l, _)| l.clone())
        .collect();
    for labels in gone {
        watch.series.remove(&labels);
        watch.forgotten.push(labels);
    }
}

/// A number for templates: Go's shortest form, `NaN` when there is none (warming up).
fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "NaN".to_owned()
    }
}

#[cfg(test)]
mod tests;
