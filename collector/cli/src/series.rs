//! `vigil series SELECTOR`: which series exist, like Prometheus' `/api/v1/series`.

use std::collections::BTreeSet;
use std::io::{self, Write};

use vigil_proto::v1::SeriesLabels;

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};

/// Arguments of `vigil series`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    vigil series 'node_load1{host=\"web-1\"}'\n  \
    vigil series '{__name__=~\"node_filesystem_.+\", mountpoint=\"/\"}' --output csv")]
pub struct SeriesArgs {
    /// Prometheus series selector, e.g. 'node_load1{host="web-1"}' or '{__name__=~"node_.+"}'
    #[arg(value_name = "SELECTOR")]
    pub selector: String,

    /// Most series to list; 0 means the collector's own limit
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit: u64,
}

/// Lists the series matching the selector; warns on stderr when the list was cut short.
pub async fn run(target: &Target, args: &SeriesArgs, output: Output) -> Result<(), Error> {
    let mut collector = Collector::connect(target).await?;
    let response = collector.series(&args.selector, args.limit).await?;
    if response.truncated {
        eprintln!(
            "warning: the collector truncated the result to the first {} matching series; \
             narrow the selector or raise --limit",
            response.series.len()
        );
    }
    if response.series.is_empty() && output == Output::Table {
        eprintln!("no series match {}", args.selector);
        return Ok(());
    }
    let mut out = output::stdout();
    render(&response.series, output, &mut out)?;
    Ok(out.flush()?)
}

/// Writes `series` in the chosen format.
pub fn render(series: &[SeriesLabels], output: Output, w: &mut dyn Write) -> io::Result<()> {
    match output {
        // Exactly the `data` of Prometheus' /api/v1/series: one label object per series.
        Output::Json => {
            let maps: Vec<_> = series
                .iter()
                .map(|s| output::label_map(&s.labels))
                .collect();
            output::write_json(w, &maps)
        }
        // One column per label name seen, `__name__` first; blank where a series lacks it.
        Output::Csv => {
            let mut names: Vec<&str> = vec!["__name__"];
            let others: BTreeSet<&str> = series
                .iter()
                .flat_map(|s| &s.labels)
                .map(|l| l.name.as_str())
                .filter(|&name| name != "__name__")
                .collect();
            names.extend(others);
            let rows = series.iter().map(|s| {
                let labels = output::label_map(&s.labels);
                names
                    .iter()
                    .map(|name| labels.get(name).copied().unwrap_or(""))
                    .collect::<Vec<_>>()
            });
            output::write_csv(w, &names, rows)
        }
        Output::Table => {
            let mut table = output::table(&["SERIES"], &[]);
            for s in series {
                table.add_row(vec![output::format_series(&s.labels)]);
            }
            output::write_table(w, &table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::v1::Label;

    fn series(labels: &[(&str, &str)]) -> SeriesLabels {
        SeriesLabels {
            labels: labels
                .iter()
                .map(|(name, value)| Label {
                    name: (*name).into(),
                    value: (*value).into(),
                })
                .collect(),
        }
    }

    fn sample() -> Vec<SeriesLabels> {
        vec![
            series(&[("__name__", "node_load1"), ("host", "db-1")]),
            series(&[
                ("__name__", "node_filesystem_avail_bytes"),
                ("device", "/dev/sda1"),
                ("host", "web-1"),
                ("mountpoint", "/"),
            ]),
            series(&[("__name__", "odd"), ("host", "a\"b,c")]),
        ]
    }

    fn rendered(output: Output) -> String {
        let mut out = Vec::new();
        render(&sample(), output, &mut out).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json() {
        assert_eq!(
            rendered(Output::Json),
            concat!(
                r#"[{"__name__":"node_load1","host":"db-1"},"#,
                r#"{"__name__":"node_filesystem_avail_bytes","device":"/dev/sda1","host":"web-1","mountpoint":"/"},"#,
                r#"{"__name__":"odd","host":"a\"b,c"}]"#,
                "\n"
            )
        );
    }

    #[test]
    fn csv() {
        assert_eq!(
            rendered(Output::Csv),
            "__name__,device,host,mountpoint\n\
             node_load1,,db-1,\n\
             node_filesystem_avail_bytes,/dev/sda1,web-1,/\n\
             odd,,\"a\"\"b,c\",\n"
        );
    }

    #[test]
    fn table() {
        assert_eq!(
            rendered(Output::Table),
            "SERIES\n\
             node_load1{host=\"db-1\"}\n\
             node_filesystem_avail_bytes{device=\"/dev/sda1\", host=\"web-1\", mountpoint=\"/\"}\n\
             odd{host=\"a\\\"b,c\"}\n"
        );
    }
}
