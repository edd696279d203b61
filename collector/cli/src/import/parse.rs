//! The text formats `vigil import` reads, one line at a time.
//!
//! ```text
//! # HELP node_load1 1-minute load average.         metadata: checked, then ignored
//! # TYPE node_load1 gauge
//! # UNIT node_load1 seconds                        (OpenMetrics only)
//! node_load1{host="web-1",cpu="0"} 0.5 1700000000  a sample: series, value, timestamp
//! # EOF                                            (OpenMetrics: required, last line)
//! ```
//!
//! The two formats differ in the timestamp: OpenMetrics gives seconds (a float, converted
//! as Prometheus does: `int64(seconds * 1000)`, truncated), Prometheus text gives integer
//! milliseconds. Values are floats, `NaN`, `+Inf` or `-Inf`. Label values are quoted, with
//! `\\`, `\"` and `\n` escaped; any other backslash is kept as it is (as Prometheus's own
//! parsers do). OpenMetrics exemplars (` # {…} value`) are skipped. Samples must carry a
//! timestamp: import is for history, and `promtool tsdb create-blocks-from openmetrics`
//! refuses them too.
//!
//! Checks here are about syntax only; whether a metric name, label name or value is
//! acceptable is the collector's call (the same rules as agent ingest), so the rules live
//! in one place. The parser is lenient where the formats' own parsers are (blank lines,
//! spaces or tabs between tokens, a trailing comma in a label set, other `#` comments).

/// Which text format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// OpenMetrics 1.0 text: timestamps in seconds, ends with `# EOF`.
    #[value(name = "openmetrics")]
    OpenMetrics,
    /// Prometheus text exposition 0.0.4: timestamps in milliseconds.
    Prometheus,
}

/// One line, parsed.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// A sample; `series` is the text of the series (`name{labels}`), for
    /// [`parse_series`] and for telling whether a line continues the previous series.
    Sample {
        /// `name` or `name{…}` exactly as written.
        series: &'a str,
        /// The value.
        value: f64,
        /// Milliseconds since the Unix epoch.
        timestamp_ms: i64,
    },
    /// `# EOF` in an OpenMetrics file.
    Eof,
    /// Metadata, a comment or a blank line.
    Skip,
}

/// Timestamps (seconds) past this are almost surely milliseconds given as seconds.
const LATEST_PLAUSIBLE_SECONDS: f64 = 1e11;

/// Parses one line (without its line break).
pub fn parse_line(line: &str, format: Format) -> Result<Line<'_>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let line = line.trim_start_matches([' ', '\t']);
    if let Some(comment) = line.strip_prefix('#') {
        return parse_comment(comment, format);
    }
    if line.is_empty() {
        return Ok(Line::Skip);
    }
    let end = series_end(line)?;
    let (series, rest) = line.split_at(end);
    let mut tokens = Tokens { text: rest, at: 0 };
    let value = match tokens.next() {
        Some(v) => parse_value(v)?,
        None => return Err(format!("sample {series} has no value")),
    };
    let timestamp_ms = match tokens.next() {
        Some("#") if format == Format::OpenMetrics => return Err(no_timestamp(series)),
        Some(t) => parse_timestamp(t, format)?,
        None => return Err(no_timestamp(series)),
    };
    match tokens.next() {
        None => {}
        Some("#") if format == Format::OpenMetrics => {} // an exemplar: skipped
        Some(extra) => {
            return Err(format!(
                "unexpected {:?} after the timestamp of {series}",
                vigil_store::shorten(extra)
            ));
        }
    }
    Ok(Line::Sample {
        series,
        value,
        timestamp_ms,
    })
}

/// Tokens separated by spaces or tabs. A byte scan rather than `str::split` with a char
/// pattern: this is the inner loop of an import, run once per line.
struct Tokens<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let blank = |b: u8| b == b' ' || b == b'\t';
        while self.at < bytes.len() && blank(bytes[self.at]) {
            self.at += 1;
        }
        let start = self.at;
        while self.at < bytes.len() && !blank(bytes[self.at]) {
            self.at += 1;
        }
        // Both ends sit next to ASCII bytes (or the ends), so they are char boundaries.
        (self.at > start).then(|| &self.text[start..self.at])
    }
}

fn no_timestamp(series: &str) -> String {
    format!(
        "sample of {} has no timestamp; import is for history, so every sample needs one \
         (OpenMetrics: seconds, Prometheus text: milliseconds)",
        vigil_store::shorten(series)
    )
}

/// `# HELP`, `# TYPE`, `# UNIT`, `# EOF` or another comment (the text after `#`).
fn parse_comment(comment: &str, format: Format) -> Result<Line<'_>, String> {
    let mut words = comment.split([' ', '\t']).filter(|w| !w.is_empty());
    match words.next() {
        Some("EOF") if format == Format::OpenMetrics => match words.next() {
            None => Ok(Line::Eof),
            Some(_) => Err("unexpected text after # EOF".into()),
        },
        Some(kind @ ("TYPE" | "HELP" | "UNIT")) => {
            if words.next().is_none() {
                return Err(format!("# {kind} needs a metric name"));
            }
            if kind == "TYPE" {
                let types: &[&str] = match format {
                    Format::OpenMetrics => &[
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "stateset",
                        "info",
                        "summary",
                        "unknown",
                    ],
                    Format::Prometheus => &["counter", "gauge", "histogram", "summary", "untyped"],
                };
                match words.next() {
                    Some(t) if types.contains(&t) => {}
                    other => {
                        return Err(format!(
                            "# TYPE {:?} is not a metric type; use one of {}",
                            other.unwrap_or(""),
                            types.join(", ")
                        ));
                    }
                }
            }
            Ok(Line::Skip)
        }
        _ => Ok(Line::Skip),
    }
}

/// Byte offset just past the series (`name` or `name{…}`), checking quotes and braces.
fn series_end(line: &str) -> Result<usize, String> {
    let bytes = line.as_bytes();
    let name_end = bytes
        .iter()
        .position(|&b| b == b'{' || b == b' ' || b == b'\t')
        .unwrap_or(bytes.len());
    if name_end == 0 {
        return Err("a sample line must start with a metric name".into());
    }
    if bytes.get(name_end) != Some(&b'{') {
        return Ok(name_end);
    }
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(name_end + 1) {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => quoted = false,
            (false, _, b'"') => quoted = true,
            (false, _, b'}') => return Ok(i + 1),
            _ => {}
        }
    }
    Err(if quoted {
        "a label value is missing its closing quote".into()
    } else {
        "the label set is missing its closing }".into()
    })
}

/// The metric name and the labels of a series' text, values unescaped.
pub fn parse_series(series: &str) -> Result<(String, Vec<(String, String)>), String> {
    let Some((name, labels)) = series.split_once('{') else {
        return Ok((series.to_owned(), Vec::new()));
    };
    let mut rest = labels.strip_suffix('}').unwrap_or(labels);
    let mut pairs = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let Some((label, after)) = rest.split_once('=') else {
            return Err(format!(
                "label {:?} of {name} has no =\"value\"",
                vigil_store::shorten(rest)
            ));
        };
        let label = label.trim_end_matches([' ', '\t']);
        let after = after.trim_start_matches([' ', '\t']);
        let Some(quoted) = after.strip_prefix('"') else {
            return Err(format!(
                "the value of label {label:?} of {name} must be in double quotes"
            ));
        };
        let (value, after) = unquote(quoted);
        pairs.push((label.to_owned(), value));
        rest = after.trim_start_matches([' ', '\t']);
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None if rest.is_empty() => break,
            None => {
                return Err(format!(
                    "expected , or }} after label {label:?} of {name}, found {:?}",
                    vigil_store::shorten(rest)
                ));
            }
        }
    }
    Ok((name.to_owned(), pairs))
}

/// The value up to the closing quote (which [`series_end`] guarantees), and what follows.
fn unquote(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &s[i + 1..]),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            },
            c => value.push(c),
        }
    }
    (value, "")
}

/// A sample value: a float, `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> Result<f64, String> {
    text.parse::<f64>().map_err(|_| {
        format!(
            "value {:?} is not a number (use a float, NaN, +Inf or -Inf)",
            vigil_store::shorten(text)
        )
    })
}

/// A timestamp in the format's unit, as milliseconds.
fn parse_timestamp(text: &str, format: Format) -> Result<i64, String> {
    // Only on the error paths: this runs once per line.
    let shown = || vigil_store::shorten(text);
    match format {
        Format::Prometheus => text.parse::<i64>().map_err(|_| {
            format!(
                "timestamp {:?} is not an integer number of milliseconds (Prometheus text format)",
                shown()
            )
        }),
        Format::OpenMetrics => {
            let seconds = text
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .ok_or_else(|| {
                    format!(
                        "timestamp {:?} is not a number of seconds (OpenMetrics)",
                        shown()
                    )
                })?;
            if seconds.abs() > LATEST_PLAUSIBLE_SECONDS {
                return Err(format!(
                    "timestamp {} is not plausible as seconds (OpenMetrics timestamps are \
                     seconds); if the file has milliseconds it is Prometheus text: use --format prometheus",
                    shown()
                ));
            }
            // As Prometheus does: int64(ts * 1000), truncated toward zero.
            Ok((seconds * 1000.0) as i64)
        }
    }
}

#[cfg(test)]
mod tests;
