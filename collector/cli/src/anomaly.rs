//! `vigil anomaly score --input FILE.csv [--model M]`: the collector's online anomaly
//! detector ([`vigil_anomaly`]) over a file, with no collector needed, so operators can try
//! it on their own exports.
//!
//! Input: a header line, then rows of `timestamp,value`; a timestamp is
//! `YYYY-MM-DD HH:MM:SS` (UTC; RFC 3339 too) or Unix seconds, and the step need not be
//! regular. Output: one row per input row, in input order, `timestamp,value,anomaly_score`
//! with the input's timestamp and value text unchanged (`--output csv`; the table shows the
//! same, `--output json` an array of objects). The whole file is read and checked first: a
//! bad row is an error naming its line, and nothing is printed.

use crate::output::{self, Output};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// `vigil anomaly`.
#[derive(Debug, Args)]
pub struct AnomalyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AnomalyCommand,
}

/// The subcommands of `vigil anomaly`.
#[derive(Debug, Subcommand)]
pub enum AnomalyCommand {
    /// Score every row of a CSV file of `timestamp,value` with the online detector (no
    /// collector needed)
    Score(ScoreArgs),
}

/// `vigil anomaly score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The CSV file: a header line, then `timestamp,value` rows (timestamps
    /// `YYYY-MM-DD HH:MM:SS` UTC or Unix seconds)
    #[arg(long, value_name = "FILE.csv")]
    pub input: PathBuf,
    /// The model
    #[arg(long, value_enum, default_value_t = Model::Auto)]
    pub model: Model,
}

/// The detector's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// The default: the seasonal model
    Auto,
    /// Robust level and scale, daily and weekly profiles where the series shows them
    Seasonal,
}

/// One row of the file: its text as read, and what the detector reads.
struct Row {
    timestamp: String,
    value: String,
    t_ms: i64,
    v: f64,
}

/// Runs `vigil anomaly` (on local files: no collector).
pub fn run(args: &AnomalyArgs, output: Output) -> anyhow::Result<()> {
    match &args.command {
        AnomalyCommand::Score(score) => {
            let input = score.input.display();
            let text = std::fs::read_to_string(&score.input)
                .map_err(|e| anyhow::anyhow!("cannot read {input}: {e}"))?;
            let rows =
                parse(&text).map_err(|e| anyhow::anyhow!("{input}: {e}; nothing was scored"))?;
            let scores = score_rows(&rows, score.model);
            let mut out = output::stdout();
            render(&rows, &scores, output, &mut out)?;
            Ok(out.flush()?)
        }
    }
}

/// The rows of `text`, or why a line is not one.
fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if !header.trim().is_empty() => {}
        _ => {
            return Err(
                "the file is empty; it needs a header line, then timestamp,value rows".into(),
            );
        }
    }
    let mut rows = Vec::new();
    let mut last_ms = i64::MIN;
    for (i, line) in lines {
        let n = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let [timestamp, value] = fields[..] else {
            return Err(format!(
                "line {n}: {} fields, want 2 (timestamp,value): {line:?}",
                fields.len()
            ));
        };
        let t_ms = vigil_promql::time::parse_time(timestamp.trim().trim_matches('"')).map_err(|_| {
            format!(
                "line {n}: timestamp {timestamp:?} is neither YYYY-MM-DD HH:MM:SS (UTC) nor Unix \
                 seconds"
            )
        })?;
        if t_ms < last_ms {
            return Err(format!(
                "line {n}: timestamp {timestamp:?} is before the row above it; sort the file \
                 by time"
            ));
        }
        last_ms = t_ms;
        let v: f64 = value
            .trim()
            .trim_matches('"')
            .parse()
            .map_err(|_| format!("line {n}: value {value:?} is not a number"))?;
        rows.push(Row {
            timestamp: timestamp.to_owned(),
            value: value.to_owned(),
            t_ms,
            v,
        });
    }
    Ok(rows)
}

/// The detector's score of every row, in order.
fn score_rows(rows: &[Row], model: Model) -> Vec<f64> {
    match model {
        Model::Auto | Model::Seasonal => {
            let mut detector = vigil_anomaly::Detector::new();
            rows.iter()
                .map(|r| detector.update(r.t_ms, r.v).score)
                .collect()
        }
    }
}

fn render(rows: &[Row], scores: &[f64], output: Output, w: &mut dyn Write) -> std::io::Result<()> {
    match output {
        Output::Csv => {
            writeln!(w, "timestamp,value,anomaly_score")?;
            for (r, s) in rows.iter().zip(scores) {
                writeln!(w, "{},{},{s}", r.timestamp, r.value)?;
            }
        }
        Output::Json => {
            let all: Vec<serde_json::Value> = rows
                .iter()
                .zip(scores)
                .map(|(r, s)| {
                    serde_json::json!({
                        "timestamp": r.timestamp,
                        "value": r.value,
                        "anomaly_score": s,
                    })
                })
                .collect();
            writeln!(w, "{}", serde_json::Value::Array(all))?;
        }
        Output::Table => {
            let width = rows
                .iter()
                .map(|r| r.timestamp.len())
                .max()
                .unwrap_or(9)
                .max(9);
            let vwidth = rows.iter().map(|r| r.value.len()).max().unwrap_or(5).max(5);
            writeln!(
                w,
                "{:<width$}  {:>vwidth$}  ANOMALY_SCORE",
                "TIMESTAMP", "VALUE"
            )?;
            for (r, s) in rows.iter().zip(scores) {
                writeln!(w, "{:<width$}  {:>vwidth$}  {s:.3}", r.timestamp, r.value)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_order_count_and_text() {
        // A minute apart, a little noise, one spike at row 150.
        let mut text = String::from("timestamp,value\n");
        for i in 0..200i64 {
            let v = if i == 150 {
                90.0
            } else {
                50.0 + (i % 7) as f64 * 0.1
            };
            text.push_str(&format!("{},{v:.2}\n", 1_396_310_400 + 60 * i));
        }
        let rows = parse(&text).unwrap();
        assert_eq!(rows.len(), 200);
        let scores = score_rows(&rows, Model::Auto);
        let mut out = Vec::new();
        render(&rows, &scores, Output::Csv, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 201);
        assert_eq!(lines[0], "timestamp,value,anomaly_score");
        for (line, input) in lines[1..].iter().zip(text.lines().skip(1)) {
            assert!(line.starts_with(&format!("{input},")), "{line} for {input}");
        }
        assert!(scores[150] >= 0.9, "{}", scores[150]);
        assert!(scores[..150].iter().all(|s| *s < 0.5));
    }

    #[test]
    fn both_time_formats_are_read() {
        let rows = parse("timestamp,value\n2014-04-01 00:00:00,1\n1396310460,2.5\n").unwrap();
        assert_eq!(rows[0].t_ms, 1_396_310_400_000);
        assert_eq!(rows[1].t_ms, 1_396_310_460_000);
        assert_eq!(rows[1].value, "2.5");
    }

    #[test]
    fn a_bad_row_names_its_line() {
        for (text, says) in [
            (
                "timestamp,value\n1396310400,1\n1396310460,x\n",
                "line 3: value \"x\"",
            ),
            ("timestamp,value\n1396310400,1,2\n", "line 2: 3 fields"),
            (
                "timestamp,value\nyesterday,1\n",
                "line 2: timestamp \"yesterday\"",
            ),
            (
                "timestamp,value\n1396310460,1\n1396310400,1\n",
                "line 3: timestamp",
            ),
            ("", "the file is empty"),
        ] {
            let e = parse(text).err().unwrap();
            assert!(e.contains(says), "{e}");
        }
    }
}
