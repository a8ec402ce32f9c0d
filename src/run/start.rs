//! What a run is before and after its work: when it started and with which seed, its
//! folder and the marker that folder carries, the record of a run that did not finish, and
//! the host it ran on. Pure facts about the run, no stage of the pipeline.

use std::path::PathBuf;
use std::time::Instant;

use jiff::Timestamp;

use super::RunOptions;
use crate::config::Config;
use crate::judge::Status;
use crate::results::{RunKind, RunResult, SCHEMA_VERSION};
use crate::unattended::RunMarker;

/// The settings of a run fixed at its start.
pub struct RunStart {
    pub run_id: String,
    pub started_at: Timestamp,
    pub seed: u64,
    /// The sample, or a whole set for a drill.
    pub choice: crate::plan::Choice,
    clock: Instant,
}

impl RunStart {
    /// Starts [`now`].
    pub fn new(seed: Option<u64>) -> RunStart {
        let started_at = crate::clock::now();
        let seed = seed.unwrap_or_else(random_seed);
        let stamp = started_at.strftime("%Y%m%dT%H%M%SZ");
        let run_id = format!("{stamp}-{:04x}", random_seed() & 0xffff);
        RunStart {
            run_id,
            started_at,
            seed,
            choice: crate::plan::Choice::Sample,
            clock: Instant::now(),
        }
    }

    /// Time since the run started, on the monotonic clock.
    pub fn elapsed(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::try_from(self.clock.elapsed()).unwrap_or(jiff::SignedDuration::ZERO)
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one((std::process::id(), Instant::now()))
}

/// What the run's scratch folder says of it while it lives: enough to record it as
/// interrupted if its process dies (see [`crate::unattended::RunMarker`]).
pub fn marker(config: &Config, start: &RunStart, options: &RunOptions) -> RunMarker {
    RunMarker {
        state_dir: crate::unattended::state_identity(&config.settings.state_dir),
        run_id: start.run_id.clone(),
        started_at: start.started_at,
        seed: start.seed,
        kind: run_kind(options),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The record of a run that did not finish: stopped by SIGINT or SIGTERM (it ends now), or
/// found dead by a later run (its last sign of life stands for its end). No verdicts, only
/// the fact, so the history shows the night that did not complete.
pub fn interrupted(run: &RunMarker, ended: Option<Timestamp>) -> RunResult {
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: run.run_id.clone(),
        tool_version: run.tool_version.clone(),
        host: host_name(),
        kind: run.kind,
        operator: None,
        witness: None,
        started_at: run.started_at,
        finished_at: ended
            .filter(|t| *t >= run.started_at)
            .unwrap_or(run.started_at),
        seed: run.seed,
        status: Status::Interrupted,
        policies: Vec::new(),
        history_head: None,
        host_findings: Vec::new(),
    }
}

/// A drill, or a run started by a person or a scheduler.
pub(super) fn run_kind(options: &RunOptions) -> RunKind {
    if options.drill.is_some() {
        RunKind::Drill
    } else {
        RunKind::detect()
    }
}

/// Where the run's restores land: `scratch_dir/<run-id>`.
pub fn run_dir(config: &Config, start: &RunStart) -> PathBuf {
    config.settings.scratch_dir.join(&start.run_id)
}

/// This host's name, as results and mail show it.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
