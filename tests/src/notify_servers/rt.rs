//! Request Tracker 5 from Debian (`request-tracker5`, served by `rt5-standalone`, stored by
//! `rt5-db-sqlite`) as a real ticket desk for the RT receiver, read back through its REST
//! 2.0 API; and a proxy in front of it that holds the first ticket create.
//!
//! Each [`Rt5`] is a whole RT of its own, so tests can run several at once:
//!
//! ```text
//! <temp dir>/
//!   RT_SiteConfig.pm  the whole site config, through RT_SITE_CONFIG; RT_SITE_CONFIG_DIR is
//!                     /dev/null so that Debian's /etc/request-tracker5/RT_SiteConfig.d (its
//!                     shared database, /rt web path) is never read, and nothing under /etc
//!                     is changed
//!   rt.db             the SQLite database: `rt-setup-database-5 --action init`, then
//!                     SETUP_SCRIPT (queue, custom field, root's token)
//!   mason/ sessions/  RT's Mason cache and session files, elsewhere shared by every RT
//!   mail.eml          every mail RT would have sent (its autoreplies to requestors)
//!   rt-server.log     rt-server's output; RT logs warnings and errors to stderr
//! ```
//!
//! rt-server is Starlet: a master that forks workers. It runs in a process group of its
//! own, which [`Rt5`]'s drop stops as a whole.

use crate::packages::ensure_package;
use crate::{Running, free_port, wait_for};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// RT's Perl libraries, where Debian puts them.
const RT_LIB: &str = "/usr/share/request-tracker5/lib";
/// RT's PSGI server (Starlet, from `rt5-standalone`); not on the PATH.
const RT_SERVER: &str = "/usr/share/request-tracker5/libexec/rt-server";
/// Debian's name for RT's `rt-setup-database`.
const SETUP_DATABASE: &str = "/usr/sbin/rt-setup-database-5";
/// The queue tickets go to unless routed elsewhere: the one every fresh RT has.
const QUEUE: &str = "General";
/// A second queue, for routing to a queue.
const SECOND_QUEUE: &str = "Databases";
/// The ticket custom field the receiver keeps its correlation key in.
const CORRELATION_FIELD: &str = "Vigil Incident";
/// The superuser of a fresh RT database.
const USERNAME: &str = "root";
/// The superuser's password in a fresh RT database.
const PASSWORD: &str = "password";
/// Starlet workers: a few requests at once (the receiver's and the test's reads) without
/// the ten of the default, each a Perl interpreter of about 200 MB.
const WORKERS: &str = "3";

/// Run with RT's libraries after the database is initialised, with the second queue's and
/// the custom field's names as arguments: creates the queue, a single-value free-form
/// ticket custom field applied to every queue, and an auth token for root, whose secret
/// it prints (RT keeps only its hash).
const SETUP_SCRIPT: &str = r#"
use strict;
use warnings;
use RT;
RT::LoadConfig();
RT::Init();
my ($queue_name, $field_name) = @ARGV;
my $root = RT::CurrentUser->new;
$root->Load('root') or die "no root user\n";

my ($ok, $msg) = RT::Queue->new($root)->Create(Name => $queue_name);
$ok or die "creating queue $queue_name: $msg\n";

my $field = RT::CustomField->new($root);
($ok, $msg) = $field->Create(
    Name       => $field_name,
    Type       => 'Freeform',
    MaxValues  => 1,
    LookupType => RT::Ticket->CustomFieldLookupType,
);
$ok or die "creating custom field $field_name: $msg\n";
# Queue 0: applied globally, to every queue.
($ok, $msg) = $field->AddToObject(RT::Queue->new($root));
$ok or die "applying custom field $field_name: $msg\n";

my ($id, $token_msg, $token) =
    RT::AuthToken->new($root)->Create(Owner => $root->Id, Description => 'vigil tests');
$id or die "creating root's auth token: $token_msg\n";
print "$token\n";
"#;

/// Debian's Request Tracker 5 on 127.0.0.1 with a fresh SQLite database in a temp dir of
/// its own. Stopped (master and workers) and its dir removed when dropped.
///
/// The read helpers block (plain HTTP/1.0 over a socket): call them from a plain test or
/// from a multi-threaded runtime.
pub struct Rt5 {
    process: Running,
    port: u16,
    token: String,
    dir: tempfile::TempDir,
}

impl Rt5 {
    /// Installs RT when missing, initialises its database, creates the second queue, the
    /// correlation field and root's token, starts rt-server on a free port and waits until
    /// REST 2.0 answers with the token. About 5 s once installed.
    pub fn start() -> Self {
        // The backend and the server first: request-tracker5 alone would get whichever of
        // its alternatives apt picks (Apache, PostgreSQL or MySQL on another machine).
        // Both are empty but for their dependencies: dpkg's list of their files tells.
        let installed = |package: &str| format!("/var/lib/dpkg/info/{package}.list");
        ensure_package("rt5-db-sqlite", Path::new(&installed("rt5-db-sqlite")));
        ensure_package("rt5-standalone", Path::new(&installed("rt5-standalone")));
        ensure_package("request-tracker5", Path::new(RT_SERVER));
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // rt-server refuses to start without its session directory.
        for cache in ["mason", "sessions"] {
            std::fs::create_dir(dir.path().join(cache)).unwrap();
        }
        std::fs::write(
            dir.path().join("RT_SiteConfig.pm"),
            site_config(dir.path(), port),
        )
        .unwrap();
        let mut init = rt_command(SETUP_DATABASE, dir.path());
        init.args(["--action", "init"]);
        run(init, "initialise RT's database");
        let mut setup = rt_command("perl", dir.path());
        setup.arg(format!("-I{RT_LIB}")).args([
            "-e",
            SETUP_SCRIPT,
            "--",
            SECOND_QUEUE,
            CORRELATION_FIELD,
        ]);
        let token = run(setup, "set RT up").trim().to_owned();

        let mut server = rt_command(RT_SERVER, dir.path());
        server
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--max-workers", WORKERS])
            // A group of its own, so that drop stops the workers too.
            .process_group(0);
        let process = Running::spawn(server, dir.path().join("rt-server.log"));
        // Built before the wait, so that a failed start stops the server too.
        let mut rt = Self {
            process,
            port,
            token,
            dir,
        };
        wait_for(Duration::from_secs(60), "RT's REST 2.0 to answer", || {
            assert!(rt.process.alive(), "rt-server exited:\n{}", rt.log());
            let answered = rt.request("GET", "/REST/2.0/queue/1").ok();
            (answered?.0 == 200).then_some(())
        });
        rt
    }

    /// `http://127.0.0.1:<port>`: RT's base URL (its REST 2.0 API is under `/REST/2.0`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Root's auth token, for `Authorization: token <token>`.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The queue tickets go to by default: `General`.
    pub fn queue(&self) -> &'static str {
        QUEUE
    }

    /// A second, empty queue for routing: `Databases`.
    pub fn second_queue(&self) -> &'static str {
        SECOND_QUEUE
    }

    /// The name of the ticket custom field for the receiver's correlation key, a single
    /// free-form value on every queue: `Vigil Incident`.
    pub fn correlation_field(&self) -> &'static str {
        CORRELATION_FIELD
    }

    /// Root's name, for basic auth.
    pub fn username(&self) -> &'static str {
        USERNAME
    }

    /// Root's password in a fresh RT database, for basic auth.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// The process id of rt-server's master, which is also its process group's.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything rt-server logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The mails RT would have sent so far (autoreplies to requestors), as one mbox-like
    /// text; RT never reaches a mail server.
    pub fn mail(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mail.eml")).unwrap_or_default()
    }

    /// The tickets whose correlation field is `value`, as REST 2.0's search lists them with
    /// `Subject`, `Status`, `Priority`, `Created`, `Resolved`, `CustomFields`, `Queue` (with its
    /// `Name`) and `Owner` (with its `Name`). Deleted tickets are never found.
    pub fn tickets_with_field(&self, value: &str) -> Vec<Value> {
        let sql = format!(
            "'CF.{{{CORRELATION_FIELD}}}' = {}",
            ticket_sql_string(value)
        );
        self.search(&sql)
    }

    /// Every ticket but the deleted ones, as in [`tickets_with_field`](Self::tickets_with_field).
    pub fn all_tickets(&self) -> Vec<Value> {
        // An empty query finds nothing.
        self.search("id > 0")
    }

    /// `GET /REST/2.0/ticket/{id}`: the ticket as RT shows it. `Queue` and `Owner` are
    /// references (`{"id": "1", …}`, the owner's id being the user name), `Priority` a
    /// number in a string, `CustomFields` a list of `{"name", "values": [..]}`.
    pub fn ticket(&self, id: u64) -> Value {
        self.get(&format!("/REST/2.0/ticket/{id}"), &[])
    }

    /// The ticket's transactions, oldest first, each with `Type` (`Create`, `Comment`,
    /// `Correspond`, `Status`, `Set`, `CustomField`, `EmailRecord`, …), `Field`, `OldValue`,
    /// `NewValue`, `Data`, `Created` and `Creator`; those with a message (`Create`,
    /// `Comment`, `Correspond`) also with `Content`: the text of its text/plain parts.
    pub fn history(&self, id: u64) -> Vec<Value> {
        let fields = "Type,Field,OldValue,NewValue,Data,Created,Creator";
        let mut transactions = self.all_pages(
            &format!("/REST/2.0/ticket/{id}/history"),
            &[("fields", fields)],
        );
        for transaction in &mut transactions {
            let kind = transaction["Type"].as_str().unwrap_or_default();
            if !matches!(kind, "Create" | "Comment" | "Correspond") {
                continue;
            }
            let tid = transaction["id"].as_str().unwrap_or_default().to_owned();
            // In a list, RT gives an attachment's content decoded; alone, in base64.
            let parts = self.all_pages(
                &format!("/REST/2.0/transaction/{tid}/attachments"),
                &[("fields", "ContentType,Content")],
            );
            let text: Vec<&str> = parts
                .iter()
                .filter(|p| p["ContentType"] == "text/plain")
                .filter_map(|p| p["Content"].as_str())
                .collect();
            transaction["Content"] = Value::String(text.join("\n"));
        }
        transactions
    }

    /// A proxy to this RT that holds the first `POST /REST/2.0/ticket` for `hold` before
    /// forwarding it, and forwards everything else at once. See [`StallingProxy`].
    pub fn stalling_proxy(&self, hold: Duration) -> StallingProxy {
        StallingProxy::start(self.port, hold)
    }

    /// A TicketSQL search: every page of results, with the fields [`tickets_with_field`]
    /// names.
    ///
    /// [`tickets_with_field`]: Self::tickets_with_field
    fn search(&self, sql: &str) -> Vec<Value> {
        let fields = "Subject,Status,Priority,Created,Resolved,CustomFields,Queue,Owner";
        self.all_pages(
            "/REST/2.0/tickets",
            &[
                ("query", sql),
                ("fields", fields),
                ("fields[Queue]", "Name"),
                ("fields[Owner]", "Name"),
            ],
        )
    }

    /// The `items` of every page of the REST 2.0 collection at `path`.
    fn all_pages(&self, path: &str, params: &[(&str, &str)]) -> Vec<Value> {
        const PER_PAGE: usize = 100;
        let mut items = Vec::new();
        for page in 1.. {
            let page = page.to_string();
            let per_page = PER_PAGE.to_string();
            let mut all = params.to_vec();
            all.extend([("page", page.as_str()), ("per_page", per_page.as_str())]);
            let body = self.get(path, &all);
            let list = body["items"].as_array().cloned().unwrap_or_default();
            let last = list.len() < PER_PAGE;
            items.extend(list);
            if last {
                break;
            }
        }
        items
    }

    /// GET `path` with `params` as root: the JSON body, which must come with a 200.
    fn get(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let url =
            reqwest::Url::parse_with_params(&format!("{}{path}", self.url()), params).unwrap();
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let (status, body) = self
            .request("GET", &target)
            .unwrap_or_else(|e| panic!("GET {target} from RT: {e}\n{}", self.log()));
        assert_eq!(status, 200, "GET {target} from RT: {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("RT's answer is not JSON ({e}): {body}"))
    }

    /// A bodiless HTTP/1.0 request with root's token: (status, body).
    fn request(&self, method: &str, target: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nAuthorization: token {}\r\n\r\n",
            self.port, self.token
        )?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, body.to_owned()))
    }
}

impl Drop for Rt5 {
    /// TERM to the whole group: the workers stop, and the master reaps them and exits.
    /// Then KILL to the group for anything left, while the master is not yet reaped (so its
    /// id, the group's, cannot have been reused); `Running`'s drop reaps it.
    fn drop(&mut self) {
        let group = self.process.pid();
        signal_group(group, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !exited(group) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(group, libc::SIGKILL);
    }
}

/// A command of RT's (`rt-setup-database-5`, `perl`, `rt-server`) reading the site config
/// in `dir` and nothing from /etc.
fn rt_command(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("RT_SITE_CONFIG", dir.join("RT_SiteConfig.pm"))
        .env("RT_SITE_CONFIG_DIR", "/dev/null")
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to the end; its stdout, or a panic with all it wrote.
fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "could not {what} ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The site config of an RT in `dir` serving on 127.0.0.1:`port`.
fn site_config(dir: &Path, port: u16) -> String {
    let path = |name: &str| perl_string(&dir.join(name).display().to_string());
    let (db, mason, sessions, mail) = (
        path("rt.db"),
        path("mason"),
        path("sessions"),
        path("mail.eml"),
    );
    format!(
        r#"Set($rtname, 'vigil-test');
Set($Organization, 'vigil-test');
Set($Timezone, 'UTC');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, {db});
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set(@LexiconLanguages, qw(en));
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($LogToSTDERR, 'warning');
Set($MailCommand, sub {{
    my $mime = shift;
    open(my $mbox, '>>', {mail}) or die "cannot append to the mailbox: $!";
    $mime->print($mbox);
    print $mbox "\n";
    close $mbox;
}});
$RT::MasonDataDir = {mason};
$RT::MasonSessionDir = {sessions};
1;
"#
    )
}

/// `s` as a single-quoted Perl string.
fn perl_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `s` as a single-quoted TicketSQL string: RT unescapes `\'` and `\\` in it.
fn ticket_sql_string(s: &str) -> String {
    perl_string(s)
}

/// Sends `signal` to every process of the group `group`, one this test started.
fn signal_group(group: u32, signal: libc::c_int) {
    #[allow(unsafe_code)]
    // SAFETY: killpg(3) takes two integers; no memory is touched.
    unsafe {
        libc::killpg(group as libc::pid_t, signal);
    }
}

/// Whether process `pid`, a child of this process, has exited (is a zombie, not yet
/// reaped) or is gone. Read from /proc, so that it is not reaped here.
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        // "pid (comm) S …": the state follows the last ')'.
        stat.rsplit_once(')')
            .is_none_or(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// A proxy on a loopback port in front of RT, for "the desk stalls on the first create
/// until the client times out, and then stores it": the first `POST /REST/2.0/ticket` is
/// read whole, held for the hold time and then sent to RT whether or not its client is
/// still waiting (so RT creates the ticket all the same); every other request goes through
/// at once. Stops accepting when dropped; a held request is still delivered.
///
/// Each connection is one request: RT's Starlet closes every connection after its answer,
/// so clients open a new one per request. RT's answers keep RT's own `_url`s.
///
/// (`crate::fault_proxy::FaultProxy` can delay every byte of every connection, or stall
/// the connections open at one moment, but cannot pick out one request.)
pub struct StallingProxy {
    /// The port it listens on, 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Set once the held create has been sent on to RT.
    released: Arc<AtomicBool>,
}

impl StallingProxy {
    /// Listens on a free loopback port and forwards to RT on 127.0.0.1:`target`.
    fn start(target: u16, hold: Duration) -> Self {
        // Bound here and kept: no gap in which another socket could take the port.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let (s, r) = (stop.clone(), released.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let (held, released) = (held.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = forward(client, target, hold, &held, &released);
                });
            }
        });
        Self {
            port,
            stop,
            released,
        }
    }

    /// `http://127.0.0.1:<port>`: use it in place of [`Rt5::url`].
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether the held create has reached RT.
    pub fn released(&self) -> bool {
        self.released.load(Ordering::SeqCst)
    }
}

impl Drop for StallingProxy {
    /// Stops accepting; connections open now, and a held create, go on to the end.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Forwards the one request on `client` to RT on `target` and its answer back; holds it
/// first if it is the first ticket create (`held` not yet set), then sets `released`.
fn forward(
    mut client: TcpStream,
    target: u16,
    hold: Duration,
    held: &AtomicBool,
    released: &AtomicBool,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = read_head(&mut client)?;
    let is_create = request.starts_with(b"POST /REST/2.0/ticket ")
        || request.starts_with(b"POST /REST/2.0/ticket?");
    let hold_this = is_create && !held.swap(true, Ordering::SeqCst);
    if hold_this {
        // The whole body now: the client may be gone by the time RT gets it.
        let head_len = head_end(&request).unwrap_or(request.len());
        let want = head_len + content_length(&request[..head_len]);
        let mut buf = [0u8; 16 * 1024];
        while request.len() < want {
            match client.read(&mut buf)? {
                0 => break,
                n => request.extend_from_slice(&buf[..n]),
            }
        }
        // Connected only after the hold: a silent connection would tie up a worker.
        std::thread::sleep(hold);
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", target))?;
    upstream.write_all(&request)?;
    if hold_this {
        released.store(true, Ordering::SeqCst);
    }
    let (mut from_client, mut to_upstream) = (client.try_clone()?, upstream.try_clone()?);
    std::thread::spawn(move || std::io::copy(&mut from_client, &mut to_upstream));
    // The client may be gone (it timed out): RT's answer is then dropped.
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Reads from `client` until the request's head (request line and headers) is complete;
/// returns all that was read, which may include some of the body.
fn read_head(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while head_end(&request).is_none() {
        match client.read(&mut buf)? {
            0 => break,
            n => request.extend_from_slice(&buf[..n]),
        }
    }
    Ok(request)
}

/// The length of the head in `request`, up to and with the blank line, once complete.
fn head_end(request: &[u8]) -> Option<usize> {
    request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The `Content-Length` of a request head (0 without one: the client's bodies have it).
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_sql_strings_escape_quotes_and_backslashes() {
        assert_eq!(ticket_sql_string("inc-1"), "'inc-1'");
        assert_eq!(ticket_sql_string(r"it's \ odd"), r"'it\'s \\ odd'");
    }

    #[test]
    fn the_content_length_is_read_from_a_request_head() {
        let head = b"POST /REST/2.0/ticket HTTP/1.1\r\ncontent-length: 42\r\nHost: x\r\n\r\n";
        assert_eq!(head_end(head), Some(head.len()));
        assert_eq!(content_length(head), 42);
        assert_eq!(content_length(b"GET / HTTP/1.1\r\n\r\n"), 0);
    }
}
