//! `vigil hosts`: every host that ever connected, its facts, and whether it is up.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use vigil_proto::v1::{Hello, Host};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;

/// Fetches the host registry and prints it.
pub async fn run(target: &Target, output: Output) -> Result<(), Error> {
    let hosts = Collector::connect(target).await?.hosts().await?;
    if hosts.is_empty() && output == Output::Table {
        eprintln!("no host has connected to the collector yet");
        return Ok(());
    }
    let mut out = output::stdout();
    render(&hosts, output, time::now_ms(), &mut out)?;
    Ok(out.flush()?)
}

/// Writes `hosts` in the chosen format; `now_ms` anchors "LAST SEEN" in tables.
pub fn render(hosts: &[Host], output: Output, now_ms: i64, w: &mut dyn Write) -> io::Result<()> {
    let no_facts = Hello::default();
    let records = hosts.iter().map(|host| HostRecord::new(host, &no_facts));
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(w, &CSV_HEADER, records.map(|r| r.csv_row())),
        Output::Table => {
            let mut table = output::table(
                &[
                    "HOST",
                    "OS",
                    "AGENT",
                    "LAST SEEN",
                    "UP",
                    "SERIES",
                    "ADDRESS",
                ],
                &[5],
            );
            for (host, record) in hosts.iter().zip(records) {
                table.add_row(vec![
                    record.host.to_owned(),
                    or_dash(record.os),
                    or_dash(record.agent_version),
                    time::format_ago(host.last_seen_ms, now_ms),
                    if host.up { "up" } else { "down" }.to_owned(),
                    record.series.to_string(),
                    or_dash(record.peer),
                ]);
            }
            output::write_table(w, &table)
        }
    }
}

/// Table cells show `-` rather than nothing for facts an agent did not send.
fn or_dash(s: &str) -> String {
    if s.is_empty() { "-" } else { s }.to_owned()
}

/// Column names of `--output csv`: the keys of the JSON objects, in the same order.
const CSV_HEADER: [&str; 15] = [
    "host",
    "last_seen",
    "up",
    "os",
    "kernel",
    "arch",
    "cpu_model",
    "logical_cores",
    "memory_bytes",
    "agent_version",
    "machine_id",
    "first_seen",
    "series",
    "labels",
    "peer",
];

/// One host as `--output json` writes it (fields in this order); times are Unix seconds.
#[derive(Serialize)]
struct HostRecord<'a> {
    host: &'a str,
    last_seen: serde_json::Number,
    up: bool,
    os: &'a str,
    kernel: &'a str,
    arch: &'a str,
    cpu_model: &'a str,
    logical_cores: u32,
    memory_bytes: u64,
    agent_version: &'a str,
    machine_id: &'a str,
    first_seen: serde_json::Number,
    series: u64,
    labels: BTreeMap<&'a str, &'a str>,
    peer: &'a str,
}

impl<'a> HostRecord<'a> {
    /// Flattens a registry entry; `no_facts` stands in when the host never sent a Hello.
    fn new(host: &'a Host, no_facts: &'a Hello) -> Self {
        let facts = host.facts.as_ref().unwrap_or(no_facts);
        HostRecord {
            host: &host.host,
            last_seen: output::unix_seconds(host.last_seen_ms),
            up: host.up,
            os: &facts.os,
            kernel: &facts.kernel,
            arch: &facts.arch,
            cpu_model: &facts.cpu_model,
            logical_cores: facts.logical_cores,
            memory_bytes: facts.memory_bytes,
            agent_version: &facts.agent_version,
            machine_id: &facts.machine_id,
            first_seen: output::unix_seconds(host.first_seen_ms),
            series: host.series,
            labels: output::label_map(&facts.labels),
            peer: &host.peer,
        }
    }

    /// The record as a CSV row, labels as `k=v;k=v`.
    fn csv_row(&self) -> Vec<String> {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vec![
            self.host.to_owned(),
            self.last_seen.to_string(),
            self.up.to_string(),
            self.os.to_owned(),
            self.kernel.to_owned(),
            self.arch.to_owned(),
            self.cpu_model.to_owned(),
            self.logical_cores.to_string(),
            self.memory_bytes.to_string(),
            self.agent_version.to_owned(),
            self.machine_id.to_owned(),
            self.first_seen.to_string(),
            self.series.to_string(),
            labels.join(";"),
            self.peer.to_owned(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::v1::Label;

    /// 2026-11-21T05:50:00Z in milliseconds.
    const T: i64 = 1_795_240_200_000;

    fn hosts() -> Vec<Host> {
        vec![
            Host {
                host: "db-1".into(),
                facts: Some(Hello {
                    hostname: "db-1".into(),
                    machine_id: "0f3c".into(),
                    os: "Debian GNU/Linux 12 (bookworm)".into(),
                    kernel: "6.1.0-18-amd64".into(),
                    arch: "x86_64".into(),
                    cpu_model: "AMD EPYC 7B13".into(),
                    logical_cores: 8,
                    memory_bytes: 33_554_432_000,
                    agent_version: "0.1.0".into(),
                    labels: vec![
                        Label {
                            name: "env".into(),
                            value: "prod".into(),
                        },
                        Label {
                            name: "dc".into(),
                            value: "fra1".into(),
                        },
                    ],
                    ..Hello::default()
                }),
                first_seen_ms: T - 86_400_000,
                last_seen_ms: T - 3_250,
                up: true,
                series: 412,
                peer: "10.0.0.5:51234".into(),
            },
            Host {
                host: "old-box".into(),
                facts: None,
                first_seen_ms: T - 90_000_000,
                last_seen_ms: T - 7_200_000,
                up: false,
                series: 0,
                peer: String::new(),
            },
        ]
    }

    fn rendered(output: Output) -> String {
        let mut out = Vec::new();
        render(&hosts(), output, T, &mut out).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json() {
        assert_eq!(
            rendered(Output::Json),
            concat!(
                r#"[{"host":"db-1","last_seen":1795240196.75,"up":true,"#,
                r#""os":"Debian GNU/Linux 12 (bookworm)","kernel":"6.1.0-18-amd64","#,
                r#""arch":"x86_64","cpu_model":"AMD EPYC 7B13","logical_cores":8,"#,
                r#""memory_bytes":33554432000,"agent_version":"0.1.0","machine_id":"0f3c","#,
                r#""first_seen":1795153800,"series":412,"labels":{"dc":"fra1","env":"prod"},"#,
                r#""peer":"10.0.0.5:51234"},"#,
                r#"{"host":"old-box","last_seen":1795233000,"up":false,"os":"","kernel":"","#,
                r#""arch":"","cpu_model":"","logical_cores":0,"memory_bytes":0,"#,
                r#""agent_version":"","machine_id":"","first_seen":1795150200,"series":0,"#,
                r#""labels":{},"peer":""}]"#,
                "\n"
            )
        );
    }

    #[test]
    fn csv() {
        assert_eq!(
            rendered(Output::Csv),
            "host,last_seen,up,os,kernel,arch,cpu_model,logical_cores,memory_bytes,\
             agent_version,machine_id,first_seen,series,labels,peer\n\
             db-1,1795240196.75,true,Debian GNU/Linux 12 (bookworm),6.1.0-18-amd64,x86_64,\
             AMD EPYC 7B13,8,33554432000,0.1.0,0f3c,1795153800,412,dc=fra1;env=prod,\
             10.0.0.5:51234\n\
             old-box,1795233000,false,,,,,0,0,,,1795150200,0,,\n"
        );
    }

    #[test]
    fn table() {
        assert_eq!(
            rendered(Output::Table),
            "HOST      OS                               AGENT   LAST SEEN   UP     SERIES   ADDRESS\n\
             db-1      Debian GNU/Linux 12 (bookworm)   0.1.0   3s ago      up        412   10.0.0.5:51234\n\
             old-box   -                                -       2h ago      down        0   -\n"
        );
    }

    #[test]
    fn no_hosts_is_an_empty_json_array() {
        let mut out = Vec::new();
        render(&[], Output::Json, T, &mut out).expect("write to a Vec");
        assert_eq!(out, b"[]\n");
    }
}
