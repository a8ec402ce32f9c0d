//! `restore-drill mail flush` and `restore-drill mail test TEAM`.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::ConfigDir;
use restore_drill::config::{self, ConfigError, ConfigErrors};
use restore_drill::exit::ExitCode;
use restore_drill::notify::{self, Delivery, MailReport, Mailer};

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Deliver the messages waiting in state_dir/spool/ now.
    Flush(FlushArgs),
    /// Send a test message to one team (not spooled: the error is the answer).
    Test(TestArgs),
    /// List the messages waiting in state_dir/spool/, the old ones warned about; send none.
    Status(FlushArgs),
}

#[derive(Debug, Args)]
pub struct FlushArgs {
    #[command(flatten)]
    config: ConfigDir,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// The team's id from the settings' `teams`.
    team: String,
}

pub fn execute(command: MailCommand) -> anyhow::Result<ExitCode> {
    match command {
        MailCommand::Flush(args) => flush(args),
        MailCommand::Test(args) => test(args),
        MailCommand::Status(args) => status(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    restore_drill::runtime::build(restore_drill::runtime::Threads::One)
        .context("cannot start the async runtime")
}

fn flush(args: FlushArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    // A run delivers the spool itself, and its own messages wait there while it sends them:
    // two senders at once would send them twice.
    let _lock = match restore_drill::unattended::acquire(&config.settings.state_dir, "mail flush") {
        Ok(lock) => lock,
        Err(e @ restore_drill::unattended::LockError::Busy { .. }) => {
            eprintln!("error: {e}; it delivers the spool itself");
            return Ok(ExitCode::Busy);
        }
        Err(e) => return Err(e.into()),
    };
    let mailer = Mailer::new(&config.settings.mail, &config.settings.state_dir);
    let flushed = runtime()?.block_on(mailer.flush());
    outln!(
        "mail: {} spooled message(s) delivered, {} still waiting",
        flushed.delivered,
        flushed.remaining.len()
    );
    for line in &flushed.remaining {
        outln!("  undelivered: {line}");
    }
    print_stale(&flushed.stale, &config.settings.mail);
    Ok(if flushed.remaining.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::MailUndelivered
    })
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let Some(team) = config.settings.teams.iter().find(|t| t.id == args.team) else {
        let known: Vec<&str> = config
            .settings
            .teams
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        return Ok(super::config_failed(&ConfigErrors(vec![ConfigError {
            file: config.dir.join(config::SETTINGS_FILE),
            line: 0,
            column: 0,
            field: "teams".into(),
            message: format!("no team `{}`; known: {}", args.team, known.join(", ")),
        }])));
    };
    if !config.settings.mail.enabled() {
        eprintln!(
            "error: mail is switched off (mail.transport: none or no `mail:` in the settings)"
        );
        return Ok(ExitCode::InvalidConfig);
    }
    let host = restore_drill::run::host_name();
    let email = notify::compose::test_message(team, &host, jiff::Timestamp::now());
    let mailer = Mailer::new(&config.settings.mail, &config.settings.state_dir);
    match runtime()?.block_on(mailer.send_now(&email)) {
        Ok(Delivery::Written(path)) => {
            outln!(
                "mail: test message for {} written to {}",
                team.id,
                path.display()
            );
            Ok(ExitCode::Success)
        }
        Ok(_) => {
            outln!(
                "mail: test message sent to {} ({})",
                team.id,
                team.emails.join(", ")
            );
            Ok(ExitCode::Success)
        }
        Err(error) => {
            eprintln!(
                "error: the test message to {} was not delivered: {error}",
                team.id
            );
            Ok(ExitCode::MailUndelivered)
        }
    }
}

/// One line per fact about a run's mail, on stdout with the summary.
pub(super) fn print_report(report: &MailReport) {
    if report.flushed > 0 {
        outln!(
            "mail: {} spooled message(s) from earlier runs delivered",
            report.flushed
        );
    }
    if report.sent > 0 {
        outln!("mail: {} message(s) sent", report.sent);
    }
    for path in &report.written {
        outln!("mail: written to {}", path.display());
    }
    for line in &report.undelivered {
        outln!("mail: UNDELIVERED, spooled: {line}");
    }
    for line in &report.stale {
        eprintln!("warning: mail: spooled too long, still undelivered: {line}");
    }
}

/// Spooled messages waiting longer than `mail.spool_warn_after`: never removed, said loudly.
fn print_stale(stale: &[String], mail: &restore_drill::config::mail::MailSettings) {
    for line in stale {
        eprintln!(
            "warning: mail: spooled longer than {} (mail.spool_warn_after), still undelivered: {line}",
            restore_drill::config::units::format_duration(mail.spool_warn_after)
        );
    }
}

fn status(args: FlushArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let mailer = Mailer::new(&config.settings.mail, &config.settings.state_dir);
    let (all, stale) = mailer.status();
    outln!(
        "mail: {} message(s) waiting in {}",
        all.len(),
        mailer.spool_dir().display()
    );
    for line in &all {
        outln!("  {line}");
    }
    print_stale(&stale, &config.settings.mail);
    Ok(ExitCode::Success)
}
