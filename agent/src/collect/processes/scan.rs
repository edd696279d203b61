//! One walk over `/proc/<pid>/stat`: the figures of every process, from one small file each.
//!
//! ```text
//! 4242 (postgres) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 100 10000 1200 ...
//!  pid   comm    state ...            utime (14) ^  ^ stime (15)   threads (20) ^   starttime (22)
//!                                                                    rss in pages (24) ^
//! ```
//!
//! The command name sits in parentheses and may itself hold spaces and parentheses, so
//! fields are counted from the last `)`.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// What one process's `stat` says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat<'a> {
    /// The command name (`comm`), at most 15 bytes.
    pub comm: &'a str,
    /// User CPU time, in clock ticks.
    pub utime: u64,
    /// System CPU time, in clock ticks.
    pub stime: u64,
    /// Threads.
    pub threads: u64,
    /// When the process started, in clock ticks after boot: with the pid, tells a process
    /// from a later one that got the same pid.
    pub starttime: u64,
    /// Resident set, in pages.
    pub rss_pages: u64,
}

/// Parses the text of one `/proc/<pid>/stat`; `None` when it is not in that shape.
pub fn parse_stat(text: &str) -> Option<Stat<'_>> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?;
    // After ')' come field 3 (state) onwards: field n is index n - 3.
    let mut fields = text.get(close + 1..)?.split_ascii_whitespace();
    let mut next = |skip: usize| -> Option<u64> { fields.nth(skip)?.parse().ok() };
    let utime = next(11)?; // field 14
    let stime = next(0)?; // 15
    let threads = next(4)?; // 20
    let starttime = next(1)?; // 22
    let rss = next(1)?; // 24 (may be negative for a few kernel threads: then unparsed)
    Some(Stat {
        comm,
        utime,
        stime,
        threads,
        starttime,
        rss_pages: rss,
    })
}

/// Reads `/proc` with reused buffers: the pids of a directory listing, then each `stat`.
#[derive(Debug, Default)]
pub struct Scanner {
    path: String,
    buf: Vec<u8>,
}

impl Scanner {
    /// Calls `each(pid, stat)` for every process under `proc` whose `stat` could be read
    /// (a process may exit between the listing and the read: it is skipped). Errors only
    /// when `proc` itself cannot be listed.
    pub fn walk(
        &mut self,
        proc: &Path,
        mut each: impl FnMut(u32, Stat<'_>),
    ) -> std::io::Result<()> {
        let base = proc.to_string_lossy();
        for entry in std::fs::read_dir(proc)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            self.path.clear();
            self.path.push_str(&base);
            self.path.push('/');
            self.path.push_str(name.to_str().unwrap_or_default());
            self.path.push_str("/stat");
            if read_small(&self.path, &mut self.buf).is_err() {
                continue;
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                // A command name that is not UTF-8: read it lossily.
                let text = String::from_utf8_lossy(&self.buf).into_owned();
                if let Some(stat) = parse_stat(&text) {
                    each(pid, stat);
                }
                continue;
            };
            if let Some(stat) = parse_stat(text) {
                each(pid, stat);
            }
        }
        Ok(())
    }

    /// The command line of process `pid`, arguments joined by spaces; empty for a kernel
    /// thread or a process gone.
    pub fn cmdline(&mut self, proc: &Path, pid: u32) -> String {
        let path = proc.join(pid.to_string()).join("cmdline");
        self.buf.clear();
        if File::open(path)
            .and_then(|f| f.take(4096).read_to_end(&mut self.buf))
            .is_err()
        {
            return String::new();
        }
        let text = String::from_utf8_lossy(&self.buf);
        text.trim_end_matches('\0').replace('\0', " ")
    }
}

/// Replaces `buf` with the file at `path`, in one `read` when it fits in 1 KiB (a `stat`
/// line does): a process's file costs open, read and close.
fn read_small(path: &str, buf: &mut Vec<u8>) -> std::io::Result<()> {
    const FIRST: usize = 1024;
    let mut file = File::open(path)?;
    buf.resize(FIRST, 0);
    let n = file.read(&mut buf[..])?;
    buf.truncate(n);
    if n == FIRST {
        file.read_to_end(buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_count_from_the_last_parenthesis() {
        let text = "4242 (post gres) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 \
                    100 10000 1200 18446744073709551615 1 2\n";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                comm: "post gres) x",
                utime: 250,
                stime: 50,
                threads: 3,
                starttime: 100,
                rss_pages: 1200,
            })
        );
        assert_eq!(parse_stat("12 (short) S 1 2 3"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn this_process_is_found_in_the_real_proc() {
        let me = std::process::id();
        let mut found = None;
        Scanner::default()
            .walk(Path::new("/proc"), |pid, stat| {
                if pid == me {
                    found = Some((stat.threads, stat.rss_pages));
                }
            })
            .expect("lists /proc");
        let (threads, rss) = found.expect("this test's own process");
        assert!(threads >= 1 && rss > 0);
        let cmdline = Scanner::default().cmdline(Path::new("/proc"), me);
        assert!(!cmdline.is_empty() && !cmdline.contains('\0'));
    }
}
