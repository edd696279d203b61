//! `vigil backup DIR`: has the collector write a consistent copy of its store (a RocksDB
//! checkpoint) into a new directory on the collector's machine, while it keeps ingesting.
//!
//! DIR is sent as given: the collector takes a relative DIR relative to its
//! `storage.backup_dir`, and refuses an absolute one outside it. A spinner with the
//! elapsed time runs on stderr while the collector works; the summary goes to stdout (one
//! JSON object or a CSV row with `--output json|csv`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use vigil_proto::v1::admin_client::AdminClient;
use vigil_proto::v1::{BackupRequest, BackupResponse};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::units;

/// Arguments of `vigil backup`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The directory is created on the collector's machine, inside its \
    storage.backup_dir (a relative DIR is relative to it; an absolute DIR must lie inside \
    it), and must not exist yet (or be empty). On the same filesystem as the data \
    directory the copy shares its files through hard links: it is quick and takes little \
    extra space at first.\n\n\
    To restore: stop vigil-collector, set [storage] data_dir to the backup directory (or \
    copy it over the data directory), and start vigil-collector.\n\n\
    Example:\n  \
    vigil backup $(date +%F)"
)]
pub struct BackupArgs {
    /// New directory for the copy, in the collector's storage.backup_dir
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Asks the collector for a backup and prints where it went and how big it is.
pub async fn run(target: &Target, args: &BackupArgs, output: Output) -> Result<(), Error> {
    let dir = &args.dir;
    let collector = Collector::connect(target).await?;
    let mut client = AdminClient::new(collector.channel());
    let spinner = Spinner::start(dir);
    let started = Instant::now();
    let response = client
        .backup(BackupRequest {
            dir: dir.display().to_string(),
        })
        .await;
    spinner.finish();
    let response = response.map_err(|s| refused(target, s))?.into_inner();
    let mut out = output::stdout();
    render(&response, started.elapsed(), output, &mut out)?;
    Ok(out.flush()?)
}

/// The error for a refused Admin call; a collector from before the Admin service answers
/// UNIMPLEMENTED without a message.
pub(super) fn refused(target: &Target, status: tonic::Status) -> Error {
    if status.code() == tonic::Code::Unimplemented && status.message().is_empty() {
        return Error::from(tonic::Status::unimplemented(format!(
            "the collector at {} has no admin service: it is older than this vigil; upgrade \
             vigil-collector",
            target.url
        )));
    }
    target.refusal(status)
}

/// A spinner with the elapsed time on stderr, only when stderr is a terminal.
struct Spinner(ProgressBar);

impl Spinner {
    fn start(dir: &Path) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(format!("backing up to {} ...", dir.display()));
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(bar)
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// The backup as `--output json` writes it.
#[derive(Serialize)]
struct BackupRecord<'a> {
    dir: &'a str,
    bytes: u64,
    files: u64,
    linked_files: u64,
    /// Seconds the collector took.
    seconds: f64,
    /// Seconds in all, as seen from here.
    elapsed_seconds: f64,
    format: &'a str,
    manifest: &'a str,
}

const CSV_HEADER: [&str; 8] = [
    "dir",
    "bytes",
    "files",
    "linked_files",
    "seconds",
    "elapsed_seconds",
    "format",
    "manifest",
];

/// Writes the summary in the chosen format.
pub fn render(
    r: &BackupResponse,
    elapsed: Duration,
    output: Output,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let elapsed_seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
    let seconds = (r.seconds * 1000.0).round() / 1000.0;
    let record = BackupRecord {
        dir: &r.dir,
        bytes: r.bytes,
        files: r.files,
        linked_files: r.linked_files,
        seconds,
        elapsed_seconds,
        format: &r.format,
        manifest: &r.manifest,
    };
    match output {
        Output::Json => output::write_json(w, &record),
        Output::Csv => output::write_csv(
            w,
            &CSV_HEADER,
            [vec![
                record.dir.to_owned(),
                record.bytes.to_string(),
                record.files.to_string(),
                record.linked_files.to_string(),
                record.seconds.to_string(),
                record.elapsed_seconds.to_string(),
                record.format.to_owned(),
                record.manifest.to_owned(),
            ]],
        ),
        Output::Table => {
            writeln!(
                w,
                "Backup written to {} (on the collector's machine)",
                r.dir
            )?;
            let shared = if r.linked_files > 0 {
                format!(
                    "; {} hard-linked to the live data, taking no extra space until it changes",
                    r.linked_files
                )
            } else {
                String::new()
            };
            writeln!(
                w,
                "  size     {} in {} files{shared}",
                units::bytes(r.bytes as f64),
                r.files
            )?;
            writeln!(
                w,
                "  time     {seconds:.2} s on the collector, {elapsed_seconds:.2} s in all"
            )?;
            writeln!(w, "  format   {} (manifest: {})", r.format, r.manifest)?;
            writeln!(w)?;
            writeln!(w, "To restore: stop vigil-collector, set")?;
            writeln!(w, "  [storage]")?;
            writeln!(w, "  data_dir = {:?}", r.dir)?;
            writeln!(
                w,
                "(or copy the directory over the data directory), then start vigil-collector."
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response() -> BackupResponse {
        BackupResponse {
            dir: "/var/backups/vigil/b1".into(),
            bytes: 3 * 1024 * 1024 + 512 * 1024,
            files: 12,
            seconds: 0.2344,
            linked_files: 9,
            manifest: "VIGIL_BACKUP.json".into(),
            format: "RocksDB format 1".into(),
        }
    }

    fn rendered(output: Output) -> String {
        let mut out = Vec::new();
        render(&response(), Duration::from_millis(310), output, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_says_where_how_big_and_how_to_restore() {
        assert_eq!(
            rendered(Output::Table),
            "Backup written to /var/backups/vigil/b1 (on the collector's machine)\n\
             \x20 size     3.5 MiB in 12 files; 9 hard-linked to the live data, taking no extra space until it changes\n\
             \x20 time     0.23 s on the collector, 0.31 s in all\n\
             \x20 format   RocksDB format 1 (manifest: VIGIL_BACKUP.json)\n\
             \n\
             To restore: stop vigil-collector, set\n\
             \x20 [storage]\n\
             \x20 data_dir = \"/var/backups/vigil/b1\"\n\
             (or copy the directory over the data directory), then start vigil-collector.\n"
        );
    }

    #[test]
    fn json_and_csv_carry_the_raw_numbers() {
        assert_eq!(
            rendered(Output::Json),
            "{\"dir\":\"/var/backups/vigil/b1\",\"bytes\":3670016,\"files\":12,\
             \"linked_files\":9,\"seconds\":0.234,\"elapsed_seconds\":0.31,\
             \"format\":\"RocksDB format 1\",\"manifest\":\"VIGIL_BACKUP.json\"}\n"
        );
        assert_eq!(
            rendered(Output::Csv),
            "dir,bytes,files,linked_files,seconds,elapsed_seconds,format,manifest\n\
             /var/backups/vigil/b1,3670016,12,9,0.234,0.31,RocksDB format 1,VIGIL_BACKUP.json\n"
        );
    }
}
