//! Writing the fleet's samples to a file instead of sending them, so that peers load exactly
//! the samples Vigil gets over gRPC.
//!
//! Both formats go through time in chunks of [`CHUNK_STEPS`] steps; within a chunk, host
//! after host and series after series, each series' samples in time order. So every series
//! is in time order over the whole file (what `promtool tsdb create-blocks-from` needs),
//! and a VictoriaMetrics import line carries a chunk's worth of one series.
//!
//! - `openmetrics`: `name{host="…",…} value seconds[.mmm]` lines and a final `# EOF`, no
//!   `# TYPE` lines (the families would interleave across chunks).
//! - `vm-import`: VictoriaMetrics' `/api/v1/import` JSON lines,
//!   `{"metric":{"__name__":…,"host":…},"values":[…],"timestamps":[ms…]}`.
//!
//! Values are printed in Rust's shortest round-trip form, so every reader parses back the
//! same f64.

use super::fleet::{Fleet, Host};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Steps per chunk: two hours at a 10 s interval.
pub const CHUNK_STEPS: i64 = 720;

/// A file format for the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics text, for `promtool tsdb create-blocks-from openmetrics`.
    OpenMetrics,
    /// VictoriaMetrics `/api/v1/import` JSON lines.
    VmImport,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openmetrics" => Ok(Format::OpenMetrics),
            "vm-import" => Ok(Format::VmImport),
            other => Err(format!(
                "unknown format {other:?}: use openmetrics or vm-import"
            )),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Samples written.
    pub samples: u64,
    /// Distinct series (churned series count separately).
    pub series: u64,
}

/// One series' samples within a chunk.
struct Run {
    id: u64,
    times: Vec<i64>,
    values: Vec<f64>,
}

/// Writes `steps` steps of every host of `fleet` to `out` in `format`.
pub fn write(
    fleet: &Fleet,
    steps: i64,
    format: Format,
    out: &mut dyn Write,
) -> io::Result<Written> {
    let mut hosts: Vec<Host> = (0..fleet.spec().hosts).map(|h| fleet.host(h)).collect();
    let mut written = Written::default();
    let mut seen: Vec<std::collections::HashSet<u64>> = vec![Default::default(); hosts.len()];
    let mut line = String::new();
    let mut from = 0;
    while from < steps {
        let to = (from + CHUNK_STEPS).min(steps);
        for (host, seen) in hosts.iter_mut().zip(&mut seen) {
            let runs = chunk(host, to - from);
            for run in &runs {
                if seen.insert(run.id) {
                    written.series += 1;
                }
                written.samples += run.times.len() as u64;
                line.clear();
                match format {
                    Format::OpenMetrics => openmetrics(host, run, &mut line),
                    Format::VmImport => vm_import(host, run, &mut line),
                }
                out.write_all(line.as_bytes())?;
            }
        }
        from = to;
    }
    if format == Format::OpenMetrics {
        out.write_all(b"# EOF\n")?;
    }
    out.flush()?;
    Ok(written)
}

/// The next `steps` scrapes of `host`, regrouped by series in order of first appearance.
fn chunk(host: &mut Host, steps: i64) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for _ in 0..steps {
        let (ts, ids, values) = host.next_scrape();
        for (&id, &value) in ids.iter().zip(values) {
            let i = *index.entry(id).or_insert_with(|| {
                runs.push(Run {
                    id,
                    times: Vec::with_capacity(steps as usize),
                    values: Vec::with_capacity(steps as usize),
                });
                runs.len() - 1
            });
            runs[i].times.push(ts);
            runs[i].values.push(value);
        }
    }
    runs
}

fn openmetrics(host: &Host, run: &Run, out: &mut String) {
    let (name, labels) = host.series(run.id);
    let mut key = format!("{name}{{host=\"{}\"", escape_text(host.name()));
    for (k, v) in &labels {
        let _ = write!(key, ",{k}=\"{}\"", escape_text(v));
    }
    key.push('}');
    for (&ts, &value) in run.times.iter().zip(&run.values) {
        let (s, ms) = (ts.div_euclid(1000), ts.rem_euclid(1000));
        if ms == 0 {
            let _ = writeln!(out, "{key} {value} {s}");
        } else {
            let _ = writeln!(out, "{key} {value} {s}.{ms:03}");
        }
    }
}

/// One scrape of `host` as VictoriaMetrics import lines (one line per series, one sample
/// each), appended to `out`: what the live VictoriaMetrics mode sends.
pub fn vm_import_scrape(host: &Host, ts: i64, ids: &[u64], values: &[f64], out: &mut String) {
    for (&id, &value) in ids.iter().zip(values) {
        let run = Run {
            id,
            times: vec![ts],
            values: vec![value],
        };
        vm_import(host, &run, out);
    }
}

fn vm_import(host: &Host, run: &Run, out: &mut String) {
    let (name, labels) = host.series(run.id);
    let _ = write!(
        out,
        "{{\"metric\":{{\"__name__\":\"{}\",\"host\":\"{}\"",
        escape_json(name),
        escape_json(host.name())
    );
    for (k, v) in &labels {
        let _ = write!(out, ",\"{}\":\"{}\"", escape_json(k), escape_json(v));
    }
    out.push_str("},\"values\":[");
    for (i, value) in run.values.iter().enumerate() {
        let _ = write!(out, "{}{value}", if i == 0 { "" } else { "," });
    }
    out.push_str("],\"timestamps\":[");
    for (i, ts) in run.times.iter().enumerate() {
        let _ = write!(out, "{}{ts}", if i == 0 { "" } else { "," });
    }
    out.push_str("]}\n");
}

/// A label value in OpenMetrics text: backslash, double quote and newline escaped.
fn escape_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A JSON string's contents.
fn escape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::fleet::FleetSpec;

    fn fleet(jitter_ms: u32) -> Fleet {
        Fleet::new(FleetSpec {
            hosts: 2,
            series_per_host: 20,
            interval_ms: 10_000,
            jitter_ms,
            seed: 7,
            start_ms: 1_763_700_000_000,
        })
    }

    /// Both files hold the samples the hosts produce, series by series, in time order, with
    /// or without a level shift.
    #[test]
    fn both_formats_hold_exactly_the_generated_samples() {
        let shift = "1:node_cpu_seconds_total:3:1763700100";
        let shift = crate::loadgen::shift::LevelShift::parse(shift, 2, 0).unwrap();
        let shifted = fleet(30).with_shifts(vec![shift]);
        for f in [fleet(30), shifted.clone()] {
            both_formats_hold(&f);
        }
        // The shift is in the file, on host-00001's CPU seconds only.
        let lines = |f: &Fleet| {
            let mut om = Vec::new();
            write(f, 30, Format::OpenMetrics, &mut om).unwrap();
            String::from_utf8(om).unwrap()
        };
        let (plain, shifted) = (lines(&fleet(30)), lines(&shifted));
        let differ: Vec<_> = plain
            .lines()
            .zip(shifted.lines())
            .filter(|(p, s)| p != s)
            .map(|(_, s)| s)
            .collect();
        assert!(!differ.is_empty());
        let cpu = r#"node_cpu_seconds_total{host="host-00001","#;
        assert!(differ.iter().all(|l| l.starts_with(cpu)), "{differ:?}");
    }

    fn both_formats_hold(f: &Fleet) {
        let steps = CHUNK_STEPS + 5;
        let mut expected: Vec<(String, u64, i64, f64)> = Vec::new();
        for h in 0..2 {
            let mut host = f.host(h);
            let name = host.name().to_owned();
            for _ in 0..steps {
                let (ts, ids, values) = host.next_scrape();
                for (&id, &v) in ids.iter().zip(values) {
                    expected.push((name.clone(), id, ts, v));
                }
            }
        }
        let series = |host: &str, id: u64| {
            let probe = f.host(host[5..].parse().unwrap());
            let (name, labels) = probe.series(id);
            let mut all: Vec<(String, String)> =
                labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            all.push(("__name__".into(), name.into()));
            all.push(("host".into(), host.into()));
            all.sort();
            all
        };
        let mut want: Vec<_> = expected
            .iter()
            .map(|(h, id, ts, v)| (series(h, *id), *ts, v.to_bits()))
            .collect();
        want.sort();

        let mut om = Vec::new();
        let w = write(f, steps, Format::OpenMetrics, &mut om).unwrap();
        assert_eq!(w.samples, expected.len() as u64);
        let text = String::from_utf8(om).unwrap();
        assert!(text.ends_with("\n# EOF\n"));
        let mut got: Vec<_> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (key, rest) = l.split_once("} ").unwrap();
                let (name, labels) = key.split_once('{').unwrap();
                let mut all: Vec<(String, String)> = labels
                    .split(',')
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                all.push(("__name__".into(), name.into()));
                all.sort();
                let (value, secs) = rest.split_once(' ').unwrap();
                let ms = (secs.parse::<f64>().unwrap() * 1000.0).round() as i64;
                (all, ms, value.parse::<f64>().unwrap().to_bits())
            })
            .collect();
        got.sort();
        assert_eq!(got, want);

        let mut vm = Vec::new();
        let w2 = write(f, steps, Format::VmImport, &mut vm).unwrap();
        assert_eq!(w, w2);
        let mut got: Vec<_> = Vec::new();
        for line in String::from_utf8(vm).unwrap().lines() {
            let j: serde_json::Value = serde_json::from_str(line).unwrap();
            let mut all: Vec<(String, String)> = j["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            all.sort();
            let times = j["timestamps"].as_array().unwrap();
            let values = j["values"].as_array().unwrap();
            assert_eq!(times.len(), values.len());
            assert!(times.windows(2).all(|w| w[0].as_i64() < w[1].as_i64()));
            for (t, v) in times.iter().zip(values) {
                got.push((
                    all.clone(),
                    t.as_i64().unwrap(),
                    v.as_f64().unwrap().to_bits(),
                ));
            }
        }
        got.sort();
        assert_eq!(got, want);
    }

    /// FNV-1a of `bytes`.
    fn fingerprint(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
        })
    }

    /// The files are a fixed function of the spec, byte for byte: datasets loaded into
    /// other systems are named by their flags. Update only when a change is meant.
    #[test]
    fn the_same_spec_gives_the_same_files_as_ever() {
        let mut om = Vec::new();
        write(&fleet(30), CHUNK_STEPS + 5, Format::OpenMetrics, &mut om).unwrap();
        let mut vm = Vec::new();
        write(&fleet(0), CHUNK_STEPS + 5, Format::VmImport, &mut vm).unwrap();
        assert_eq!(
            (fingerprint(&om), fingerprint(&vm)),
            (0x3031_8354_2268_55CB, 0x7FBF_3B47_8B94_9754)
        );
    }

    #[test]
    fn timestamps_are_whole_seconds_without_jitter() {
        let mut om = Vec::new();
        write(&fleet(0), 3, Format::OpenMetrics, &mut om).unwrap();
        let text = String::from_utf8(om).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.ends_with(" 1763700000"), "{first}");
    }
}
