//! Thermal zones and cooling devices from `/sys/class/thermal`: `node_thermal_zone_temp`,
//! `node_cooling_device_cur_state`, `node_cooling_device_max_state`.
//!
//! ```text
//! <sys>/class/thermal/thermal_zone0/type        "acpitz\n"
//! <sys>/class/thermal/thermal_zone0/temp        "27800\n"      millidegrees Celsius
//! <sys>/class/thermal/cooling_device0/type      "Processor\n"
//! <sys>/class/thermal/cooling_device0/cur_state "0\n"
//! <sys>/class/thermal/cooling_device0/max_state "3\n"
//! ```
//!
//! Labels as in node_exporter: `zone` and `name` are the number after `thermal_zone` and
//! `cooling_device`, `type` the `type` file. The zones and devices are listed when the
//! source starts, every [`REDISCOVER_EVERY`](super::hwmon::REDISCOVER_EVERY) after, and in
//! the round after one vanished; each round re-reads only `temp` and the states, kept open.
//! A zone whose sensor has no reading now (`ENODATA`: a Wi-Fi card's zone while the card
//! is down) is left out of the round, as node_exporter leaves it out. A host without
//! thermal zones gets no series and no error.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::hwmon::{Rediscovery, is_gone};
use super::{CollectError, Paths, Sink, TextFile};

/// One thermal zone: its `zone` and `type` labels and its `temp` file.
#[derive(Debug)]
struct Zone {
    zone: String,
    kind: String,
    temp: TextFile,
}

/// One cooling device: its `name` and `type` labels and its state files.
#[derive(Debug)]
struct CoolingDevice {
    name: String,
    kind: String,
    cur_state: TextFile,
    max_state: TextFile,
}

/// The thermal_zone source: the zones and cooling devices as last listed.
#[derive(Debug)]
pub struct ThermalZone {
    /// `<sys>/class/thermal`.
    class: PathBuf,
    zones: Vec<Zone>,
    devices: Vec<CoolingDevice>,
    rediscovery: Rediscovery,
}

impl ThermalZone {
    /// The source for the tree at `paths`; the zones are listed in the first round.
    pub fn new(paths: &Paths) -> Self {
        Self {
            class: paths.sys.join("class/thermal"),
            zones: Vec::new(),
            devices: Vec::new(),
            rediscovery: Rediscovery::default(),
        }
    }

    /// Writes every zone's and cooling device's series for a round now.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.collect_at(Instant::now(), sink)
    }

    /// Writes every zone's temperature and every cooling device's states, listing them
    /// first when the listing is due at `now`. A file that cannot be read or parsed
    /// leaves its zone or device out and is reported after the others are written.
    pub fn collect_at(&mut self, now: Instant, sink: &mut Sink) -> Result<(), CollectError> {
        if self.rediscovery.due(now) {
            self.list();
        }
        let mut failed: Option<CollectError> = None;
        let mut stale = false;
        let mut note = |error: CollectError| {
            stale |= is_gone(&error);
            let no_data = matches!(&error, CollectError::Read { source, .. }
                if source.raw_os_error() == Some(libc::ENODATA));
            if !no_data && !is_gone(&error) {
                failed.get_or_insert(error);
            }
        };
        for zone in &mut self.zones {
            match read_int(&mut zone.temp) {
                Ok(temp) => {
                    let labels = [("zone", zone.zone.as_str()), ("type", zone.kind.as_str())];
                    sink.push("node_thermal_zone_temp", &labels, temp as f64 / 1000.0);
                }
                Err(error) => note(error),
            }
        }
        for device in &mut self.devices {
            let states = read_int(&mut device.cur_state)
                .and_then(|cur| Ok((cur, read_int(&mut device.max_state)?)));
            match states {
                Ok((cur, max)) => {
                    let labels = [
                        ("name", device.name.as_str()),
                        ("type", device.kind.as_str()),
                    ];
                    sink.push("node_cooling_device_cur_state", &labels, cur as f64);
                    sink.push("node_cooling_device_max_state", &labels, max as f64);
                }
                Err(error) => note(error),
            }
        }
        if stale {
            self.rediscovery.next_round();
        }
        failed.map_or(Ok(()), Err)
    }

    /// Lists `thermal_zone<N>` and `cooling_device<N>` under the class directory, each
    /// with its `type` read now; one whose `type` cannot be read is left out.
    fn list(&mut self) {
        self.zones = numbered(&self.class, "thermal_zone")
            .into_iter()
            .filter_map(|(number, dir)| {
                Some(Zone {
                    zone: number,
                    kind: read_type(&dir)?,
                    temp: TextFile::new(dir.join("temp")),
                })
            })
            .collect();
        self.devices = numbered(&self.class, "cooling_device")
            .into_iter()
            .filter_map(|(number, dir)| {
                Some(CoolingDevice {
                    name: number,
                    kind: read_type(&dir)?,
                    cur_state: TextFile::new(dir.join("cur_state")),
                    max_state: TextFile::new(dir.join("max_state")),
                })
            })
            .collect();
    }
}

/// The entries `<prefix><digit>…` of `class` in name order, as (the part after `prefix`,
/// path); none when `class` is missing.
fn numbered(class: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(class) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let number = name.strip_prefix(prefix)?;
            number
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| (number.to_owned(), e.path()))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

/// The `type` file of a zone or device, trimmed.
fn read_type(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("type")).ok()?;
    Some(text.trim().to_owned())
}

/// Reads `file` and parses it as one integer.
fn read_int(file: &mut TextFile) -> Result<i64, CollectError> {
    file.read()?;
    let text = file.text().trim();
    text.parse().map_err(|_| CollectError::Parse {
        path: file.path().to_owned(),
        reason: format!("{text:?} is not an integer"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;
    use std::time::Duration;

    #[test]
    fn recorded_zones_and_cooling_devices_are_written() {
        let mut sink = Sink::new();
        let mut source = ThermalZone::new(&testdata_paths());
        source
            .collect_at(Instant::now(), &mut sink)
            .expect("collects");
        let zone = |n, kind| [("zone", n), ("type", kind)];
        assert_eq!(
            sink.value_of("node_thermal_zone_temp", &zone("0", "acpitz")),
            Some(27.8)
        );
        assert_eq!(
            sink.value_of("node_thermal_zone_temp", &zone("1", "x86_pkg_temp")),
            Some(46.0)
        );
        let device = |n, kind| [("name", n), ("type", kind)];
        assert_eq!(
            sink.value_of("node_cooling_device_cur_state", &device("0", "Processor")),
            Some(0.0)
        );
        assert_eq!(
            sink.value_of("node_cooling_device_max_state", &device("0", "Processor")),
            Some(3.0)
        );
        assert_eq!(
            sink.value_of("node_cooling_device_max_state", &device("1", "Fan")),
            Some(1.0)
        );
        assert_eq!(sink.len(), 2 + 2 * 2);
    }

    #[test]
    fn a_vanished_zone_is_left_out_and_the_zones_listed_again() {
        let dir = std::env::temp_dir().join(format!("vigil-thermal-{}", std::process::id()));
        let zone = dir.join("class/thermal/thermal_zone0");
        std::fs::create_dir_all(&zone).expect("temp dir");
        std::fs::write(zone.join("type"), "acpitz\n").expect("write");
        std::fs::write(zone.join("temp"), "30000\n").expect("write");
        let paths = Paths {
            sys: dir.clone(),
            ..testdata_paths()
        };
        let start = Instant::now();
        let mut source = ThermalZone::new(&paths);
        let mut sink = Sink::new();
        source.collect_at(start, &mut sink).expect("collects");
        assert_eq!(sink.len(), 1);

        // A new zone appears: not seen until the listing is due.
        let added = dir.join("class/thermal/thermal_zone1");
        std::fs::create_dir_all(&added).expect("dir");
        std::fs::write(added.join("type"), "pch_cannonlake\n").expect("write");
        std::fs::write(added.join("temp"), "41000\n").expect("write");
        sink.take_round();
        source
            .collect_at(start + Duration::from_secs(10), &mut sink)
            .expect("collects");
        assert_eq!(sink.len(), 1);
        sink.take_round();
        let later = start + REDISCOVER;
        source.collect_at(later, &mut sink).expect("collects");
        assert_eq!(sink.len(), 2);

        // A zone vanishes: quietly left out, and the next round lists again.
        std::fs::remove_dir_all(&zone).expect("remove");
        sink.take_round();
        source.collect_at(later, &mut sink).expect("quiet");
        assert_eq!(sink.len(), 1);
        assert!(source.rediscovery.due(later));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    const REDISCOVER: Duration = super::super::hwmon::REDISCOVER_EVERY;

    #[test]
    fn no_thermal_class_is_quiet() {
        let paths = Paths {
            sys: "/nonexistent/sys".into(),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        ThermalZone::new(&paths).collect(&mut sink).expect("quiet");
        assert!(sink.is_empty());
    }
}
