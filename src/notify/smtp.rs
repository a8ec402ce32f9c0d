//! SMTP: a composed [`Email`] built into a MIME message with lettre, and sent over tokio and
//! rustls with the settings' TLS, login, timeout and retries. It talks to the server and
//! nothing else: it must not touch the spool or the outbox, nor decide what becomes of a
//! message the server would not take (the mailer, in `deliver.rs`, does).

use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::compose::Email;
use crate::config::mail::{SmtpSettings, TlsMode};

/// A composed message that is not a valid MIME message (an address that does not parse).
#[derive(Debug, thiserror::Error)]
#[error("invalid message for team `{team}`: {message}")]
pub struct BuildError {
    pub team: String,
    pub message: String,
}

/// Why the SMTP client could not be set up: an unreadable CA file, a secret gone missing.
/// Kept by the mailer and given as the reason for every message it then cannot send.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot set up SMTP to {host}:{port}: {message}")]
pub struct SetupError {
    pub host: String,
    pub port: u16,
    pub message: String,
}

/// Why a message (or a connection test) did not get through.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The client could not be set up; nothing was attempted.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The server took the connection and then said nothing in time.
    #[error("no complete answer from the server within {0:?} (mail.timeout)")]
    Timeout(Duration),
    /// The server's reply or the connection's fault, in one line.
    #[error("{message}")]
    Refused { message: String, permanent: bool },
    /// A connection test that got an answer other than the greeting.
    #[error("the server did not answer as expected")]
    Unexpected,
}

impl SendError {
    /// A permanent refusal (5xx) will not change by trying again.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SendError::Refused {
                permanent: true,
                ..
            }
        )
    }
}

macro_rules! text_header {
    ($name:ident, $header:literal) => {
        #[derive(Debug, Clone)]
        struct $name(String);

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name(s.to_string()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

// The three ways mail clients read "high priority".
text_header!(XPriority, "X-Priority");
text_header!(Importance, "Importance");
text_header!(Priority, "Priority");

/// Builds the MIME message: multipart/alternative (text, HTML), in multipart/mixed with the
/// JSON attachment when there is one.
pub fn build_message(from: &str, email: &Email) -> Result<Message, BuildError> {
    let fail = |message: String| BuildError {
        team: email.team.clone(),
        message,
    };
    let from: Mailbox = from.parse().map_err(|e| fail(format!("from: {e}")))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject.clone())
        .message_id(None);
    for to in &email.to {
        let mailbox: Mailbox = to.parse().map_err(|e| fail(format!("to `{to}`: {e}")))?;
        builder = builder.to(mailbox);
    }
    if email.urgent {
        builder = builder
            .header(XPriority("1 (Highest)".into()))
            .header(Importance("high".into()))
            .header(Priority("urgent".into()));
    }
    // Handed over with CRLF line ends already: lettre then has no `\r` to insert, which it
    // does one line at a time (quadratic in the lines: minutes for a large body).
    let alternative = MultiPart::alternative_plain_html(crlf(&email.text), crlf(&email.html));
    let body = if email.attachments.is_empty() {
        alternative
    } else {
        email
            .attachments
            .iter()
            .fold(MultiPart::mixed().multipart(alternative), |mixed, a| {
                let content_type =
                    ContentType::parse(a.content_type).expect("a valid content type");
                mixed.singlepart(Attachment::new(a.name.clone()).body(crlf(&a.body), content_type))
            })
    };
    builder.multipart(body).map_err(|e| fail(e.to_string()))
}

/// `text` with every line ending in CRLF, in one pass (a lone `\n` becomes `\r\n`).
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

/// An SMTP client with the settings' retries, set up once and used for every message.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// How long one attempt may take, connection to last answer.
    timeout: Duration,
    attempts: u32,
    retry_delay: Duration,
}

impl Smtp {
    /// Sets the client up: TLS with any extra CA, login with the resolved secrets.
    pub fn new(
        smtp: &SmtpSettings,
        attempts: u32,
        retry_delay: Duration,
    ) -> Result<Smtp, SetupError> {
        let setup = |message: String| SetupError {
            host: smtp.host.clone(),
            port: smtp.port,
            message,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(smtp.timeout));
        if smtp.tls != TlsMode::None {
            let mut params = TlsParameters::builder(smtp.host.clone());
            if let Some(ca) = &smtp.ca_file {
                let pem = crate::fsx::read_regular(ca, 1 << 20)
                    .map_err(|e| setup(format!("cannot read ca_file `{}`: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| setup(format!("ca_file `{}`: {e}", ca.display())))?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| setup(e.to_string()))?;
            builder = builder.tls(match smtp.tls {
                TlsMode::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            let user = user
                .resolve()
                .map_err(|e| setup(format!("mail.username: {e}")))?;
            let password = password
                .resolve()
                .map_err(|e| setup(format!("mail.password: {e}")))?;
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Smtp {
            transport: builder.build(),
            timeout: smtp.timeout,
            attempts,
            retry_delay,
        })
    }

    /// Sends one message, retrying with a doubling delay until the server takes it, refuses
    /// it for good, or the attempts run out. The error is the last attempt's.
    pub async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SendError> {
        let mut delay = self.retry_delay;
        let mut attempt = 1;
        loop {
            let error = match self.attempt(envelope, raw).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let permanent = error.is_permanent();
            tracing::warn!(attempt, error = %error, permanent, "mail delivery failed");
            if permanent || attempt >= self.attempts {
                return Err(error);
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2).min(Duration::from_secs(60));
            attempt += 1;
        }
    }

    /// One attempt, no retry (for the spool: the next run tries again).
    pub async fn attempt(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SendError> {
        // lettre's own timeout covers connecting only: a server that accepts and then says
        // nothing would hold the run for ever. The whole attempt is bounded here.
        match tokio::time::timeout(self.timeout, self.transport.send_raw(envelope, raw)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SendError::Refused {
                message: describe(&e),
                permanent: e.is_permanent(),
            }),
            Err(_) => Err(SendError::Timeout(self.timeout)),
        }
    }

    /// Connects, with TLS and login as configured, and sends nothing.
    pub async fn test_connection(&self) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout, self.transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(SendError::Unexpected),
            Ok(Err(e)) => Err(SendError::Refused {
                message: describe(&e),
                permanent: e.is_permanent(),
            }),
            Err(_) => Err(SendError::Timeout(self.timeout)),
        }
    }
}

/// One line about an SMTP failure: the server's reply or the connection's fault.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_ends_every_line_once() {
        assert_eq!(crlf("a\nb\r\nc\n\nd"), "a\r\nb\r\nc\r\n\r\nd");
        assert_eq!(crlf("é\n"), "é\r\n");
        assert_eq!(crlf(""), "");
    }

    /// The body handed over with CRLF comes out as lettre's own conversion made it.
    #[test]
    fn a_large_body_is_built_as_before() {
        let text: String = (0..2000)
            .map(|i| format!("  - missing_file: f{i}\n"))
            .collect();
        let email = Email {
            team: "msp".into(),
            to: vec!["noc@example.test".into()],
            subject: "s".into(),
            text: text.clone(),
            html: text.clone(),
            attachments: Vec::new(),
            urgent: false,
        };
        let ours = build_message("rd@example.test", &email)
            .unwrap()
            .formatted();
        let theirs = Message::builder()
            .from("rd@example.test".parse().unwrap())
            .to("noc@example.test".parse().unwrap())
            .subject("s")
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(text.clone(), text))
            .unwrap()
            .formatted();
        let body = |m: &[u8]| {
            let m = String::from_utf8_lossy(m).into_owned();
            m[m.find("\r\n\r\n").unwrap()..].to_string()
        };
        // The MIME boundaries are random: compare with them taken out.
        let strip = |m: String| {
            m.lines()
                .filter(|l| !l.starts_with("--") && !l.contains("boundary="))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(body(&ours)), strip(body(&theirs)));
    }
}
