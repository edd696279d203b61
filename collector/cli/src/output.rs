//! Rendering shared by the commands: the `--output` formats, tables in the house style,
//! and numbers and label sets written the way Prometheus writes them, so that JSON output
//! can be fed to anything that reads the Prometheus HTTP API.

use std::collections::BTreeMap;
use std::io::{self, Write};

use comfy_table::{CellAlignment, Table, presets};
use serde::Serialize;
use vigil_proto::v1::Label;

/// How a command prints its result (`--output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// JSON in the shapes of the Prometheus HTTP API, one document on one line.
    Json,
    /// CSV with a header row, for spreadsheets and scripts.
    Csv,
}

/// Stdout, buffered: results can be hundreds of thousands of lines.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::new(io::stdout().lock())
}

/// A sample value as Prometheus writes it in JSON (Go's `strconv.FormatFloat` with the
/// shortest round-trip digits): plain decimals, except exponent form below 1e-6 and from
/// 1e21 up (`1e+21`, `1.5e-07`), and `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    vigil_promql::go_float::write_sample_value(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

/// A series as Prometheus prints it: `name{a="b", c="d"}`; just `name` with no other
/// labels; `{a="b"}` with no name. Values are escaped as in the exposition format
/// (`\\`, `\"`, `\n`).
pub fn format_series(labels: &[Label]) -> String {
    let name = labels
        .iter()
        .find(|l| l.name == "__name__")
        .map_or("", |l| l.value.as_str());
    let pairs: Vec<String> = labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| format!("{}=\"{}\"", l.name, escape_label_value(&l.value)))
        .collect();
    if pairs.is_empty() && !name.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", pairs.join(", "))
    }
}

/// Escapes `\`, `"` and newline in a label value.
fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Labels as a JSON object, sorted by name as Prometheus (Go maps) sorts them.
pub fn label_map(labels: &[Label]) -> BTreeMap<&str, &str> {
    labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

/// Milliseconds since the epoch as a JSON number of Unix seconds, the way Prometheus
/// writes timestamps: `1700000000.123`, and `1700000000` for whole seconds.
pub use vigil_promql::time::unix_seconds;

/// Writes `value` as one line of compact JSON.
pub fn write_json<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, value)?;
    writeln!(w)
}

/// Writes a header and rows as CSV.
pub fn write_csv<R, F>(w: &mut dyn Write, header: &[&str], rows: R) -> io::Result<()>
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<[u8]>,
{
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(header)?;
    for row in rows {
        csv.write_record(row)?;
    }
    csv.flush()
}

/// A table in the house style (kubectl-like: no borders, three spaces between columns);
/// the columns listed in `right_aligned` hold numbers.
pub fn table(header: &[&str], right_aligned: &[usize]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(header.to_vec());
    for (index, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 3));
        if right_aligned.contains(&index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Writes a table without trailing blanks.
pub fn write_table(w: &mut dyn Write, table: &Table) -> io::Result<()> {
    writeln!(w, "{}", table.trim_fmt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    // 93015433358559.625 is exact in an f64, and written so to show the tie.
    #[allow(clippy::excessive_precision)]
    fn values_as_prometheus_writes_them() {
        assert_eq!(format_value(8.0), "8");
        assert_eq!(format_value(-3.0), "-3");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1_700_000_000.123), "1700000000.123");
        assert_eq!(format_value(1e20), "100000000000000000000");
        // A tie in the shortest digits goes to the even one, as in Go.
        assert_eq!(format_value(93015433358559.625), "93015433358559.62");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(-1.5e300), "-1.5e+300");
        assert_eq!(format_value(1e-6), "0.000001");
        assert_eq!(format_value(1.5e-7), "1.5e-07");
        assert_eq!(format_value(5e-324), "5e-324");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn series_names() {
        let labels = [
            label("__name__", "node_load1"),
            label("env", "prod"),
            label("host", "web-1"),
        ];
        assert_eq!(
            format_series(&labels),
            r#"node_load1{env="prod", host="web-1"}"#
        );
        assert_eq!(format_series(&labels[..1]), "node_load1");
        assert_eq!(format_series(&labels[1..2]), r#"{env="prod"}"#);
        assert_eq!(format_series(&[]), "{}");
    }

    #[test]
    fn label_values_are_escaped() {
        let labels = [
            label("__name__", "x"),
            label("path", "C:\\dir \"quoted\"\nnext"),
        ];
        assert_eq!(
            format_series(&labels),
            r#"x{path="C:\\dir \"quoted\"\nnext"}"#
        );
    }

    #[test]
    fn timestamps_as_unix_seconds() {
        assert_eq!(
            unix_seconds(1_700_000_000_123).to_string(),
            "1700000000.123"
        );
        assert_eq!(unix_seconds(1_700_000_000_100).to_string(), "1700000000.1");
        assert_eq!(unix_seconds(1_700_000_000_000).to_string(), "1700000000");
        assert_eq!(unix_seconds(-1500).to_string(), "-1.5");
    }

    #[test]
    fn tables_have_no_borders_or_trailing_blanks() {
        let mut t = table(&["NAME", "COUNT"], &[1]);
        t.add_row(vec!["a", "7"]);
        t.add_row(vec!["longer", "1234"]);
        let mut out = Vec::new();
        write_table(&mut out, &t).expect("write to a Vec");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "NAME     COUNT\na            7\nlonger    1234\n"
        );
    }
}
