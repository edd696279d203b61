//! Hardware sensors from `/sys/class/hwmon`: `node_hwmon_*`, named as node_exporter 1.5
//! names them.
//!
//! ```text
//! <sys>/class/hwmon/hwmon1 -> ../../devices/platform/coretemp.0/hwmon/hwmon1
//!     name                "coretemp\n"
//!     device -> ../../../coretemp.0
//!     temp1_input         "45000\n"        <type><N>_<property>, millidegrees
//!     temp1_label         "Package id 0\n"
//!     temp1_crit_alarm    "0\n"
//! ```
//!
//! Labels: `chip` is the `device` link's target as `<parent dir>_<dir>` (coretemp.0 under
//! platform: `platform_coretemp_0`), else the `name` file, else the hwmon directory's own
//! name, lowercased with every character outside `[a-z0-9:_]` made `_` and `_` trimmed;
//! `sensor` is `<type><N>`. Files are read from the hwmon directory and then from its
//! `device` directory (older drivers keep their sensors there; the device's file wins).
//! Only the types node_exporter knows are read: vrm, beep_enable, update_interval, in,
//! cpu, fan, pwm, temp, curr, power, energy, humidity, intrusion.
//!
//! The metric is `node_hwmon_<type>`, then `_<property>` (none for `input`, unless a
//! file without property, such as `pwm1`, also exists), then a unit suffix with the value
//! scaled to it (see [`metric_for`]): `_celsius`, `_volts`, `_amps` from milli-units,
//! `_watt`, `_joule_total` from micro-units, `_rpm`, `_seconds`. `alarm`, `fault` and
//! `beep` properties carry no unit: `node_hwmon_temp_alarm`, `node_hwmon_in_beep_enabled`.
//! Like node_exporter this gives `temp1_crit_alarm` the name
//! `node_hwmon_temp_crit_alarm_celsius` (and its value / 1000): dashboards use it so.
//! Per chip, `node_hwmon_chip_names{chip,chip_name}` (from `name`) and per labelled
//! sensor `node_hwmon_sensor_label{chip,sensor,label}` are 1.
//!
//! Listing chips and their files is the expensive part, so it is done when the source
//! starts, every [`REDISCOVER_EVERY`] after, and in the round after a file vanished; in
//! between, each round only re-reads the value files, kept open. A file that cannot be
//! read when the chips are listed (a write-only `pwm1_auto_*`, a sensor the driver
//! reports absent) is left out until the next listing, as node_exporter leaves it out of
//! that scrape. A host without `/sys/class/hwmon` (most VMs) gets no series and no error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CollectError, Paths, Sink, TextFile};

/// How long a listing of the chips is used before the chips are listed again.
pub const REDISCOVER_EVERY: Duration = Duration::from_secs(300);

/// Value files kept open between rounds; any further ones are opened every round, so a
/// many-core host's hundreds of sensors cannot use up the agent's file descriptors.
const KEPT_FILES: usize = 128;

/// The sensor types node_exporter 1.5 reads.
const SENSOR_TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// When a source that lists kernel objects lists them again.
#[derive(Debug, Default)]
pub(super) struct Rediscovery {
    /// When the last listing was made; `None` when the next round must make one.
    listed_at: Option<Instant>,
}

impl Rediscovery {
    /// Whether the round at `now` lists again; if so, counts the listing as made at `now`.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        let due = self
            .listed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= REDISCOVER_EVERY);
        if due {
            self.listed_at = Some(now);
        }
        due
    }

    /// Makes the next round list again (a file of the listing vanished).
    pub(super) fn next_round(&mut self) {
        self.listed_at = None;
    }
}

/// Whether a read failed because its file or device is gone, so the listing is stale.
pub(super) fn is_gone(error: &CollectError) -> bool {
    match error {
        CollectError::Read { source, .. } => {
            source.kind() == std::io::ErrorKind::NotFound
                || source.raw_os_error() == Some(libc::ENODEV)
        }
        CollectError::Parse { .. } => false,
    }
}

/// How a file's number becomes the series' value (node_exporter's own arithmetic, so
/// values agree to the last bit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// The number as read.
    AsRead,
    /// The number times a factor (milli-units: 0.001).
    Times(f64),
    /// The number divided by a divisor (micro-units: 1e6).
    Over(f64),
    /// 1 when the file says exactly "1", else 0 (`beep_enable`).
    Flag,
}

/// One value file of a chip and the series it feeds.
#[derive(Debug)]
struct Reading {
    metric: String,
    sensor: String,
    scale: Scale,
    file: TextFile,
}

/// One hwmon chip as listed.
#[derive(Debug)]
struct Chip {
    chip: String,
    /// The cleaned `name` file, for `node_hwmon_chip_names`.
    chip_name: Option<String>,
    /// (sensor, label) of every sensor with a `_label` file.
    labels: Vec<(String, String)>,
    readings: Vec<Reading>,
}

/// The hwmon source: the chips as last listed, their value files kept open.
#[derive(Debug)]
pub struct Hwmon {
    /// `<sys>/class/hwmon`.
    class: PathBuf,
    chips: Vec<Chip>,
    rediscovery: Rediscovery,
}

impl Hwmon {
    /// The source for the tree at `paths`; the chips are listed in the first round.
    pub fn new(paths: &Paths) -> Self {
        Self {
            class: paths.sys.join("class/hwmon"),
            chips: Vec::new(),
            rediscovery: Rediscovery::default(),
        }
    }

    /// Writes every chip's series for a round now.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.collect_at(Instant::now(), sink)
    }

    /// Writes every chip's series, listing the chips first when the listing is due at
    /// `now`. A value that cannot be read or parsed this round is left out of it.
    pub fn collect_at(&mut self, now: Instant, sink: &mut Sink) -> Result<(), CollectError> {
        if self.rediscovery.due(now) {
            self.chips = list_chips(&self.class)?;
        }
        let mut stale = false;
        for chip in &mut self.chips {
            let c = chip.chip.as_str();
            let mut gone = 0;
            for reading in &mut chip.readings {
                if let Err(error) = reading.file.read() {
                    if is_gone(&error) {
                        gone += 1;
                    }
                    continue;
                }
                let Some(value) = value_of(reading.file.text(), reading.scale) else {
                    continue;
                };
                let labels = [("chip", c), ("sensor", reading.sensor.as_str())];
                sink.push(&reading.metric, &labels, value);
            }
            stale |= gone > 0;
            // A chip whose every file is gone (unplugged) is not described either.
            if gone > 0 && gone == chip.readings.len() {
                continue;
            }
            if let Some(name) = &chip.chip_name {
                let labels = [("chip", c), ("chip_name", name.as_str())];
                sink.push("node_hwmon_chip_names", &labels, 1.0);
            }
            for (sensor, label) in &chip.labels {
                let labels = [("chip", c), ("sensor", sensor.as_str()), ("label", label)];
                sink.push("node_hwmon_sensor_label", &labels, 1.0);
            }
        }
        if stale {
            self.rediscovery.next_round();
        }
        Ok(())
    }
}

/// The value of a file's `text` scaled by `scale`; `None` when it is not a number.
fn value_of(text: &str, scale: Scale) -> Option<f64> {
    let text = text.trim_matches('\n');
    if scale == Scale::Flag {
        return Some(f64::from(u8::from(text == "1")));
    }
    let number: f64 = text.parse().ok()?;
    Some(match scale {
        Scale::AsRead | Scale::Flag => number,
        Scale::Times(factor) => number * factor,
        Scale::Over(divisor) => number / divisor,
    })
}

/// Lists the chips under `class` (`<sys>/class/hwmon`) and opens their value files; none
/// when the directory is missing.
fn list_chips(class: &Path) -> Result<Vec<Chip>, CollectError> {
    let entries = match std::fs::read_dir(class) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CollectError::Read {
                path: class.to_owned(),
                source,
            });
        }
    };
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    dirs.sort();
    let mut kept = 0;
    let chips = dirs
        .iter()
        .filter(|dir| dir.is_dir())
        .filter_map(|dir| list_chip(dir, &mut kept))
        .collect();
    Ok(chips)
}

/// One chip's labels and readable value files; `None` when it has no usable name.
/// `kept` counts the files kept open so far.
fn list_chip(dir: &Path, kept: &mut usize) -> Option<Chip> {
    let chip = chip_label(dir)?;
    let chip_name = std::fs::read(dir.join("name"))
        .ok()
        .map(|raw| clean(&String::from_utf8_lossy(&raw)))
        .filter(|name| !name.is_empty());

    // sensor -> property -> file; a later directory's file replaces an earlier one's.
    let mut sensors: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for sensor_dir in [dir.to_owned(), dir.join("device")] {
        let Ok(entries) = std::fs::read_dir(&sensor_dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(file) = entry.file_name().into_string() else {
                continue;
            };
            let Some((kind, number, property)) = split_file_name(&file) else {
                continue;
            };
            if SENSOR_TYPES.contains(&kind) {
                sensors
                    .entry(format!("{kind}{number}"))
                    .or_default()
                    .insert(property.to_owned(), entry.path());
            }
        }
    }

    let mut labels = Vec::new();
    let mut readings = Vec::new();
    for (sensor, properties) in sensors {
        // What each file holds now: files that cannot be read are left out, as
        // node_exporter leaves them out of the scrape.
        let texts: BTreeMap<&str, (String, &PathBuf)> = properties
            .iter()
            .filter_map(|(property, path)| {
                let raw = std::fs::read(path).ok()?;
                let text = String::from_utf8_lossy(&raw).trim_matches('\n').to_owned();
                Some((property.as_str(), (text, path)))
            })
            .collect();
        if let Some((label, _)) = texts.get("label") {
            labels.push((sensor.clone(), label.clone()));
        }
        let kind = split_file_name(&sensor).map_or("", |(kind, _, _)| kind);
        let has_plain = texts.contains_key("");
        let mut add = |metric: String, scale: Scale, path: &Path| {
            let file = if *kept < KEPT_FILES {
                *kept += 1;
                TextFile::new(path)
            } else {
                TextFile::reopened(path)
            };
            readings.push(Reading {
                metric,
                sensor: sensor.clone(),
                scale,
                file,
            });
        };
        let special = match kind {
            "beep_enable" => Some(("node_hwmon_beep_enabled", Scale::Flag)),
            "vrm" => Some(("node_hwmon_voltage_regulator_version", Scale::AsRead)),
            "update_interval" => Some(("node_hwmon_update_interval_seconds", Scale::Times(0.001))),
            _ => None,
        };
        if let Some((metric, scale)) = special {
            if let Some((_, path)) = texts.get("") {
                add(metric.to_owned(), scale, path);
            }
            continue;
        }
        for (property, (_, path)) in &texts {
            if *property != "label" {
                let (metric, scale) = metric_for(kind, property, has_plain);
                add(metric, scale, path);
            }
        }
    }
    Some(Chip {
        chip,
        chip_name,
        labels,
        readings,
    })
}

/// The `chip` label of the hwmon directory `dir`: from its `device` link, else its `name`
/// file, else its own resolved name; `None` when all of them clean to nothing.
fn chip_label(dir: &Path) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device.file_name().map(|n| clean(&n.to_string_lossy()));
        let parent = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean(&n.to_string_lossy()));
        match (parent, name) {
            (Some(parent), Some(name)) if !parent.is_empty() && !name.is_empty() => {
                return Some(format!("{parent}_{name}"));
            }
            (_, Some(name)) if !name.is_empty() => return Some(name),
            _ => {}
        }
    }
    if let Ok(raw) = std::fs::read(dir.join("name")) {
        let name = clean(&String::from_utf8_lossy(&raw));
        if !name.is_empty() {
            return Some(name);
        }
    }
    let real = std::fs::canonicalize(dir).ok()?;
    let name = clean(&real.file_name()?.to_string_lossy());
    (!name.is_empty()).then_some(name)
}

/// `name` lowercased, every character outside `[a-z0-9:_]` made `_`, `_` trimmed.
pub(crate) fn clean(name: &str) -> String {
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | ':' | '_' => c,
            _ => '_',
        })
        .collect();
    cleaned.trim_matches('_').to_owned()
}

/// A sensor file name as `(type, number, property)`: `temp1_crit_alarm` is
/// `("temp", 1, "crit_alarm")`, `pwm1` is `("pwm", 1, "")`, `beep_enable` is
/// `("beep_enable", 0, "")`. This is node_exporter's pattern
/// `^([^0-9]+)([0-9]*)?(_(.+))?$` with its longest-type-first preference.
pub(crate) fn split_file_name(name: &str) -> Option<(&str, u64, &str)> {
    let first_digit = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    // The type is as long as it can be; a shorter one only when the rest fails to fit.
    for type_end in (1..=first_digit).rev() {
        if !name.is_char_boundary(type_end) {
            continue;
        }
        let rest = &name[type_end..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        for digits_end in (0..=digits).rev() {
            let after = &rest[digits_end..];
            let property = if after.is_empty() {
                ""
            } else if let Some(p) = after.strip_prefix('_').filter(|p| !p.is_empty()) {
                p
            } else {
                continue;
            };
            let number = match &rest[..digits_end] {
                "" => 0,
                n => n.parse().ok()?,
            };
            return Some((&name[..type_end], number, property));
        }
    }
    None
}

/// The metric name and scaling of property `property` of a sensor of type `kind`;
/// `has_plain` says whether the sensor also has a file without property.
pub(crate) fn metric_for(kind: &str, property: &str, has_plain: bool) -> (String, Scale) {
    let mut name = format!("node_hwmon_{kind}");
    if property == "input" {
        if has_plain {
            name.push_str("_input");
        }
    } else if !property.is_empty() {
        name.push('_');
        name.push_str(&clean(property));
    }
    let (suffix, scale) = match (kind, property) {
        (_, "fault" | "alarm") => ("", Scale::AsRead),
        (_, "beep") => ("_enabled", Scale::AsRead),
        ("in" | "cpu", _) => ("_volts", Scale::Times(0.001)),
        ("temp", p) if p != "type" => ("_celsius", Scale::Times(0.001)),
        ("curr", _) => ("_amps", Scale::Times(0.001)),
        ("energy", _) => ("_joule_total", Scale::Over(1e6)),
        ("power", "accuracy") => ("", Scale::Over(1e6)),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => {
            ("_seconds", Scale::Times(0.001))
        }
        ("power", _) => ("_watt", Scale::Over(1e6)),
        ("humidity", _) => ("", Scale::Over(1e6)),
        ("fan", "input" | "min" | "max" | "target") => ("_rpm", Scale::AsRead),
        _ => ("", Scale::AsRead),
    };
    name.push_str(suffix);
    (name, scale)
}

#[cfg(test)]
mod tests;
