//! The comparison of one agent round with two node_exporter scrapes, per node_exporter
//! collector: names, label sets and values, and the table printed for the closing note.

use super::{Sample, Scrape, collector_of, matches};
use std::collections::{BTreeMap, BTreeSet};

/// What Vigil deliberately does not write, as name patterns (`prefix*` or exact), and why.
pub const LEFT_OUT: &[(&str, &str)] = &[
    (
        "node_systemd_unit_state",
        "only failed and activating units are sent (bounded cardinality; parity spec)",
    ),
    ("node_systemd_system_running", SYSTEMD),
    ("node_systemd_version", SYSTEMD),
    ("node_systemd_socket_*", SYSTEMD),
    ("node_systemd_timer_last_trigger_seconds", SYSTEMD),
    ("node_systemd_service_restart_total", SYSTEMD),
];

/// Why the systemd source sends less than node_exporter's systemd collector.
pub const SYSTEMD: &str = "the systemd source sends unit states and unit counts only (parity spec)";

/// Labels Vigil adds to every series that node_exporter's scrape does not carry.
pub const TARGET_LABELS: [&str; 3] = ["host", "job", "instance"];

/// How far a gauge may lie outside the two scrapes' values: the scrapes themselves move
/// these (node_exporter's threads run, allocate, open files and a TCP connection).
pub fn slack(name: &str) -> f64 {
    const MIB: f64 = 1024.0 * 1024.0;
    match name {
        "node_procs_running" | "node_procs_blocked" | "node_disk_io_now" => 8.0,
        "node_filefd_allocated" => 256.0,
        "node_netstat_Tcp_CurrEstab" | "node_nf_conntrack_entries" => 16.0,
        "node_entropy_available_bits" => 256.0,
        "node_filesystem_files_free" => 4096.0,
        n if n.starts_with("node_filesystem_") && n.ends_with("_bytes") => 256.0 * MIB,
        n if n.starts_with("node_memory_") && n.ends_with("_bytes") => 64.0 * MIB,
        n if n.starts_with("node_sockstat_") && n.ends_with("_bytes") => 256.0 * 4096.0,
        n if n.starts_with("node_sockstat_") => 256.0,
        _ => 0.0,
    }
}

/// A series' identity for comparison: name and labels, target labels left out.
pub type Key = (String, BTreeMap<String, String>);

/// The [`Key`] of series `name{labels}`.
pub fn key_of(name: &str, labels: &BTreeMap<String, String>) -> Key {
    let labels = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__" && !TARGET_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (name.to_owned(), labels)
}

/// Why Vigil leaves `name` out, if it does (see [`LEFT_OUT`]).
pub fn left_out(name: &str) -> Option<&'static str> {
    LEFT_OUT
        .iter()
        .find_map(|(pattern, why)| matches(pattern, name).then_some(*why))
}

/// One row of the table: one node_exporter collector.
#[derive(Default)]
pub struct Row {
    /// The Vigil source that covers the collector, `None` when none does.
    pub source: Option<&'static str>,
    /// node_exporter's metric names (less [`LEFT_OUT`]).
    pub names: BTreeSet<String>,
    /// How many of them Vigil has.
    pub names_had: usize,
    /// node_exporter's label sets (series).
    pub sets: usize,
    /// How many of them Vigil has.
    pub sets_had: usize,
    /// Series in both scrapes and in Vigil's round: those whose values are compared.
    pub checked: usize,
    /// How many of them agree.
    pub agree: usize,
    /// node_exporter's names Vigil lacks.
    pub missing_names: Vec<String>,
    /// node_exporter's series Vigil lacks, of names Vigil has.
    pub missing_sets: Vec<String>,
    /// The values that do not agree, with both sides.
    pub disagree: Vec<String>,
    /// Vigil's series node_exporter does not have.
    pub extra: Vec<String>,
    /// Names left out on purpose (see [`LEFT_OUT`]).
    pub left_out: BTreeSet<String>,
}

fn pct(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// `name{label="value",…}`.
pub fn show(key: &Key) -> String {
    let labels: Vec<String> = key.1.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{}{{{}}}", key.0, labels.join(","))
}

fn by_key(scrape: &Scrape) -> BTreeMap<Key, f64> {
    scrape
        .samples
        .iter()
        .filter(|s| collector_of(&s.name).is_some())
        .map(|s: &Sample| (key_of(&s.name, &s.labels), s.value))
        .collect()
}

/// Whether Vigil's `v` agrees with node_exporter's `before` and `after` for `name`; on a
/// `live` host noisy gauges get their [`slack`], on a recorded tree nothing does.
pub fn agrees(name: &str, v: f64, before: f64, after: f64, live: bool) -> bool {
    if v.is_nan() || before.is_nan() || after.is_nan() {
        return v.is_nan() && (before.is_nan() || after.is_nan());
    }
    let (lo, hi) = (before.min(after), before.max(after));
    // Float formatting and unit scaling (ms × 0.001 against ms / 1000) may differ in the
    // last bits.
    let rounding = 1e-9 * lo.abs().max(hi.abs()).max(1.0);
    let slack = if live { slack(name) } else { 0.0 } + rounding;
    v >= lo - slack && v <= hi + slack
}

/// Compares Vigil's round with the scrapes before and after it, per collector.
pub fn compare(
    before: &Scrape,
    after: &Scrape,
    vigil: &BTreeMap<Key, f64>,
    live: bool,
) -> BTreeMap<&'static str, Row> {
    let (before_map, after_map) = (by_key(before), by_key(after));
    let mut rows: BTreeMap<&'static str, Row> = BTreeMap::new();
    let vigil_names: BTreeSet<&str> = vigil.keys().map(|k| k.0.as_str()).collect();
    for (key, &b) in &before_map {
        let (collector, source) = collector_of(&key.0).unwrap();
        let row = rows.entry(collector).or_default();
        row.source = source;
        if left_out(&key.0).is_some() {
            row.left_out.insert(key.0.clone());
            continue;
        }
        if row.names.insert(key.0.clone()) {
            if vigil_names.contains(key.0.as_str()) {
                row.names_had += 1;
            } else {
                row.missing_names.push(key.0.clone());
            }
        }
        row.sets += 1;
        let Some(&v) = vigil.get(key) else {
            if vigil_names.contains(key.0.as_str()) {
                row.missing_sets.push(show(key));
            }
            continue;
        };
        row.sets_had += 1;
        let Some(&a) = after_map.get(key) else {
            continue;
        };
        row.checked += 1;
        if agrees(&key.0, v, b, a, live) {
            row.agree += 1;
        } else {
            row.disagree
                .push(format!("{} vigil {v} node_exporter {b} .. {a}", show(key)));
        }
    }
    for key in vigil.keys() {
        if let Some((collector, source)) = collector_of(&key.0)
            && !before_map.contains_key(key)
            && left_out(&key.0).is_none()
        {
            let row = rows.entry(collector).or_default();
            row.source = source;
            row.extra.push(show(key));
        }
    }
    rows
}

/// Prints the table, then per collector what is missing, what disagrees, what only Vigil
/// has (eight of each at most) and what is left out on purpose.
pub fn print_table(rows: &BTreeMap<&'static str, Row>) {
    println!(
        "\n{:<13} {:<13} {:>9} {:>15} {:>9} {:>15} {:>8} {:>15} {:>6}",
        "collector",
        "vigil source",
        "NE names",
        "Vigil has",
        "NE sets",
        "Vigil has",
        "checked",
        "values agree",
        "extra"
    );
    let (reported, unreported): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|(_, r)| !r.names.is_empty() || !r.left_out.is_empty());
    for (collector, r) in &reported {
        println!(
            "{:<13} {:<13} {:>9} {:>15} {:>9} {:>15} {:>8} {:>15} {:>6}",
            collector,
            r.source.unwrap_or("(none)"),
            r.names.len(),
            format!("{} {}", r.names_had, pct(r.names_had, r.names.len())),
            r.sets,
            format!("{} {}", r.sets_had, pct(r.sets_had, r.sets)),
            r.checked,
            format!("{} {}", r.agree, pct(r.agree, r.checked)),
            r.extra.len(),
        );
    }
    if !unreported.is_empty() {
        let names: Vec<&str> = unreported.iter().map(|(c, _)| **c).collect();
        println!("not compared (node_exporter does not report them here): {names:?}");
    }
    for (collector, r) in &reported {
        let lists = [
            ("missing names", &r.missing_names),
            ("missing label sets", &r.missing_sets),
            ("values disagree", &r.disagree),
            ("Vigil only", &r.extra),
        ];
        for (what, list) in lists {
            if !list.is_empty() {
                println!("{collector}: {what} ({}):", list.len());
                for line in list.iter().take(8) {
                    println!("    {line}");
                }
            }
        }
        for name in &r.left_out {
            println!("{collector}: left out {name}: {}", left_out(name).unwrap());
        }
    }
}

/// What keeps `rows` short of node_exporter: for each collector a Vigil source covers and
/// node_exporter reports, every name and label set (less [`LEFT_OUT`]) and 99% of values.
pub fn shortfalls(rows: &BTreeMap<&'static str, Row>) -> Vec<String> {
    let mut failures = Vec::new();
    for (collector, r) in rows {
        if r.source.is_none() || r.names.is_empty() {
            continue;
        }
        if r.names_had < r.names.len() || r.sets_had < r.sets {
            failures.push(format!(
                "{collector}: {}/{} names, {}/{} label sets",
                r.names_had,
                r.names.len(),
                r.sets_had,
                r.sets
            ));
        }
        if r.checked > 0 && (r.agree as f64) < 0.99 * r.checked as f64 {
            failures.push(format!(
                "{collector}: {}/{} values agree",
                r.agree, r.checked
            ));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_brackets_counters_and_widens_only_noisy_live_gauges() {
        let counter = "node_cpu_seconds_total";
        assert!(agrees(counter, 10.5, 10.0, 11.0, true));
        assert!(agrees(counter, 10.0, 10.0, 10.0, false));
        assert!(
            !agrees(counter, 11.5, 10.0, 11.0, true),
            "read after the later scrape"
        );
        assert!(
            !agrees(counter, 10_500.0, 10.0, 11.0, true),
            "milliseconds, not seconds"
        );
        let memory = "node_memory_MemFree_bytes";
        assert!(
            agrees(memory, 1e9 + 4096.0, 1e9, 1e9, true),
            "node_exporter's own use"
        );
        assert!(
            !agrees(memory, 1e9 + 4096.0, 1e9, 1e9, false),
            "a recorded file is exact"
        );
        assert!(
            !agrees(memory, 1e9 / 1024.0, 1e9, 1e9, true),
            "kB, not bytes"
        );
        assert!(
            agrees("node_load1", 0.5, 0.52, 0.48, false),
            "a gauge between its reads"
        );
        assert!(agrees("m", f64::NAN, f64::NAN, f64::NAN, true));
        assert!(!agrees("m", 1.0, f64::NAN, f64::NAN, true));
    }
}
