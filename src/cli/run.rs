//! `restore-drill run`: the flags into session options; the session does the run
//! ([`restore_drill::session`]), and `super::printer::Printer` says what it tells as it goes.

use std::path::PathBuf;

use clap::Args;

use super::ConfigDir;
use restore_drill::config;
use restore_drill::exit::ExitCode;
use restore_drill::session::{self, Session, SessionOptions};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// Run only this policy (repeatable).
    #[arg(long = "policy", value_name = "NAME")]
    policies: Vec<String>,
    /// Repeat an earlier run's choice of sets and objects.
    #[arg(long)]
    seed: Option<u64>,
    /// Print the plan (sets, dates, objects, bytes) and restore nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the whole result as JSON to this file; `-` for stdout (the summary then goes to
    /// stderr).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Leave the restored files in the scratch folder and print where.
    #[arg(long)]
    keep: bool,
    /// Run only the policies whose `schedule` has come due since their last recorded run
    /// (for one crontab line serving every policy).
    #[arg(long)]
    due: bool,
    /// Live progress bars on stderr: auto (when stderr is a terminal), always or never.
    #[arg(long, value_enum, default_value_t = super::progress::ProgressMode::Auto)]
    progress: super::progress::ProgressMode,
}

pub fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    // An invalid policy file is an entry of the run (it fails); invalid settings stop it.
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => {
            let code = super::config_failed(&errors);
            if let Some(heartbeat) = config::load_heartbeat_only(&args.config.dir()) {
                session::tell_monitor(&heartbeat, code, &errors.to_string());
            }
            // A run that could not start still tells the MSP's team.
            match session::notice_config_errors(&args.config.dir(), &errors) {
                Some(Ok(report)) => super::mail::print_report(&report),
                Some(Err(e)) => eprintln!(
                    "error: the error notice could not be sent: {}",
                    super::chain(&e)
                ),
                None => {}
            }
            return Ok(code);
        }
    };
    for invalid in &config.invalid {
        eprintln!(
            "warning: {} is invalid ({} error{}; see `restore-drill check`): `{}` is not run, and fails every run that includes it",
            invalid.file.display(),
            invalid.errors.len(),
            if invalid.errors.len() == 1 { "" } else { "s" },
            invalid.name,
        );
    }
    super::json_to_stdout(args.json.as_deref());
    let options = SessionOptions {
        policies: args.policies,
        seed: args.seed,
        due: args.due,
        dry_run: args.dry_run,
        json: args.json,
        keep: args.keep,
        observer: if args.dry_run {
            None
        } else {
            super::progress::observer(args.progress)
        },
        ..SessionOptions::default()
    };
    let outcome = match Session::new(&config, options) {
        Ok(session) => session.run(&super::printer::Printer),
        Err(e) => {
            if let Some(heartbeat) = &config.settings.heartbeat {
                session::tell_monitor(heartbeat, e.exit_code(), &e.to_string());
            }
            Err(e)
        }
    };
    super::session_code(outcome.map(|o| o.code), &config.dir, "--policy")
}
