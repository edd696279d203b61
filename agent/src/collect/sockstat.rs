//! Socket counts from `/proc/net/sockstat` and `/proc/net/sockstat6`.
//!
//! ```text
//! sockets: used 18                              -> node_sockstat_sockets_used
//! TCP: inuse 3 orphan 0 tw 1 alloc 3 mem 113    -> node_sockstat_TCP_inuse, ..._TCP_mem,
//!                                                  node_sockstat_TCP_mem_bytes (pages * page size)
//! FRAG: inuse 0 memory 0                        -> node_sockstat_FRAG_inuse, ..._FRAG_memory
//! TCP6: inuse 0                                 -> node_sockstat_TCP6_inuse   (sockstat6)
//! ```
//!
//! As node_exporter 1.5 does: every protocol line gives `inuse` (0 when absent) and
//! whichever of `orphan tw alloc mem memory` it has, and `mem` (pages) also as
//! `mem_bytes`. Either file may be missing (no IPv4 or no IPv6): the other is still read.

use super::{CollectError, Paths, Sink, TextFile};

/// Keys reported after `inuse`, in order.
const KEYS: [&str; 5] = ["orphan", "tw", "alloc", "mem", "memory"];

/// The sockstat source: both files, kept open and read every round.
#[derive(Debug)]
pub struct Sockstat {
    ipv4: TextFile,
    ipv6: TextFile,
    /// Bytes per page, for `mem_bytes`.
    page_size: i64,
    /// Metric names by `PROTOCOL_key`, built once each.
    names: Names,
    /// Reused buffer for `PROTOCOL_key`.
    key: String,
}

impl Sockstat {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            ipv4: TextFile::new(paths.proc.join("net/sockstat")),
            ipv6: TextFile::new(paths.proc.join("net/sockstat6")),
            page_size: page_size(),
            names: Names::new("node_sockstat_"),
            key: String::new(),
        }
    }

    /// Writes one `node_sockstat_*` gauge per protocol and key of both files.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let mut missing = Vec::new();
        for ipv6 in [false, true] {
            let file = if ipv6 { &mut self.ipv6 } else { &mut self.ipv4 };
            match file.read() {
                Ok(()) => {}
                Err(error) if error.is_missing() => {
                    missing.push(error);
                    continue;
                }
                Err(error) => return Err(error),
            }
            let mut each = |key: &str, value: i64| {
                sink.push(self.names.get(key), &[], value as f64);
            };
            parse(file.text(), ipv6, self.page_size, &mut self.key, &mut each).map_err(
                |reason| CollectError::Parse {
                    path: file.path().to_owned(),
                    reason,
                },
            )?;
        }
        // Neither file: a kernel without the source, skipped quietly by the caller.
        match (missing.pop(), missing.is_empty()) {
            (Some(error), false) => Err(error),
            _ => Ok(()),
        }
    }
}

/// Calls `each(PROTOCOL_key, value)` for every series of one file's `text`; `key` is a
/// reused buffer. `sockets: used` counts only in the IPv4 file.
fn parse(
    text: &str,
    ipv6: bool,
    page_size: i64,
    key: &mut String,
    each: &mut impl FnMut(&str, i64),
) -> Result<(), String> {
    for line in text.lines() {
        let mut fields = line.split(' ');
        let protocol = fields.next().unwrap_or_default();
        let protocol = protocol.strip_suffix(':').unwrap_or(protocol);
        let mut values = [None; 1 + KEYS.len()];
        let mut used = None;
        let mut pairs = 0;
        while let Some(name) = fields.next() {
            let value = fields
                .next()
                .ok_or_else(|| format!("odd number of fields in {line:?}"))?;
            let value: i64 = value
                .parse()
                .map_err(|_| format!("{value:?} is not a number in {line:?}"))?;
            pairs += 1;
            if name == "used" {
                used = Some(value);
            } else if name == "inuse" {
                values[0] = Some(value);
            } else if let Some(i) = KEYS.iter().position(|k| *k == name) {
                values[1 + i] = Some(value);
            }
        }
        if pairs == 0 {
            return Err(format!("no key and value in {line:?}"));
        }
        if protocol == "sockets" {
            if !ipv6 {
                each("sockets_used", used.unwrap_or(0));
            }
            continue;
        }
        let mut emit = |name: &str, value: i64| {
            key.clear();
            key.push_str(protocol);
            key.push('_');
            key.push_str(name);
            each(key, value);
        };
        emit("inuse", values[0].unwrap_or(0));
        for (name, value) in KEYS.iter().zip(&values[1..]) {
            if let Some(value) = value {
                emit(name, *value);
            }
        }
        if let Some(mem) = values[1 + 3] {
            emit("mem_bytes", mem.wrapping_mul(page_size));
        }
    }
    Ok(())
}

/// The system's page size in bytes.
#[allow(unsafe_code)]
fn page_size() -> i64 {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as i64 } else { 4096 }
}

/// Metric names `<prefix><key>` built once per key; the keys come in the same order every
/// round, so the next key is looked for first.
#[derive(Debug)]
pub(super) struct Names {
    prefix: &'static str,
    names: Vec<(String, String)>,
    next: usize,
}

impl Names {
    /// Names starting with `prefix`.
    pub(super) fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            names: Vec::new(),
            next: 0,
        }
    }

    /// The metric name of `key`.
    pub(super) fn get(&mut self, key: &str) -> &str {
        let i = match self.names.get(self.next) {
            Some((k, _)) if k == key => self.next,
            _ => match self.names.iter().position(|(k, _)| k == key) {
                Some(i) => i,
                None => {
                    self.names
                        .push((key.to_owned(), format!("{}{key}", self.prefix)));
                    self.names.len() - 1
                }
            },
        };
        self.next = (i + 1) % self.names.len();
        &self.names[i].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Paths, testdata_paths};

    #[test]
    fn recorded_files_give_every_protocol_of_both() {
        let mut sink = Sink::new();
        let mut sockstat = Sockstat::new(&testdata_paths());
        sockstat.collect(&mut sink).expect("collects");
        let value = |name: &str| sink.value_of(name, &[]);
        assert_eq!(value("node_sockstat_sockets_used"), Some(18.0));
        assert_eq!(value("node_sockstat_TCP_inuse"), Some(3.0));
        assert_eq!(value("node_sockstat_TCP_alloc"), Some(3.0));
        assert_eq!(value("node_sockstat_TCP_mem"), Some(113.0));
        assert_eq!(
            value("node_sockstat_TCP_mem_bytes"),
            Some(113.0 * page_size() as f64)
        );
        assert_eq!(value("node_sockstat_UDP_mem_bytes"), Some(0.0));
        assert_eq!(value("node_sockstat_FRAG_memory"), Some(0.0));
        assert_eq!(value("node_sockstat_FRAG_memory_bytes"), None);
        assert_eq!(value("node_sockstat_TCP6_inuse"), Some(0.0));
        assert_eq!(value("node_sockstat_FRAG6_memory"), Some(0.0));
        // sockets 1, TCP 6, UDP 3, UDPLITE 1, RAW 1, FRAG 2; TCP6, UDP6, UDPLITE6, RAW6
        // 1 each, FRAG6 2.
        assert_eq!(sink.len(), 14 + 6);
        let first = sink.take_round().0;
        sockstat.collect(&mut sink).expect("collects again");
        assert_eq!(sink.take_round().0, first);
    }

    #[test]
    fn a_missing_file_leaves_the_other() {
        let proc = std::env::temp_dir().join(format!("vigil-sockstat-{}", std::process::id()));
        std::fs::create_dir_all(proc.join("net")).expect("temp dir");
        let paths = Paths {
            proc: proc.clone(),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        let result = Sockstat::new(&paths).collect(&mut sink);
        assert!(
            result.as_ref().is_err_and(CollectError::is_missing),
            "{result:?}"
        );
        assert!(sink.is_empty());

        std::fs::write(
            proc.join("net/sockstat6"),
            "TCP6: inuse 2\nsockets: used 9\n",
        )
        .expect("write");
        Sockstat::new(&paths).collect(&mut sink).expect("collects");
        assert_eq!(sink.value_of("node_sockstat_TCP6_inuse", &[]), Some(2.0));
        assert_eq!(
            sink.len(),
            1,
            "sockets_used is counted in the IPv4 file only"
        );
        std::fs::remove_dir_all(&proc).expect("clean up");
    }

    #[test]
    fn malformed_lines_are_errors() {
        let mut key = String::new();
        for text in ["TCP: inuse\n", "TCP:\n", "TCP: inuse x\n"] {
            assert!(
                parse(text, false, 4096, &mut key, &mut |_, _| ()).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn names_are_built_once_and_found_out_of_order() {
        let mut names = Names::new("p_");
        assert_eq!(names.get("a"), "p_a");
        assert_eq!(names.get("b"), "p_b");
        assert_eq!(names.get("a"), "p_a");
        assert_eq!(names.get("b"), "p_b");
        assert_eq!(names.get("c"), "p_c");
        assert_eq!(names.names.len(), 3);
    }
}
