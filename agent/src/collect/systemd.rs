//! systemd units, from `systemctl` (no D-Bus library in the agent): failed and activating
//! units as series, and the count of units per state.
//!
//! - `node_systemd_unit_state{name,state,type}` 1 for every unit whose active state is
//!   `failed` or `activating` (`type` is a service's `Type=`, empty for other units), as
//!   node_exporter names them. A unit that leaves that state is sent with 0 for
//!   [`RECENT`], so an alert on it resolves at once rather than when the series goes stale.
//! - `node_systemd_units{state}` for active, activating, deactivating, inactive and failed.
//!
//! `systemctl list-units --all --plain --no-legend --no-pager` (then `systemctl show -p Id
//! -p Type` for the few units reported) runs on a thread of its own at most every
//! `[collect.systemd] interval`; every round sends the last answer. A run that takes longer
//! than [`TIMEOUT`] is killed. Where systemd does not run (no `/run/systemd/system` under
//! the root filesystem) the source sends nothing and runs nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{CollectError, Paths, Sink};

/// The states `node_systemd_units` counts.
pub const STATES: [&str; 5] = ["active", "activating", "deactivating", "inactive", "failed"];

/// Longest a `systemctl` run may take before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How long a unit is sent with 0 after it left the failed or activating state.
pub const RECENT: Duration = Duration::from_secs(600);

/// Most units sent as `node_systemd_unit_state` (failed, activating and recent ones).
pub const MAX_UNITS: usize = 500;

/// `[collect.systemd]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemdConfig {
    /// Least time between two `systemctl` runs.
    #[serde(with = "vigil_config::duration")]
    pub interval: Duration,
    /// The `systemctl` program (a path, or a name looked up in `PATH`).
    pub systemctl: PathBuf,
}

impl Default for SystemdConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            systemctl: "systemctl".into(),
        }
    }
}

impl SystemdConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval < Duration::from_secs(1) {
            return Err("collect.systemd.interval: must be at least 1s, like 60s".into());
        }
        if self.systemctl.as_os_str().is_empty() {
            return Err("collect.systemd.systemctl: is empty; give the systemctl program".into());
        }
        Ok(())
    }
}

/// One unit in a state worth a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unit {
    /// `ssh.service`.
    pub name: String,
    /// `failed` or `activating`.
    pub state: String,
    /// A service's `Type=`, else empty.
    pub kind: String,
}

/// What one `systemctl` run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// Units per active state, in [`STATES`] order.
    pub counts: [u64; 5],
    /// Failed and activating units.
    pub units: Vec<Unit>,
}

/// A run in progress on its thread.
struct Running {
    started: Instant,
    pid: Arc<AtomicU32>,
    result: Receiver<Result<Listing, String>>,
}

/// The systemd source.
pub struct Systemd {
    marker: PathBuf,
    config: SystemdConfig,
    started: Instant,
    last_run: Option<Duration>,
    running: Option<Running>,
    last: Option<Listing>,
    /// Units reported, with when each was last in a reported state (for the 0 after).
    seen: BTreeMap<Unit, Duration>,
}

impl std::fmt::Debug for Systemd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Systemd")
            .field("marker", &self.marker)
            .field("config", &self.config)
            .field("running", &self.running.is_some())
            .field("last", &self.last)
            .finish()
    }
}

impl Systemd {
    /// The source for the host at `paths` (systemd runs when `<rootfs>/run/systemd/system`
    /// exists).
    pub fn new(paths: &Paths, config: &SystemdConfig) -> Self {
        Self {
            marker: paths.rootfs.join("run/systemd/system"),
            config: config.clone(),
            started: Instant::now(),
            last_run: None,
            running: None,
            last: None,
            seen: BTreeMap::new(),
        }
    }

    /// Starts a `systemctl` run when one is due, takes the answer of a finished one, and
    /// writes the last answer. Nothing where systemd does not run; a failed run is an
    /// error once, and the last good answer is kept.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let now = self.started.elapsed();
        self.collect_at(sink, now)
    }

    /// [`collect`](Self::collect) at `now` on the source's own monotonic clock.
    pub fn collect_at(&mut self, sink: &mut Sink, now: Duration) -> Result<(), CollectError> {
        if !self.marker.is_dir() {
            return Ok(());
        }
        let outcome = self.poll(now);
        let due = self
            .last_run
            .is_none_or(|last| now.saturating_sub(last) >= self.config.interval);
        if due && self.running.is_none() {
            self.running = Some(self.start());
            self.last_run = Some(now);
        }
        self.write(sink);
        outcome.map_err(|reason| CollectError::Parse {
            path: self.config.systemctl.clone(),
            reason,
        })
    }

    /// Takes the answer of a finished run, or kills one past [`TIMEOUT`].
    fn poll(&mut self, now: Duration) -> Result<(), String> {
        let Some(running) = &self.running else {
            return Ok(());
        };
        match running.result.try_recv() {
            Ok(Ok(listing)) => {
                self.running = None;
                self.note(&listing, now);
                self.last = Some(listing);
                Ok(())
            }
            Ok(Err(reason)) => {
                self.running = None;
                Err(reason)
            }
            Err(TryRecvError::Disconnected) => {
                self.running = None;
                Err("the systemctl thread ended without an answer".into())
            }
            Err(TryRecvError::Empty) if running.started.elapsed() > TIMEOUT => {
                // Once: the thread answers when the killed child is reaped.
                match running.pid.swap(0, Ordering::Relaxed) {
                    0 => Ok(()),
                    pid => {
                        kill(pid);
                        Err(format!(
                            "took longer than {TIMEOUT:?}; killed (collect.systemd.systemctl)"
                        ))
                    }
                }
            }
            Err(TryRecvError::Empty) => Ok(()),
        }
    }

    fn start(&self) -> Running {
        let (tx, rx) = channel();
        let pid = Arc::new(AtomicU32::new(0));
        let program = self.config.systemctl.clone();
        let child_pid = pid.clone();
        let spawned = std::thread::Builder::new()
            .name("systemctl".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let _ = tx.send(list(&program, &child_pid));
            });
        if let Err(e) = spawned {
            let (tx, rx2) = channel();
            let _ = tx.send(Err(format!("cannot start a thread: {e}")));
            return Running {
                started: Instant::now(),
                pid,
                result: rx2,
            };
        }
        Running {
            started: Instant::now(),
            pid,
            result: rx,
        }
    }

    /// Remembers when each reported unit was last seen, forgetting old ones.
    fn note(&mut self, listing: &Listing, now: Duration) {
        for unit in &listing.units {
            self.seen.insert(unit.clone(), now);
        }
        self.seen
            .retain(|_, seen| now.saturating_sub(*seen) <= RECENT);
        while self.seen.len() > MAX_UNITS {
            let oldest = self
                .seen
                .iter()
                .min_by_key(|(_, seen)| **seen)
                .map(|(u, _)| u.clone());
            match oldest {
                Some(unit) => self.seen.remove(&unit),
                None => break,
            };
        }
    }

    fn write(&self, sink: &mut Sink) {
        let Some(listing) = &self.last else {
            return;
        };
        for (state, count) in STATES.iter().zip(listing.counts) {
            sink.push("node_systemd_units", &[("state", state)], count as f64);
        }
        for unit in self.seen.keys() {
            let on = listing.units.contains(unit);
            sink.push(
                "node_systemd_unit_state",
                &[
                    ("name", &unit.name),
                    ("state", &unit.state),
                    ("type", &unit.kind),
                ],
                f64::from(u8::from(on)),
            );
        }
    }
}

/// Runs `systemctl list-units`, then `systemctl show` for the services it reports.
fn list(program: &PathBuf, pid: &AtomicU32) -> Result<Listing, String> {
    let text = run(
        program,
        &[
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
        ],
        pid,
    )?;
    let mut listing = parse_units(&text);
    let services: Vec<&str> = listing
        .units
        .iter()
        .map(|u| u.name.as_str())
        .filter(|n| n.ends_with(".service"))
        .collect();
    if !services.is_empty() {
        let mut args = vec!["show", "--property=Id", "--property=Type", "--no-pager"];
        args.extend(services);
        // Without the types the units are still worth sending.
        if let Ok(text) = run(program, &args, pid) {
            let types = parse_types(&text);
            for unit in &mut listing.units {
                if let Some(kind) = types.get(unit.name.as_str()) {
                    unit.kind = (*kind).to_owned();
                }
            }
        }
    }
    Ok(listing)
}

fn run(program: &PathBuf, args: &[&str], pid: &AtomicU32) -> Result<String, String> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("SYSTEMD_COLORS", "0")
        .spawn()
        .map_err(|e| format!("cannot run it: {e} (collect.systemd.systemctl)"))?;
    pid.store(child.id(), Ordering::Relaxed);
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for it: {e}"))?;
    pid.store(0, Ordering::Relaxed);
    // `list-units` exits 0; `show` may exit non-zero for a unit gone meanwhile.
    if !output.status.success() && args[0] == "list-units" {
        return Err(format!("exited with {}", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[allow(unsafe_code)]
fn kill(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 0
    {
        // SAFETY: kill only sends a signal. The pid is our own child's: its thread clears it
        // as soon as the child is reaped, so only in that instant could it name another.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// The units of `systemctl list-units --all --plain --no-legend` text: `UNIT LOAD ACTIVE
/// SUB DESCRIPTION...` per line (a leading `●` marks a unit in trouble on some versions).
pub fn parse_units(text: &str) -> Listing {
    let mut listing = Listing::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let mut name = fields.next().unwrap_or_default();
        if name == "●" || name == "*" {
            name = fields.next().unwrap_or_default();
        }
        let (Some(_load), Some(active)) = (fields.next(), fields.next()) else {
            continue;
        };
        if let Some(i) = STATES.iter().position(|s| *s == active) {
            listing.counts[i] += 1;
        }
        if (active == "failed" || active == "activating") && listing.units.len() < MAX_UNITS {
            listing.units.push(Unit {
                name: name.to_owned(),
                state: active.to_owned(),
                kind: String::new(),
            });
        }
    }
    listing.units.sort();
    listing
}

/// Unit name → `Type=` from `systemctl show --property=Id --property=Type` text (blocks of
/// `KEY=VALUE` lines separated by blank lines).
fn parse_types(text: &str) -> BTreeMap<&str, &str> {
    let mut types = BTreeMap::new();
    for block in text.split("\n\n") {
        let get = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        };
        if let (Some(id), Some(kind)) = (get("Id"), get("Type")) {
            types.insert(id, kind);
        }
    }
    types
}

#[cfg(test)]
mod tests;
