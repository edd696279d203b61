//! `vigil top`: one row per host with its current CPU, memory, fullest filesystem, disk and
//! network throughput and load, like `top` for a fleet; `--watch` redraws until Ctrl-C.
//!
//! Figures come from [`super::usage`] (PromQL through the collector's engine); up/down and
//! hosts without data come from the host registry. `--output json` prints an array of
//! objects with the fields of [`TopRow`] (raw numbers: percentages 0–100, bytes per
//! second; `null` when a host has no data for a figure, `up` `null` for a host that has
//! data but never connected, e.g. imported); `--output csv` has the same columns.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use vigil_proto::v1::Host;

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;
use super::usage::{self, Scope, Usage};

/// Arguments of `vigil top`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    vigil top\n  \
    vigil top --sort mem --watch\n  \
    vigil top --window 5m --output json\n  \
    vigil top --at 2026-11-21T08:00:00Z")]
pub struct TopArgs {
    /// Order of the rows: the busiest first, or by host name
    #[arg(long, value_enum, default_value_t = SortKey::Cpu)]
    pub sort: SortKey,

    /// Redraw every SECS seconds (2 when no value is given) until Ctrl-C
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub watch: Option<u64>,

    /// Window of the rates (CPU, disk, network), e.g. 1m, 5m
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = time::parse_duration)]
    pub window: Duration,

    /// Show the fleet as it was at this time: RFC 3339 or Unix seconds [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_at, conflicts_with = "watch")]
    pub at: Option<i64>,
}

/// An `--at`: a time as [`time::parse_time`] reads it.
fn parse_at(input: &str) -> Result<i64, Error> {
    time::parse_time(input).map_err(Error::from)
}

/// What `--sort` orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// CPU %, highest first.
    Cpu,
    /// Memory %, highest first.
    Mem,
    /// Fullest filesystem %, highest first.
    Disk,
    /// Disk read + write throughput, highest first.
    Io,
    /// Network receive + transmit throughput, highest first.
    Net,
    /// Load average, highest first.
    Load,
    /// Host name, A to Z.
    Host,
}

impl SortKey {
    /// The name `--sort` takes.
    fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// One row of `vigil top`: a host, whether it is up, and its usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopRow {
    /// Host name.
    pub host: String,
    /// Whether its agent is connected; `None` when the registry does not know the host.
    pub up: Option<bool>,
    /// The figures, flattened into the row.
    #[serde(flatten)]
    pub usage: Usage,
}

/// Column names of `--output csv`, the JSON keys in order.
const CSV_HEADER: [&str; 10] = [
    "host",
    "up",
    "cpu_percent",
    "memory_percent",
    "fullest_filesystem_percent",
    "disk_read_bytes_per_second",
    "disk_write_bytes_per_second",
    "network_receive_bytes_per_second",
    "network_transmit_bytes_per_second",
    "load1",
];

/// Prints the table once, or every `--watch` seconds until Ctrl-C.
pub async fn run(target: &Target, args: &TopArgs, output: Output) -> Result<(), Error> {
    let collector = Collector::connect(target).await?;
    let Some(every) = args.watch else {
        let at = args.at.unwrap_or_else(time::now_ms);
        let rows = fetch(&collector, args, at).await?;
        if rows.is_empty() && output == Output::Table {
            eprintln!("no host has connected to the collector yet, and no host has data");
            return Ok(());
        }
        let mut out = output::stdout();
        render(&rows, output, &mut out)?;
        return Ok(out.flush()?);
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let now = time::now_ms();
        let fetched = fetch(&collector, args, now).await;
        let mut out = output::stdout();
        if output == Output::Table {
            // Home the cursor and clear the screen, as `top` and `watch` do.
            write!(out, "\x1b[H\x1b[2J")?;
            writeln!(
                out,
                "vigil top  {} UTC  every {every}s, sorted by {}  (Ctrl-C to quit)\n",
                time::format_utc(now),
                args.sort.name()
            )?;
        }
        match fetched {
            Ok(rows) => render(&rows, output, &mut out)?,
            // A collector restart should not end the watch: show why and try again.
            Err(e) => writeln!(out, "error: {e} (retrying in {every}s)")?,
        }
        out.flush()?;
        drop(out);
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(every)) => {}
        }
    }
}

/// The registry and the usage of every host at `time_ms`, sorted by `--sort`.
async fn fetch(collector: &Collector, args: &TopArgs, time_ms: i64) -> Result<Vec<TopRow>, Error> {
    let hosts = collector.clone().hosts().await?;
    let usage = usage::summary(collector, Scope::Fleet, args.window, time_ms).await?;
    let mut rows = join(&hosts, usage);
    sort(&mut rows, args.sort);
    Ok(rows)
}

/// One row per host of the registry or of the usage.
fn join(hosts: &[Host], mut usage: BTreeMap<String, Usage>) -> Vec<TopRow> {
    let mut rows: Vec<TopRow> = hosts
        .iter()
        .map(|h| TopRow {
            host: h.host.clone(),
            up: Some(h.up),
            usage: usage.remove(&h.host).unwrap_or_default(),
        })
        .collect();
    rows.extend(usage.into_iter().map(|(host, usage)| TopRow {
        host,
        up: None,
        usage,
    }));
    rows
}

/// Sorts by `key`, highest first; hosts without the figure last; ties by host name.
fn sort(rows: &mut [TopRow], key: SortKey) {
    let figure = |row: &TopRow| -> Option<f64> {
        let u = &row.usage;
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        match key {
            SortKey::Cpu => u.cpu_percent,
            SortKey::Mem => u.memory_percent,
            SortKey::Disk => u.fullest_filesystem_percent,
            SortKey::Io => sum(u.disk_read_bytes_per_second, u.disk_write_bytes_per_second),
            SortKey::Net => sum(
                u.network_receive_bytes_per_second,
                u.network_transmit_bytes_per_second,
            ),
            SortKey::Load => u.load1,
            SortKey::Host => None,
        }
    };
    rows.sort_by(|a, b| {
        let by_figure = match (figure(a), figure(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_figure.then_with(|| a.host.cmp(&b.host))
    });
}

/// Writes `rows` in the chosen format.
pub fn render(rows: &[TopRow], output: Output, w: &mut dyn Write) -> io::Result<()> {
    match output {
        Output::Json => output::write_json(w, rows),
        Output::Csv => {
            let cell = |v: Option<f64>| v.map(output::format_value).unwrap_or_default();
            let csv_rows = rows.iter().map(|r| {
                let u = &r.usage;
                vec![
                    r.host.clone(),
                    r.up.map(|up| up.to_string()).unwrap_or_default(),
                    cell(u.cpu_percent),
                    cell(u.memory_percent),
                    cell(u.fullest_filesystem_percent),
                    cell(u.disk_read_bytes_per_second),
                    cell(u.disk_write_bytes_per_second),
                    cell(u.network_receive_bytes_per_second),
                    cell(u.network_transmit_bytes_per_second),
                    cell(u.load1),
                ]
            });
            output::write_csv(w, &CSV_HEADER, csv_rows)
        }
        Output::Table => {
            let mut header = vec!["HOST", "UP"];
            header.extend(Usage::HEADINGS);
            let mut table = output::table(&header, &[2, 3, 4, 5, 6, 7, 8, 9]);
            for r in rows {
                let up = match r.up {
                    Some(true) => "up",
                    Some(false) => "down",
                    None => "-",
                };
                let mut row = vec![r.host.clone(), up.to_owned()];
                row.extend(r.usage.cells());
                table.add_row(row);
            }
            output::write_table(w, &table)
        }
    }
}

#[cfg(test)]
mod tests;
