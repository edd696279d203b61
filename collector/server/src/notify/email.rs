//! The email integration: one message per notification over SMTP with `lettre`.
//!
//! - `tls = "starttls"` (default, port 587): STARTTLS is required; a server that does not
//!   offer it fails the attempt. `"tls"` (port 465): TLS from the first byte. `"none"`:
//!   clear text, allowed only to a loopback host (config validation enforces it).
//! - The server's certificate is checked against the system's roots plus `ca_file`, for
//!   the name in `host`.
//! - AUTH (PLAIN or LOGIN, whichever the server offers) when `username` is set; the
//!   password is a secret and never leaves this module except to the server.
//! - The message is `multipart/alternative` with a text and an HTML part (HTML can be
//!   turned off with `html = ""`); subject and bodies are Vigil's defaults or the
//!   configured templates ([`render`](super::render)).
//!
//! Outcomes: SMTP 2xx accepted (the answer is the server's reply, such as
//! `250 2.0.0 Ok: queued as 4FD…`); 4xx retried; 5xx rejected; connection, TLS and
//! timeout errors retried.

use super::config::{EmailConfig, SmtpTls};
use super::model::{Notification, Outcome};
use super::render::EmailTemplates;
use super::secret::Secret;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Headers the integration writes itself, refused in `headers`.
const OWN_HEADERS: [&str; 7] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "content-type",
    "mime-version",
];

/// One configured email integration, password loaded.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    headers: Vec<(HeaderName, String)>,
    templates: EmailTemplates,
    password: Option<Secret>,
    target: String,
}

impl Email {
    /// Parses the addresses, loads the password and the CA file, checks the templates;
    /// the error names the key.
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("from: {:?} is not an email address ({e})", config.from))?;
        let to = config
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| format!("to: {t:?} is not an email address ({e})"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut headers = Vec::new();
        for (name, value) in &config.headers {
            if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "headers.{name}: set by Vigil itself (use from, to or subject)"
                ));
            }
            let header = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| format!("headers: {name:?} is not a valid header name"))?;
            headers.push((header, value.clone()));
        }
        let templates = EmailTemplates::new(
            config.subject.as_deref(),
            config.text.as_deref(),
            config.html.as_deref(),
        )?;
        let password = match (&config.username, &config.password) {
            (Some(_), Some(source)) => Some(source.load().map_err(|e| format!("password: {e}"))?),
            (Some(_), None) => return Err("password: set it too when username is set".into()),
            (None, Some(_)) => return Err("username: set it too when password is set".into()),
            (None, None) => None,
        };
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(config.host.clone());
                if let Some(path) = &config.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("ca_file: cannot read {}: {e}", path.display()))?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        format!("ca_file: {} is not a PEM certificate: {e}", path.display())
                    })?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| format!("TLS setup for {}: {e}", config.host))?;
                if mode == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let (Some(user), Some(password)) = (&config.username, &password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let mode = match config.tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "plain",
        };
        let target = format!(
            "email to {} via {}:{} ({mode})",
            config.to.join(", "),
            config.host,
            config.port
        );
        Ok(Self {
            transport: builder.build(),
            from,
            to,
            headers,
            templates,
            password,
            target,
        })
    }

    /// `email to ops@example.com via smtp.example.com:587 (starttls)`.
    pub fn describe(&self) -> String {
        self.target.clone()
    }

    /// Builds the message and sends it once. Every attempt of one delivery carries its id
    /// as the `Message-ID` (`<ID@vigil>`) and in `X-Vigil-Delivery`, so a mail sent again
    /// after a connection broke can be told from a new one.
    pub async fn send(&self, notification: &Notification, delivery: &str) -> Outcome {
        let message = match self.message(notification, delivery) {
            Ok(m) => m,
            Err(error) => return Outcome::Rejected { error },
        };
        let redact = |text: String| match &self.password {
            Some(p) => p.redact(&text),
            None => text,
        };
        match self.transport.send(message).await {
            Ok(response) => {
                let lines: Vec<&str> = response.message().collect();
                Outcome::Accepted {
                    answer: redact(format!("{} {}", response.code(), lines.join(" "))),
                }
            }
            Err(e) => {
                let error = redact(describe_error(&e));
                if e.is_permanent() {
                    Outcome::Rejected { error }
                } else {
                    Outcome::Retry { error }
                }
            }
        }
    }

    fn message(&self, n: &Notification, delivery: &str) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(self.templates.subject(n))
            .message_id(Some(format!("<{delivery}@vigil>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Vigil-Delivery"),
                delivery.to_owned(),
            ));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        for (name, value) in &self.headers {
            builder = builder.raw_header(HeaderValue::new(name.clone(), value.clone()));
        }
        let text = self.templates.text(n);
        let built = match self.templates.html(n) {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html)),
            None => builder.singlepart(SinglePart::plain(text)),
        };
        built.map_err(|e| format!("cannot build the email: {e}"))
    }
}

/// lettre's error with its causes ("Connection refused" is a cause).
fn describe_error(e: &lettre::transport::smtp::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    let kind = if e.is_permanent() {
        "SMTP server refused"
    } else if e.is_transient() {
        "SMTP server deferred"
    } else if e.is_timeout() {
        "SMTP timed out"
    } else if e.is_tls() {
        "SMTP TLS failed"
    } else {
        "SMTP failed"
    };
    format!("{kind}: {}", parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::tests::sample;

    fn config(extra: &str) -> EmailConfig {
        toml::from_str(&format!(
            "to = [\"ops@example.com\", \"Oncall <oncall@example.com>\"]\nfrom = \
             \"Vigil <vigil@example.com>\"\nhost = \"127.0.0.1\"\nport = 25\ntls = \"none\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn the_message_has_both_parts_and_every_recipient() {
        let email = Email::new(&config("headers = { X-Team = \"infra\" }")).unwrap();
        assert_eq!(
            email.describe(),
            "email to ops@example.com, Oncall <oncall@example.com> via 127.0.0.1:25 (plain)"
        );
        let raw = String::from_utf8(
            email
                .message(&sample(), "3f2b7c1e-9a4d")
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(raw.contains("Message-ID: <3f2b7c1e-9a4d@vigil>"), "{raw}");
        assert!(raw.contains("X-Vigil-Delivery: 3f2b7c1e-9a4d"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(raw.contains("X-Team: infra"), "{raw}");
        assert!(raw.contains("oncall@example.com"), "{raw}");
        assert!(raw.contains("Subject: [FIRING:1] HighCpu"), "{raw}");
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (extra, says) in [
            ("username = \"u\"", "password: set it too"),
            ("password = \"p\"", "username: set it too"),
            ("headers = { Subject = \"x\" }", "headers.Subject"),
            (
                "username = \"u\"\npassword = { env = \"VIGIL_TEST_NO_SUCH_VAR\" }",
                "VIGIL_TEST_NO_SUCH_VAR",
            ),
        ] {
            let err = Email::new(&config(extra)).err().unwrap();
            assert!(err.contains(says), "{extra}: {err}");
        }
        let mut bad = config("");
        bad.from = "not an address".into();
        assert!(Email::new(&bad).err().unwrap().starts_with("from:"));
    }
}
