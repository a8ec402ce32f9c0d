//! `restore-drill run`: plan, restore, verify, judge, report.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::ConfigDir;
use crate::config::{self, ConfigError, ConfigErrors};
use crate::exit::ExitCode;
use crate::heartbeat::Ping;
use crate::history::History;
use crate::judge::Status;
use crate::notify;
use crate::report;
use crate::run::{self, RunOptions, RunStart};
use crate::unattended;

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
            notify_config_error(&args.config.dir, &errors);
            return Ok(code);
        }
    };
    let mut selected = Vec::new();
    let mut unknown = Vec::new();
    for name in &args.policies {
        match config.policies.iter().find(|p| &p.name == name) {
            Some(policy) => selected.push(policy),
            None => unknown.push(ConfigError {
                file: config.dir.clone(),
                line: 0,
                column: 0,
                field: "--policy".into(),
                message: format!(
                    "no policy named `{name}`; known: {}",
                    config
                        .policies
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
    if !unknown.is_empty() {
        return Ok(super::config_failed(&ConfigErrors(unknown)));
    }
    if selected.is_empty() {
        selected = config.policies.iter().collect();
    }
    if let Some(path) = &args.json {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            eprintln!(
                "error: --json {}: the folder for the results does not exist",
                path.display()
            );
            return Ok(ExitCode::InvalidConfig);
        }
    }

    let start = RunStart::new(args.seed);
    if args.due {
        let history =
            History::open(&config.settings.state_dir).context("cannot open the history")?;
        let mut due = Vec::new();
        for policy in selected {
            let Some(schedule) = &policy.schedule else {
                continue;
            };
            let last = history.last_run(&policy.name)?.map(|(t, _)| t);
            if schedule.is_due(last, start.started_at) {
                due.push(policy);
            }
        }
        if due.is_empty() {
            outln!(
                "nothing due: no policy's schedule has come since its last run (see restore-drill schedule)"
            );
            // The runner ran: a monitor expecting a ping per invocation gets one.
            if let Some(heartbeat) = &config.settings.heartbeat {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?;
                runtime.block_on(heartbeat.ping(Ping::Success));
            }
            return Ok(ExitCode::Success);
        }
        selected = due;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.dry_run {
        let planned = runtime.block_on(run::plan_all(&selected, &start, &config.settings.storage));
        out!("{}", report::plan_text(&planned, start.seed));
        return Ok(ExitCode::Success);
    }
    let observer = super::progress::observer(args.progress);
    let options = RunOptions {
        keep: args.keep,
        drill: None,
        observer,
    };
    let (code, _) = perform(
        runtime,
        &config,
        &selected,
        &start,
        &options,
        args.json.as_deref(),
    )?;
    Ok(code)
}

/// The part of a run shared with drills: lock, stale scratch, heartbeat, signals, the run
/// itself, summary, evidence (history, artifacts), mail, exit code.
pub(super) fn perform(
    runtime: tokio::runtime::Runtime,
    config: &config::Config,
    selected: &[&config::Policy],
    start: &RunStart,
    options: &RunOptions,
    json: Option<&std::path::Path>,
) -> anyhow::Result<(ExitCode, Option<crate::results::RunResult>)> {
    // One run at a time per state folder; a crashed run's scratch is cleared first.
    let _lock = match unattended::acquire(&config.settings.state_dir, "run") {
        Ok(lock) => lock,
        Err(e @ unattended::LockError::Busy { .. }) => {
            eprintln!("error: {e}");
            return Ok((ExitCode::Busy, None));
        }
        Err(e) => return Err(e.into()),
    };
    let stale = unattended::clean_stale_scratch(&config.settings.scratch_dir);
    record_dead_runs(&config.settings, &stale);
    heartbeat(&runtime, &config.settings, Ping::Start);
    let mut signals = runtime
        .block_on(async { unattended::Signals::install() })
        .context("cannot install signal handlers")?;
    let work = async {
        let planned = run::plan_all(selected, start, &config.settings.storage).await;
        run::execute(config, planned, start, options).await
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = work => Ok(result),
            stop = signals.recv() => Err(stop),
        }
    });
    super::progress::finish(options.observer.as_ref());
    let result = match outcome {
        Ok(result) => result?,
        Err(stop) => {
            return stopped(runtime, config, start, options, stop).map(|code| (code, None));
        }
    };
    out!("{}", report::summary(&result));
    if options.keep {
        outln!(
            "restored files kept in {}",
            run::run_dir(config, start).display()
        );
    }
    if let Some(path) = json {
        report::write_json(&result, path)
            .with_context(|| format!("cannot write the results to {}", path.display()))?;
    }
    // Evidence first, then mail; a failure to keep evidence is reported after the mail went.
    let mut not_kept = Vec::new();
    let state = &config.settings.state_dir;
    let key = super::signing::signing_key(&config.settings)?;
    let recorded = History::open(state).and_then(|mut history| {
        let head = history.record(&result, key.as_ref())?;
        Ok((history.path().to_path_buf(), head))
    });
    let record_hash = match &recorded {
        Ok((path, head)) => {
            outln!(
                "history: recorded in {} (chain head {head})",
                path.display()
            );
            Some(head.as_str())
        }
        Err(e) => {
            not_kept.push(format!("cannot record the run in the history: {e}"));
            None
        }
    };
    match report::write_artifacts(state, &result, record_hash, key.as_ref()) {
        Ok(dir) => outln!("results: {}", dir.display()),
        Err(e) => not_kept.push(format!(
            "cannot write the run's results under {}: {e}",
            state.display()
        )),
    }
    let mail = runtime
        .block_on(notify::send_results(&config.settings, &result))
        .context("cannot send the results")?;
    super::mail::print_report(&mail);
    for line in &not_kept {
        eprintln!("error: {line}");
    }
    let code = if !not_kept.is_empty() {
        ExitCode::RunError
    } else if !mail.undelivered.is_empty() {
        ExitCode::MailUndelivered
    } else {
        match result.status {
            Status::Pass => ExitCode::Success,
            Status::Fail | Status::Interrupted => ExitCode::PolicyFailed,
        }
    };
    let ping = if code == ExitCode::Success {
        Ping::Success
    } else {
        Ping::Fail
    };
    heartbeat(&runtime, &config.settings, ping);
    Ok((code, Some(result)))
}

/// Runs of this state folder whose process died (SIGKILL, power loss, the OOM killer) before
/// they could record anything are recorded now, as interrupted: the history has no silent
/// gaps. Never fails this run.
fn record_dead_runs(settings: &config::Settings, stale: &[unattended::StaleRun]) {
    let ours = unattended::state_identity(&settings.state_dir);
    for dead in stale {
        let Some(marker) = dead.marker.as_ref().filter(|m| m.state_dir == ours) else {
            continue;
        };
        match record_interrupted(settings, &run::interrupted(marker, dead.last_seen)) {
            Ok(true) => eprintln!(
                "restore-drill: run {} did not finish (its process died); recorded as interrupted",
                marker.run_id
            ),
            Ok(false) => {}
            Err(e) => eprintln!("error: cannot record a run that did not finish: {e}"),
        }
    }
}

/// Records a run that did not finish; false when the history has it already (a run stopped
/// by a signal records itself, then is killed before its folder is gone).
fn record_interrupted(
    settings: &config::Settings,
    result: &crate::results::RunResult,
) -> anyhow::Result<bool> {
    let key = super::signing::signing_key(settings)?;
    match History::open(&settings.state_dir).and_then(|mut h| h.record(result, key.as_ref())) {
        Ok(_) => Ok(true),
        Err(crate::history::HistoryError::Duplicate { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Tells the monitor, when one is configured; never fails the run.
fn heartbeat(runtime: &tokio::runtime::Runtime, settings: &config::Settings, ping: Ping) {
    if let Some(heartbeat) = &settings.heartbeat {
        runtime.block_on(heartbeat.ping(ping));
    }
}

/// After SIGINT or SIGTERM: let in-flight decoders end, remove the run's scratch folder,
/// record the run as interrupted, and exit 130 or 143.
fn stopped(
    runtime: tokio::runtime::Runtime,
    config: &config::Config,
    start: &RunStart,
    options: &RunOptions,
    stop: unattended::Stop,
) -> anyhow::Result<ExitCode> {
    eprintln!("restore-drill: stopping: {stop:?} received; cleaning up");
    heartbeat(&runtime, &config.settings, Ping::Fail);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    // Recorded before its folder goes: killed in between, the next run finds the folder's
    // marker, and the history refuses the run a second record.
    let result = run::interrupted(
        &run::marker(config, start, options),
        Some(start.started_at + start.elapsed()),
    );
    match record_interrupted(&config.settings, &result) {
        Ok(_) => eprintln!(
            "restore-drill: run {} recorded as interrupted",
            start.run_id
        ),
        Err(e) => eprintln!("error: cannot record the interrupted run: {e:#}"),
    }
    let dir = run::run_dir(config, start);
    if dir.exists() {
        unattended::release_run_dir(&dir);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("warning: could not remove {}: {e}", dir.display());
        }
    }
    Ok(match stop {
        unattended::Stop::Interrupt => ExitCode::Interrupted,
        unattended::Stop::Terminate => ExitCode::Terminated,
    })
}

/// A run that could not start still tells the MSP's team, when the mail settings are valid.
fn notify_config_error(dir: &std::path::Path, errors: &ConfigErrors) {
    let Some(settings) = config::load_mail_only(dir) else {
        return;
    };
    if !settings.mail.enabled() {
        return;
    }
    let host = crate::run::host_name();
    let emails =
        notify::compose::error_notice(errors, &settings.teams, &host, jiff::Timestamp::now());
    let sent = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(notify::send_all(&settings, &emails))
                .map_err(anyhow::Error::from)
        });
    match sent {
        Ok(report) => super::mail::print_report(&report),
        Err(e) => eprintln!("error: the error notice could not be sent: {e:#}"),
    }
}
