//! The test SMTP server: Debian's `python3-aiosmtpd` running a script of ours.

use crate::packages::ensure_package;
use crate::{Running, free_port, wait_for};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How the test SMTP server is set up.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// Offer STARTTLS (and require it before MAIL) with this certificate and key (PEM).
    pub starttls: Option<(PathBuf, PathBuf)>,
    /// Speak TLS from the first byte (port-465 style) with this certificate and key (PEM).
    pub implicit_tls: Option<(PathBuf, PathBuf)>,
    /// Require AUTH (PLAIN or LOGIN) with this user and password. Without TLS the server
    /// accepts AUTH in clear text (loopback only).
    pub auth: Option<(String, String)>,
}

/// One message the SMTP server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), in order.
    pub rcpt_tos: Vec<String>,
    /// The raw message as received.
    pub data: String,
    /// The decoded `Subject` header.
    pub subject: String,
    /// Every header as (name, decoded value), in order.
    pub headers: Vec<(String, String)>,
    /// The decoded text/plain part, if any, with "\n" line ends.
    pub text: Option<String>,
    /// The decoded text/html part, if any, with "\n" line ends.
    pub html: Option<String>,
    /// Whether the session was encrypted (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The user the client authenticated as, if it did.
    pub auth_login: Option<String>,
}

impl ReceivedMail {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header(&self.headers, name)
    }
}

const SMTP_SCRIPT: &str = r#"
import asyncio, email, email.policy, json, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

cfg = json.load(open(sys.argv[1]))

def tls_context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg["cert"], cfg["key"])
    return ctx

class Recorder:
    async def handle_DATA(self, server, session, envelope):
        try:
            with open(cfg["reply_file"]) as f:
                reply = f.read().strip()
        except FileNotFoundError:
            reply = ""
        if reply:
            return reply
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        def part(kind):
            body = msg.get_body(preferencelist=(kind,))
            # Line ends as in the message (CRLF) become "\n", as tests write them.
            return body.get_content().replace("\r\n", "\n") if body is not None else None
        auth = getattr(session, "auth_data", None)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": raw.decode("utf-8", "replace"),
            "subject": str(msg.get("Subject", "")),
            "headers": [[k, str(v)] for k, v in msg.items()],
            "text": part("plain"),
            "html": part("html"),
            "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
            "auth_login": auth.login.decode("utf-8", "replace")
                if isinstance(auth, LoginPassword) else None,
        }
        with open(cfg["messages"], "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 2.0.0 Ok: queued by the vigil test server"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == cfg["user"]
          and auth_data.password.decode() == cfg["password"])
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

def make():
    kw = {"hostname": "vigil-test-smtp", "ident": "vigil test SMTP"}
    if cfg.get("starttls"):
        kw["tls_context"] = tls_context()
        kw["require_starttls"] = True
    if cfg.get("user") is not None:
        kw["authenticator"] = authenticator
        kw["auth_required"] = True
        kw["auth_require_tls"] = bool(cfg.get("starttls") or cfg.get("implicit_tls"))
    return SMTP(Recorder(), **kw)

async def main():
    loop = asyncio.get_running_loop()
    ssl_ctx = tls_context() if cfg.get("implicit_tls") else None
    server = await loop.create_server(make, "127.0.0.1", cfg["port"], ssl=ssl_ctx)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"#;

/// A running aiosmtpd server on 127.0.0.1, killed when dropped.
pub struct SmtpServer {
    /// The Python process.
    pub process: Running,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Installs `python3-aiosmtpd` when missing, starts the server and waits until it
    /// listens.
    pub fn start(options: SmtpOptions) -> Self {
        ensure_package(
            "python3-aiosmtpd",
            Path::new("/usr/lib/python3/dist-packages/aiosmtpd"),
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SMTP_SCRIPT).unwrap();
        let mut config = serde_json::json!({
            "port": port,
            "reply_file": dir.path().join("reply"),
            "messages": dir.path().join("messages.jsonl"),
        });
        let tls = options.starttls.as_ref().or(options.implicit_tls.as_ref());
        if let Some((cert, key)) = tls {
            config["cert"] = serde_json::json!(cert);
            config["key"] = serde_json::json!(key);
        }
        config["starttls"] = serde_json::json!(options.starttls.is_some());
        config["implicit_tls"] = serde_json::json!(options.implicit_tls.is_some());
        if let Some((user, password)) = &options.auth {
            config["user"] = serde_json::json!(user);
            config["password"] = serde_json::json!(password);
        }
        let config_file = dir.path().join("config.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        // Debian's interpreter, which has the package (not a pyenv shim on PATH).
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(&script).arg(&config_file);
        let mut process = Running::spawn(cmd, dir.path().join("smtp.log"));
        wait_for(Duration::from_secs(30), "the SMTP server to listen", || {
            assert!(
                process.alive(),
                "the SMTP server exited:\n{}",
                process.log()
            );
            process.log().contains("listening").then_some(())
        });
        Self { process, port, dir }
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let text =
            std::fs::read_to_string(self.dir.path().join("messages.jsonl")).unwrap_or_default();
        // A line the server is still writing (a big message is written in several chunks)
        // has no newline yet: it is read next time.
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let s = |key: &str| v[key].as_str().map(str::to_owned);
                ReceivedMail {
                    mail_from: s("mail_from").unwrap_or_default(),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_owned())
                        .collect(),
                    data: s("data").unwrap_or_default(),
                    subject: s("subject").unwrap_or_default(),
                    headers: v["headers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| {
                            (
                                h[0].as_str().unwrap().to_owned(),
                                h[1].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect(),
                    text: s("text"),
                    html: s("html"),
                    tls: v["tls"].as_bool().unwrap_or(false),
                    auth_login: s("auth_login"),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (panics after `timeout`); returns all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        wait_for(timeout, &format!("{n} email(s)"), || {
            let messages = self.messages();
            (messages.len() >= n).then_some(messages)
        })
    }

    /// Makes the server answer DATA with `reply` (such as `"451 4.3.0 try again later"`
    /// or `"550 5.7.1 refused"`) instead of accepting; `None` accepts again. Refused
    /// messages are not recorded.
    pub fn set_reply(&self, reply: Option<&str>) {
        std::fs::write(self.dir.path().join("reply"), reply.unwrap_or("")).unwrap();
    }

    /// The server's log (Python's warnings and errors).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw SMTP conversation: each line sent, then the reply read (one line each).
    fn smtp_talk(port: u16, lines: &[&str]) -> Vec<String> {
        use std::io::{BufRead, BufReader, Write};
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut read_reply = || {
            // Multi-line replies have '-' after the code; read to the last line.
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.trim_end().to_owned();
                }
            }
        };
        let mut replies = vec![read_reply()];
        let mut in_data = false;
        for line in lines {
            writer.write_all(format!("{line}\r\n").as_bytes()).unwrap();
            // Message lines get no reply; the command lines and the final "." do.
            if !in_data || *line == "." {
                replies.push(read_reply());
                in_data = *line == "DATA";
            }
        }
        replies
    }

    #[test]
    fn smtp_server_records_messages_and_can_refuse() {
        let server = SmtpServer::start(SmtpOptions {
            auth: Some(("vigil".into(), "pw-1234".into())),
            ..SmtpOptions::default()
        });
        // AUTH PLAIN of "\0vigil\0pw-1234".
        let start = [
            "EHLO test",
            "AUTH PLAIN AHZpZ2lsAHB3LTEyMzQ=",
            "MAIL FROM:<a@example.com>",
            "RCPT TO:<b@example.com>",
        ];
        let rest = [
            "RCPT TO:<c@example.com>",
            "DATA",
            "Subject: hello",
            "",
            "body text",
            ".",
            "QUIT",
        ];
        let replies = smtp_talk(server.port, &[&start[..], &rest].concat());
        assert!(replies[2].starts_with("235"), "{replies:?}");
        assert!(replies[6].starts_with("354"), "{replies:?}");
        assert!(replies[7].starts_with("250"), "{replies:?}");
        let got = server.wait_for(1, Duration::from_secs(10));
        assert_eq!(got[0].mail_from, "a@example.com");
        assert_eq!(got[0].rcpt_tos, ["b@example.com", "c@example.com"]);
        assert_eq!(got[0].subject, "hello");
        assert_eq!(got[0].text.as_deref().map(str::trim), Some("body text"));
        assert_eq!(got[0].auth_login.as_deref(), Some("vigil"));
        assert!(!got[0].tls);

        server.set_reply(Some("451 4.3.0 try again later"));
        let rest = ["DATA", "Subject: again", "", "."];
        let replies = smtp_talk(server.port, &[&start[..], &rest].concat());
        assert!(replies[6].starts_with("451"), "{replies:?}");
        assert_eq!(server.messages().len(), 1);
    }
}
