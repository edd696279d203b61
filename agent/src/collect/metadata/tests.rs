//! The tables are well formed, and every name a source writes (on the recorded tree and on
//! this machine) is described.

use super::*;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[test]
fn fixed_names_are_sorted_unique_and_well_formed() {
    for pair in names().windows(2) {
        assert!(
            pair[0].name < pair[1].name,
            "{} must come before {} (sorted, unique)",
            pair[0].name,
            pair[1].name
        );
    }
    for meta in names() {
        assert!(valid_name(meta.name), "{}", meta.name);
        assert_ne!(meta.kind, MetricType::Unspecified, "{}", meta.name);
        assert!(
            meta.help.len() > 10 && meta.help.ends_with('.'),
            "{}: help is one sentence: {:?}",
            meta.name,
            meta.help
        );
        assert!(
            meta.unit.is_empty() || meta.name.contains(&format!("_{}", meta.unit)),
            "{}: the unit {:?} is a suffix of the name",
            meta.name,
            meta.unit
        );
        if meta.kind == MetricType::Counter {
            assert!(
                meta.name.ends_with("_total")
                    || meta.name.starts_with("node_vmstat_")
                    || meta.name.starts_with("node_netstat_"),
                "{}: counters end in _total (vmstat and netstat keep the kernel's field names)",
                meta.name
            );
        }
        assert_eq!(lookup(meta.name), Some(meta));
    }
    for family in &FAMILIES {
        assert!(family.meta.name.starts_with(family.prefix));
        assert!(family.meta.name.ends_with(family.suffix));
        assert!(family.meta.help.ends_with('.'), "{}", family.meta.name);
        assert!(
            family.suffix.contains(family.meta.unit),
            "{}",
            family.meta.name
        );
    }
}

#[test]
fn names_built_from_kernel_fields_fall_in_their_family() {
    let family = |name: &str| lookup(name).map(|m| (m.name, m.kind, m.unit));
    assert_eq!(
        family("node_memory_Active_anon_bytes"),
        Some(("node_memory_*_bytes", MetricType::Gauge, "bytes"))
    );
    assert_eq!(
        family("node_memory_HugePages_Total"),
        Some(("node_memory_*", MetricType::Gauge, ""))
    );
    assert_eq!(
        family("node_vmstat_nr_free_pages"),
        Some(("node_vmstat_*", MetricType::Unspecified, ""))
    );
    assert_eq!(
        family("node_netstat_TcpExt_TCPLossProbes"),
        Some(("node_netstat_*", MetricType::Unspecified, ""))
    );
    assert_eq!(
        family("node_hwmon_temp1_crit_celsius"),
        Some(("node_hwmon_*_celsius", MetricType::Gauge, "celsius"))
    );
    assert_eq!(
        family("node_hwmon_energy1_joule_total"),
        Some(("node_hwmon_*_joule_total", MetricType::Counter, "joule"))
    );
    assert_eq!(
        family("node_hwmon_fan2_rpm"),
        Some(("node_hwmon_*_rpm", MetricType::Gauge, "rpm"))
    );
    // A fixed name wins over its family.
    assert_eq!(
        family("node_vmstat_pgfault"),
        Some(("node_vmstat_pgfault", MetricType::Counter, ""))
    );
    assert_eq!(lookup("node_memory_"), None, "a bare prefix names nothing");
    assert_eq!(lookup("made_up_metric"), None);
}

/// The names `sink` holds this round that have no description.
#[cfg(target_os = "linux")]
fn undescribed(sink: &crate::collect::Sink) -> std::collections::BTreeSet<String> {
    sink.round()
        .map(|(key, _)| key.name.as_str())
        .filter(|name| lookup(name).is_none())
        .map(str::to_owned)
        .collect()
}

/// Every source switched on, off-by-default ones too, over the tree at `paths`; the
/// agent's own series added.
#[cfg(target_os = "linux")]
fn collect_everything(paths: crate::collect::Paths) -> crate::collect::Sink {
    use crate::collect::{Collectors, OFF_BY_DEFAULT, Options, Sink};
    let options = Options {
        paths,
        enable: OFF_BY_DEFAULT.iter().map(|s| (*s).to_owned()).collect(),
        ..Options::default()
    };
    let mut collectors = Collectors::new(options);
    let mut sink = Sink::new();
    collectors.collect(&mut sink);
    crate::own::collect(&crate::own::Stats::default(), &mut sink, 0);
    sink
}

#[cfg(target_os = "linux")]
#[test]
fn every_name_written_from_the_recorded_tree_is_described() {
    let sink = collect_everything(crate::collect::testdata_paths());
    assert!(
        sink.len() > 100,
        "the recorded tree gives {} samples",
        sink.len()
    );
    let missing = undescribed(&sink);
    assert!(missing.is_empty(), "no metadata for {missing:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn every_name_written_on_this_machine_is_described() {
    let sink = collect_everything(crate::collect::Paths::default());
    assert!(sink.len() > 50, "this machine gives {} samples", sink.len());
    let missing = undescribed(&sink);
    assert!(missing.is_empty(), "no metadata for {missing:?}");
}
