use super::*;
use crate::collect::testdata_paths;

#[test]
fn recorded_sysfs_gives_every_property_node_exporter_does() {
    let mut sink = Sink::new();
    NetClass::new(&testdata_paths())
        .collect(&mut sink)
        .expect("collects");
    let eth0 = [("device", "eth0")];
    let want = [
        ("node_network_up", 1.0),
        ("node_network_address_assign_type", 0.0),
        ("node_network_carrier", 1.0),
        ("node_network_carrier_changes_total", 2.0),
        ("node_network_carrier_up_changes_total", 1.0),
        ("node_network_carrier_down_changes_total", 1.0),
        ("node_network_device_id", 0.0),
        ("node_network_dormant", 0.0),
        ("node_network_flags", 4099.0),
        ("node_network_iface_id", 4.0),
        ("node_network_iface_link", 4.0),
        ("node_network_iface_link_mode", 0.0),
        ("node_network_mtu_bytes", 1400.0),
        ("node_network_name_assign_type", 1.0),
        ("node_network_net_dev_group", 0.0),
        // speed -1 (unknown) × 10^6 / 8, as node_exporter 1.5 writes it.
        ("node_network_speed_bytes", -125000.0),
        ("node_network_transmit_queue_length", 1000.0),
        ("node_network_protocol_type", 1.0),
    ];
    for (name, value) in want {
        assert_eq!(sink.value_of(name, &eth0), Some(value), "{name}");
    }
    let info = [
        ("device", "eth0"),
        ("address", "02:fc:00:00:00:01"),
        ("broadcast", "ff:ff:ff:ff:ff:ff"),
        ("duplex", "unknown"),
        ("operstate", "up"),
        ("ifalias", ""),
    ];
    assert_eq!(sink.value_of("node_network_info", &info), Some(1.0));

    // ifb0 is down: the kernel refuses carrier, dormant, duplex, name_assign_type and speed.
    let ifb0 = [("device", "ifb0")];
    assert_eq!(sink.value_of("node_network_up", &ifb0), Some(0.0));
    assert_eq!(sink.value_of("node_network_carrier", &ifb0), None);
    assert_eq!(sink.value_of("node_network_flags", &ifb0), Some(130.0));
    let info = [
        ("device", "ifb0"),
        ("address", "52:44:c2:36:b3:19"),
        ("broadcast", "ff:ff:ff:ff:ff:ff"),
        ("duplex", ""),
        ("operstate", "down"),
        ("ifalias", ""),
    ];
    assert_eq!(sink.value_of("node_network_info", &info), Some(1.0));
    let lo = [("device", "lo")];
    assert_eq!(sink.value_of("node_network_up", &lo), Some(0.0));
    assert_eq!(
        sink.value_of("node_network_protocol_type", &lo),
        Some(772.0)
    );
    assert_eq!(sink.value_of("node_network_speed_bytes", &lo), None);

    // bonding_masters is a file, not a device.
    let devices = |sink: &Sink| -> Vec<String> {
        sink.round()
            .filter(|(k, _)| k.name == "node_network_up")
            .map(|(k, _)| k.labels[0].1.clone())
            .collect()
    };
    assert_eq!(devices(&sink), ["eth0", "ifb0", "lo"]);
    assert_eq!(sink.len(), 19 + 15 + 18);
}

#[test]
fn devices_and_values_follow_the_directory() {
    let root = std::env::temp_dir().join(format!("vigil-netclass-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let net = root.join("sys/class/net");
    std::fs::create_dir_all(&net).expect("mkdir");
    let recorded = testdata_paths().sys.join("class/net/eth0");
    let eth0 = net.join("eth0");
    std::fs::create_dir_all(&eth0).expect("mkdir");
    for entry in std::fs::read_dir(&recorded).expect("recorded eth0") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), eth0.join(entry.file_name())).expect("copy");
    }
    let paths = Paths {
        proc: root.join("proc"),
        sys: root.join("sys"),
        rootfs: root.clone(),
    };
    let mut netclass = NetClass::new(&paths);
    let mut sink = Sink::new();
    netclass.collect(&mut sink).expect("collects");
    let dev = |d| [("device", d)];
    assert_eq!(
        sink.value_of("node_network_mtu_bytes", &dev("eth0")),
        Some(1400.0)
    );

    // A value changes, a 10 Gbit/s device appears.
    std::fs::write(eth0.join("mtu"), "9000\n").expect("write");
    let enp = net.join("enp3s0");
    std::fs::create_dir_all(&enp).expect("mkdir");
    std::fs::write(enp.join("speed"), "10000\n").expect("write");
    std::fs::write(enp.join("operstate"), "up\n").expect("write");
    std::fs::write(enp.join("flags"), "garbage\n").expect("write");
    let mut sink = Sink::new();
    netclass.collect(&mut sink).expect("collects");
    assert_eq!(
        sink.value_of("node_network_mtu_bytes", &dev("eth0")),
        Some(9000.0)
    );
    assert_eq!(
        sink.value_of("node_network_speed_bytes", &dev("enp3s0")),
        Some(1_250_000_000.0)
    );
    assert_eq!(sink.value_of("node_network_up", &dev("enp3s0")), Some(1.0));
    assert_eq!(sink.value_of("node_network_flags", &dev("enp3s0")), None);

    // eth0 gone.
    std::fs::remove_dir_all(&eth0).expect("rm");
    let mut sink = Sink::new();
    netclass.collect(&mut sink).expect("collects");
    assert_eq!(sink.value_of("node_network_up", &dev("eth0")), None);
    assert_eq!(sink.len(), 3);

    // No class/net at all: a missing directory, skipped quietly by the caller.
    std::fs::remove_dir_all(&root).expect("clean up");
    let error = netclass.collect(&mut Sink::new()).expect_err("gone");
    assert!(error.is_missing(), "{error}");
}

#[test]
fn refused_files_are_left_out_on_this_host() {
    // Loopback has no link speed: the kernel answers EINVAL.
    let mut sink = Sink::new();
    NetClass::new(&Paths::default())
        .collect(&mut sink)
        .expect("collects");
    let lo = [("device", "lo")];
    assert_eq!(sink.value_of("node_network_iface_id", &lo), Some(1.0));
    assert_eq!(sink.value_of("node_network_speed_bytes", &lo), None);
}

#[test]
fn integers_parse_as_c_writes_them() {
    assert_eq!(parse_c_int("0x1003"), Some(4099));
    assert_eq!(parse_c_int("0X0"), Some(0));
    assert_eq!(parse_c_int("-1"), Some(-1));
    assert_eq!(parse_c_int("+12"), Some(12));
    assert_eq!(parse_c_int("0"), Some(0));
    assert_eq!(parse_c_int("010"), Some(8));
    assert_eq!(parse_c_int("0b101"), Some(5));
    assert_eq!(parse_c_int("0o17"), Some(15));
    assert_eq!(parse_c_int("65536"), Some(65536));
    assert_eq!(parse_c_int("-9223372036854775808"), Some(i64::MIN));
    assert_eq!(parse_c_int("9223372036854775808"), None);
    for bad in ["", "-", "0x", "08", "1.5", "up", "1 2", "0x-1"] {
        assert_eq!(parse_c_int(bad), None, "{bad:?}");
    }
    let long = format!("{}xyz", "a".repeat(READ_LIMIT));
    assert_eq!(trimmed(&long), "a".repeat(READ_LIMIT));
    assert_eq!(trimmed(" up\n"), "up");
}
