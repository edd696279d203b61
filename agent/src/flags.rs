//! The agent's command line. Parsed here by hand rather than by clap, whose parser, help
//! and error rendering come to about 200 KB of code: a twentieth of the agent's resident
//! set (see "Footprint" in main.rs). One table, [`OPTIONS`], drives parsing and `--help`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// What the command line asked for. Its `Debug` output shows `join` as `<secret>`.
#[derive(Default, PartialEq)]
pub struct Flags {
    /// `--config FILE`, else `$VIGIL_AGENT_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--collector URL`.
    pub collector: Option<String>,
    /// `--interval DUR`.
    pub interval: Option<Duration>,
    /// `--hostname NAME`.
    pub hostname: Option<String>,
    /// `--label NAME=VALUE`, repeatable.
    pub labels: Vec<(String, String)>,
    /// `--proc-path DIR`.
    pub proc_path: Option<PathBuf>,
    /// `--sys-path DIR`.
    pub sys_path: Option<PathBuf>,
    /// `--rootfs-path DIR`.
    pub rootfs_path: Option<PathBuf>,
    /// `--spool-dir DIR`; an empty one means memory only.
    pub spool_dir: Option<PathBuf>,
    /// `--log-level FILTER`.
    pub log_level: Option<String>,
    /// `--log-format text|json`.
    pub log_format: Option<String>,
    /// `--once`.
    pub once: bool,
    /// `--check`.
    pub check: bool,
    /// `--join TOKEN`: a join token (secret).
    pub join: Option<String>,
    /// `--ca-fingerprint SHA256:...`.
    pub ca_fingerprint: Option<String>,
    /// `--identity-dir DIR`.
    pub identity_dir: Option<PathBuf>,
    /// `--metrics-listen ADDR`.
    pub metrics_listen: Option<String>,
}

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flags")
            .field("config", &self.config)
            .field("collector", &self.collector)
            .field("interval", &self.interval)
            .field("hostname", &self.hostname)
            .field("labels", &self.labels)
            .field("proc_path", &self.proc_path)
            .field("sys_path", &self.sys_path)
            .field("rootfs_path", &self.rootfs_path)
            .field("spool_dir", &self.spool_dir)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("once", &self.once)
            .field("check", &self.check)
            .field("join", &self.join.as_ref().map(|_| "<secret>"))
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("identity_dir", &self.identity_dir)
            .field("metrics_listen", &self.metrics_listen)
            .finish()
    }
}

/// The outcome of parsing: flags to run with, or text to print and exit 0 with.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// Run with these flags.
    Run(Box<Flags>),
    /// `--help` or `--version`: print this on stdout and exit.
    Print(String),
}

/// One option: long name, short letter, value name (None for a switch), help line.
type Spec = (
    &'static str,
    Option<char>,
    Option<&'static str>,
    &'static str,
);

/// Every option, in `--help` order.
pub const OPTIONS: &[Spec] = &[
    (
        "config",
        Some('c'),
        Some("FILE"),
        "TOML config file (see deploy/agent.example.toml) [env: VIGIL_AGENT_CONFIG]",
    ),
    (
        "collector",
        None,
        Some("URL"),
        "Collector URL, e.g. http://127.0.0.1:7070 [config: collector]",
    ),
    (
        "join",
        None,
        Some("TOKEN"),
        "Join token from `vigil enroll create`: enroll this host when it has no valid \
         certificate (needs an https:// --collector and --ca-fingerprint) [config: \
         enroll.token, env VIGIL_AGENT__ENROLL__TOKEN]",
    ),
    (
        "ca-fingerprint",
        None,
        Some("SHA256:HEX"),
        "Fingerprint of the collector's CA, as `vigil ca show` prints it: the only CA \
         trusted when joining [config: enroll.ca_fingerprint]",
    ),
    (
        "identity-dir",
        None,
        Some("DIR"),
        "Directory of this agent's key and certificates [config: enroll.dir; default \
         $STATE_DIRECTORY/identity, else ./vigil-agent-identity]",
    ),
    (
        "interval",
        None,
        Some("DUR"),
        "Collection interval, e.g. 10s (1s to 1h) [config: interval]",
    ),
    (
        "hostname",
        None,
        Some("NAME"),
        "Host name to report instead of the kernel's [config: hostname]",
    ),
    (
        "label",
        None,
        Some("NAME=VALUE"),
        "Extra label on every series; repeatable [config: labels]",
    ),
    (
        "proc-path",
        None,
        Some("DIR"),
        "procfs mount [config: collect.proc_path]",
    ),
    (
        "sys-path",
        None,
        Some("DIR"),
        "sysfs mount [config: collect.sys_path]",
    ),
    (
        "rootfs-path",
        None,
        Some("DIR"),
        "Host root filesystem [config: collect.rootfs_path]",
    ),
    (
        "spool-dir",
        None,
        Some("DIR"),
        "Directory of the disk spool; \"\" keeps rounds in memory only [config: delivery.spool_dir]",
    ),
    (
        "metrics-listen",
        None,
        Some("ADDR"),
        "Serve the agent's own vigil_agent_* metrics at http://ADDR/metrics for Prometheus, \
         e.g. 127.0.0.1:9101; off by default [config: metrics_listen]",
    ),
    (
        "log-level",
        None,
        Some("FILTER"),
        "Log filter, e.g. info, debug or vigil_agent=debug [config: log.level]",
    ),
    (
        "log-format",
        None,
        Some("FORMAT"),
        "Log format: text or json [config: log.format]",
    ),
    (
        "once",
        None,
        None,
        "Collect once, print the samples in Prometheus text format, and exit",
    ),
    (
        "check",
        None,
        None,
        "Check the config, the spool directory, the collector (connect and authenticate; no \
         samples are sent) and the /proc and /sys trees; print one line each (ok, warn or \
         FAIL); exit 0 when nothing failed, 1 otherwise, 2 when the config does not load",
    ),
    ("help", Some('h'), None, "Print help"),
    ("version", Some('V'), None, "Print version"),
];

/// Parses `args` (the program name first), with `env_config` the value of
/// `VIGIL_AGENT_CONFIG`. An error names the flag and what is wrong with it.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env_config: Option<OsString>,
) -> Result<Parsed, String> {
    let mut flags = Flags::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg
            .to_str()
            .ok_or_else(|| format!("{arg:?} is not UTF-8; flags must be"))?;
        let (spec, inline) = find(text)?;
        let (name, _, value_name, _) = spec;
        let value = match (value_name, inline) {
            (None, Some(_)) => return Err(format!("--{name} takes no value")),
            (None, None) => None,
            (Some(_), Some(v)) => Some(OsString::from(v)),
            (Some(v), None) => Some(
                args.next()
                    .ok_or_else(|| format!("--{name} needs a value: --{name} <{v}>"))?,
            ),
        };
        if name != "label" && seen.contains(&name) {
            return Err(format!("--{name} is given more than once"));
        }
        seen.push(name);
        match (name, value) {
            ("help", _) => return Ok(Parsed::Print(help())),
            ("version", _) => {
                return Ok(Parsed::Print(format!(
                    "vigil-agent {}\n",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            ("once", _) => flags.once = true,
            ("check", _) => flags.check = true,
            (name, Some(value)) => set(&mut flags, name, value)?,
            (name, None) => return Err(format!("--{name} needs a value")),
        }
    }
    if flags.once && flags.check {
        return Err("--once and --check cannot be used together".into());
    }
    if flags.config.is_none() {
        flags.config = env_config.filter(|v| !v.is_empty()).map(PathBuf::from);
    }
    Ok(Parsed::Run(Box::new(flags)))
}

/// The option `arg` names, and its value when given as `--name=value` or `-cVALUE`.
fn find(arg: &str) -> Result<(Spec, Option<&str>), String> {
    // Only the name: a mistyped `--jion=TOKEN` must not echo the token.
    let name = arg.split('=').next().unwrap_or(arg);
    let unknown = || format!("unknown flag {name:?}; see vigil-agent --help");
    if let Some(long) = arg.strip_prefix("--") {
        let (name, inline) = match long.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (long, None),
        };
        let spec = OPTIONS.iter().find(|o| o.0 == name).ok_or_else(unknown)?;
        return Ok((*spec, inline));
    }
    let mut chars = arg.chars();
    if chars.next() == Some('-')
        && let Some(letter) = chars.next()
        && let Some(spec) = OPTIONS.iter().find(|o| o.1 == Some(letter))
    {
        let rest = chars.as_str();
        let inline = (!rest.is_empty()).then(|| rest.strip_prefix('=').unwrap_or(rest));
        return Ok((*spec, inline));
    }
    Err(unknown())
}

fn set(flags: &mut Flags, name: &str, value: OsString) -> Result<(), String> {
    let text = || {
        value
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("--{name}: {value:?} is not UTF-8"))
    };
    match name {
        "config" => flags.config = Some(PathBuf::from(&value)),
        "collector" => flags.collector = Some(text()?),
        "interval" => {
            let d =
                vigil_config::parse_duration(&text()?).map_err(|e| format!("--interval: {e}"))?;
            flags.interval = Some(d);
        }
        "hostname" => flags.hostname = Some(text()?),
        "label" => {
            let label = text()?;
            let (n, v) = label
                .split_once('=')
                .ok_or_else(|| format!("--label: {label:?} is not NAME=VALUE"))?;
            flags.labels.push((n.to_owned(), v.to_owned()));
        }
        "proc-path" => flags.proc_path = Some(PathBuf::from(&value)),
        "sys-path" => flags.sys_path = Some(PathBuf::from(&value)),
        "rootfs-path" => flags.rootfs_path = Some(PathBuf::from(&value)),
        "spool-dir" => flags.spool_dir = Some(PathBuf::from(&value)),
        "log-level" => flags.log_level = Some(text()?),
        // The token is never echoed: an error names the flag only.
        "join" => {
            let token = value
                .to_str()
                .ok_or_else(|| "--join: the token is not UTF-8".to_owned())?;
            flags.join = Some(token.trim().to_owned());
        }
        "ca-fingerprint" => flags.ca_fingerprint = Some(text()?),
        "identity-dir" => flags.identity_dir = Some(PathBuf::from(&value)),
        "metrics-listen" => flags.metrics_listen = Some(text()?),
        "log-format" => {
            let format = text()?;
            if format != "text" && format != "json" {
                return Err(format!("--log-format: {format:?} is not text or json"));
            }
            flags.log_format = Some(format);
        }
        _ => return Err(format!("--{name} is not handled")),
    }
    Ok(())
}

/// `--help`.
fn help() -> String {
    let mut out = String::from(
        "Vigil's host agent: collects host metrics and streams them to a collector over gRPC.\n\n\
         Usage: vigil-agent [OPTIONS]\n\nOptions:\n",
    );
    let heads: Vec<String> = OPTIONS
        .iter()
        .map(|(long, short, value, _)| {
            let short = short.map_or("    ".to_owned(), |c| format!("-{c}, "));
            let value = value.map_or(String::new(), |v| format!(" <{v}>"));
            format!("{short}--{long}{value}")
        })
        .collect();
    let width = heads.iter().map(String::len).max().unwrap_or(0);
    for (head, (_, _, _, help)) in heads.iter().zip(OPTIONS) {
        out.push_str(&format!("  {head:<width$}  {help}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Flags, String> {
        let all = std::iter::once("vigil-agent")
            .chain(args.iter().copied())
            .map(OsString::from);
        match parse(all, None)? {
            Parsed::Run(flags) => Ok(*flags),
            Parsed::Print(text) => Err(format!("printed {text}")),
        }
    }

    #[test]
    fn every_flag_in_both_spellings() {
        let flags = run(&[
            "-c",
            "/etc/vigil/agent.toml",
            "--collector=http://c:7070",
            "--interval",
            "5s",
            "--hostname",
            "web-1",
            "--label",
            "env=prod",
            "--label=dc=fra1",
            "--proc-path",
            "/host/proc",
            "--sys-path=/host/sys",
            "--rootfs-path",
            "/host",
            "--spool-dir",
            "",
            "--log-level",
            "debug",
            "--log-format=json",
            "--check",
            "--join",
            " vjt.0123456789ab.0123456789abcdef0123456789abcdef\n",
            "--ca-fingerprint=SHA256:00",
            "--identity-dir",
            "/var/lib/vigil-agent/identity",
            "--metrics-listen=127.0.0.1:9101",
        ])
        .unwrap();
        assert_eq!(
            flags,
            Flags {
                config: Some("/etc/vigil/agent.toml".into()),
                collector: Some("http://c:7070".into()),
                interval: Some(Duration::from_secs(5)),
                hostname: Some("web-1".into()),
                labels: vec![("env".into(), "prod".into()), ("dc".into(), "fra1".into())],
                proc_path: Some("/host/proc".into()),
                sys_path: Some("/host/sys".into()),
                rootfs_path: Some("/host".into()),
                spool_dir: Some(PathBuf::new()),
                log_level: Some("debug".into()),
                log_format: Some("json".into()),
                once: false,
                check: true,
                join: Some("vjt.0123456789ab.0123456789abcdef0123456789abcdef".into()),
                ca_fingerprint: Some("SHA256:00".into()),
                identity_dir: Some("/var/lib/vigil-agent/identity".into()),
                metrics_listen: Some("127.0.0.1:9101".into()),
            }
        );
        assert!(
            !format!("{flags:?}").contains("vjt."),
            "Debug hides the join token"
        );
        assert_eq!(run(&["-c/x.toml"]).unwrap().config, Some("/x.toml".into()));
        assert!(run(&["--once"]).unwrap().once);
        assert_eq!(run(&[]).unwrap(), Flags::default());
    }

    #[test]
    fn mistakes_name_the_flag() {
        for (args, needle) in [
            (&["--colector", "x"][..], "unknown flag \"--colector\""),
            (&["--collector"], "--collector needs a value"),
            (&["--once=yes"], "--once takes no value"),
            (
                &["--interval", "soon"],
                "--interval: \"soon\" is not a duration",
            ),
            (&["--label", "env"], "--label: \"env\" is not NAME=VALUE"),
            (
                &["--log-format", "xml"],
                "--log-format: \"xml\" is not text or json",
            ),
            (
                &["--hostname", "a", "--hostname", "b"],
                "--hostname is given more than once",
            ),
            (&["--once", "--check"], "cannot be used together"),
            (&["extra"], "unknown flag \"extra\""),
            (&["--join"], "--join needs a value"),
            (
                &["--jion=vjt.0123456789ab.0123456789abcdef0123456789abcdef"],
                "unknown flag \"--jion\";",
            ),
        ] {
            let err = run(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(!err.contains("0123456789abcdef"), "no token in {err}");
        }
    }

    #[test]
    fn the_config_flag_wins_over_the_environment() {
        let args = || ["vigil-agent"].map(OsString::from);
        let Ok(Parsed::Run(flags)) = parse(args(), Some("/env.toml".into())) else {
            panic!("parsed")
        };
        assert_eq!(flags.config, Some("/env.toml".into()));
        let Ok(Parsed::Run(flags)) = parse(args(), Some("".into())) else {
            panic!("parsed")
        };
        assert_eq!(flags.config, None, "an empty variable is no file");
        let with_flag = ["vigil-agent", "--config", "/flag.toml"].map(OsString::from);
        let Ok(Parsed::Run(flags)) = parse(with_flag, Some("/env.toml".into())) else {
            panic!("parsed")
        };
        assert_eq!(flags.config, Some("/flag.toml".into()));
    }

    #[test]
    fn help_lists_every_option_and_version_prints_it() {
        let Ok(Parsed::Print(text)) = parse(["vigil-agent", "--help"].map(OsString::from), None)
        else {
            panic!("help")
        };
        for (long, ..) in OPTIONS {
            assert!(text.contains(&format!("--{long}")), "{long} in {text}");
        }
        assert!(text.contains("\n  -c, --config <FILE> "), "{text}");
        assert!(text.contains("\n      --check "), "{text}");
        let Ok(Parsed::Print(text)) = parse(["vigil-agent", "-V"].map(OsString::from), None) else {
            panic!("version")
        };
        assert_eq!(text, format!("vigil-agent {}\n", env!("CARGO_PKG_VERSION")));
    }
}
