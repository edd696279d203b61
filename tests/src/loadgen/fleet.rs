//! The simulated fleet: every host's samples, step by step, deterministic from a seed.
//!
//! Step `k` of a host is stamped `start + k × interval` plus, when asked, a jitter of
//! 0..=`jitter_ms` milliseconds drawn per scrape (one timestamp per scrape, as a real agent
//! has). Each host owns one random generator and walks its series in slot order, so its
//! samples depend only on the seed, its index and the step: sending over gRPC and writing a
//! file produce exactly the same samples whatever the concurrency.
//!
//! Besides the walks of [`Kind`], a host reboots about once a week (at a phase drawn from
//! the seed): its counters restart from zero and `node_boot_time_seconds` moves. A churning
//! slot starts a new series (new `task` label, counter from zero) every six hours, at a
//! phase of its own.
//!
//! Series ids are stream-local ids as the wire protocol uses them: slot `s` in churn epoch
//! `e` has id `s + slots × e` (epoch 0 for slots that never churn).
//!
//! A fleet may carry level shifts (`--shift`, see [`super::shift`]): from a given time on,
//! the series of one metric on one host report a multiple of their values. A shift changes
//! only what the shifted slots report, never the random draws, so everything else is the
//! same sample for sample.

use super::catalogue::{Kind, Template, templates};
use super::shift::{LevelShift, SlotShift};
use crate::rng::Rng;
use std::sync::Arc;

/// How long a churning series lives.
pub const CHURN_LIFETIME_MS: i64 = 6 * 3600 * 1000;
/// How often a host reboots.
pub const REBOOT_PERIOD_MS: i64 = 7 * 24 * 3600 * 1000;

/// What the fleet looks like; equal specs give equal samples (level shifts aside).
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSpec {
    /// Number of hosts.
    pub hosts: u32,
    /// Series slots per host.
    pub series_per_host: usize,
    /// Time between scrapes, milliseconds.
    pub interval_ms: i64,
    /// Largest jitter added to a scrape's timestamp, milliseconds (0: exactly on the interval).
    pub jitter_ms: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Timestamp of step 0, milliseconds since the epoch.
    pub start_ms: i64,
}

/// The fleet: its spec, the shared catalogue of series slots and the level shifts.
#[derive(Debug, Clone)]
pub struct Fleet {
    spec: FleetSpec,
    templates: Arc<Vec<Template>>,
    /// Injected into some hosts' series (`--shift`); empty for the plain dataset.
    shifts: Arc<Vec<LevelShift>>,
}

impl Fleet {
    /// A fleet as `spec` describes, without level shifts.
    pub fn new(spec: FleetSpec) -> Self {
        let templates = Arc::new(templates(spec.series_per_host));
        Self {
            spec,
            templates,
            shifts: Arc::default(),
        }
    }

    /// The same fleet with `shifts` applied to its hosts' series.
    pub fn with_shifts(self, shifts: Vec<LevelShift>) -> Self {
        Self {
            shifts: Arc::new(shifts),
            ..self
        }
    }

    /// Whether the hosts have series named `metric` (they all have the same names).
    pub fn has_metric(&self, metric: &str) -> bool {
        self.templates.iter().any(|t| t.name == metric)
    }

    /// The spec.
    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    /// The name of host `index` (its `host` label).
    pub fn host_name(index: u32) -> String {
        format!("host-{index:05}")
    }

    /// Host `index` at step 0.
    pub fn host(&self, index: u32) -> Host {
        Host::new(self, index)
    }
}

/// One slot's state on one host.
#[derive(Debug, Clone)]
struct Slot {
    /// Current value in ticks.
    ticks: f64,
    /// The template's magnitudes scaled for this host.
    kind: Kind,
    /// Churn epoch of the current series (0 for slots that never churn).
    epoch: i64,
    /// Steps are offset by this for churning (so slots do not all churn at once).
    churn_phase_ms: i64,
    /// The level shifts on this slot, if any.
    shift: Option<Box<SlotShift>>,
}

/// One simulated host: produces its scrapes in order.
#[derive(Debug, Clone)]
pub struct Host {
    name: String,
    spec: FleetSpec,
    templates: Arc<Vec<Template>>,
    rng: Rng,
    slots: Vec<Slot>,
    /// Next step to produce.
    step: i64,
    /// Reboots happen when `(timestamp + reboot_phase_ms) % REBOOT_PERIOD_MS` wraps.
    reboot_phase_ms: i64,
    ids: Vec<u64>,
    values: Vec<f64>,
}

impl Host {
    fn new(fleet: &Fleet, index: u32) -> Self {
        let spec = fleet.spec.clone();
        let mut rng = Rng::new(spec.seed, u64::from(index));
        let uptime_s = rng.range(3_600.0, 30.0 * 86_400.0);
        let boot_s = (spec.start_ms as f64 / 1000.0 - uptime_s).floor();
        let reboot_phase_ms = (rng.unit() * REBOOT_PERIOD_MS as f64) as i64;
        let interval_s = spec.interval_ms as f64 / 1000.0;
        let slots = fleet
            .templates
            .iter()
            .map(|t| {
                let scale = rng.range(0.3, 1.7);
                let (kind, ticks) = match t.kind {
                    Kind::Counter { per_second } => {
                        let per_second = per_second * scale;
                        let start = if t.churns {
                            0.0
                        } else {
                            (per_second * uptime_s * rng.range(0.8, 1.2)).round()
                        };
                        (
                            Kind::Counter {
                                per_second: per_second * interval_s,
                            },
                            start,
                        )
                    }
                    Kind::Gauge {
                        center,
                        noise,
                        change,
                    } => {
                        let center = (center * scale).round();
                        let noise = noise * scale;
                        let ticks = (center + rng.range(-noise, noise)).round().max(0.0);
                        (
                            Kind::Gauge {
                                center,
                                noise,
                                change,
                            },
                            ticks,
                        )
                    }
                    Kind::Constant { .. } if t.boot_time => {
                        (Kind::Constant { ticks: boot_s }, boot_s)
                    }
                    Kind::Constant { ticks } => {
                        // Sizes differ between hosts; flags, limits and states do not.
                        let ticks = if ticks > 1_000.0 {
                            (ticks * scale).round()
                        } else {
                            ticks
                        };
                        (Kind::Constant { ticks }, ticks)
                    }
                };
                let churn_phase_ms = if t.churns {
                    (rng.unit() * CHURN_LIFETIME_MS as f64) as i64
                } else {
                    0
                };
                let mut slot = Slot {
                    ticks,
                    kind,
                    epoch: 0,
                    churn_phase_ms,
                    shift: SlotShift::of_slot(&fleet.shifts, index, t.name, &kind, ticks),
                };
                if t.churns {
                    slot.epoch = (spec.start_ms + churn_phase_ms).div_euclid(CHURN_LIFETIME_MS);
                }
                slot
            })
            .collect::<Vec<_>>();
        let n = slots.len();
        Self {
            name: Fleet::host_name(index),
            spec,
            templates: fleet.templates.clone(),
            rng,
            slots,
            step: 0,
            reboot_phase_ms,
            ids: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
        }
    }

    /// The host's name (its `host` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next step to be produced.
    pub fn step(&self) -> i64 {
        self.step
    }

    /// The nominal (unjittered) timestamp of `step`.
    pub fn nominal_ms(&self, step: i64) -> i64 {
        self.spec.start_ms + step * self.spec.interval_ms
    }

    /// Produces the next scrape: its timestamp, series ids and values (one per slot).
    pub fn next_scrape(&mut self) -> (i64, &[u64], &[f64]) {
        let nominal = self.nominal_ms(self.step);
        let jitter = if self.spec.jitter_ms > 0 {
            (self.rng.next_u64() % (u64::from(self.spec.jitter_ms) + 1)) as i64
        } else {
            0
        };
        let ts = nominal + jitter;
        let rebooted = self.step > 0
            && (nominal + self.reboot_phase_ms).div_euclid(REBOOT_PERIOD_MS)
                != (nominal - self.spec.interval_ms + self.reboot_phase_ms)
                    .div_euclid(REBOOT_PERIOD_MS);
        let count = self.slots.len() as u64;
        self.ids.clear();
        self.values.clear();
        let rng = &mut self.rng;
        for (i, (slot, template)) in self.slots.iter_mut().zip(self.templates.iter()).enumerate() {
            let mut restart = rebooted;
            if template.churns {
                let epoch = (nominal + slot.churn_phase_ms).div_euclid(CHURN_LIFETIME_MS);
                if epoch != slot.epoch {
                    slot.epoch = epoch;
                    restart = true;
                }
            }
            match slot.kind {
                Kind::Counter { per_second: mean } => {
                    if restart {
                        slot.ticks = 0.0;
                    }
                    // Bursty growth with the right mean; rounding by a random offset keeps
                    // slow counters (errors, drops) mostly flat with an occasional step.
                    let increase = (mean * rng.range(0.5, 1.5) + rng.unit()).floor();
                    slot.ticks += increase;
                    if let Some(shift) = &mut slot.shift {
                        shift.counted(restart, increase, ts);
                    }
                }
                Kind::Gauge {
                    center,
                    noise,
                    change,
                } => {
                    if rng.unit() < change {
                        let pull = (center - slot.ticks) * 0.05;
                        slot.ticks = (slot.ticks + pull + rng.range(-noise, noise))
                            .round()
                            .max(0.0);
                    }
                }
                Kind::Constant { .. } => {
                    if rebooted && template.boot_time {
                        slot.ticks = (ts / 1000) as f64;
                    }
                }
            }
            let epoch = if template.churns {
                slot.epoch.rem_euclid(1 << 20) as u64
            } else {
                0
            };
            self.ids.push(i as u64 + count * epoch);
            let value = template.unit.value(slot.ticks);
            self.values.push(match &slot.shift {
                None => value,
                Some(shift) => shift.value(template.unit, value, ts),
            });
        }
        self.step += 1;
        (ts, &self.ids, &self.values)
    }

    /// The metric name and labels (without `host`) of series `id` of this host.
    pub fn series(&self, id: u64) -> (&'static str, Vec<(&'static str, String)>) {
        let count = self.slots.len() as u64;
        let template = &self.templates[(id % count) as usize];
        let mut labels = template.labels.clone();
        if template.churns {
            labels.push(("task", format!("task-{}", id / count)));
        }
        (template.name, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn spec(hosts: u32, jitter_ms: u32) -> FleetSpec {
        FleetSpec {
            hosts,
            series_per_host: 300,
            interval_ms: 10_000,
            jitter_ms,
            seed: 42,
            start_ms: 1_763_700_000_000,
        }
    }

    fn run(host: &mut Host, steps: usize) -> Vec<(i64, Vec<u64>, Vec<f64>)> {
        (0..steps)
            .map(|_| {
                let (ts, ids, values) = host.next_scrape();
                (ts, ids.to_vec(), values.to_vec())
            })
            .collect()
    }

    /// The samples are a fixed function of the spec: datasets loaded into other systems are
    /// named by their flags. Update the fingerprint only when a change to the data is meant.
    #[test]
    fn the_same_spec_gives_the_same_samples_as_ever() {
        let fleet = Fleet::new(FleetSpec {
            series_per_host: 50,
            seed: 7,
            ..spec(3, 250)
        });
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        let mut mix = |x: u64| h = (h ^ x).wrapping_mul(0x0100_0000_01B3);
        for index in 0..3 {
            for (ts, ids, values) in run(&mut fleet.host(index), 360) {
                mix(ts as u64);
                ids.iter().for_each(|&id| mix(id));
                values.iter().for_each(|v| mix(v.to_bits()));
            }
        }
        assert_eq!(h, 0x57DF_0DF9_42B0_5CD8);
    }

    #[test]
    fn same_seed_same_samples_other_seed_other_samples() {
        let a = Fleet::new(spec(3, 20));
        let b = Fleet::new(spec(3, 20));
        // Host 2 does not depend on whether hosts 0 and 1 were generated first.
        let _ = run(&mut a.host(0), 50);
        assert_eq!(run(&mut a.host(2), 200), run(&mut b.host(2), 200));
        let c = Fleet::new(FleetSpec {
            seed: 43,
            ..spec(3, 20)
        });
        assert_ne!(run(&mut a.host(2), 5), run(&mut c.host(2), 5));
        assert_ne!(run(&mut a.host(1), 5), run(&mut a.host(2), 5));
    }

    #[test]
    fn every_scrape_has_one_sample_per_slot_on_the_interval() {
        let fleet = Fleet::new(spec(1, 25));
        let mut host = fleet.host(0);
        for (step, (ts, ids, values)) in run(&mut host, 100).into_iter().enumerate() {
            assert_eq!(ids.len(), 300);
            assert_eq!(values.len(), 300);
            let nominal = 1_763_700_000_000 + step as i64 * 10_000;
            assert!(
                (nominal..=nominal + 25).contains(&ts),
                "{ts} at step {step}"
            );
            assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
        let unjittered = Fleet::new(spec(1, 0));
        let times: Vec<i64> = run(&mut unjittered.host(0), 3)
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(
            times,
            [1_763_700_000_000, 1_763_700_010_000, 1_763_700_020_000]
        );
    }

    /// Over two weeks every host reboots (about) twice and every churning slot starts new
    /// series; apart from those, counters never go down.
    #[test]
    fn counters_only_go_down_on_reboots_and_churn() {
        let fleet = Fleet::new(FleetSpec {
            interval_ms: 120_000,
            ..spec(4, 0)
        });
        let counters: Vec<bool> = templates(300)
            .iter()
            .map(|t| matches!(t.kind, Kind::Counter { .. }))
            .collect();
        let boot = templates(300).iter().position(|t| t.boot_time).unwrap();
        let mut resets = 0;
        let mut reboots = 0;
        let mut series_seen = std::collections::HashSet::new();
        for h in 0..4 {
            let mut host = fleet.host(h);
            let mut last: HashMap<u64, f64> = HashMap::new();
            let mut boot_time = None;
            for _ in 0..14 * 24 * 30 {
                let (_, ids, values) = host.next_scrape();
                let rebooted = boot_time.is_some_and(|b| b != values[boot]);
                reboots += rebooted as u32;
                boot_time = Some(values[boot]);
                for (slot, (&id, &v)) in ids.iter().zip(values).enumerate() {
                    series_seen.insert((h, id));
                    let before = last.get(&id).copied().unwrap_or(f64::MIN);
                    if counters[slot] && v < before {
                        assert!(
                            rebooted,
                            "counter {id} of host {h} went down without a reboot"
                        );
                        resets += 1;
                    }
                    last.insert(id, v);
                }
            }
        }
        assert!((6..=10).contains(&reboots), "{reboots} reboots");
        assert!(resets > 50 * reboots, "{resets} counter resets");
        // 3 churning slots per host, a new series every 6 h over 14 days.
        assert!(
            series_seen.len() > 4 * (297 + 3 * 14 * 4),
            "{}",
            series_seen.len()
        );
    }

    #[test]
    fn a_few_slots_churn_into_new_series_with_new_labels() {
        let fleet = Fleet::new(spec(1, 0));
        let mut host = fleet.host(0);
        let first = run(&mut host, 1).remove(0).1;
        let mut later = first.clone();
        for _ in 0..(CHURN_LIFETIME_MS / 10_000) {
            later = host.next_scrape().1.to_vec();
        }
        let changed: Vec<_> = first.iter().zip(&later).filter(|(a, b)| a != b).collect();
        assert_eq!(changed.len(), 3, "every churning slot changes once in 6 h");
        for (old, new) in changed {
            let (name, old_labels) = host.series(*old);
            let (same_name, new_labels) = host.series(*new);
            assert_eq!(name, same_name);
            assert_ne!(old_labels, new_labels);
        }
    }
}
