//! The process groups and systemd units of `vigil host`: what the agent's `processes`
//! and `systemd` sources report (`vigil_process_*`, `node_systemd_unit_state`).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use vigil_proto::v1::QueryResult;

use crate::client::Collector;
use crate::error::Error;
use crate::output;
use crate::units::{self, or_dash};
use crate::usage;

/// One process group: the processes of one command name (or a named group, or `other`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessGroup {
    /// The `group` label.
    pub group: String,
    /// CPU used over the window, percent of one core (user and system).
    pub cpu_percent: Option<f64>,
    /// Resident memory, bytes.
    pub memory_bytes: Option<f64>,
    /// Processes.
    pub processes: Option<f64>,
    /// Threads.
    pub threads: Option<f64>,
}

/// One systemd unit in the failed or activating state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Unit {
    /// `nginx.service`.
    pub unit: String,
    /// `failed` or `activating`.
    pub state: String,
    /// A service's `Type=`; empty for other units.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The queries, in the order [`gather`] reads them.
pub fn exprs(host: &str, window: Duration) -> [String; 5] {
    let w = usage::promql_duration(window);
    let sel = |name: &str| format!("{name}{{host=\"{}\"}}", usage::escape(host));
    [
        format!(
            "100 * sum by (group) (rate({}[{w}]))",
            sel("vigil_process_cpu_seconds_total")
        ),
        sel("vigil_process_resident_memory_bytes"),
        sel("vigil_process_count"),
        sel("vigil_process_threads"),
        format!("{} == 1", sel("node_systemd_unit_state")),
    ]
}

/// Asks the collector for the host's process groups and units at `time_ms`.
pub async fn fetch(
    collector: &Collector,
    host: &str,
    window: Duration,
    time_ms: i64,
) -> Result<(Vec<ProcessGroup>, Vec<Unit>), Error> {
    let results = usage::evaluate_all(collector, &exprs(host, window), time_ms).await?;
    Ok(gather(&results))
}

/// The groups (busiest first, `other` last) and the units (failed first, then by name) from
/// the results of [`exprs`].
pub fn gather(results: &[QueryResult]) -> (Vec<ProcessGroup>, Vec<Unit>) {
    let mut groups: BTreeMap<String, ProcessGroup> = BTreeMap::new();
    for (index, result) in results.iter().take(4).enumerate() {
        for series in &result.series {
            let (Some(group), Some(value)) = (usage::label(series, "group"), usage::value(series))
            else {
                continue;
            };
            let entry = groups
                .entry(group.to_owned())
                .or_insert_with(|| ProcessGroup {
                    group: group.to_owned(),
                    ..ProcessGroup::default()
                });
            let field = match index {
                0 => &mut entry.cpu_percent,
                1 => &mut entry.memory_bytes,
                2 => &mut entry.processes,
                _ => &mut entry.threads,
            };
            *field = Some(value);
        }
    }
    let mut groups: Vec<ProcessGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| {
        let other = |g: &ProcessGroup| g.group == "other";
        let cpu = |g: &ProcessGroup| g.cpu_percent.unwrap_or(0.0);
        other(a)
            .cmp(&other(b))
            .then(cpu(b).total_cmp(&cpu(a)))
            .then(a.group.cmp(&b.group))
    });
    let mut units: Vec<Unit> = results
        .get(4)
        .map_or(&[][..], |r| &r.series[..])
        .iter()
        .map(|s| Unit {
            unit: usage::label(s, "name").unwrap_or_default().to_owned(),
            state: usage::label(s, "state").unwrap_or_default().to_owned(),
            kind: usage::label(s, "type").unwrap_or_default().to_owned(),
        })
        .collect();
    units.sort_by(|a, b| {
        (a.state != "failed", &a.unit, &a.state).cmp(&(b.state != "failed", &b.unit, &b.state))
    });
    units.dedup();
    (groups, units)
}

/// The table blocks: process groups, then units; nothing for an empty list.
pub fn write_tables(groups: &[ProcessGroup], units: &[Unit], w: &mut dyn Write) -> io::Result<()> {
    if !groups.is_empty() {
        let mut table = output::table(
            &["PROCESS GROUP", "CPU", "MEMORY", "PROCESSES", "THREADS"],
            &[1, 2, 3, 4],
        );
        let count = |v: Option<f64>| or_dash(v, |v| format!("{v:.0}"));
        for g in groups {
            table.add_row(vec![
                g.group.clone(),
                or_dash(g.cpu_percent, units::percent),
                or_dash(g.memory_bytes, units::bytes),
                count(g.processes),
                count(g.threads),
            ]);
        }
        writeln!(w)?;
        output::write_table(w, &table)?;
    }
    if !units.is_empty() {
        let mut table = output::table(&["SYSTEMD UNIT", "STATE", "TYPE"], &[]);
        for u in units {
            let kind = if u.kind.is_empty() { "-" } else { &u.kind };
            table.add_row(vec![u.unit.clone(), u.state.clone(), kind.to_owned()]);
        }
        writeln!(w)?;
        output::write_table(w, &table)?;
    }
    Ok(())
}
