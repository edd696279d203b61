//! Process groups from `/proc/<pid>/stat`: the top CPU and memory consumers grouped by
//! command name, groups the operator names, and everything else as `group="other"`.
//!
//! Series, one set per group: `vigil_process_cpu_seconds_total{group,mode="user|system"}`,
//! `vigil_process_resident_memory_bytes{group}`, `vigil_process_count{group}` and
//! `vigil_process_threads{group}`. Which processes form which group is in [`groups`].
//!
//! Cost: one `stat` file per process per walk. The walk runs at most every
//! `[collect.processes] interval`; the rounds in between send the last walk's values again.
//! Cardinality: at most the named groups, 4 × `top` command names and `other`.

mod groups;
mod scan;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{CollectError, Paths, Sink};
use groups::{Named, Row, Tracker};
use scan::Scanner;

/// `[collect.processes]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessesConfig {
    /// Command names reported as their own group: the top N by CPU and the top N by
    /// resident memory (0 to 50; 0 puts every unnamed process in `other`).
    pub top: usize,
    /// Least time between two walks over `/proc`; rounds in between re-send the last values.
    #[serde(with = "vigil_config::duration")]
    pub interval: Duration,
    /// `[[collect.processes.groups]]`: groups the operator names, always reported.
    pub groups: Vec<GroupConfig>,
}

impl Default for ProcessesConfig {
    fn default() -> Self {
        Self {
            top: 10,
            interval: Duration::from_secs(30),
            groups: Vec::new(),
        }
    }
}

/// One `[[collect.processes.groups]]` entry: a process is in it when its command name is
/// one of `comm` or its command line (arguments joined by spaces) matches `cmdline`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig {
    /// The `group` label.
    pub name: String,
    /// Exact command names, as `/proc/<pid>/comm` has them (at most 15 bytes).
    pub comm: Vec<String>,
    /// A regular expression searched for in the command line.
    pub cmdline: Option<String>,
}

impl ProcessesConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.top > 50 {
            return Err(format!(
                "collect.processes.top: {} is more than 50; lower it",
                self.top
            ));
        }
        self.named().map(|_| ())
    }

    /// The named groups, patterns compiled; the error names the key.
    fn named(&self) -> Result<Vec<Named>, String> {
        let mut named = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let key = format!("collect.processes.groups[{i}]");
            if g.name.is_empty() || g.name == groups::OTHER {
                return Err(format!(
                    "{key}.name: {:?} cannot be a group name; give another name",
                    g.name
                ));
            }
            if self.groups[..i].iter().any(|o| o.name == g.name) {
                return Err(format!(
                    "{key}.name: {:?} is used twice; give each group its own name",
                    g.name
                ));
            }
            if g.comm.is_empty() && g.cmdline.is_none() {
                return Err(format!(
                    "{key}: {:?} has neither comm nor cmdline; set one of them",
                    g.name
                ));
            }
            let cmdline = match &g.cmdline {
                Some(pattern) => Some(regex_lite::Regex::new(pattern).map_err(|e| {
                    format!("{key}.cmdline: {pattern:?} is not a regular expression: {e}")
                })?),
                None => None,
            };
            named.push(Named {
                name: g.name.clone(),
                comm: g.comm.clone(),
                cmdline,
            });
        }
        Ok(named)
    }
}

/// The processes source.
#[derive(Debug)]
pub struct Processes {
    proc: PathBuf,
    interval: Duration,
    tracker: Tracker,
    scanner: Scanner,
    /// When the source was made: the clock of stickiness.
    started: Instant,
    /// When the last walk ran, and what it found (re-sent until the next walk).
    last_walk: Option<Duration>,
    rows: Vec<Row>,
    hz: f64,
    page: f64,
}

impl Processes {
    /// The source for the tree at `paths`; a config that does not validate reports no
    /// named group (the agent validates it at start).
    pub fn new(paths: &Paths, config: &ProcessesConfig) -> Self {
        Self {
            proc: paths.proc.clone(),
            interval: config.interval,
            tracker: Tracker::new(config.top.min(50), config.named().unwrap_or_default()),
            scanner: Scanner::default(),
            started: Instant::now(),
            last_walk: None,
            rows: Vec::new(),
            hz: sysconf(libc::_SC_CLK_TCK, 100.0),
            page: sysconf(libc::_SC_PAGESIZE, 4096.0),
        }
    }

    /// Walks `/proc` when `interval` has passed since the last walk, and writes every
    /// group's series.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let now = self.started.elapsed();
        self.collect_at(sink, now)
    }

    /// [`collect`](Self::collect) at `now` on the source's own monotonic clock.
    pub fn collect_at(&mut self, sink: &mut Sink, now: Duration) -> Result<(), CollectError> {
        // A tenth of slack: rounds start a few ms early or late, and a walk due at 30 s must
        // not wait for the round after (40 s at a 10 s collection interval).
        let due = self
            .last_walk
            .is_none_or(|last| now.saturating_sub(last) + self.interval / 10 >= self.interval);
        if due {
            self.walk(now)?;
            self.last_walk = Some(now);
        }
        for row in &self.rows {
            let group = row.group.as_str();
            sink.push(
                "vigil_process_cpu_seconds_total",
                &[("group", group), ("mode", "user")],
                row.user_seconds,
            );
            sink.push(
                "vigil_process_cpu_seconds_total",
                &[("group", group), ("mode", "system")],
                row.system_seconds,
            );
            sink.push(
                "vigil_process_resident_memory_bytes",
                &[("group", group)],
                row.resident_bytes,
            );
            sink.push("vigil_process_count", &[("group", group)], row.processes);
            sink.push("vigil_process_threads", &[("group", group)], row.threads);
        }
        Ok(())
    }

    fn walk(&mut self, now: Duration) -> Result<(), CollectError> {
        let Self {
            proc,
            tracker,
            scanner,
            ..
        } = self;
        tracker.begin();
        let cmdline = tracker.needs_cmdline();
        // New processes whose command line is wanted, read after the walk (the scanner's
        // buffer holds the current `stat` during it).
        let mut later: Vec<(u32, String, scan::Stat<'static>)> = Vec::new();
        scanner
            .walk(proc, |pid, stat| {
                if cmdline && tracker.is_new(pid, stat.starttime) {
                    later.push((pid, stat.comm.to_owned(), scan::Stat { comm: "", ..stat }));
                } else {
                    tracker.add(pid, &stat, None);
                }
            })
            .map_err(|source| CollectError::Read {
                path: proc.clone(),
                source,
            })?;
        for (pid, comm, stat) in later {
            let line = scanner.cmdline(proc, pid);
            tracker.add(
                pid,
                &scan::Stat {
                    comm: &comm,
                    ..stat
                },
                Some(&line),
            );
        }
        self.rows = self.tracker.finish(now, self.hz, self.page);
        Ok(())
    }
}

#[allow(unsafe_code)]
fn sysconf(name: libc::c_int, default: f64) -> f64 {
    // SAFETY: sysconf has no preconditions and only reads a system constant.
    let n = unsafe { libc::sysconf(name) };
    if n > 0 { n as f64 } else { default }
}

#[cfg(test)]
mod tests;
