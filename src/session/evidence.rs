//! The session's side effects on the record: a finished run into the history and its
//! artifacts folder, runs that did not finish (stopped by a signal, or whose process died)
//! into the history as interrupted, and the error notice and heartbeat of a run that could
//! not start.
//! None of these may turn a run's verdict: a failure to keep evidence is reported (and
//! ends the run with exit 4), never hidden, never a reason to skip the mail.

use std::path::Path;

use super::{Event, Events, SessionError};
use crate::config::{self, ConfigErrors, Settings};
use crate::finding::{Finding, FindingKind};
use crate::history::{History, HistoryError};
use crate::notify::{self, MailReport};
use crate::report;
use crate::results::RunResult;
use crate::run;
use crate::runtime::Threads;
use crate::unattended;

/// Records the finished run in the history and writes its artifacts; returns what could not
/// be kept, as messages. The history's new head goes into the result (`history_head`), so
/// its JSON and mail keep a copy outside the database. `Err` only when the signing key
/// cannot be read.
pub(super) fn keep(
    settings: &Settings,
    result: &mut RunResult,
    events: &dyn Events,
) -> Result<Vec<String>, SessionError> {
    let mut not_kept = Vec::new();
    let state = &settings.state_dir;
    let key = crate::signing::configured_key(settings.signing_key.as_ref())?;
    let recorded = History::open(state).and_then(|mut history| {
        let head = history.record(result, key.as_ref())?;
        Ok((history.path().to_path_buf(), head))
    });
    match recorded {
        Ok((path, head)) => {
            events.event(Event::Recorded {
                path: &path,
                head: &head.label(),
            });
            result.history_head = Some(head);
        }
        Err(e) => not_kept.push(format!("cannot record the run in the history: {e}")),
    }
    // `#N HASH`: the run's page names the head with its position, as period reports do.
    let head = result.history_head.as_ref().map(|h| h.label());
    match report::write_artifacts(state, result, head.as_deref(), key.as_ref()) {
        Ok(dir) => events.event(Event::Artifacts { dir: &dir }),
        Err(e) => not_kept.push(format!(
            "cannot write the run's results under {}: {e}",
            state.display()
        )),
    }
    Ok(not_kept)
}

/// Where the planner reads the coverage ledgers: the history, when there is one and it
/// opens. No history yet: none (every object is new). A history that cannot be opened gives
/// none and the message saying so, which the run reports as evidence not kept.
pub(super) fn ledgers(settings: &Settings) -> (Option<run::LedgerSource>, Option<String>) {
    let state = &settings.state_dir;
    if !state.join(crate::history::DATABASE).exists() {
        return (None, None);
    }
    match History::open(state) {
        Ok(_) => (Some(run::LedgerSource::new(state.clone())), None),
        Err(e) => (
            None,
            Some(format!(
                "cannot read the coverage ledger ({e}): this run's coverage figures count every object as never verified"
            )),
        ),
    }
}

/// What to say of the coverage ledger among the evidence not kept: the problem met opening
/// it, and those met while it was read. The history's own error is told once (it is in
/// `not_kept`): a ledger that could not be read then needs only its consequence.
pub(super) fn ledger_problems(
    opening: Option<String>,
    ledger: Option<&run::LedgerSource>,
    not_kept: &[String],
) -> Vec<String> {
    let problems: Vec<String> = opening
        .into_iter()
        .chain(ledger.iter().flat_map(|l| l.problems()))
        .collect();
    let history_failed = not_kept
        .iter()
        .any(|m| m.starts_with("cannot record the run"));
    if history_failed && !problems.is_empty() {
        return vec!["this run's coverage figures count every object as never verified: the coverage ledger could not be read either".into()];
    }
    problems
}

/// Runs of this state folder whose process died (SIGKILL, power loss, the OOM killer) before
/// they could record anything are recorded now, as interrupted: the history has no silent
/// gaps. A marker is only believed in a folder that was the runner's own (mode 0700), and
/// only for a run the history noted as started; the record is made from that note, not
/// from the marker. Any other marker is returned as an `untrusted_run_marker` finding and
/// told as an event, never recorded. Never fails this run.
pub(super) fn record_dead_runs(
    settings: &Settings,
    stale: &[unattended::StaleRun],
    events: &dyn Events,
) -> Vec<Finding> {
    let ours = unattended::state_identity(&settings.state_dir);
    let mut untrusted = Vec::new();
    for dead in stale {
        // The marker names the run; a run killed between making its folder and writing its
        // marker left none, and its folder's name is its id. Either way the history's own
        // note of the start is what is recorded, so the name is only believed when this
        // history started that run.
        let marker = match dead.marker.as_ref() {
            Some(m) if m.state_dir == ours => Some(m),
            Some(_) => continue,
            None => None,
        };
        let run_id = match (marker, dead.dir.file_name()) {
            (Some(m), _) => m.run_id.clone(),
            (None, Some(name)) => name.to_string_lossy().into_owned(),
            (None, None) => continue,
        };
        let started =
            match History::open(&settings.state_dir).and_then(|h| h.started(&run_id, &ours)) {
                Ok(started) => started,
                Err(error) => {
                    let error = SessionError::from(error);
                    events.event(Event::DeadRunNotRecorded { error: &error });
                    continue;
                }
            };
        let why = if dead.private {
            "this history never started a run with its id"
        } else {
            "its folder is not the runner's own with mode 0700"
        };
        let noted = match started.filter(|_| dead.private) {
            Some(noted) => noted,
            None => {
                // A folder with no marker that this history did not start: nothing claimed.
                let Some(marker) = marker else { continue };
                let finding = Finding::new(
                    FindingKind::UntrustedRunMarker,
                    Some(&dead.dir.display().to_string()),
                    format!(
                        "a dead-run marker naming run {} ({:?}, started {}) was not recorded: {why}; someone who can write in the scratch folder may have planted it",
                        marker.run_id, marker.kind, marker.started_at
                    ),
                );
                events.event(Event::DeadRunUntrusted { finding: &finding });
                untrusted.push(finding);
                continue;
            }
        };
        match record_interrupted(settings, &run::interrupted(&noted, dead.last_seen)) {
            Ok(true) => events.event(Event::DeadRunRecorded { run_id: &run_id }),
            Ok(false) => {}
            Err(error) => events.event(Event::DeadRunNotRecorded { error: &error }),
        }
    }
    untrusted
}

/// Notes the run's start in the history, so its marker can be believed if its process
/// dies; a history that cannot be written now is told when the run is recorded.
pub(super) fn note_start(settings: &Settings, marker: &unattended::RunMarker) {
    if let Err(error) = History::open(&settings.state_dir).and_then(|mut h| h.note_start(marker)) {
        tracing::debug!(%error, "the run's start could not be noted in the history");
    }
}

/// Records a run that did not finish; false when the history has it already (a run stopped
/// by a signal records itself, then is killed before its folder is gone).
pub(super) fn record_interrupted(
    settings: &Settings,
    result: &RunResult,
) -> Result<bool, SessionError> {
    let key = crate::signing::configured_key(settings.signing_key.as_ref())?;
    match History::open(&settings.state_dir).and_then(|mut h| h.record(result, key.as_ref())) {
        Ok(_) => Ok(true),
        Err(HistoryError::Duplicate { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A run that could not start still tells the MSP's team, when the mail settings are valid:
/// `None` when there is no one to tell (mail off, or its own settings invalid), else what
/// happened to the notice.
pub fn notice_config_errors(
    dir: &Path,
    errors: &ConfigErrors,
) -> Option<Result<MailReport, SessionError>> {
    let settings = config::load_mail_only(dir)?;
    if !settings.mail.enabled() {
        return None;
    }
    let host = run::host_name();
    let emails =
        notify::compose::error_notice(errors, &settings.teams, &host, jiff::Timestamp::now());
    Some(super::runtime(Threads::One).and_then(|rt| {
        rt.block_on(notify::send_all(&settings, &emails))
            .map_err(SessionError::Notice)
    }))
}
