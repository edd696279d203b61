//! Process groups: which group each process is in, and each group's figures.
//!
//! A process is in the first named group whose `comm` list has its command name or whose
//! `cmdline` pattern matches its command line; otherwise in the group of its command name
//! when that name is among the top N by CPU or the top N by resident memory (a name stays
//! a group for [`STICKY`] after it last was), otherwise in `other`.
//!
//! CPU time is a counter per group that never goes down: each walk adds what every member
//! process used since the walk before (a process new to the walk adds all it has used).
//! A group made this walk starts at its members' whole CPU time. A process that moves to
//! another group (its name entered or left the top) takes only its later CPU time along.

use std::collections::HashMap;
use std::time::Duration;

use super::scan::Stat;

/// How long a command name stays a group after it last was in a top N.
pub const STICKY: Duration = Duration::from_secs(600);

/// Most processes whose CPU time is followed from walk to walk; past it, processes new to
/// the agent count in their group's memory, processes and threads but not its CPU time.
pub const MAX_PIDS: usize = 16_384;

/// The group of everything not named and not in a top N.
pub const OTHER: &str = "other";

/// One named group from `[[collect.processes.groups]]`.
#[derive(Debug, Clone)]
pub struct Named {
    /// Its `group` label.
    pub name: String,
    /// Exact command names.
    pub comm: Vec<String>,
    /// Pattern over the command line (arguments joined by spaces).
    pub cmdline: Option<regex_lite::Regex>,
}

/// One group's figures after a walk.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The `group` label.
    pub group: String,
    /// CPU seconds in user mode, a counter.
    pub user_seconds: f64,
    /// CPU seconds in kernel mode, a counter.
    pub system_seconds: f64,
    /// Resident memory, bytes.
    pub resident_bytes: f64,
    /// Processes.
    pub processes: f64,
    /// Threads.
    pub threads: f64,
}

/// A process followed from walk to walk.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    starttime: u64,
    utime: u64,
    stime: u64,
    /// Index of the named group its command line matched, computed once per process.
    by_cmdline: Option<u16>,
    /// The walk it was last seen in.
    walk: u64,
}

/// Sums over one walk for one command name or group.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    /// CPU ticks used since the last walk.
    delta_user: u64,
    delta_system: u64,
    /// CPU ticks used in all (for a group made this walk).
    total_user: u64,
    total_system: u64,
    rss_pages: u64,
    processes: u64,
    threads: u64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.delta_user += other.delta_user;
        self.delta_system += other.delta_system;
        self.total_user += other.total_user;
        self.total_system += other.total_system;
        self.rss_pages += other.rss_pages;
        self.processes += other.processes;
        self.threads += other.threads;
    }
}

/// A group's counters and, for a command name's group, until when it stays.
#[derive(Debug, Clone, Copy, Default)]
struct Group {
    user_ticks: u64,
    system_ticks: u64,
    /// Gauges of the last walk.
    now: Sums,
    /// Command-name groups: when the name was last in a top N, plus [`STICKY`].
    until: Duration,
}

/// Keeps the processes and groups between walks.
#[derive(Debug)]
pub struct Tracker {
    top: usize,
    named: Vec<Named>,
    pids: HashMap<u32, Tracked>,
    /// Named groups' state, in `named` order.
    named_groups: Vec<Group>,
    /// Command-name groups by name.
    comm_groups: HashMap<String, Group>,
    other: Group,
    /// This walk's sums per command name (of processes in no named group); reused.
    by_comm: HashMap<String, Sums>,
    walk: u64,
}

impl Tracker {
    /// A tracker reporting `top` command names by CPU and by memory, and `named` groups.
    pub fn new(top: usize, named: Vec<Named>) -> Self {
        Self {
            top,
            named_groups: vec![Group::default(); named.len()],
            named,
            pids: HashMap::new(),
            comm_groups: HashMap::new(),
            other: Group::default(),
            by_comm: HashMap::new(),
            walk: 0,
        }
    }

    /// Whether a named group matches on command lines (which costs a read per new process).
    pub fn needs_cmdline(&self) -> bool {
        self.named.iter().any(|n| n.cmdline.is_some())
    }

    /// Starts a walk.
    pub fn begin(&mut self) {
        self.walk += 1;
        self.by_comm.clear();
        for g in &mut self.named_groups {
            g.now = Sums::default();
        }
    }

    /// Whether `pid` (started at `starttime`) is new to the tracker: its command line is
    /// then wanted, when [`needs_cmdline`](Self::needs_cmdline).
    pub fn is_new(&self, pid: u32, starttime: u64) -> bool {
        self.pids.get(&pid).is_none_or(|t| t.starttime != starttime)
    }

    /// Adds one process of this walk; `cmdline` is its command line when it is new and
    /// one is needed.
    pub fn add(&mut self, pid: u32, stat: &Stat<'_>, cmdline: Option<&str>) {
        let walk = self.walk;
        let room = self.pids.len() < MAX_PIDS;
        let (delta_user, delta_system, by_cmdline) = match self.pids.get_mut(&pid) {
            Some(t) if t.starttime == stat.starttime => {
                let delta = (
                    stat.utime.saturating_sub(t.utime),
                    stat.stime.saturating_sub(t.stime),
                );
                (t.utime, t.stime, t.walk) = (stat.utime, stat.stime, walk);
                (delta.0, delta.1, t.by_cmdline)
            }
            known => {
                let by_cmdline = cmdline.and_then(|line| {
                    self.named
                        .iter()
                        .position(|n| n.cmdline.as_ref().is_some_and(|re| re.is_match(line)))
                });
                let by_cmdline = by_cmdline.and_then(|i| u16::try_from(i).ok());
                let tracked = Tracked {
                    starttime: stat.starttime,
                    utime: stat.utime,
                    stime: stat.stime,
                    by_cmdline,
                    walk,
                };
                match known {
                    Some(t) => *t = tracked,
                    None if room => {
                        self.pids.insert(pid, tracked);
                    }
                    // Not followed: its CPU time cannot be told apart from walk to walk.
                    None => return self.count(stat, 0, 0, None),
                }
                (stat.utime, stat.stime, by_cmdline)
            }
        };
        self.count(stat, delta_user, delta_system, by_cmdline);
    }

    fn count(&mut self, stat: &Stat<'_>, du: u64, ds: u64, by_cmdline: Option<u16>) {
        let sums = Sums {
            delta_user: du,
            delta_system: ds,
            total_user: stat.utime,
            total_system: stat.stime,
            rss_pages: stat.rss_pages,
            processes: 1,
            threads: stat.threads,
        };
        let named = self
            .named
            .iter()
            .position(|n| n.comm.iter().any(|c| c == stat.comm))
            .or(by_cmdline.map(usize::from));
        match named {
            Some(i) => self.named_groups[i].now.add(&sums),
            None => match self.by_comm.get_mut(stat.comm) {
                Some(s) => s.add(&sums),
                None => {
                    self.by_comm.insert(stat.comm.to_owned(), sums);
                }
            },
        }
    }

    /// Ends a walk taken at `now` (a monotonic clock): picks the top command names,
    /// updates every group and returns the rows: named groups in their order, command
    /// names sorted, then `other`.
    pub fn finish(&mut self, now: Duration, hz: f64, page: f64) -> Vec<Row> {
        let walk = self.walk;
        self.pids.retain(|_, t| t.walk == walk);
        for g in &mut self.named_groups {
            g.user_ticks += g.now.delta_user;
            g.system_ticks += g.now.delta_system;
        }
        // The top N by CPU since the last walk and by memory now.
        let mut names: Vec<(&String, &Sums)> = self.by_comm.iter().collect();
        let mut chosen: Vec<String> = Vec::new();
        names.sort_by(|a, b| {
            let cpu = |s: &Sums| s.delta_user + s.delta_system;
            cpu(b.1).cmp(&cpu(a.1)).then(a.0.cmp(b.0))
        });
        chosen.extend(
            names
                .iter()
                .filter(|(_, s)| s.delta_user + s.delta_system > 0)
                .take(self.top)
                .map(|(n, _)| (*n).clone()),
        );
        names.sort_by(|a, b| b.1.rss_pages.cmp(&a.1.rss_pages).then(a.0.cmp(b.0)));
        chosen.extend(
            names
                .iter()
                .filter(|(_, s)| s.rss_pages > 0)
                .take(self.top)
                .map(|(n, _)| (*n).clone()),
        );
        let reserved = |name: &str| name == OTHER || self.named.iter().any(|n| n.name == name);
        for name in chosen {
            if reserved(&name) {
                continue;
            }
            let sums = self.by_comm.get(&name).copied().unwrap_or_default();
            let group = self.comm_groups.entry(name).or_insert_with(|| Group {
                // New: its members' whole CPU time; the deltas below are then not added.
                user_ticks: sums.total_user.saturating_sub(sums.delta_user),
                system_ticks: sums.total_system.saturating_sub(sums.delta_system),
                ..Group::default()
            });
            group.until = now + STICKY;
        }
        // Names out of every top for longer than STICKY go back to `other`; at most 4 N
        // names stay (the ones chosen this walk always do).
        self.comm_groups.retain(|_, g| g.until > now);
        let cap = 4 * self.top;
        if self.comm_groups.len() > cap {
            let mut ends: Vec<Duration> = self.comm_groups.values().map(|g| g.until).collect();
            ends.sort_unstable_by(|a, b| b.cmp(a));
            let cutoff = ends[cap - 1];
            self.comm_groups.retain(|_, g| g.until >= cutoff);
        }
        for g in self.comm_groups.values_mut() {
            g.now = Sums::default();
        }
        self.other.now = Sums::default();
        for (name, sums) in &self.by_comm {
            let group = match self.comm_groups.get_mut(name) {
                Some(g) => g,
                None => &mut self.other,
            };
            group.user_ticks += sums.delta_user;
            group.system_ticks += sums.delta_system;
            group.now.add(sums);
        }
        let row = |name: &str, g: &Group| Row {
            group: name.to_owned(),
            user_seconds: g.user_ticks as f64 / hz,
            system_seconds: g.system_ticks as f64 / hz,
            resident_bytes: g.now.rss_pages as f64 * page,
            processes: g.now.processes as f64,
            threads: g.now.threads as f64,
        };
        let mut rows: Vec<Row> = self
            .named
            .iter()
            .zip(&self.named_groups)
            .map(|(n, g)| row(&n.name, g))
            .collect();
        let mut comm: Vec<(&String, &Group)> = self.comm_groups.iter().collect();
        comm.sort_by(|a, b| a.0.cmp(b.0));
        rows.extend(comm.into_iter().map(|(n, g)| row(n, g)));
        rows.push(row(OTHER, &self.other));
        rows
    }

    /// Processes followed now (for tests).
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.pids.len()
    }
}
