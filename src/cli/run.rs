//! `restore-drill run`: the flags into session options; the session does the run
//! ([`restore_drill::session`]), and [`Printer`] says what it tells as it goes.

use std::path::PathBuf;

use clap::Args;

use super::ConfigDir;
use restore_drill::config;
use restore_drill::exit::ExitCode;
use restore_drill::report;
use restore_drill::session::{self, Event, Events, Session, SessionOptions};

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
    /// Write the whole result as JSON to this file.
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
    let config = match config::load(&args.config.dir) {
        Ok(config) => config,
        Err(errors) => {
            let code = super::config_failed(&errors);
            // A run that could not start still tells the MSP's team.
            match session::notice_config_errors(&args.config.dir, &errors) {
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
    let outcome = Session::new(&config, options).and_then(|s| s.run(&Printer));
    super::session_code(outcome.map(|o| o.code), &config.dir, "--policy")
}

/// Prints what a session tells: the summary and the evidence on stdout, problems on stderr.
pub(super) struct Printer;

impl Events for Printer {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::NothingDue => outln!(
                "nothing due: no policy's schedule has come since its last run (see restore-drill schedule)"
            ),
            Event::Planned { planned, seed } => out!("{}", report::plan_text(planned, seed)),
            Event::DeadRunRecorded { run_id } => eprintln!(
                "restore-drill: run {run_id} did not finish (its process died); recorded as interrupted"
            ),
            Event::DeadRunNotRecorded { error } => {
                eprintln!("error: cannot record a run that did not finish: {error}")
            }
            Event::Stopping(signal) => {
                eprintln!("restore-drill: stopping: {signal:?} received; cleaning up")
            }
            Event::StoppedRecorded { run_id } => {
                eprintln!("restore-drill: run {run_id} recorded as interrupted")
            }
            Event::StoppedNotRecorded { error } => eprintln!(
                "error: cannot record the interrupted run: {}",
                super::chain(error)
            ),
            Event::ScratchNotRemoved { path, error } => {
                eprintln!("warning: could not remove {}: {error}", path.display())
            }
            Event::Finished { result, kept } => {
                out!("{}", report::summary(result));
                if let Some(dir) = kept {
                    outln!("restored files kept in {}", dir.display());
                }
            }
            Event::Recorded { path, head } => outln!(
                "history: recorded in {} (chain head {head})",
                path.display()
            ),
            Event::Artifacts { dir } => outln!("results: {}", dir.display()),
            Event::Mail(report) => super::mail::print_report(report),
            Event::NotKept { message } => eprintln!("error: {message}"),
        }
    }
}
