//! Drives one run through the stages: plan every policy (listing storage), restore the
//! sampled objects in parallel across policies, verify, validate, judge. Side effects are
//! confined to storage reads and the run's own scratch folder, created new in the private
//! scratch folder and held open: every folder and file of the run is made through that
//! handle, never through a symbolic link, and the folder is removed at the end by handle
//! unless `--keep`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::checksum::Algorithm;
use crate::config::{Config, Policy, StorageTuning};
use crate::finding::{Finding, FindingKind};
use crate::judge::{self, Status, Timing};
use crate::plan::{PlanContext, PlannedObject, PolicyPlan};
use crate::restore::{self, RestoreSpec};
use crate::results::{Digest, ObjectResult, RunResult, SCHEMA_VERSION};
use crate::storage;
use crate::unattended::{Removal, RunFolder};
use crate::verify::{self, ChecksumFiles};

mod expectation;
mod judging;
mod keep;
mod ledger;
mod listing;
mod order;
#[cfg(feature = "restic")]
mod restic;
mod start;
mod timeout;

/// Where a restic policy's files are restored from (`backups.format: restic`).
#[cfg(feature = "restic")]
pub type ResticSource = restic::Source;
/// Without the `restic` feature no policy has one (`check` refuses `format: restic`).
#[cfg(not(feature = "restic"))]
#[derive(Debug, Clone)]
pub enum ResticSource {}

pub use crate::clock::now;
pub use ledger::LedgerSource;
use start::run_kind;
pub use start::{RunStart, host_name, interrupted, marker, run_dir};

#[derive(Clone, Default)]
pub struct RunOptions {
    /// Leave the restored files in the scratch folder.
    pub keep: bool,
    /// A drill, recorded with who ran and witnessed it; otherwise scheduled or manual.
    pub drill: Option<Drill>,
    /// Live progress, when a person is watching.
    pub observer: Option<std::sync::Arc<dyn Observer>>,
}

#[derive(Debug, Clone, Default)]
pub struct Drill {
    pub operator: Option<String>,
    pub witness: Option<String>,
}

/// Watches a run's restores: what was planned, each object's bytes as they arrive.
pub trait Observer: Send + Sync {
    /// All objects are known; `rto` is the target when one policy is restored (a drill).
    fn planned(&self, objects: usize, bytes: u64, rto: Option<Duration>);
    /// One object starts; the returned handle sees its bytes and its end.
    fn started(&self, key: &str, size: u64) -> Box<dyn ObjectProgress>;
    /// The restores are over (finished or stopped), before anything else is said.
    fn finished(&self) {}
}

pub trait ObjectProgress: Send + Sync {
    fn advance(&self, bytes: u64);
    fn finish(&self, passed: bool);
}

/// Why a run could not be carried out at all (as opposed to findings, which it reports).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "cannot create the scratch folder `{}`: {error} (set scratch_dir in restore-drill.yaml)", .path.display()
    )]
    Scratch {
        path: PathBuf,
        /// In the message, so no `source`: it would be printed twice.
        error: std::io::Error,
    },
    /// The scratch folder is not this user's alone (checked again on the handle the run
    /// creates its folder through).
    #[error(transparent)]
    UnsafeScratch(#[from] crate::unattended::ScratchError),
}

/// One policy after planning: its operator and plan, or why it has none.
pub struct Planned<'c> {
    pub policy: &'c Policy,
    pub op: Option<storage::Storage>,
    pub plan: Option<PolicyPlan>,
    pub findings: Vec<Finding>,
    /// The newest set's age against the RPO, judged at planning time (so `--dry-run` can
    /// say which policies will break it), with its finding.
    pub rpo: (judge::Rpo, Option<Finding>),
    /// The repository a restic policy's files are restored from; none for objects.
    pub restic: Option<ResticSource>,
}

/// Lists every policy's storage and plans its sample, all policies at once, against the
/// coverage ledgers the history held before this run (none: nothing verified before).
pub async fn plan_all<'c>(
    policies: &[&'c Policy],
    start: &RunStart,
    tuning: &StorageTuning,
    ledger: Option<&LedgerSource>,
) -> Vec<Planned<'c>> {
    let ctx = PlanContext {
        now: start.started_at,
        tz: jiff::tz::TimeZone::system(),
        seed: start.seed,
        choice: start.choice,
    };
    let futures = policies
        .iter()
        .map(|&policy| plan_one(policy, ctx.clone(), tuning, ledger));
    futures::future::join_all(futures).await
}

async fn plan_one<'p>(
    policy: &'p Policy,
    ctx: PlanContext,
    tuning: &StorageTuning,
    ledger: Option<&LedgerSource>,
) -> Planned<'p> {
    let rpo_of = |plan: Option<&PolicyPlan>| {
        let (mut rpo, finding) = judge::judge_rpo(
            &policy.targets,
            policy.backups.dated_by,
            plan.and_then(|p| p.newest())
                .map(|s| (s.name.as_str(), s.date)),
            ctx.now,
        );
        // A set the policy cannot date may be the newest: no RPO is met beside it.
        if plan.is_some_and(|p| !p.undated.is_empty()) {
            rpo.met = false;
        }
        (rpo, finding)
    };
    let unplanned = |finding: Finding| Planned {
        policy,
        op: None,
        plan: None,
        findings: vec![finding],
        rpo: rpo_of(None),
        restic: None,
    };
    let op = match storage::operator(&policy.storage, &policy.file, tuning) {
        Ok(op) => op.confined_to(&policy.backups.prefix),
        Err(e) => {
            return unplanned(Finding::new(FindingKind::StorageError, None, e.to_string()));
        }
    };
    let (plan, listed, restic) = match list_any(policy, &op, &ctx, ledger).await {
        Ok(planned) => planned,
        Err(finding) => return unplanned(finding),
    };
    let mut findings = crate::plan::findings(policy, &plan);
    findings.extend(listed);
    if plan.sets.is_empty() {
        findings.push(Finding::new(
            FindingKind::NoBackupsFound,
            None,
            format!(
                "no backup sets under `{}` ({} objects listed, {} outside any set folder)",
                policy.backups.prefix, plan.listed_objects, plan.ungrouped_objects
            ),
        ));
    }
    Planned {
        policy,
        op: Some(op),
        rpo: rpo_of(Some(&plan)),
        plan: Some(plan),
        findings,
        restic,
    }
}

/// The policy's plan from its storage listing, or from its restic repository.
async fn list_any(
    policy: &Policy,
    op: &storage::Storage,
    ctx: &PlanContext,
    ledger: Option<&LedgerSource>,
) -> Result<(PolicyPlan, Vec<Finding>, Option<ResticSource>), Finding> {
    match policy.backups.format {
        crate::config::BackupFormat::Objects => listing::list_policy(policy, op, ctx, ledger)
            .await
            .map(|(plan, findings)| (plan, findings, None)),
        #[cfg(feature = "restic")]
        crate::config::BackupFormat::Restic => restic::list_policy(policy, op, ctx, ledger)
            .await
            .map(|(plan, findings, source)| (plan, findings, Some(source))),
        #[cfg(not(feature = "restic"))]
        crate::config::BackupFormat::Restic => Err(Finding::new(
            FindingKind::InvalidPolicy,
            None,
            "this build has no restic support (built without the `restic` feature)",
        )),
    }
}

struct Job<'p> {
    policy: usize,
    policy_name: &'p str,
    set: usize,
    op: storage::Storage,
    object: &'p PlannedObject,
    /// A restic policy's repository: the object is a file of a snapshot in it.
    restic: Option<ResticSource>,
    /// The set's folder, relative to the run's folder.
    set_dir: Result<PathBuf, restore::UnsafePath>,
    required: bool,
    in_archive: Option<String>,
    /// Remove the object's restored files as soon as it is verified: nothing reads them
    /// again (no `validate` commands, no `--keep`), so scratch holds only what is in flight;
    /// a drill's set that fits in scratch stays until the run ends (`keep`).
    discard: bool,
    /// The run's folder as created, held open: the set's folder is made through it.
    run_folder: RunFolder,
    /// When the policy's restores are given up: `policy_time` after its first object started.
    deadline: Arc<OnceLock<Instant>>,
    policy_time: Duration,
}

struct JobOutcome {
    policy: usize,
    set: usize,
    result: ObjectResult,
    findings: Vec<Finding>,
    timing: Option<Timing>,
    started: Instant,
    ended: Instant,
    /// Not started: the policy's time was up (`storage.policy_timeout`).
    abandoned: bool,
    /// Stopped at the policy's deadline, or not started.
    late: bool,
}

/// Restores, verifies, validates and judges every planned policy. Returns the result and the
/// removal of the run's scratch folder, under way (none with `--keep`).
pub async fn execute(
    config: &Config,
    planned: Vec<Planned<'_>>,
    start: &RunStart,
    options: &RunOptions,
) -> Result<(RunResult, Option<Removal>), RunError> {
    let dir = run_dir(config, start);
    let scratch_error = |error| RunError::Scratch {
        path: dir.clone(),
        error,
    };
    let scratch = crate::unattended::private_scratch(&config.settings.scratch_dir, true)?
        .ok_or_else(|| scratch_error(std::io::ErrorKind::NotFound.into()))?;
    let run_folder = RunFolder::create(&scratch, &start.run_id).map_err(scratch_error)?;
    // Held until the run ends: the next run removes this folder only if nobody holds it, and
    // records the run as interrupted when its marker is still there.
    let claim =
        crate::unattended::claim_run_dir(&run_folder.folder, &marker(config, start, options))
            .map_err(scratch_error)?;
    let checksum_files = ChecksumFiles::default();
    let limits = restore::Limits {
        max_restored_bytes: config.settings.max_restored_bytes,
        max_zstd_window: config.settings.max_zstd_window,
        direct_io: config.settings.scratch_direct_io,
        stall_timeout: config.settings.storage.stall_timeout,
    };

    let whole_set = start.choice != crate::plan::Choice::Sample;
    let kept = keep::decide(&planned, whole_set, &run_folder.folder);
    #[cfg(feature = "restic")]
    for p in &planned {
        if let (Some(source), Some(plan)) = (&p.restic, &p.plan) {
            restic::plan_reads(source, plan).await;
        }
    }
    let (objects, bytes) = planned
        .iter()
        .filter(|p| p.op.is_some())
        .filter_map(|p| p.plan.as_ref())
        .flat_map(|plan| plan.sets.iter().flat_map(|set| &set.objects))
        .fold((0, 0), |(n, bytes), object| (n + 1, bytes + object.size));
    tracing::info!(objects, run = %start.run_id, "restoring");
    if let Some(observer) = &options.observer {
        let rto = (planned.len() == 1).then(|| planned[0].policy.targets.rto);
        observer.planned(objects, bytes, rto);
    }
    let observer = options.observer.as_deref();
    let outcomes: Vec<JobOutcome> = futures::stream::iter(jobs(
        &planned,
        &run_folder,
        options,
        &kept,
        config.settings.restores,
    ))
    .map(|job| run_job(job, &checksum_files, limits, observer))
    .buffer_unordered(config.settings.restores)
    .collect()
    .await;

    let policies = judging::finish_policies(
        planned,
        outcomes,
        &run_folder,
        &checksum_files,
        whole_set,
        start.started_at,
    )
    .await;
    // The run ends as it should from here: a folder left behind (kept, or not removable) is
    // no dead run.
    crate::unattended::release_run_dir(&claim);
    let removal = (!options.keep).then(|| run_folder.remove_in_background());
    let status = if policies.iter().all(|p| p.status == Status::Pass) {
        Status::Pass
    } else {
        Status::Fail
    };
    let result = RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: start.run_id.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        host: host_name(),
        kind: run_kind(options),
        operator: options.drill.as_ref().and_then(|d| d.operator.clone()),
        witness: options.drill.as_ref().and_then(|d| d.witness.clone()),
        started_at: start.started_at,
        finished_at: start.started_at + start.elapsed(),
        seed: start.seed,
        status,
        policies,
        history_head: None,
        host_findings: Vec::new(),
    };
    Ok((result, removal))
}

/// One job per planned object, across every policy that could be planned, made as the
/// restores take them: a drill of a million files holds a job for each restore under way,
/// not one for every file.
fn jobs<'p>(
    planned: &'p [Planned<'_>],
    run: &'p RunFolder,
    options: &'p RunOptions,
    kept: &'p [keep::Keep],
    restores: usize,
) -> impl Iterator<Item = Job<'p>> + 'p {
    planned
        .iter()
        .enumerate()
        .filter_map(
            |(p, planned_policy)| match (&planned_policy.op, &planned_policy.plan) {
                (Some(op), Some(plan)) => Some((p, planned_policy, op, plan)),
                _ => None,
            },
        )
        .flat_map(move |(p, planned_policy, op, plan)| {
            let policy = &planned_policy.policy;
            let policy_dir = PathBuf::from(&policy.name);
            let deadline = Arc::new(OnceLock::new());
            let policy_time = op.tuning().policy_time(policy.targets.rto);
            let discard = !options.keep
                && policy.validate.is_empty()
                && !matches!(kept[p], keep::Keep::ToTheEnd { .. });
            plan.sets.iter().enumerate().flat_map(move |(s, set)| {
                let set_dir = restore::output_path(&policy_dir, &set.name);
                let deadline = deadline.clone();
                let objects = &set.objects;
                order::lanes(objects.len(), restores).map(move |i| Job {
                    object: &objects[i],
                    policy: p,
                    policy_name: &policy.name,
                    set: s,
                    op: op.clone(),
                    restic: planned_policy.restic.clone(),
                    set_dir: set_dir.clone(),
                    required: policy.checksums.required,
                    in_archive: policy.checksums.in_archive.clone(),
                    discard,
                    run_folder: run.clone(),
                    deadline: deadline.clone(),
                    policy_time,
                })
            })
        })
}

async fn run_job(
    job: Job<'_>,
    files: &ChecksumFiles,
    limits: restore::Limits,
    observer: Option<&dyn Observer>,
) -> JobOutcome {
    let started = Instant::now();
    let object = job.object;
    let deadline = *job.deadline.get_or_init(|| started + job.policy_time);
    if started >= deadline {
        return timeout::abandoned(&job, started);
    }
    let expectation::Expectation {
        expected,
        of_the_object: mut findings,
        of_the_set,
    } = expectation::expected_digests(&job, files).await;
    let mut algorithms: BTreeSet<Algorithm> = expected.iter().map(|e| e.algorithm).collect();
    algorithms.insert(Algorithm::Sha256);
    let mut restored = restore::Restored::default();
    match set_folder(&job) {
        Err(finding) => findings.push(finding),
        Ok(set_dir) => {
            let spec = RestoreSpec {
                set_dir,
                algorithms,
                in_archive: job.in_archive.clone(),
                limits,
                deadline: Some(deadline),
            };
            restored = restore_watched(&job, &spec, observer).await;
        }
    }
    let read_whole = !restored.digests.is_empty();
    findings.append(&mut restored.findings);
    if read_whole && job.set_dir.is_ok() && (job.restic.is_none() || !expected.is_empty()) {
        findings.extend(verify::compare_digests(
            &object.key,
            &expected,
            &restored.digests,
            job.required,
        ));
    }
    let primary = expected.first().map_or(Algorithm::Sha256, |e| e.algorithm);
    let status = Status::of(&findings);
    // The set's findings (a snapshot's manifest) are the policy's, not this object's.
    findings.extend(of_the_set);
    tracing::info!(
        key = object.key.as_str(),
        status = status.as_str(),
        seconds = restored.elapsed.as_secs_f64(),
        "restored"
    );
    let timing = (read_whole && restored.stored_bytes > 0).then_some(Timing {
        stored_bytes: restored.stored_bytes,
        elapsed: restored.elapsed,
        first_byte: restored.first_byte,
    });
    let outcome = JobOutcome {
        policy: job.policy,
        set: job.set,
        result: ObjectResult {
            key: object.key.clone(),
            identity: Some(object.identity.clone()),
            set: String::new(),
            format: object.format,
            stored_bytes: restored.stored_bytes,
            restored_bytes: restored.restored_bytes,
            files: restored.files,
            digest: Digest {
                algorithm: primary,
                expected: expected
                    .iter()
                    .find(|e| e.algorithm == primary)
                    .map(|e| e.digest.clone()),
                actual: restored.digests.get(&primary).cloned(),
                source: expected
                    .iter()
                    .find(|e| e.algorithm == primary)
                    .map(|e| e.source.clone()),
            },
            seconds: restored.elapsed.as_secs_f64(),
            status,
        },
        findings,
        timing,
        started,
        ended: Instant::now(),
        abandoned: false,
        late: restored.out_of_time,
    };
    // By each file's folder handle, so a folder swapped meanwhile redirects nothing.
    if job.discard && !restored.created.is_empty() {
        let created = std::mem::take(&mut restored.created);
        let _ = tokio::task::spawn_blocking(move || restore::remove_created(&created)).await;
    }
    outcome
}

/// Restores the job's object, its progress shown to the observer when someone watches.
async fn restore_watched(
    job: &Job<'_>,
    spec: &RestoreSpec,
    observer: Option<&dyn Observer>,
) -> restore::Restored {
    let object = job.object;
    let progress: Option<Arc<dyn ObjectProgress>> =
        observer.map(|o| Arc::from(o.started(&object.key, object.size)));
    let advance = |n: u64| {
        if let Some(p) = &progress {
            p.advance(n);
        }
    };
    let restored = match &job.restic {
        #[cfg(feature = "restic")]
        Some(source) => restic::restore(source, object, spec, progress.clone()).await,
        #[cfg(not(feature = "restic"))]
        Some(never) => match *never {},
        None => restore::restore_object(&job.op, object, spec, &advance).await,
    };
    if let Some(p) = &progress {
        p.finish(restored.findings.is_empty());
    }
    restored
}

/// The job's set folder, opened (and made when missing) through the run folder's handle
/// without following a link, or the finding that says why it cannot be.
fn set_folder(job: &Job<'_>) -> Result<crate::folder::Folder, Finding> {
    let key = Some(job.object.key.as_str());
    let rel = job.set_dir.as_ref().map_err(|why| {
        Finding::new(
            FindingKind::UnsafePath,
            key,
            format!("refused: the set name makes an unsafe folder: {why}"),
        )
    })?;
    // Opened again for each object, by handle from the run's folder: a set folder moved
    // away and replaced by a link mid-run is refused, never written into where it went.
    job.run_folder.folder.dir(rel, true).map_err(|e| {
        Finding::new(
            FindingKind::ScratchError,
            key,
            format!("cannot create the set's folder: {e}"),
        )
    })
}

/// Whether `path`, resolved as a command would, is the folder `rel` below `run` reached by
/// handle without following a link (same device and inode).
fn same_folder(run: &crate::folder::Folder, rel: &Path, path: &Path) -> bool {
    let (Ok(by_handle), Ok(by_path)) = (
        run.dir(rel, false).and_then(|f| f.stat()),
        rustix::fs::stat(path),
    ) else {
        return false;
    };
    by_handle.st_dev == by_path.st_dev && by_handle.st_ino == by_path.st_ino
}

/// Runs the policy's `validate` commands in each set folder that holds restored files.
async fn validate_sets(
    planned: &Planned<'_>,
    outcomes: &[&JobOutcome],
    run: &RunFolder,
) -> Vec<Finding> {
    let (Some(plan), false) = (&planned.plan, planned.policy.validate.is_empty()) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for (s, set) in plan.sets.iter().enumerate() {
        let restored_any = outcomes.iter().any(|o| o.set == s && o.result.files > 0);
        if !restored_any {
            continue;
        }
        let Ok(rel) = restore::output_path(Path::new(&planned.policy.name), &set.name) else {
            continue;
        };
        // The commands get the folder as a path: it must still lead to the folder restored.
        let set_dir = run.path.join(&rel);
        if !same_folder(&run.folder, &rel, &set_dir) {
            findings.push(Finding::new(
                FindingKind::ScratchError,
                Some(&set.name),
                format!(
                    "`{}` no longer leads to the folder restored (replaced during the run, by a symbolic link or another folder): validate commands not run",
                    set_dir.display()
                ),
            ));
            continue;
        }
        findings
            .extend(verify::run_validations(&planned.policy.validate, &set_dir, &set.name).await);
    }
    findings
}
