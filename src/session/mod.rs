//! A run's whole lifecycle, from its start to its exit code: which policies (by name, or
//! those `--due`), the state folder's lock, stale scratch and dead-run records, the
//! heartbeat, signals, the pipeline itself ([`crate::run`]: plan → restore → verify →
//! judge), then the evidence (history, artifacts, `--json`), the mail and the exit code.
//! `restore-drill run` and `restore-drill drill` are this one lifecycle with other options.
//!
//! It is the engine behind every front end: it prints nothing itself. What a person would
//! be told as it happens goes out as an [`Event`] to the caller's [`Events`]; what the
//! caller decides on (the exit code, the result) comes back in the [`Outcome`]. It must not
//! depend on the CLI (no clap, indicatif or anyhow here), and the pipeline stages must not
//! depend on it.

mod drill;
mod evidence;
mod invalid;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, InvalidPolicy, Policy};
use crate::exit::ExitCode;
use crate::heartbeat::Ping;
use crate::history::{History, HistoryError};
use crate::judge::Status;
use crate::notify::{self, MailError, MailReport};
use crate::plan::Choice;
use crate::report;
use crate::results::RunResult;
use crate::run::{self, Drill, Observer, Planned, RunError, RunOptions, RunStart};
use crate::runtime::Threads;
use crate::unattended::{self, LockError, StopSignal};

pub use drill::{DrillSummary, RtoVerdict};
pub use evidence::notice_config_errors;

/// What to run and how; the front end fills it from its flags.
#[derive(Default)]
pub struct SessionOptions {
    /// The policies to run, by name; empty: every policy.
    pub policies: Vec<String>,
    /// Repeat an earlier run's choice of sets and objects.
    pub seed: Option<u64>,
    /// The sample, or a whole set for a drill.
    pub choice: Choice,
    /// Only the policies whose schedule has come due since their last recorded run.
    pub due: bool,
    /// Plan and stop: [`Event::Planned`], nothing restored, nothing recorded.
    pub dry_run: bool,
    /// Also write the whole result as JSON to this file; `-`: hand it to the front end
    /// ([`Event::Json`]) for stdout.
    pub json: Option<PathBuf>,
    /// Leave the restored files in the scratch folder.
    pub keep: bool,
    /// A drill, recorded with who ran and witnessed it.
    pub drill: Option<Drill>,
    /// Live progress, when a person is watching.
    pub observer: Option<Arc<dyn Observer>>,
}

/// What a session tells its front end as it goes, in the order it happens.
pub enum Event<'a> {
    /// `due`: no policy's schedule has come since its last run; nothing else happens.
    NothingDue,
    /// `dry_run`: the plan, for the front end to show; nothing else happens.
    Planned {
        planned: &'a [Planned<'a>],
        seed: u64,
    },
    /// A run of this state folder whose process died was recorded now, as interrupted.
    DeadRunRecorded { run_id: &'a str },
    /// A run whose process died could not be recorded.
    DeadRunNotRecorded { error: &'a SessionError },
    /// A dead-run marker that is not evidence: reported (also in the run's `host_findings`),
    /// not recorded.
    DeadRunUntrusted {
        finding: &'a crate::finding::Finding,
    },
    /// SIGINT or SIGTERM arrived: the run stops, cleans up and records itself.
    Stopping(StopSignal),
    /// The stopped run is in the history as interrupted.
    StoppedRecorded { run_id: &'a str },
    /// The stopped run could not be recorded.
    StoppedNotRecorded { error: &'a SessionError },
    /// The stopped run's scratch folder could not be removed.
    ScratchNotRemoved {
        path: &'a Path,
        error: &'a std::io::Error,
    },
    /// Every policy was judged; `kept` is where the restored files stay (`keep`).
    Finished {
        result: &'a RunResult,
        kept: Option<&'a Path>,
    },
    /// The whole result as JSON, for stdout (`json` is `-`).
    Json { text: &'a str },
    /// The run is in the history, at the head of its chain.
    Recorded { path: &'a Path, head: &'a str },
    /// The run's artifacts (results.json, junit.xml, report.html) are in this folder.
    Artifacts { dir: &'a Path },
    /// What happened to the run's mail.
    Mail(&'a MailReport),
    /// Part of the evidence could not be kept (said after the mail went); the run exits 4.
    NotKept { message: &'a str },
}

/// Receives a session's [`Event`]s; the CLI prints them.
pub trait Events {
    fn event(&self, event: Event<'_>);
}

/// How a session ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: ExitCode,
    /// The run's result, when the run went to its end.
    pub result: Option<RunResult>,
}

impl Outcome {
    fn code(code: ExitCode) -> Outcome {
        Outcome { code, result: None }
    }
}

/// Why a session could not be carried out at all (findings are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Policies named that the configuration does not have.
    #[error("no policy named {}; known: {}", quoted(.unknown), .known.join(", "))]
    UnknownPolicies {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    /// A drill's `--set DAY` names no set of the policy; nothing was restored or recorded.
    #[error("{}", drill::unknown_set_message(.policy, .day, .nearest))]
    UnknownSet {
        policy: String,
        day: jiff::civil::Date,
        /// The sets dated nearest that day (name, date), nearest first.
        nearest: Vec<(String, Option<jiff::Timestamp>)>,
    },
    /// A drill's `--set SNAPSHOT-ID` names no snapshot of the policy, or more than one.
    #[error("{0}")]
    UnknownSnapshot(drill::SnapshotMiss),
    /// The folder of the results file (`json`) does not exist.
    #[error("the folder for the results file {} does not exist", .0.display())]
    JsonFolder(PathBuf),
    /// Another run holds the state folder, or its lock file cannot be used.
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot open the history")]
    OpenHistory(#[source] HistoryError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    Run(#[from] RunError),
    /// The scratch folder is not this user's alone; nothing was restored.
    #[error(transparent)]
    Scratch(#[from] unattended::ScratchError),
    #[error(transparent)]
    SigningKey(#[from] crate::signing::KeyError),
    #[error("cannot send the results")]
    Mail(#[source] MailError),
    /// The error notice of a run that could not start was not sent.
    #[error(transparent)]
    Notice(MailError),
}

impl SessionError {
    /// The exit code a process ends with on this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            SessionError::UnknownPolicies { .. }
            | SessionError::UnknownSet { .. }
            | SessionError::UnknownSnapshot(_)
            | SessionError::JsonFolder(_) => ExitCode::InvalidConfig,
            SessionError::Lock(LockError::Busy { .. }) => ExitCode::Busy,
            _ => ExitCode::RunError,
        }
    }
}

/// One run (or drill) of a loaded configuration.
pub struct Session<'c> {
    config: &'c Config,
    selected: Vec<&'c Policy>,
    /// Invalid policy files of the selection: failed entries of the run, never skipped.
    invalid: Vec<&'c InvalidPolicy>,
    options: SessionOptions,
}

impl<'c> Session<'c> {
    /// Resolves the options against the configuration: every named policy exists, the
    /// `json` file's folder exists. Nothing is touched yet.
    pub fn new(config: &'c Config, options: SessionOptions) -> Result<Self, SessionError> {
        let (selected, invalid) = select(config, &options.policies)?;
        if let Some(path) = &options.json {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_some_and(|p| !p.is_dir()) {
                return Err(SessionError::JsonFolder(path.clone()));
            }
        }
        Ok(Session {
            config,
            selected,
            invalid,
            options,
        })
    }

    /// Runs the session to its end: the exit code, and the result when the run finished.
    /// However it ends (a lock held, a state folder not writable, a signal, a failure), the
    /// monitor is told the exit code; a dry run tells it nothing.
    pub fn run(self, events: &dyn Events) -> Result<Outcome, SessionError> {
        let ended = self.run_to_end(events);
        if !self.options.dry_run
            && let Some(heartbeat) = &self.config.settings.heartbeat
        {
            let (code, text) = match &ended {
                Ok(outcome) => (
                    outcome.code,
                    outcome
                        .result
                        .as_ref()
                        .map(report::summary)
                        .unwrap_or_default(),
                ),
                Err(e) => (e.exit_code(), error_chain(e)),
            };
            tell_monitor(heartbeat, code, &text);
        }
        ended
    }

    fn run_to_end(&self, events: &dyn Events) -> Result<Outcome, SessionError> {
        let mut start = RunStart::new(self.options.seed);
        start.choice = self.options.choice;
        let settings = &self.config.settings;
        let mut selected = self.selected.clone();
        if self.options.due {
            selected = self.due(&selected, &start)?;
            // An invalid policy is always "due": it fails every run until it is fixed.
            if selected.is_empty() && self.invalid.is_empty() {
                if let Some(observer) = &self.options.observer {
                    observer.finished();
                }
                events.event(Event::NothingDue);
                // The runner ran: a monitor expecting a ping per invocation gets one (`/0`).
                return Ok(Outcome::code(ExitCode::Success));
            }
        }
        let runtime = runtime(Threads::Many)?;
        if self.options.dry_run {
            let (ledger, _) = evidence::ledgers(settings);
            let planned = runtime.block_on(run::plan_all(
                &selected,
                &start,
                &settings.storage,
                ledger.as_ref(),
            ));
            events.event(Event::Planned {
                planned: &planned,
                seed: start.seed,
            });
            return Ok(Outcome::code(ExitCode::Success));
        }
        self.perform(runtime, &selected, &start, events)
    }

    /// The policies of `selected` whose schedule has come due since their last run.
    fn due(
        &self,
        selected: &[&'c Policy],
        start: &RunStart,
    ) -> Result<Vec<&'c Policy>, SessionError> {
        let history =
            History::open(&self.config.settings.state_dir).map_err(SessionError::OpenHistory)?;
        let mut due = Vec::new();
        for &policy in selected {
            let Some(schedule) = &policy.schedule else {
                continue;
            };
            let last = history.last_run(&policy.name)?.map(|(t, _)| t);
            if schedule.is_due(last, start.started_at) {
                due.push(policy);
            }
        }
        Ok(due)
    }

    /// Lock, stale scratch, heartbeat, signals, the run itself, evidence, mail, exit code.
    fn perform(
        &self,
        runtime: tokio::runtime::Runtime,
        selected: &[&Policy],
        start: &RunStart,
        events: &dyn Events,
    ) -> Result<Outcome, SessionError> {
        let config = self.config;
        let settings = &config.settings;
        // Installed first: a signal while the run starts (the lock, dead runs, the
        // heartbeat) is held until the work begins, which then stops at once.
        let mut signals = runtime
            .block_on(async { unattended::Signals::install() })
            .map_err(SessionError::Signals)?;
        // One run at a time per state folder; a crashed run's scratch is cleared first.
        let _lock = unattended::acquire(&settings.state_dir, "run")?;
        unattended::private_scratch(&settings.scratch_dir, true)?;
        let stale = unattended::clean_stale_scratch(&settings.scratch_dir);
        let untrusted = evidence::record_dead_runs(settings, &stale, events);
        let options = self.run_options();
        evidence::note_start(settings, &run::marker(config, start, &options));
        heartbeat(&runtime, settings, Ping::Start);
        let (ledger, ledger_problem) = evidence::ledgers(settings);
        let work = async {
            let planned = run::plan_all(selected, start, &settings.storage, ledger.as_ref()).await;
            // A drill of a set that does not exist is a mistake, not evidence: refused
            // before anything is restored, recorded or mailed.
            drill::resolve_set(&planned, start.choice)?;
            Ok::<_, SessionError>(run::execute(config, planned, start, &options).await?)
        };
        let outcome = runtime.block_on(async {
            tokio::select! {
                biased;
                stop = signals.recv() => Err(stop),
                result = work => Ok(result),
            }
        });
        if let Some(observer) = &options.observer {
            observer.finished();
        }
        // The scratch folder goes while the evidence is kept (waited for at the end).
        let (mut result, removal) = match outcome {
            Ok(result) => result?,
            Err(stop) => {
                let code = self.stopped(runtime, start, &options, stop, events);
                return Ok(Outcome::code(code));
            }
        };
        invalid::add(&mut result, &self.invalid, &settings.teams);
        result.host_findings.extend(untrusted);
        let kept = options.keep.then(|| run::run_dir(config, start));
        events.event(Event::Finished {
            result: &result,
            kept: kept.as_deref(),
        });
        // Evidence first, then mail; a failure to keep any of it is reported after the mail,
        // and never stops the rest from being kept or sent. The history first: its new head
        // goes into the JSON and the mail.
        let mut not_kept = evidence::keep(settings, &mut result, events)?;
        let problems = evidence::ledger_problems(ledger_problem, ledger.as_ref(), &not_kept);
        not_kept.extend(problems);
        if let Some(path) = &self.options.json
            && path.as_os_str() == "-"
        {
            events.event(Event::Json {
                text: &report::json_text(&result),
            });
        } else if let Some(path) = &self.options.json
            && let Err(e) = report::write_json(&result, path)
        {
            not_kept.push(format!(
                "cannot write the results to {}: {e}",
                path.display()
            ));
        }
        let (mail, stop) = mail_phase(&runtime, &mut signals, settings, &result, events)?;
        events.event(Event::Mail(&mail));
        for message in &not_kept {
            events.event(Event::NotKept { message });
        }
        let code = match stop {
            Some(StopSignal::Interrupt) => ExitCode::Interrupted,
            Some(StopSignal::Terminate) => ExitCode::Terminated,
            None => exit_code(&result, !not_kept.is_empty(), &mail),
        };
        if let Some(removal) = removal {
            removal.wait();
        }
        Ok(Outcome {
            code,
            result: Some(result),
        })
    }

    fn run_options(&self) -> RunOptions {
        RunOptions {
            keep: self.options.keep,
            drill: self.options.drill.clone(),
            observer: self.options.observer.clone(),
        }
    }

    /// After SIGINT or SIGTERM: let in-flight decoders end, record the run as interrupted,
    /// remove its scratch folder, and exit 130 or 143.
    fn stopped(
        &self,
        runtime: tokio::runtime::Runtime,
        start: &RunStart,
        options: &RunOptions,
        stop: StopSignal,
        events: &dyn Events,
    ) -> ExitCode {
        let config = self.config;
        events.event(Event::Stopping(stop));
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        // Recorded before its folder goes: killed in between, the next run finds the
        // folder's marker, and the history refuses the run a second record.
        let result = run::interrupted(
            &run::marker(config, start, options),
            Some(start.started_at + start.elapsed()),
        );
        match evidence::record_interrupted(&config.settings, &result) {
            Ok(_) => events.event(Event::StoppedRecorded {
                run_id: &start.run_id,
            }),
            Err(error) => events.event(Event::StoppedNotRecorded { error: &error }),
        }
        // By handle, never through a link (see `unattended::remove_run_dir`).
        let dir = run::run_dir(config, start);
        if let Err(error) = unattended::remove_run_dir(&config.settings.scratch_dir, &start.run_id)
        {
            events.event(Event::ScratchNotRemoved {
                path: &dir,
                error: &error,
            });
        }
        match stop {
            StopSignal::Interrupt => ExitCode::Interrupted,
            StopSignal::Terminate => ExitCode::Terminated,
        }
    }
}

/// The policies named, in the order given, and the invalid policy files named (by the name
/// read from them, or their path); every policy and every invalid file when none is named.
fn select<'c>(
    config: &'c Config,
    names: &[String],
) -> Result<(Vec<&'c Policy>, Vec<&'c InvalidPolicy>), SessionError> {
    if names.is_empty() {
        return Ok((
            config.policies.iter().collect(),
            config.invalid.iter().collect(),
        ));
    }
    let mut selected = Vec::new();
    let mut invalid = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        if let Some(policy) = config.policies.iter().find(|p| &p.name == name) {
            selected.push(policy);
        } else if let Some(policy) = config.invalid.iter().find(|p| &p.name == name) {
            invalid.push(policy);
        } else {
            unknown.push(name.clone());
        }
    }
    if unknown.is_empty() {
        Ok((selected, invalid))
    } else {
        let valid = config.policies.iter().map(|p| p.name.clone());
        Err(SessionError::UnknownPolicies {
            unknown,
            known: valid
                .chain(config.invalid.iter().map(|p| p.name.clone()))
                .collect(),
        })
    }
}

/// `` `a`, `b` `` for a message.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Evidence not kept (4) before undelivered mail (3) before failed policies (1).
fn exit_code(result: &RunResult, evidence_lost: bool, mail: &MailReport) -> ExitCode {
    if evidence_lost {
        ExitCode::RunError
    } else if !mail.undelivered.is_empty() {
        ExitCode::MailUndelivered
    } else {
        match result.status {
            Status::Pass => ExitCode::Success,
            Status::Fail | Status::Interrupted => ExitCode::PolicyFailed,
        }
    }
}

/// The run's mail, stopped by SIGINT or SIGTERM like every other phase: the messages are
/// spooled before the first attempt, so a stop leaves the unsent ones there for the next
/// run (the run is recorded already). A signal that came while the evidence was kept is
/// honoured here, before any attempt.
fn mail_phase(
    runtime: &tokio::runtime::Runtime,
    signals: &mut unattended::Signals,
    settings: &crate::config::Settings,
    result: &RunResult,
    events: &dyn Events,
) -> Result<(MailReport, Option<StopSignal>), SessionError> {
    let Some(mail) = notify::prepare_results(settings, result).map_err(SessionError::Mail)? else {
        // No mail: a signal that came while the evidence was kept still ends the run so.
        let pending = runtime.block_on(async {
            tokio::select! {
                biased;
                stop = signals.recv() => Some(stop),
                () = std::future::ready(()) => None,
            }
        });
        if let Some(stop) = pending {
            events.event(Event::Stopping(stop));
        }
        return Ok((MailReport::default(), pending));
    };
    let sent = runtime.block_on(async {
        tokio::select! {
            biased;
            stop = signals.recv() => Err(stop),
            report = notify::send_prepared(&mail) => Ok(report),
        }
    });
    match sent {
        Ok(report) => Ok((report.map_err(SessionError::Mail)?, None)),
        Err(stop) => {
            events.event(Event::Stopping(stop));
            let name = match stop {
                StopSignal::Interrupt => "SIGINT",
                StopSignal::Terminate => "SIGTERM",
            };
            let why = format!("the run was stopped by {name} before the server took it");
            Ok((mail.stopped(&why), Some(stop)))
        }
    }
}

/// Tells the monitor, when one is configured; never fails the run.
fn heartbeat(runtime: &tokio::runtime::Runtime, settings: &crate::config::Settings, ping: Ping) {
    if let Some(heartbeat) = &settings.heartbeat {
        runtime.block_on(heartbeat.ping(ping));
    }
}

/// Tells the monitor how a run ended: `<url>/<code>`, the body the last lines of `text` (the
/// summary, or the error that ended the run) and the code's meaning. Never fails the run;
/// for front ends too, when a run ends before its session exists (invalid configuration).
pub fn tell_monitor(heartbeat: &crate::heartbeat::Heartbeat, code: ExitCode, text: &str) {
    let body = format!(
        "{}restore-drill on {}: exit {} ({})\n",
        if text.is_empty() || text.ends_with('\n') {
            text.to_string()
        } else {
            format!("{text}\n")
        },
        run::host_name(),
        code as u8,
        code.meaning()
    );
    match runtime(Threads::One) {
        Ok(rt) => rt.block_on(heartbeat.finish(code as u8, &body)),
        Err(e) => tracing::warn!(error = %e, "heartbeat not sent"),
    }
}

/// An error and its sources on one line, as `anyhow`'s `{:#}` prints them.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A tokio runtime ([`crate::runtime::build`]), its failure as the session's error.
fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime, SessionError> {
    crate::runtime::build(threads).map_err(SessionError::Runtime)
}

#[cfg(test)]
mod tests;
