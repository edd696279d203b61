//! From a stream of bytes to bounded `ImportRequest`s, in file order.
//!
//! Reading is line by line with a cap on the line length, so a file of any size (or a
//! hostile one without line breaks) is read in bounded memory. A request holds samples in
//! file order in columns and names each of its series once (see `import.proto`), so a file
//! ordered by time costs no more than one ordered by series. A request is cut when it holds
//! `max_samples` samples or about `max_bytes` encoded bytes, whichever comes first.

use super::parse::{self, Format, Line};
use std::collections::HashMap;
use std::io::BufRead;
use vigil_proto::v1::{ImportRequest, ImportSeries, Label};

/// Longest line read; a longer one is an error rather than an unbounded allocation.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most encoded bytes in one request: a quarter of the collector's default
/// `limits.max_message_bytes` (16 MiB), so requests fit with room to spare.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Bytes a sample adds to a request, about: an 8-byte double, a varint timestamp, series
/// index and line delta.
const SAMPLE_BYTES: usize = 20;

/// What the reader hands to the sender.
#[derive(Debug)]
pub enum Item {
    /// A request ready to send.
    Request(Piece),
    /// The input is bad at `line`: everything before it was handed over already.
    Bad {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The input ended well after `lines` lines.
    Done {
        /// Lines read.
        lines: u64,
    },
}

/// One request and the span of the file it covers.
#[derive(Debug)]
pub struct Piece {
    /// The request (token not set yet).
    pub request: ImportRequest,
    /// First line of the file it holds a sample of.
    pub first_line: u64,
}

/// Builds bounded requests from samples, naming each series once per request.
pub struct Batcher {
    max_samples: usize,
    max_bytes: usize,
    request: ImportRequest,
    bytes: usize,
    /// Index in `request.series` of each series' text.
    index: HashMap<String, u32>,
    /// Text and index of the latest sample's series: the next line is most often the same
    /// series (files are usually grouped by series), and then needs no lookup at all.
    last_series: String,
    last_index: u32,
    /// Line of the latest sample in the request (0 before the first).
    last_line: u64,
    first_line: u64,
}

impl Batcher {
    /// A batcher cutting requests at `max_samples` samples or `max_bytes` bytes.
    pub fn new(max_samples: usize, max_bytes: usize) -> Self {
        Self {
            max_samples: max_samples.max(1),
            max_bytes,
            request: ImportRequest::default(),
            bytes: 0,
            index: HashMap::new(),
            last_series: String::new(),
            last_index: 0,
            last_line: 0,
            first_line: 0,
        }
    }

    /// Adds the sample on `line`; returns a full request when this one filled it.
    pub fn push(
        &mut self,
        line: u64,
        series: &str,
        value: f64,
        timestamp_ms: i64,
    ) -> Result<Option<Piece>, String> {
        let r = &mut self.request;
        let k = if !r.values.is_empty() && series == self.last_series {
            self.last_index
        } else {
            let k = match self.index.get(series) {
                Some(&k) => k,
                None => {
                    let (name, pairs) = parse::parse_series(series)?;
                    let labels: Vec<Label> = std::iter::once(("__name__".to_owned(), name))
                        .chain(pairs)
                        .map(|(name, value)| Label { name, value })
                        .collect();
                    self.bytes += 4 + labels
                        .iter()
                        .map(|l| l.name.len() + l.value.len() + 6)
                        .sum::<usize>();
                    r.series.push(ImportSeries { labels });
                    let k = (r.series.len() - 1) as u32;
                    self.index.insert(series.to_owned(), k);
                    k
                }
            };
            self.last_series.clear();
            self.last_series.push_str(series);
            self.last_index = k;
            k
        };
        if r.values.is_empty() {
            self.first_line = line;
        }
        r.series_index.push(k);
        r.timestamps_ms.push(timestamp_ms);
        r.values.push(value);
        r.line_deltas.push(line - self.last_line);
        self.last_line = line;
        self.bytes += SAMPLE_BYTES;
        if r.values.len() >= self.max_samples || self.bytes >= self.max_bytes {
            return Ok(self.take());
        }
        Ok(None)
    }

    /// The request built so far, if it holds anything.
    pub fn take(&mut self) -> Option<Piece> {
        if self.request.values.is_empty() {
            return None;
        }
        self.index.clear();
        self.bytes = 0;
        self.last_line = 0;
        Some(Piece {
            request: std::mem::take(&mut self.request),
            first_line: self.first_line,
        })
    }
}

/// Reads `input` to the end (or its first bad line), handing each request to `send` as
/// soon as it is full; `read_bytes` hears how far the reader got. Stops early when `send`
/// returns false (the receiver went away).
pub fn read(
    mut input: impl BufRead,
    format: Format,
    mut batcher: Batcher,
    mut read_bytes: impl FnMut(u64),
    mut send: impl FnMut(Item) -> bool,
) {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut eof_line = None;
    loop {
        buf.clear();
        let read =
            std::io::Read::take(&mut input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf);
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return finish(
                    &mut batcher,
                    &mut send,
                    bad(line_no + 1, format!("cannot read the input: {e}")),
                );
            }
        };
        line_no += 1;
        read_bytes(n as u64);
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() > MAX_LINE_BYTES {
            let message = format!("the line is longer than {MAX_LINE_BYTES} bytes");
            return finish(&mut batcher, &mut send, bad(line_no, message));
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            return finish(
                &mut batcher,
                &mut send,
                bad(line_no, "the line is not valid UTF-8".into()),
            );
        };
        if let Some(eof) = eof_line {
            if text.trim().is_empty() {
                continue;
            }
            let message = format!("data after \"# EOF\" on line {eof}");
            return finish(&mut batcher, &mut send, bad(line_no, message));
        }
        let pushed = match parse::parse_line(text, format) {
            Ok(Line::Sample {
                series,
                value,
                timestamp_ms,
            }) => batcher.push(line_no, series, value, timestamp_ms),
            Ok(Line::Eof) => {
                eof_line = Some(line_no);
                Ok(None)
            }
            Ok(Line::Skip) => Ok(None),
            Err(e) => Err(e),
        };
        match pushed {
            Ok(Some(piece)) => {
                if !send(Item::Request(piece)) {
                    return;
                }
            }
            Ok(None) => {}
            Err(message) => return finish(&mut batcher, &mut send, bad(line_no, message)),
        }
    }
    if format == Format::OpenMetrics && eof_line.is_none() {
        let message = "the input ends without \"# EOF\", so it may be cut short (every line \
                       before is imported); if it is Prometheus text, use --format prometheus"
            .to_owned();
        return finish(&mut batcher, &mut send, bad(line_no + 1, message));
    }
    finish(&mut batcher, &mut send, Item::Done { lines: line_no });
}

fn bad(line: u64, message: String) -> Item {
    Item::Bad { line, message }
}

/// Sends what the batcher holds, then `last`.
fn finish(batcher: &mut Batcher, send: &mut impl FnMut(Item) -> bool, last: Item) {
    if let Some(piece) = batcher.take()
        && !send(Item::Request(piece))
    {
        return;
    }
    send(last);
}

#[cfg(test)]
mod tests;
