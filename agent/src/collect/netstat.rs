//! Protocol counters from `/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/snmp6`,
//! the fields node_exporter keeps by default.
//!
//! ```text
//! netstat, snmp: pairs of lines, names then values
//!   Tcp: RtoAlgorithm RtoMin ... ActiveOpens ...
//!   Tcp: 1 200 ... 42363 ...                     -> node_netstat_Tcp_ActiveOpens
//! snmp6: one field a line, the protocol ends at the first "6"
//!   Udp6InDatagrams    0                          -> node_netstat_Udp6_InDatagrams
//! ```
//!
//! The files are large (about 9 KB, 600 fields) and node_exporter 1.5's default
//! `--collector.netstat.fields` keeps about 35 fields: [`kept`] is that expression. Which
//! fields are kept is worked out once per header line and re-checked each round by
//! comparing the header with the one seen before; then only the kept values are parsed.
//! A kernel without IPv6 has no `snmp6`: the other two are still read.

use super::vmstat::Picks;
use super::{CollectError, Paths, Sink, TextFile};

/// Whether node_exporter's default field expression keeps `key`, `<protocol>_<field>`:
/// `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`.
fn kept(key: &str) -> bool {
    if key.ends_with("_InErrors") || key.ends_with("_InErrs") {
        return true;
    }
    let Some((protocol, field)) = key.split_once('_') else {
        return false;
    };
    match protocol {
        "Ip" => field == "Forwarding",
        "Ip6" | "IpExt" => matches!(field, "InOctets" | "OutOctets"),
        "Icmp" | "Icmp6" => matches!(field, "InMsgs" | "OutMsgs"),
        "TcpExt" => {
            field.starts_with("Listen")
                || field.starts_with("Syncookies")
                || matches!(field, "TCPSynRetrans" | "TCPTimeouts")
        }
        "Tcp" => matches!(
            field,
            "ActiveOpens"
                | "InSegs"
                | "OutSegs"
                | "OutRsts"
                | "PassiveOpens"
                | "RetransSegs"
                | "CurrEstab"
        ),
        "Udp" | "Udp6" => matches!(
            field,
            "InDatagrams" | "OutDatagrams" | "NoPorts" | "RcvbufErrors" | "SndbufErrors"
        ),
        _ => false,
    }
}

/// The netstat source: the three files, kept open and read every round.
#[derive(Debug)]
pub struct Netstat {
    netstat: TextFile,
    snmp: TextFile,
    snmp6: TextFile,
    netstat_sections: Sections,
    snmp_sections: Sections,
    snmp6_picks: Picks,
}

impl Netstat {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        let net = paths.proc.join("net");
        Self {
            netstat: TextFile::new(net.join("netstat")),
            snmp: TextFile::new(net.join("snmp")),
            snmp6: TextFile::new(net.join("snmp6")),
            netstat_sections: Sections::default(),
            snmp_sections: Sections::default(),
            snmp6_picks: Picks::default(),
        }
    }

    /// Writes one `node_netstat_<protocol>_<field>` per kept field of the three files.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        for (file, sections) in [
            (&mut self.netstat, &mut self.netstat_sections),
            (&mut self.snmp, &mut self.snmp_sections),
        ] {
            file.read()?;
            sections
                .read(file.text(), sink)
                .map_err(|reason| CollectError::Parse {
                    path: file.path().to_owned(),
                    reason,
                })?;
        }
        match self.snmp6.read() {
            Ok(()) => {}
            Err(error) if error.is_missing() => return Ok(()),
            Err(error) => return Err(error),
        }
        self.snmp6_picks
            .read(self.snmp6.text(), snmp6_metric)
            .map_err(|reason| CollectError::Parse {
                path: self.snmp6.path().to_owned(),
                reason,
            })?;
        self.snmp6_picks.push_to(sink);
        Ok(())
    }
}

/// The metric name of a kept `snmp6` field such as `Udp6InDatagrams`.
fn snmp6_metric(field: &str) -> Option<String> {
    let six = field.find('6')?;
    let (protocol, name) = field.split_at(six + 1);
    let key = format!("{protocol}_{name}");
    kept(&key).then(|| format!("node_netstat_{key}"))
}

/// The kept fields of each pair of lines in a `netstat` or `snmp` file, by position.
#[derive(Debug, Default)]
struct Sections {
    sections: Vec<Section>,
}

/// One pair of lines: its header as last seen, how many fields it has, and the position
/// and metric name of each kept field.
#[derive(Debug)]
struct Section {
    header: String,
    fields: usize,
    picks: Vec<(usize, String)>,
}

impl Section {
    fn new(header: &str) -> Self {
        let mut fields = header.split(' ');
        let protocol = fields.next().unwrap_or_default();
        let protocol = protocol.strip_suffix(':').unwrap_or(protocol);
        let mut key = String::new();
        let mut picks = Vec::new();
        for (i, field) in fields.enumerate() {
            key.clear();
            key.push_str(protocol);
            key.push('_');
            key.push_str(field);
            if kept(&key) {
                picks.push((i + 1, format!("node_netstat_{key}")));
            }
        }
        Self {
            header: header.to_owned(),
            fields: header.split(' ').count(),
            picks,
        }
    }
}

impl Sections {
    /// Writes the kept values of `text` into `sink`. Only the values up to the last kept
    /// one are looked at; a values line without one of them is an error.
    fn read(&mut self, text: &str, sink: &mut Sink) -> Result<(), String> {
        // `split` rather than `lines`: no '\r' to strip from kernel text.
        let mut lines = text.split('\n').filter(|line| !line.is_empty());
        let mut n = 0;
        while let Some(header) = lines.next() {
            let values = lines
                .next()
                .ok_or_else(|| format!("no line of values after {header:?}"))?;
            if self.sections.get(n).is_none_or(|s| s.header != header) {
                self.sections.truncate(n);
                self.sections.push(Section::new(header));
            }
            let section = &self.sections[n];
            n += 1;
            let mut picks = section.picks.iter().peekable();
            for (i, value) in values.split(' ').enumerate() {
                let Some(&&(at, ref metric)) = picks.peek() else {
                    break;
                };
                if at != i {
                    continue;
                }
                picks.next();
                let value = value
                    .parse()
                    .map_err(|_| format!("{metric}: {value:?} is not a number"))?;
                sink.push(metric, &[], value);
            }
            if let Some((at, metric)) = picks.next() {
                let protocol = header.split(' ').next().unwrap_or_default();
                return Err(format!(
                    "{protocol} has {} names but no value {at} for {metric}",
                    section.fields
                ));
            }
        }
        self.sections.truncate(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
