//! The `notify` stage: each team gets one message per run with what it may see, saying who
//! must act on each failure. [`compose`] is pure; [`deliver`]'s mailer decides where each
//! message goes, over [`smtp`] (the server) and [`spool`] (the files).

pub mod bounds;
pub mod compose;
pub mod deliver;
pub mod smtp;
pub mod spool;

pub use compose::Email;
pub use deliver::{Delivery, Flushed, MailError, Mailer};

use crate::config::{MailOnly, Settings};
use crate::results::RunResult;

/// What happened to a run's mail, for the exit code and the summary.
#[derive(Debug, Default)]
pub struct MailReport {
    pub sent: usize,
    pub written: Vec<std::path::PathBuf>,
    /// Messages left in the spool (this run's and older ones), with the last error.
    pub undelivered: Vec<String>,
    /// Older spooled messages delivered at the start of this run.
    pub flushed: usize,
    /// Spooled messages waiting longer than `mail.spool_warn_after`, one line each.
    pub stale: Vec<String>,
}

/// Flushes the spool, then sends this run's digests.
pub async fn send_results(
    settings: &Settings,
    result: &RunResult,
) -> Result<MailReport, MailError> {
    match prepare_results(settings, result)? {
        Some(mail) => send_prepared(&mail).await,
        None => Ok(MailReport::default()),
    }
}

/// A run's digests, composed, built and put where they wait (over SMTP, in the spool): from
/// here on a run stopped by a signal loses none of them.
pub struct RunMail {
    mailer: Mailer,
    emails: Vec<Email>,
    pending: deliver::Pending,
}

impl RunMail {
    /// What a run stopped by a signal leaves: its messages not yet sent, in the spool.
    pub fn stopped(&self, why: &str) -> MailReport {
        MailReport {
            undelivered: self.pending.left_spooled(why),
            ..MailReport::default()
        }
    }
}

/// Composes the run's digests, builds and spools them; `None` when mail is off.
pub fn prepare_results(
    settings: &Settings,
    result: &RunResult,
) -> Result<Option<RunMail>, MailError> {
    if !settings.mail.enabled() {
        return Ok(None);
    }
    let mailer = Mailer::new(&settings.mail, &settings.state_dir);
    let emails = compose::digests(
        result,
        &settings.teams,
        &settings.state_dir.join("runs").join(&result.run_id),
    );
    let pending = mailer.prepare(&emails)?;
    Ok(Some(RunMail {
        mailer,
        emails,
        pending,
    }))
}

/// Delivers the spool's older messages, then the run's own.
pub async fn send_prepared(mail: &RunMail) -> Result<MailReport, MailError> {
    let mut report = MailReport::default();
    let mut flushed = mail.mailer.flush_except(&mail.pending).await;
    report.flushed = flushed.delivered;
    report.undelivered.append(&mut flushed.remaining);
    report.stale = flushed.stale;
    let delivered = mail.mailer.send_pending(&mail.pending).await?;
    for (email, delivery) in mail.emails.iter().zip(delivered) {
        record(&mut report, email, delivery);
    }
    Ok(report)
}

/// Sends prepared messages (error notices), spooling what cannot be delivered.
pub async fn send_all(settings: &MailOnly, emails: &[Email]) -> Result<MailReport, MailError> {
    let mut report = MailReport::default();
    if !settings.mail.enabled() {
        return Ok(report);
    }
    let mailer = Mailer::new(&settings.mail, &settings.state_dir);
    for (email, delivery) in emails.iter().zip(mailer.deliver_all(emails).await?) {
        record(&mut report, email, delivery);
    }
    Ok(report)
}

fn record(report: &mut MailReport, email: &Email, delivery: Delivery) {
    match delivery {
        Delivery::Sent => report.sent += 1,
        Delivery::Written(path) => report.written.push(path),
        Delivery::Spooled { path, error } => {
            tracing::warn!(team = %email.team, spooled = %path.display(), %error, "mail undelivered, spooled for the next run");
            report
                .undelivered
                .push(format!("{} (team {}): {error}", path.display(), email.team));
        }
        Delivery::Skipped => {}
    }
}
