//! The tables (and `FORMAT=json`): per set and lookback, each family's mean absolute ETA
//! error per method, then the totals, false alarms, misses, band coverage and cost; at the
//! end a summary of `auto` against `predict_linear`.

use std::fmt::Write as _;

use super::families::{FAMILIES, FIRST_FAMILIES};
use super::run::{Config, Table};
use super::score::{AUTO, METHODS, PREDICT_LINEAR, Tally, hindsight, ratio_interval};

/// A set's results.
pub struct SetResult {
    /// "tuning" or "held-back".
    pub name: &'static str,
    /// Its seed base.
    pub base: u64,
    /// One table per lookback.
    pub tables: Vec<Table>,
}

/// Families on which any crossing is a false alarm.
fn never_crosses(family: &str) -> bool {
    matches!(family, "flat" | "shrinking")
}

/// `auto` is worse than `predict_linear` on a family when its mean error is more than
/// 5 % and 0.05 days above (the slack keeps ties from showing as losses).
fn worse(auto: &Tally, linear: &Tally) -> bool {
    auto.mae() > linear.mae() * 1.05 + 0.05
}

fn ratio(auto: &Tally, linear: &Tally) -> String {
    if linear.mae() > 0.0 {
        format!("{:.2}", auto.mae() / linear.mae())
    } else {
        "-".into()
    }
}

/// The 90 % bootstrap interval of auto / predict_linear over a table.
fn interval(table: &Table) -> String {
    ratio_interval(&table.rows, AUTO, PREDICT_LINEAR)
        .map_or("-".into(), |(lo, hi)| format!("{lo:.2}–{hi:.2}"))
}

fn percent(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.0}%", 100.0 * v))
}

/// Short names of what `auto` picked.
fn picks(tally: &Tally) -> String {
    let short = |name: &str| {
        match name {
            "linear" => "lin",
            "linear: a level, no trend" => "level",
            "linear since a change" => "lin/change",
            "linear: the mean day repeated, with its drift" => "meanday",
            "linear: a quadratic trend" => "quad",
            "linear: an exponential trend, its slope doubling every" => "exp",
            "linear: a trend that slows, its slope halving every" => "slows",
            "theil_sen" => "ts",
            "holt_winters" => "hw",
            "holt_winters daily" => "hw/d",
            "holt_winters weekly" => "hw/w",
            other => other,
        }
        .to_owned()
    };
    let all: Vec<String> = tally
        .picks
        .iter()
        .map(|(name, n)| format!("{} {n}", short(name)))
        .collect();
    all.join(", ")
}

/// The readable report.
pub fn text(results: &[SetResult], config: &Config) -> String {
    let mut out = String::new();
    let w = 15;
    for set in results {
        for (i, table) in set.tables.iter().enumerate() {
            let headline = if i == 0 { " (headline)" } else { "" };
            let _ = writeln!(
                out,
                "== {} set (seed base {:#x}), lookback {} d{headline}, horizon {} d, {} traces per family ==",
                set.name, set.base, table.lookback, config.horizon, config.seeds
            );
            let _ = writeln!(
                out,
                "mean absolute ETA error, days (\"none\" counts as the horizon); f = false alarms, m = missed crossings"
            );
            let mut head = format!("{:<16}{:>7}", "family", "truths");
            for (name, _) in METHODS {
                let _ = write!(head, "{name:>w$}");
            }
            let _ = writeln!(out, "{head}{:>9}{:>7}   auto picked", "auto/pl", "cover");
            for (row, (family, _)) in table.rows.iter().zip(FAMILIES) {
                let truths = format!("{}/{}", row[0].truths_within, row[0].traces);
                let mut line = format!("{family:<16}{truths:>7}");
                for t in row {
                    let marks = match (t.false_alarms, t.misses) {
                        (0, 0) => String::new(),
                        (f, 0) => format!(" f{f}"),
                        (0, m) => format!(" m{m}"),
                        (f, m) => format!(" f{f}m{m}"),
                    };
                    let _ = write!(line, "{:>w$}", format!("{:.2}{marks}", t.mae()));
                }
                let (auto, linear) = (&row[AUTO], &row[PREDICT_LINEAR]);
                let flag = if worse(auto, linear) { "!" } else { "" };
                let _ = writeln!(
                    out,
                    "{line}{:>9}{:>7}   {}",
                    format!("{}{flag}", ratio(auto, linear)),
                    percent(auto.coverage()),
                    picks(auto)
                );
            }
            let totals: Vec<Tally> = (0..METHODS.len())
                .map(|m| table.total(m, |_| true))
                .collect();
            let quiet: Vec<Tally> = (0..METHODS.len())
                .map(|m| table.total(m, never_crosses))
                .collect();
            let mut rows: Vec<(String, Vec<String>)> = vec![(
                format!("all {} traces", totals[0].traces),
                totals.iter().map(|t| format!("{:.2}", t.mae())).collect(),
            )];
            rows.push((
                "false alarms flat/shrink".into(),
                quiet.iter().map(|t| t.false_alarms.to_string()).collect(),
            ));
            rows.push((
                "false alarms, others".into(),
                totals
                    .iter()
                    .zip(&quiet)
                    .map(|(t, q)| (t.false_alarms - q.false_alarms).to_string())
                    .collect(),
            ));
            rows.push((
                "missed crossings".into(),
                totals.iter().map(|t| t.misses.to_string()).collect(),
            ));
            rows.push((
                "  of them, p_lin warned".into(),
                totals.iter().map(|t| t.quieter.to_string()).collect(),
            ));
            rows.push((
                "failed forecasts".into(),
                totals.iter().map(|t| t.failures.to_string()).collect(),
            ));
            rows.push((
                "95 % band coverage".into(),
                totals.iter().map(|t| percent(t.coverage())).collect(),
            ));
            rows.push((
                "  where truly crossing".into(),
                totals
                    .iter()
                    .map(|t| percent(t.coverage_within()))
                    .collect(),
            ));
            rows.push((
                "band width, days".into(),
                totals
                    .iter()
                    .map(|t| t.band_width().map_or("n/a".into(), |v| format!("{v:.1}")))
                    .collect(),
            ));
            rows.push((
                "ms per forecast".into(),
                totals
                    .iter()
                    .map(|t| format!("{:.2}", t.ms_per_forecast()))
                    .collect(),
            ));
            for (label, cells) in rows {
                let mut line = format!("{label:<23}");
                for cell in cells {
                    let _ = write!(line, "{cell:>w$}");
                }
                let _ = writeln!(out, "{line}");
            }
            let first = |m: usize| {
                table.total(m, |f| {
                    FAMILIES[..FIRST_FAMILIES].iter().any(|(n, _)| *n == f)
                })
            };
            let _ = writeln!(
                out,
                "auto / predict_linear: {} (90 % bootstrap interval {}; target: at most 0.50 on the held-back set; ! marks a family where auto is worse)\n\
                 auto / predict_linear over the first {FIRST_FAMILIES} families (those of rounds 1–8): {}\n\
                 the best of the five models on each trace, picked knowing the truth, / predict_linear: {} (no way of choosing among them does better)\n",
                ratio(&totals[AUTO], &totals[PREDICT_LINEAR]),
                interval(table),
                ratio(&first(AUTO), &first(PREDICT_LINEAR)),
                hindsight(&table.rows).map_or("-".into(), |r| format!("{r:.2}")),
            );
        }
    }
    let _ = writeln!(
        out,
        "Summary: auto against predict_linear over the same lookback (mean absolute ETA error, days;\n\
         fa flat/sh and misses: auto/p_lin; quieter: auto's misses where p_lin warned;\n\
         cover, crossing: auto's 95 % band coverage over all traces, over those truly crossing)"
    );
    let _ = writeln!(
        out,
        "{:<11}{:>9}{:>7}{:>8}{:>7}{:>11}{:>11}{:>11}{:>8}{:>7}{:>9}{:>9}   families where auto is worse",
        "set",
        "lookback",
        "auto",
        "p_lin",
        "ratio",
        "90 % int.",
        "fa flat/sh",
        "misses",
        "quieter",
        "cover",
        "crossing",
        "ms auto"
    );
    for set in results {
        for table in &set.tables {
            let (auto, linear) = (
                table.total(AUTO, |_| true),
                table.total(PREDICT_LINEAR, |_| true),
            );
            let (qa, ql) = (
                table.total(AUTO, never_crosses),
                table.total(PREDICT_LINEAR, never_crosses),
            );
            let worse_in: Vec<&str> = table
                .rows
                .iter()
                .zip(FAMILIES)
                .filter(|(row, _)| worse(&row[AUTO], &row[PREDICT_LINEAR]))
                .map(|(_, (family, _))| family)
                .collect();
            let _ = writeln!(
                out,
                "{:<11}{:>9}{:>7.2}{:>8.2}{:>7}{:>11}{:>11}{:>11}{:>8}{:>7}{:>9}{:>9.2}   {}",
                set.name,
                format!("{} d", table.lookback),
                auto.mae(),
                linear.mae(),
                ratio(&auto, &linear),
                interval(table),
                format!("{}/{}", qa.false_alarms, ql.false_alarms),
                format!("{}/{}", auto.misses, linear.misses),
                auto.quieter,
                percent(auto.coverage()),
                percent(auto.coverage_within()),
                auto.ms_per_forecast(),
                if worse_in.is_empty() {
                    "none".into()
                } else {
                    worse_in.join(", ")
                }
            );
        }
    }
    out
}

fn number(v: Option<f64>) -> String {
    v.map_or("null".into(), |v| format!("{v:.4}"))
}

fn tally_json(t: &Tally) -> String {
    let picks: Vec<String> = t
        .picks
        .iter()
        .map(|(k, n)| format!("\"{k}\":{n}"))
        .collect();
    format!(
        "{{\"traces\":{},\"truths_within\":{},\"mae_days\":{:.4},\"false_alarms\":{},\"misses\":{},\"misses_where_predict_linear_warned\":{},\"failures\":{},\"coverage\":{},\"coverage_where_crossing\":{},\"band_width_days\":{},\"ms_per_forecast\":{:.4},\"picks\":{{{}}}}}",
        t.traces,
        t.truths_within,
        t.mae(),
        t.false_alarms,
        t.misses,
        t.quieter,
        t.failures,
        number(t.coverage()),
        number(t.coverage_within()),
        number(t.band_width()),
        t.ms_per_forecast(),
        picks.join(",")
    )
}

fn methods_json(tallies: &[Tally]) -> String {
    let all: Vec<String> = METHODS
        .iter()
        .zip(tallies)
        .map(|((name, _), t)| format!("\"{name}\":{}", tally_json(t)))
        .collect();
    format!("{{{}}}", all.join(","))
}

/// The same figures as one JSON object.
pub fn json(results: &[SetResult], config: &Config) -> String {
    let sets: Vec<String> = results
        .iter()
        .map(|set| {
            let tables: Vec<String> = set
                .tables
                .iter()
                .map(|table| {
                    let families: Vec<String> = table
                        .rows
                        .iter()
                        .zip(FAMILIES)
                        .map(|(row, (family, _))| format!("\"{family}\":{}", methods_json(row)))
                        .collect();
                    let totals: Vec<Tally> = (0..METHODS.len()).map(|m| table.total(m, |_| true)).collect();
                    let quiet: Vec<Tally> = (0..METHODS.len()).map(|m| table.total(m, never_crosses)).collect();
                    let ratio = totals[AUTO].mae() / totals[PREDICT_LINEAR].mae();
                    format!(
                        "{{\"lookback_days\":{},\"families\":{{{}}},\"overall\":{},\"flat_and_shrinking\":{},\"auto_over_predict_linear\":{},\"auto_over_predict_linear_90\":{},\"hindsight_over_predict_linear\":{}}}",
                        table.lookback,
                        families.join(","),
                        methods_json(&totals),
                        methods_json(&quiet),
                        number(ratio.is_finite().then_some(ratio)),
                        ratio_interval(&table.rows, AUTO, PREDICT_LINEAR)
                            .map_or("null".into(), |(lo, hi)| format!("[{lo:.4},{hi:.4}]")),
                        number(hindsight(&table.rows))
                    )
                })
                .collect();
            format!(
                "{{\"set\":\"{}\",\"seed_base\":{},\"lookbacks\":[{}]}}",
                set.name,
                set.base,
                tables.join(",")
            )
        })
        .collect();
    format!(
        "{{\"threshold\":{},\"horizon_days\":{},\"traces_per_family\":{},\"sets\":[{}]}}",
        super::trace::THRESHOLD,
        config.horizon,
        config.seeds,
        sets.join(",")
    )
}
