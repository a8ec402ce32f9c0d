//! Delivery: messages built with lettre and sent by SMTP (tokio, rustls), written to the
//! outbox (`transport: file`), or dropped (`none`). A message SMTP would not take after the
//! retries is written to `state_dir/spool/` and delivered by the next run or `mail flush`:
//! mail is never lost. A spooled message is removed only after the server accepted it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::compose::Email;
use crate::config::mail::{MailSettings, SmtpSettings, TlsMode, Transport};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid message for team `{team}`: {message}")]
    Build { team: String, message: String },
    #[error("cannot set up SMTP to {host}:{port}: {message}")]
    Setup {
        host: String,
        port: u16,
        message: String,
    },
    #[error("cannot write {what} `{path}`: {source}")]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted by the SMTP server.
    Sent,
    /// Written to the outbox (`transport: file`).
    Written(PathBuf),
    /// Not delivered; kept in the spool for the next run.
    Spooled { path: PathBuf, error: String },
    /// Mail is switched off.
    Skipped,
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
pub fn build_message(from: &str, email: &Email) -> Result<Message, MailError> {
    let fail = |message: String| MailError::Build {
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
    let alternative = MultiPart::alternative_plain_html(email.text.clone(), email.html.clone());
    let body = if email.attachments.is_empty() {
        alternative
    } else {
        email
            .attachments
            .iter()
            .fold(MultiPart::mixed().multipart(alternative), |mixed, a| {
                let content_type =
                    ContentType::parse(a.content_type).expect("a valid content type");
                mixed.singlepart(Attachment::new(a.name.clone()).body(a.body.clone(), content_type))
            })
    };
    builder.multipart(body).map_err(|e| fail(e.to_string()))
}

/// A spooled message's envelope, beside its `.eml`.
#[derive(Debug, Serialize, Deserialize)]
struct SpoolEntry {
    team: String,
    subject: String,
    from: String,
    to: Vec<String>,
    spooled_at: jiff::Timestamp,
    last_error: String,
}

/// Sends mail the way the settings say.
pub struct Mailer {
    settings: MailSettings,
    state_dir: PathBuf,
    /// The SMTP client, or why it could not be set up (then every message is spooled).
    smtp: Option<Result<AsyncSmtpTransport<Tokio1Executor>, String>>,
}

impl Mailer {
    pub fn new(settings: &MailSettings, state_dir: &Path) -> Mailer {
        let smtp = match &settings.transport {
            // A client that cannot be set up (an unreadable CA file, a secret gone missing)
            // must not lose the run's mail: each message is spooled with that error.
            Transport::Smtp(smtp) => Some(smtp_transport(smtp).map_err(|e| e.to_string())),
            Transport::File | Transport::None => None,
        };
        Mailer {
            settings: settings.clone(),
            state_dir: state_dir.to_path_buf(),
            smtp,
        }
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.state_dir.join("spool")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.state_dir.join("outbox")
    }

    /// Delivers one message; what SMTP will not take goes to the spool.
    pub async fn deliver(&self, email: &Email) -> Result<Delivery, MailError> {
        let mut delivered = self.deliver_all(std::slice::from_ref(email)).await?;
        Ok(delivered.pop().unwrap_or(Delivery::Skipped))
    }

    /// Delivers the messages in order; what SMTP will not take stays in the spool. Over SMTP
    /// every message is spooled before the first attempt at any of them: a run stopped while
    /// it waits on the server (a reboot, SIGKILL) leaves them all for the next run. A failure
    /// to spool does not stop the attempt.
    pub async fn deliver_all(&self, emails: &[Email]) -> Result<Vec<Delivery>, MailError> {
        let mut outgoing = Vec::with_capacity(emails.len());
        for email in emails {
            let message = build_message(&self.settings.from, email)?;
            outgoing.push(Outgoing {
                email,
                envelope: message.envelope().clone(),
                raw: message.formatted(),
            });
        }
        let mut delivered = Vec::with_capacity(emails.len());
        match &self.settings.transport {
            Transport::None => delivered.resize_with(emails.len(), || Delivery::Skipped),
            Transport::File => {
                for out in &outgoing {
                    let path = write_new(&self.outbox_dir(), &out.email.team, "eml", &out.raw)?;
                    delivered.push(Delivery::Written(path));
                }
            }
            Transport::Smtp(_) => {
                let ahead: Vec<_> = outgoing
                    .iter()
                    .map(|out| self.spool(out, NOT_ANSWERED))
                    .collect();
                for (out, ahead) in outgoing.iter().zip(ahead) {
                    delivered.push(self.send_spooled(out, ahead).await?);
                }
            }
        }
        Ok(delivered)
    }

    /// Sends a message spooled ahead (`ahead`): removed from the spool once the server took
    /// it, kept there with the last error when it did not.
    async fn send_spooled(
        &self,
        out: &Outgoing<'_>,
        ahead: Result<PathBuf, MailError>,
    ) -> Result<Delivery, MailError> {
        match self.send_with_retries(&out.envelope, &out.raw).await {
            Ok(()) => {
                if let Ok(path) = &ahead
                    && let Err(e) = std::fs::remove_file(path)
                {
                    tracing::warn!(spooled = %path.display(), error = %e, "a delivered message stays in the spool: it will be sent again");
                }
                Ok(Delivery::Sent)
            }
            Err(error) => {
                let path = match ahead {
                    // The spooled copy is rewritten with the last error, for `mail flush`.
                    Ok(path) => {
                        write_atomic(&path, &spool_file(out, &error)).map_err(|source| {
                            MailError::Write {
                                what: "spooled message",
                                path: path.clone(),
                                source,
                            }
                        })?;
                        path
                    }
                    Err(_) => self.spool(out, &error)?,
                };
                Ok(Delivery::Spooled { path, error })
            }
        }
    }

    /// Sends without spooling, for `mail test`: the error is the answer.
    pub async fn send_now(&self, email: &Email) -> Result<Delivery, String> {
        let message = build_message(&self.settings.from, email).map_err(|e| e.to_string())?;
        match &self.settings.transport {
            Transport::Smtp(_) => self
                .send_with_retries(message.envelope(), &message.formatted())
                .await
                .map(|()| Delivery::Sent),
            _ => self.deliver(email).await.map_err(|e| e.to_string()),
        }
    }

    /// How long one delivery attempt may take, connection to last answer.
    fn attempt_timeout(&self) -> Duration {
        match &self.settings.transport {
            Transport::Smtp(smtp) => smtp.timeout,
            _ => Duration::from_secs(30),
        }
    }

    async fn send_with_retries(
        &self,
        envelope: &lettre::address::Envelope,
        raw: &[u8],
    ) -> Result<(), String> {
        let smtp = match self.smtp.as_ref().expect("smtp transport is configured") {
            Ok(smtp) => smtp,
            Err(setup) => return Err(setup.clone()),
        };
        let mut delay = self.settings.retry_delay;
        let mut last = String::new();
        for attempt in 1..=self.settings.attempts {
            // lettre's own timeout covers connecting only: a server that accepts and then
            // says nothing would hold the run for ever. The whole attempt is bounded here.
            let sent = tokio::time::timeout(self.attempt_timeout(), smtp.send_raw(envelope, raw))
                .await
                .map_err(|_| {
                    format!(
                        "no complete answer from the server within {:?} (mail.timeout)",
                        self.attempt_timeout()
                    )
                });
            let failure = match sent {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some((describe(&e), e.is_permanent())),
                Err(stalled) => Some((stalled, false)),
            };
            match failure {
                None => return Ok(()),
                Some((error, permanent)) => {
                    last = error;
                    tracing::warn!(attempt, error = %last, permanent, "mail delivery failed");
                    if permanent || attempt == self.settings.attempts {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2).min(Duration::from_secs(60));
                }
            }
        }
        Err(last)
    }

    /// Writes the message to the spool as one file, atomically (see [`spool_file`]). A crash
    /// leaves the message spooled whole or not at all (two files, written one after the
    /// other, could leave a message without its envelope: never resent, and not reported).
    fn spool(&self, out: &Outgoing<'_>, error: &str) -> Result<PathBuf, MailError> {
        write_new(
            &self.spool_dir(),
            &out.email.team,
            SPOOLED,
            &spool_file(out, error),
        )
    }

    /// Connects to the SMTP server, with TLS and login as configured, and sends nothing.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self.smtp.as_ref() {
            None => Ok(()),
            Some(Err(setup)) => Err(setup.clone()),
            Some(Ok(smtp)) => {
                match tokio::time::timeout(self.attempt_timeout(), smtp.test_connection()).await {
                    Ok(Ok(true)) => Ok(()),
                    Ok(Ok(false)) => Err("the server did not answer as expected".into()),
                    Ok(Err(e)) => Err(describe(&e)),
                    Err(_) => Err(format!(
                        "no complete answer from the server within {:?} (mail.timeout)",
                        self.attempt_timeout()
                    )),
                }
            }
        }
    }

    /// Delivers every spooled message, oldest first. Returns (delivered, still spooled).
    pub async fn flush(&self) -> (usize, Vec<String>) {
        let dir = self.spool_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return (0, Vec::new());
        };
        // One `.spool` file per message; a `.json` envelope beside its `.eml` is the layout of
        // earlier releases, still delivered. The names start with the time spooled.
        let paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        remove_stale_temporaries(&paths);
        let mut spooled: Vec<PathBuf> = paths
            .into_iter()
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == SPOOLED || x == LEGACY_ENVELOPE)
            })
            .collect();
        spooled.sort();
        let (mut delivered, mut remaining) = (0, Vec::new());
        for path in spooled {
            let legacy = path.extension().is_some_and(|x| x == LEGACY_ENVELOPE);
            let eml = path.with_extension("eml");
            let read = if legacy {
                read_legacy(&path, &eml)
            } else {
                read_spool_file(&path)
            };
            let result = match read {
                Ok((entry, raw)) => self.flush_one(&entry, &raw).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    // The envelope goes first: a message without one is never resent.
                    let _ = std::fs::remove_file(&path);
                    if legacy {
                        let _ = std::fs::remove_file(&eml);
                    }
                    delivered += 1;
                }
                Err(error) => {
                    tracing::warn!(message = %path.display(), %error, "spooled message still undelivered");
                    let shown = if legacy { &eml } else { &path };
                    remaining.push(format!("{}: {error}", shown.display()));
                }
            }
        }
        (delivered, remaining)
    }

    async fn flush_one(&self, entry: &SpoolEntry, raw: &[u8]) -> Result<(), String> {
        let from: Option<Address> = entry.from.parse().ok();
        let to: Vec<Address> = entry.to.iter().filter_map(|t| t.parse().ok()).collect();
        let envelope = lettre::address::Envelope::new(from, to).map_err(|e| e.to_string())?;
        match &self.settings.transport {
            Transport::Smtp(_) => self.send_with_retries(&envelope, raw).await,
            Transport::File => write_new(&self.outbox_dir(), &entry.team, "eml", raw)
                .map(drop)
                .map_err(|e| e.to_string()),
            Transport::None => Err("mail is switched off (mail.transport: none)".into()),
        }
    }
}

/// A message on its way: built once, then spooled, sent, or both.
struct Outgoing<'a> {
    email: &'a Email,
    envelope: lettre::address::Envelope,
    raw: Vec<u8>,
}

/// The last error of a message spooled ahead of its first attempt, until an attempt fails.
const NOT_ANSWERED: &str = "the run stopped before the server answered";

/// A temporary file of an atomic write is this old only when its writer died mid-write (its
/// message never made it to the spool); such files are removed.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

fn remove_stale_temporaries(paths: &[PathBuf]) {
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
    {
        let stale = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMPORARY);
        if stale {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The extension of a spooled message: one file, envelope and message.
const SPOOLED: &str = "spool";
/// The envelope of a message spooled by an earlier release, beside its `.eml`.
const LEGACY_ENVELOPE: &str = "json";

/// A spool file's bytes: the envelope (who the message is for, and why it waits) as one
/// line of JSON (serde_json escapes every newline inside it), then the message.
fn spool_file(out: &Outgoing<'_>, error: &str) -> Vec<u8> {
    let entry = SpoolEntry {
        team: out.email.team.clone(),
        subject: out.email.subject.clone(),
        from: out
            .envelope
            .from()
            .map(ToString::to_string)
            .unwrap_or_default(),
        to: out.envelope.to().iter().map(ToString::to_string).collect(),
        spooled_at: jiff::Timestamp::now(),
        last_error: error.to_string(),
    };
    let mut bytes = serde_json::to_vec(&entry).expect("spool entry serializes");
    bytes.push(b'\n');
    bytes.extend_from_slice(&out.raw);
    bytes
}

/// A spool file's envelope and message, or why it cannot be delivered.
fn read_spool_file(path: &Path) -> Result<(SpoolEntry, Vec<u8>), String> {
    let mut bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
        return Err("not a spooled message: no envelope line".into());
    };
    let entry = serde_json::from_slice(&bytes[..end])
        .map_err(|e| format!("not a spooled message: its envelope: {e}"))?;
    let raw = bytes.split_off(end + 1);
    Ok((entry, raw))
}

/// An envelope and message spooled by an earlier release as two files.
fn read_legacy(envelope: &Path, eml: &Path) -> Result<(SpoolEntry, Vec<u8>), String> {
    let entry = std::fs::read(envelope)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))?;
    let raw = std::fs::read(eml).map_err(|e| e.to_string())?;
    Ok((entry, raw))
}

fn smtp_transport(smtp: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let setup = |message: String| MailError::Setup {
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
            let pem = std::fs::read(ca)
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
    Ok(builder.build())
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

/// Writes `bytes` to a new file `<stamp>-<team>-<n>.<ext>` in `dir`, atomically.
fn write_new(dir: &Path, team: &str, ext: &str, bytes: &[u8]) -> Result<PathBuf, MailError> {
    std::fs::create_dir_all(dir).map_err(|source| MailError::Write {
        what: "mail folder",
        path: dir.to_path_buf(),
        source,
    })?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.6fZ")
        .to_string();
    for n in 0..1000 {
        let path = dir.join(format!("{stamp}-{team}-{n}.{ext}"));
        if path.exists() {
            continue;
        }
        write_atomic(&path, bytes).map_err(|source| MailError::Write {
            what: "message",
            path: path.clone(),
            source,
        })?;
        return Ok(path);
    }
    Err(MailError::Write {
        what: "message",
        path: dir.to_path_buf(),
        source: std::io::Error::other("no free file name"),
    })
}

/// Writes through a temporary file, synced, then renamed: a crash leaves the old state or the
/// new one, never half a message.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            team: "msp".into(),
            to: vec!["noc@example.test".into(), "it@example.test".into()],
            subject: "restore-drill: FAIL\nsecond line".into(),
            text: String::new(),
            html: String::new(),
            attachments: Vec::new(),
            urgent: false,
        }
    }

    /// Newlines inside the envelope are escaped, so the first newline ends it and the
    /// message comes back byte for byte, its own newlines and all.
    #[test]
    fn a_spool_file_gives_back_its_envelope_and_message() {
        let dir = tempfile::tempdir().unwrap();
        let raw = b"Subject: x\r\n\r\nbody\r\n\n\xff end".to_vec();
        let path = dir.path().join("m.spool");
        let email = email();
        let out = Outgoing {
            email: &email,
            envelope: lettre::address::Envelope::new(
                Some("drill@example.test".parse().unwrap()),
                email.to.iter().map(|t| t.parse().unwrap()).collect(),
            )
            .unwrap(),
            raw: raw.clone(),
        };
        std::fs::write(&path, spool_file(&out, "421 busy\r\ntry later")).unwrap();
        let (back, message) = read_spool_file(&path).unwrap();
        assert_eq!(message, raw);
        assert_eq!(back.subject, "restore-drill: FAIL\nsecond line");
        assert_eq!(back.last_error, "421 busy\r\ntry later");
        assert_eq!(back.to, ["noc@example.test", "it@example.test"]);
        assert_eq!(back.from, "drill@example.test");
    }

    /// A temporary file an hour old was left by a writer that died; a fresh one may be a
    /// write in progress, and a message is never touched.
    #[test]
    fn only_stale_temporary_files_are_removed_from_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("a-msp-0.tmp");
        let fresh = dir.path().join("b-msp-0.tmp");
        let message = dir.path().join("c-msp-0.spool");
        for path in [&old, &fresh, &message] {
            std::fs::write(path, b"x").unwrap();
        }
        let hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
        for path in [&old, &message] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(hours_ago)
                .unwrap();
        }
        remove_stale_temporaries(&[old.clone(), fresh.clone(), message.clone()]);
        assert!(!old.exists());
        assert!(fresh.exists() && message.exists());
    }

    #[test]
    fn a_damaged_spool_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.spool");
        std::fs::write(&path, b"no envelope at all").unwrap();
        let e = read_spool_file(&path).err().unwrap();
        assert!(e.contains("no envelope line"), "{e}");
        std::fs::write(&path, b"{\"team\": 1}\nSubject: x\r\n").unwrap();
        let e = read_spool_file(&path).err().unwrap();
        assert!(e.contains("its envelope"), "{e}");
    }
}
