use super::*;
use crate::collect::{Paths, testdata_paths};

/// The names node_exporter 1.5.0 wrote on the host the files were recorded on.
const NODE_EXPORTER_NAMES: [&str; 40] = [
    "node_netstat_Icmp6_InErrors",
    "node_netstat_Icmp6_InMsgs",
    "node_netstat_Icmp6_OutMsgs",
    "node_netstat_Icmp_InErrors",
    "node_netstat_Icmp_InMsgs",
    "node_netstat_Icmp_OutMsgs",
    "node_netstat_Ip6_InOctets",
    "node_netstat_Ip6_OutOctets",
    "node_netstat_IpExt_InOctets",
    "node_netstat_IpExt_OutOctets",
    "node_netstat_Ip_Forwarding",
    "node_netstat_TcpExt_ListenDrops",
    "node_netstat_TcpExt_ListenOverflows",
    "node_netstat_TcpExt_SyncookiesFailed",
    "node_netstat_TcpExt_SyncookiesRecv",
    "node_netstat_TcpExt_SyncookiesSent",
    "node_netstat_TcpExt_TCPSynRetrans",
    "node_netstat_TcpExt_TCPTimeouts",
    "node_netstat_Tcp_ActiveOpens",
    "node_netstat_Tcp_CurrEstab",
    "node_netstat_Tcp_InErrs",
    "node_netstat_Tcp_InSegs",
    "node_netstat_Tcp_OutRsts",
    "node_netstat_Tcp_OutSegs",
    "node_netstat_Tcp_PassiveOpens",
    "node_netstat_Tcp_RetransSegs",
    "node_netstat_Udp6_InDatagrams",
    "node_netstat_Udp6_InErrors",
    "node_netstat_Udp6_NoPorts",
    "node_netstat_Udp6_OutDatagrams",
    "node_netstat_Udp6_RcvbufErrors",
    "node_netstat_Udp6_SndbufErrors",
    "node_netstat_UdpLite6_InErrors",
    "node_netstat_UdpLite_InErrors",
    "node_netstat_Udp_InDatagrams",
    "node_netstat_Udp_InErrors",
    "node_netstat_Udp_NoPorts",
    "node_netstat_Udp_OutDatagrams",
    "node_netstat_Udp_RcvbufErrors",
    "node_netstat_Udp_SndbufErrors",
];

#[test]
fn recorded_files_give_the_fields_node_exporter_keeps() {
    let mut sink = Sink::new();
    let mut netstat = Netstat::new(&testdata_paths());
    netstat.collect(&mut sink).expect("collects");
    let mut names: Vec<&str> = sink.round().map(|(k, _)| k.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, NODE_EXPORTER_NAMES);
    let value = |name: &str| sink.value_of(name, &[]);
    assert_eq!(value("node_netstat_Ip_Forwarding"), Some(1.0));
    let snmp = std::fs::read_to_string(testdata_paths().proc.join("net/snmp")).unwrap();
    let tcp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Tcp:")).collect();
    let at = tcp[0].split(' ').position(|f| f == "ActiveOpens").unwrap();
    let active: f64 = tcp[1].split(' ').nth(at).unwrap().parse().unwrap();
    assert_eq!(value("node_netstat_Tcp_ActiveOpens"), Some(active));
    assert!(value("node_netstat_IpExt_InOctets").is_some_and(|v| v > 0.0));

    let first = sink.take_round().0;
    netstat.collect(&mut sink).expect("collects again");
    assert_eq!(sink.take_round().0, first);
}

#[test]
fn the_default_expression() {
    for key in [
        "Udp_InErrors",
        "UdpLite6_InErrors",
        "Tcp_InErrs",
        "Ip_Forwarding",
        "Ip6_OutOctets",
        "IpExt_InOctets",
        "Icmp6_InMsgs",
        "TcpExt_ListenOverflows",
        "TcpExt_SyncookiesSent",
        "TcpExt_TCPTimeouts",
        "Tcp_CurrEstab",
        "Udp6_SndbufErrors",
    ] {
        assert!(kept(key), "{key}");
    }
    for key in [
        "Ip_DefaultTTL",
        "Ip_InHdrErrors",
        "Ip6_InReceives",
        "IpExt_InMcastOctets",
        "Tcp_MaxConn",
        "TcpExt_TCPSynRetransX",
        "UdpLite_InDatagrams",
        "MPTcpExt_MPCapableSYNRX",
        "InErrors",
    ] {
        assert!(!kept(key), "{key}");
    }
    assert_eq!(
        snmp6_metric("Udp6InDatagrams").as_deref(),
        Some("node_netstat_Udp6_InDatagrams")
    );
    assert_eq!(snmp6_metric("Ip6InReceives"), None);
    assert_eq!(snmp6_metric("NoSix"), None);
}

#[test]
fn a_changed_header_is_worked_out_again_and_a_short_line_is_an_error() {
    let mut sections = Sections::default();
    let mut sink = Sink::new();
    sections
        .read("Tcp: ActiveOpens X\nTcp: 5 6\n", &mut sink)
        .expect("reads");
    assert_eq!(
        sink.value_of("node_netstat_Tcp_ActiveOpens", &[]),
        Some(5.0)
    );
    sink.take_round();
    sections
        .read("Tcp: X ActiveOpens CurrEstab\nTcp: 6 7 8\n", &mut sink)
        .expect("reads");
    assert_eq!(
        sink.value_of("node_netstat_Tcp_ActiveOpens", &[]),
        Some(7.0)
    );
    assert_eq!(sink.value_of("node_netstat_Tcp_CurrEstab", &[]), Some(8.0));
    assert!(
        sections
            .read("Tcp: X ActiveOpens CurrEstab\nTcp: 6 7\n", &mut sink)
            .is_err()
    );
    assert!(sections.read("Tcp: ActiveOpens\n", &mut sink).is_err());
    assert!(
        sections
            .read("Tcp: ActiveOpens\nTcp: x\n", &mut sink)
            .is_err()
    );
}

#[test]
fn without_ipv6_the_other_files_are_read() {
    let proc = std::env::temp_dir().join(format!("vigil-netstat-{}", std::process::id()));
    std::fs::create_dir_all(proc.join("net")).expect("temp dir");
    for file in ["netstat", "snmp"] {
        let from = testdata_paths().proc.join("net").join(file);
        std::fs::copy(from, proc.join("net").join(file)).expect("copy");
    }
    let paths = Paths {
        proc: proc.clone(),
        ..testdata_paths()
    };
    let mut sink = Sink::new();
    Netstat::new(&paths).collect(&mut sink).expect("collects");
    assert!(sink.round().all(|(k, _)| !k.name.contains('6')));
    assert!(sink.value_of("node_netstat_Tcp_InSegs", &[]).is_some());
    std::fs::remove_dir_all(&proc).expect("clean up");
}
