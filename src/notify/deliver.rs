//! The mailer: messages composed by [`super::compose`] go where the settings say: by SMTP
//! ([`super::smtp`]), to the outbox (`transport: file`), or nowhere (`none`). A message SMTP
//! would not take after the retries is kept in `state_dir/spool/` ([`super::spool`]) and
//! delivered by the next run or `mail flush`: mail is never lost. A spooled message is
//! removed only after the server accepted it. This is the one place that decides what
//! becomes of a message; it must not write files or talk to the server itself.

use std::path::{Path, PathBuf};

use lettre::Address;
use lettre::address::Envelope;

use super::compose::Email;
use super::smtp::{self, BuildError, SendError, SetupError, Smtp};
use super::spool::{self, SpoolEntry, WriteError};
use crate::config::mail::{MailSettings, Transport};

/// Why the mailer could not do its part. An undelivered message is not one: it is spooled.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Only from [`Mailer::send_now`], which spools nothing: there the failure is the answer.
    #[error(transparent)]
    Send(#[from] SendError),
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

/// The last error of a message spooled ahead of its first attempt, until an attempt fails.
const NOT_ANSWERED: &str = "the run stopped before the server answered";

/// A message on its way: built once, then spooled, sent, or both.
struct Outgoing {
    team: String,
    subject: String,
    envelope: Envelope,
    raw: Vec<u8>,
}

impl Outgoing {
    fn new(from: &str, email: &Email) -> Result<Outgoing, BuildError> {
        let message = smtp::build_message(from, email)?;
        Ok(Outgoing {
            team: email.team.clone(),
            subject: email.subject.clone(),
            envelope: message.envelope().clone(),
            raw: message.formatted(),
        })
    }

    /// Its spool file's bytes, waiting because of `error`.
    fn spooled(&self, error: &str) -> Vec<u8> {
        let entry = SpoolEntry {
            team: self.team.clone(),
            subject: self.subject.clone(),
            from: self
                .envelope
                .from()
                .map(ToString::to_string)
                .unwrap_or_default(),
            to: self.envelope.to().iter().map(ToString::to_string).collect(),
            spooled_at: jiff::Timestamp::now(),
            last_error: error.to_string(),
        };
        spool::file_bytes(&entry, &self.raw)
    }
}

/// A run's messages made ready by [`Mailer::prepare`], to be sent by
/// [`Mailer::send_pending`].
pub struct Pending {
    items: Vec<Item>,
}

enum Item {
    /// Nothing left to do: written to the outbox, or mail is off.
    Done(Delivery),
    /// Built and spooled ahead (or why it could not be spooled), to be sent.
    Ahead(Outgoing, Result<PathBuf, WriteError>),
}

impl Pending {
    /// The spool files of its messages.
    pub fn spooled(&self) -> Vec<&Path> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Item::Ahead(_, Ok(path)) => Some(path.as_path()),
                _ => None,
            })
            .collect()
    }

    /// Its messages still waiting in the spool (all but those sent), by team, as a run
    /// stopped by a signal leaves them; `why` says what stopped it.
    pub fn left_spooled(&self, why: &str) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Item::Ahead(out, Ok(path)) if path.exists() => {
                    Some(format!("{} (team {}): {why}", path.display(), out.team))
                }
                _ => None,
            })
            .collect()
    }
}

/// Sends mail the way the settings say.
pub struct Mailer {
    settings: MailSettings,
    state_dir: PathBuf,
    /// The SMTP client, or why it could not be set up (then every message is spooled).
    smtp: Option<Result<Smtp, SetupError>>,
}

impl Mailer {
    pub fn new(settings: &MailSettings, state_dir: &Path) -> Mailer {
        let smtp = match &settings.transport {
            // A client that cannot be set up (an unreadable CA file, a secret gone missing)
            // must not lose the run's mail: each message is spooled with that error.
            Transport::Smtp(smtp) => Some(Smtp::new(smtp, settings.attempts, settings.retry_delay)),
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
        let pending = self.prepare(emails)?;
        self.send_pending(&pending).await
    }

    /// Builds every message, then puts each where it waits: over SMTP in the spool, ahead of
    /// any attempt (from here on, a run stopped however it is loses none of them); with
    /// `transport: file` in the outbox, delivered already.
    pub fn prepare(&self, emails: &[Email]) -> Result<Pending, MailError> {
        let outgoing = emails
            .iter()
            .map(|email| Outgoing::new(&self.settings.from, email))
            .collect::<Result<Vec<_>, _>>()?;
        let mut items = Vec::with_capacity(emails.len());
        for out in outgoing {
            items.push(match &self.settings.transport {
                Transport::None => Item::Done(Delivery::Skipped),
                Transport::File => Item::Done(Delivery::Written(spool::write_new(
                    &self.outbox_dir(),
                    &out.team,
                    "eml",
                    &out.raw,
                )?)),
                Transport::Smtp(_) => {
                    let ahead = self.spool(&out, NOT_ANSWERED);
                    Item::Ahead(out, ahead)
                }
            });
        }
        Ok(Pending { items })
    }

    /// Sends what [`Mailer::prepare`] spooled, in order; what SMTP will not take stays in the
    /// spool with its last error.
    pub async fn send_pending(&self, pending: &Pending) -> Result<Vec<Delivery>, MailError> {
        let mut delivered = Vec::with_capacity(pending.items.len());
        for item in &pending.items {
            delivered.push(match item {
                Item::Done(delivery) => delivery.clone(),
                Item::Ahead(out, ahead) => self.send_spooled(out, ahead.as_ref().ok()).await?,
            });
        }
        Ok(delivered)
    }

    /// Sends a message spooled ahead (`ahead`): removed from the spool once the server took
    /// it, kept there with the last error when it did not.
    async fn send_spooled(
        &self,
        out: &Outgoing,
        ahead: Option<&PathBuf>,
    ) -> Result<Delivery, MailError> {
        match self.send(&out.envelope, &out.raw).await {
            Ok(()) => {
                if let Some(path) = ahead
                    && let Err(e) = std::fs::remove_file(path)
                {
                    tracing::warn!(spooled = %path.display(), error = %e, "a delivered message stays in the spool: it will be sent again");
                }
                Ok(Delivery::Sent)
            }
            Err(error) => {
                let error = error.to_string();
                let path = match ahead {
                    // The spooled copy is rewritten with the last error, for `mail flush`.
                    Some(path) => {
                        spool::rewrite(path, &out.spooled(&error))?;
                        path.clone()
                    }
                    None => self.spool(out, &error)?,
                };
                Ok(Delivery::Spooled { path, error })
            }
        }
    }

    /// Sends without spooling, for `mail test`: the error is the answer.
    pub async fn send_now(&self, email: &Email) -> Result<Delivery, MailError> {
        match &self.settings.transport {
            Transport::Smtp(_) => {
                let out = Outgoing::new(&self.settings.from, email)?;
                self.send(&out.envelope, &out.raw).await?;
                Ok(Delivery::Sent)
            }
            _ => self.deliver(email).await,
        }
    }

    /// Over the SMTP client, or fails with why it could not be set up.
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SendError> {
        match self.smtp.as_ref().expect("smtp transport is configured") {
            Ok(smtp) => smtp.send(envelope, raw).await,
            Err(setup) => Err(setup.clone().into()),
        }
    }

    /// Writes the message to the spool as one file, atomically. A crash leaves the message
    /// spooled whole or not at all (two files, written one after the other, could leave a
    /// message without its envelope: never resent, and not reported).
    fn spool(&self, out: &Outgoing, error: &str) -> Result<PathBuf, WriteError> {
        spool::write_new(
            &self.spool_dir(),
            &out.team,
            spool::SPOOLED,
            &out.spooled(error),
        )
    }

    /// Connects to the SMTP server, with TLS and login as configured, and sends nothing.
    pub async fn test_connection(&self) -> Result<(), SendError> {
        match self.smtp.as_ref() {
            None => Ok(()),
            Some(Err(setup)) => Err(setup.clone().into()),
            Some(Ok(smtp)) => smtp.test_connection().await,
        }
    }

    /// Delivers every spooled message, oldest first.
    pub async fn flush(&self) -> Flushed {
        self.flush_except(&Pending { items: Vec::new() }).await
    }

    /// The same, leaving alone the messages of `pending` (this run's, sent after). One
    /// attempt per message (the next run tries again), and none after the server failed
    /// for one (down, or refusing for now): a run spends at most one `mail.timeout` on a
    /// server that is down, however many messages an outage left waiting.
    pub async fn flush_except(&self, pending: &Pending) -> Flushed {
        let ours = pending.spooled();
        let mut flushed = Flushed::default();
        let mut down: Option<String> = None;
        let now = jiff::Timestamp::now();
        for message in spool::waiting(&self.spool_dir()) {
            if ours.contains(&message.path()) {
                continue;
            }
            let read = message.read();
            if let Ok((entry, _)) = &read {
                flushed.stale.extend(self.stale(&message, entry, now));
            }
            let result = match (&down, read) {
                (Some(why), _) => Err(format!("not tried in this run: {why}")),
                (None, Ok((entry, raw))) => match self.flush_one(&entry, &raw).await {
                    Ok(()) => Ok(()),
                    Err((error, server)) => {
                        if server {
                            down = Some(format!(
                                "the server failed for an earlier message ({error})"
                            ));
                        }
                        Err(error)
                    }
                },
                (None, Err(e)) => Err(e.to_string()),
            };
            match result {
                Ok(()) => {
                    message.remove();
                    flushed.delivered += 1;
                }
                Err(error) => {
                    tracing::warn!(message = %message.path().display(), %error, "spooled message still undelivered");
                    flushed
                        .remaining
                        .push(format!("{}: {error}", message.shown().display()));
                }
            }
        }
        flushed
    }

    /// A line about a spooled message waiting longer than `mail.spool_warn_after`.
    fn stale(
        &self,
        message: &spool::Waiting,
        entry: &SpoolEntry,
        now: jiff::Timestamp,
    ) -> Option<String> {
        let waited = now.duration_since(entry.spooled_at).unsigned_abs();
        (waited > self.settings.spool_warn_after).then(|| {
            format!(
                "{}: waiting {} days (since {}), team {}, `{}`: {}",
                message.shown().display(),
                waited.as_secs() / 86_400,
                entry.spooled_at.strftime("%Y-%m-%d %H:%M UTC"),
                entry.team,
                entry.subject.escape_debug(),
                entry.last_error
            )
        })
    }

    /// Every message waiting in the spool, one line each, and those waiting longer than
    /// `mail.spool_warn_after`; nothing is sent.
    pub fn status(&self) -> (Vec<String>, Vec<String>) {
        let (mut all, mut stale) = (Vec::new(), Vec::new());
        let now = jiff::Timestamp::now();
        for message in spool::waiting(&self.spool_dir()) {
            match message.read() {
                Ok((entry, _)) => {
                    all.push(format!(
                        "{}: since {}, team {}, `{}`: {}",
                        message.shown().display(),
                        entry.spooled_at.strftime("%Y-%m-%d %H:%M UTC"),
                        entry.team,
                        entry.subject.escape_debug(),
                        entry.last_error
                    ));
                    stale.extend(self.stale(&message, &entry, now));
                }
                Err(e) => all.push(format!("{}: {e}", message.shown().display())),
            }
        }
        (all, stale)
    }

    /// Sends one spooled message once; the error, and whether it was the server's fault of
    /// the moment (then the rest wait for the next run).
    async fn flush_one(&self, entry: &SpoolEntry, raw: &[u8]) -> Result<(), (String, bool)> {
        let from: Option<Address> = entry.from.parse().ok();
        let to: Vec<Address> = entry.to.iter().filter_map(|t| t.parse().ok()).collect();
        let envelope = Envelope::new(from, to).map_err(|e| (e.to_string(), false))?;
        match &self.settings.transport {
            Transport::Smtp(_) => {
                let sent = match self.smtp.as_ref().expect("smtp transport is configured") {
                    Ok(smtp) => smtp.attempt(&envelope, raw).await,
                    Err(setup) => Err(setup.clone().into()),
                };
                sent.map_err(|e| (e.to_string(), !e.is_permanent()))
            }
            Transport::File => spool::write_new(&self.outbox_dir(), &entry.team, "eml", raw)
                .map(drop)
                .map_err(|e| (e.to_string(), false)),
            Transport::None => Err(("mail is switched off (mail.transport: none)".into(), false)),
        }
    }
}

/// What a flush of the spool did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub delivered: usize,
    /// Still waiting, one line each: the file and why.
    pub remaining: Vec<String>,
    /// Waiting longer than `mail.spool_warn_after`, one line each.
    pub stale: Vec<String>,
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

    /// The spooled envelope names the sender and recipients the message was built for, and
    /// the message follows it byte for byte.
    #[test]
    fn a_spooled_message_keeps_its_envelope_and_bytes() {
        let email = email();
        let out = Outgoing::new("drill@example.test", &email).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.spool");
        std::fs::write(&path, out.spooled("421 busy\r\ntry later")).unwrap();
        let waiting = spool::waiting(dir.path());
        let (back, message) = waiting[0].read().unwrap();
        assert_eq!(message, out.raw);
        assert_eq!(back.team, "msp");
        assert_eq!(back.subject, "restore-drill: FAIL\nsecond line");
        assert_eq!(back.last_error, "421 busy\r\ntry later");
        assert_eq!(back.to, ["noc@example.test", "it@example.test"]);
        assert_eq!(back.from, "drill@example.test");
    }
}
