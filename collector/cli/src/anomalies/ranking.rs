//! From query results to rows: the peaks ranked (highest score first, ties by labels,
//! `--limit` rows), then each row's score, value and band over the window joined in by
//! label set.

use std::collections::{BTreeMap, HashMap};

use vigil_proto::v1::{QueryResult, SeriesSamples};

use crate::query_result::points;

/// One anomalous series: the labels its `vigil_anomaly_*` series share, its peak score,
/// and its value and band over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The watched series' labels (no `__name__`), its `metric` and `anomaly_rule`: what
    /// tells the row's series from every other watched series.
    pub labels: BTreeMap<String, String>,
    /// The highest score in the window.
    pub score: f64,
    /// The first step at which the score (the highest of the step's evaluations) had
    /// reached `--min-score`; `None` when the range query did not show it.
    pub since_ms: Option<i64>,
    /// Whether the score had reached `--min-score` at the first evaluation the window
    /// shows, so it may have done so earlier: `since_ms` is then an upper bound.
    pub since_before: bool,
    /// The steps of the window with a value or a band, in time order.
    pub points: Vec<Point>,
}

/// The watched series and its expected band at one step; `None` where the step had no
/// sample (or a NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The step, unix milliseconds.
    pub t_ms: i64,
    /// `vigil_anomaly_value`.
    pub value: Option<f64>,
    /// `vigil_anomaly_lower`.
    pub lower: Option<f64>,
    /// `vigil_anomaly_upper`.
    pub upper: Option<f64>,
}

/// Where a value lay relative to its band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Below `lower`.
    Below,
    /// Within the band, or not known (no value or no band).
    Inside,
    /// Above `upper`.
    Above,
}

impl Point {
    /// Where the value lay relative to the band.
    pub fn side(&self) -> Side {
        match (self.value, self.lower, self.upper) {
            (Some(v), _, Some(upper)) if v > upper => Side::Above,
            (Some(v), Some(lower), _) if v < lower => Side::Below,
            _ => Side::Inside,
        }
    }
}

impl Anomaly {
    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// The latest value, lower and upper bound of the window, each its own latest sample.
    pub fn latest(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let last = |pick: fn(&Point) -> Option<f64>| self.points.iter().rev().find_map(pick);
        (last(|p| p.value), last(|p| p.lower), last(|p| p.upper))
    }
}

/// The rows to show, and how many series qualified before `--limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// At most `--limit` rows, the highest peak first.
    pub rows: Vec<Anomaly>,
    /// How many series reached `--min-score`.
    pub total: usize,
}

/// A series' labels without `__name__`: the key shared by its four `vigil_anomaly_*`
/// series.
fn key(series: &SeriesSamples) -> BTreeMap<String, String> {
    series
        .labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// The samples of a series that are numbers.
fn numbers(series: &SeriesSamples) -> impl Iterator<Item = (i64, f64)> + '_ {
    points(series).filter(|(_, v)| !v.is_nan())
}

impl Ranking {
    /// The rows of the peaks query's answer (one sample per series: its highest score):
    /// those of at least `min_score` (the query keeps only those; a NaN never is), the
    /// highest first, ties by labels, at most `limit`.
    pub fn new(peaks: &QueryResult, min_score: f64, limit: usize) -> Self {
        let mut rows: Vec<Anomaly> = peaks
            .series
            .iter()
            .filter_map(|s| {
                let score = numbers(s).map(|(_, v)| v).next()?;
                (score >= min_score).then(|| Anomaly {
                    labels: key(s),
                    score,
                    since_ms: None,
                    since_before: false,
                    points: Vec::new(),
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.labels.cmp(&b.labels))
        });
        let total = rows.len();
        rows.truncate(limit);
        Ranking { rows, total }
    }

    /// Joins the range queries' answers into the rows by label set: `scores` (each step's
    /// highest score) sets when the score first reached `min_score`, `bands` (the
    /// `vigil_anomaly_{value,lower,upper}` series, names kept) the points. Series of other
    /// label sets (the queries select a superset) are left out.
    pub fn attach(&mut self, scores: &QueryResult, bands: &QueryResult, min_score: f64) {
        let index: HashMap<BTreeMap<String, String>, usize> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| (row.labels.clone(), i))
            .collect();
        for series in &scores.series {
            let Some(row) = index.get(&key(series)).and_then(|&i| self.rows.get_mut(i)) else {
                continue;
            };
            row.since_ms = numbers(series)
                .filter(|&(_, v)| v >= min_score)
                .map(|(t, _)| t)
                .min();
            let first = numbers(series).map(|(t, _)| t).min();
            row.since_before = row.since_ms.is_some() && first == row.since_ms;
        }
        let mut points: Vec<BTreeMap<i64, Point>> = vec![BTreeMap::new(); self.rows.len()];
        for series in &bands.series {
            let Some(&i) = index.get(&key(series)) else {
                continue;
            };
            let name = series
                .labels
                .iter()
                .find(|l| l.name == "__name__")
                .map_or("", |l| l.value.as_str());
            let field: fn(&mut Point) -> &mut Option<f64> = match name {
                "vigil_anomaly_value" => |p| &mut p.value,
                "vigil_anomaly_lower" => |p| &mut p.lower,
                "vigil_anomaly_upper" => |p| &mut p.upper,
                _ => continue,
            };
            for (t_ms, v) in numbers(series) {
                let point = points[i].entry(t_ms).or_insert(Point {
                    t_ms,
                    value: None,
                    lower: None,
                    upper: None,
                });
                *field(point) = Some(v);
            }
        }
        for (row, points) in self.rows.iter_mut().zip(points) {
            row.points = points.into_values().collect();
        }
    }
}
