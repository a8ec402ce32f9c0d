//! A restic policy's part of the run (`backups.format: restic`): its repository read into
//! a plan (snapshots as sets, files as objects, the same planner as every listing) within
//! the policy's time, and a sampled file restored on a restic worker thread, since
//! rustic_core blocks.
//!
//! Must not: hold a runtime thread while rustic_core reads, or let a restic policy be
//! planned differently from any other once its files are listed (the sample, the seed, the
//! coverage ledger are the planner's).

use std::sync::Arc;

use super::ObjectProgress;
use crate::config::Policy;
use crate::finding::{Finding, FindingKind};
use crate::plan::{Choice, Format, PlanContext, PlannedObject, Planner, PolicyPlan};
use crate::restore::{RestoreSpec, Restored};
use crate::storage::Storage;

/// The opened repository a restic policy's files are restored from.
pub type Source = Arc<crate::restic::Opened>;

/// The policy's plan from its repository and what listing it found wrong, with the repository
/// kept open for the restores; or the one finding of a repository that could not be read in
/// time.
pub(super) async fn list_policy(
    policy: &Policy,
    op: &Storage,
    ctx: &PlanContext,
    ledger: Option<&super::LedgerSource>,
) -> Result<(PolicyPlan, Vec<Finding>, Source), Finding> {
    let Some(restic) = policy.restic.clone() else {
        return Err(Finding::new(
            FindingKind::InvalidPolicy,
            None,
            "`backups.format: restic` without a `restic:` block",
        ));
    };
    let allowed = op.tuning().policy_time(policy.targets.rto);
    let storage = op.clone();
    let prefix = policy.backups.prefix.clone();
    let runtime = tokio::runtime::Handle::current();
    let only = match ctx.choice {
        Choice::WholeSnapshot(id) => Some(id.as_str().to_string()),
        _ => None,
    };
    let whole = ctx.choice != Choice::Sample;
    let seed = ctx.seed;
    let task = tokio::task::spawn_blocking(move || {
        let mut listed =
            crate::restic::list(&restic, storage, &prefix, only.as_deref(), whole, runtime)?;
        // `restic.read_data_subset`: packs read whole, whichever files the sample takes.
        if let Some(subset) = restic.read_data_subset {
            let read = listed.opened.read_data_subset(subset, seed);
            tracing::info!(
                packs = read.packs,
                read = read.read,
                damaged = read.findings.len(),
                "restic.read_data_subset read"
            );
            listed.findings.extend(read.findings);
        }
        Ok(listed)
    });
    let listed = match tokio::time::timeout(allowed, task).await {
        Ok(Ok(listed)) => listed?,
        Ok(Err(e)) => {
            return Err(Finding::new(
                FindingKind::StorageError,
                None,
                format!(
                    "reading the restic repository in {} stopped: {e}",
                    op.place()
                ),
            ));
        }
        Err(_) => {
            return Err(Finding::new(
                FindingKind::PolicyTimeout,
                Some(&policy.backups.prefix),
                format!(
                    "reading the restic repository in {} took longer than {}, the policy's \
                     time (storage.policy_timeout): nothing was restored",
                    op.place(),
                    crate::config::units::format_duration(allowed)
                ),
            ));
        }
    };
    tracing::info!(
        policy = policy.name.as_str(),
        snapshots = listed.snapshots,
        matching = listed.matching,
        files = listed.entries.len(),
        "restic repository read"
    );
    // A drill's snapshot, found by (the first digits of) its id, is chosen by its set name.
    let mut ctx = ctx.clone();
    if let Some(id) = listed
        .found
        .as_deref()
        .and_then(crate::plan::IdPrefix::parse)
    {
        ctx.choice = Choice::WholeSnapshot(id);
    }
    let complete = listed.truncated.is_none();
    let mut plan = plan_with_ledger(policy, listed.entries, &ctx, ledger, complete).await;
    if let Some(named) = listed.miss {
        plan.total_sets = listed.matching;
        plan.nearest = named.into_iter().map(|(n, t)| (n, Some(t))).collect();
    }
    let mut findings = listed.findings;
    if let Some(why) = &listed.truncated {
        findings.push(super::listing::truncated(&mut plan, policy, op, why));
    }
    Ok((plan, findings, listed.opened))
}

/// The plan over the listed files, each looked up in the coverage ledger, and the ledger's
/// objects gone from the repository (only when the listing was `complete`).
async fn plan_with_ledger(
    policy: &Policy,
    entries: Vec<crate::storage::Entry>,
    ctx: &PlanContext,
    ledger: Option<&super::LedgerSource>,
    complete: bool,
) -> PolicyPlan {
    let mut reader = match ledger {
        Some(source) => source.open(&policy.name).await,
        None => None,
    };
    let had_ledger = reader.is_some();
    let included = included(policy, entries);
    let keys = included.iter().map(|e| e.key.clone()).collect();
    let known = super::ledger::look_up_all(&mut reader, keys).await;
    let mut plan = plan(policy, &included, &known, ctx);
    if had_ledger && reader.is_none() {
        plan.coverage.complete = false;
    }
    super::ledger::find_removed(&mut plan, reader, complete).await;
    plan
}

/// The listed files `backups.include` takes: matched against each file's path in its
/// snapshot (not against the snapshot's id).
fn included(policy: &Policy, entries: Vec<crate::storage::Entry>) -> Vec<crate::storage::Entry> {
    let prefix = policy.backups.prefix.as_str();
    let in_snapshot = |key: &str| -> Option<String> {
        let rel = key.strip_prefix(prefix)?;
        rel.split_once('/').map(|(_, path)| path.to_string())
    };
    match &policy.backups.include {
        None => entries,
        Some(globs) => entries
            .into_iter()
            .filter(|e| in_snapshot(&e.key).is_some_and(|p| globs.is_match(&p)))
            .collect(),
    }
}

/// The plan over the included files, each with its ledger row (`known`, in their order):
/// every object restored as it is (its bytes are checked blob by blob, not against checksum
/// files).
fn plan(
    policy: &Policy,
    entries: &[crate::storage::Entry],
    known: &[Option<crate::plan::coverage::Known>],
    ctx: &PlanContext,
) -> PolicyPlan {
    let mut ledger = crate::plan::coverage::LedgerView::default();
    for (entry, known) in entries.iter().zip(known) {
        if let Some(known) = known {
            ledger.insert(entry.key.clone(), known.clone());
        }
    }
    let mut view = policy.clone();
    view.backups.include = None;
    let mut plan = Planner::plan_listing(&view, entries, ctx, Some(&ledger));
    for object in plan.sets.iter_mut().flat_map(|s| s.objects.iter_mut()) {
        object.format = Format::Raw;
        object.checksums.clear();
    }
    plan
}

/// Before a restic policy's files are restored: their blobs located, so files whose blobs
/// share a pack share its reads (`restic::packs`).
pub(super) async fn plan_reads(source: &Source, plan: &PolicyPlan) {
    let source = source.clone();
    let keys: Vec<String> = plan
        .sets
        .iter()
        .flat_map(|s| &s.objects)
        .map(|o| o.key.clone())
        .collect();
    let located =
        tokio::task::spawn_blocking(move || source.plan_reads(keys.iter().map(String::as_str)));
    if let Err(e) = located.await {
        tracing::warn!(error = %e, "restic files not located before their restore: each reads its own blobs");
    }
}

/// Restores one sampled file on a restic worker thread (`restic::workers`), its bytes shown
/// to `progress` as they are written.
pub(super) async fn restore(
    source: &Source,
    object: &PlannedObject,
    spec: &RestoreSpec,
    progress: Option<Arc<dyn ObjectProgress>>,
) -> Restored {
    let (source, key, path, spec) = (
        source.clone(),
        object.key.clone(),
        object.path_in_set.clone(),
        spec.clone(),
    );
    let task = crate::restic::workers::spawn(move || {
        let advance = |n: u64| {
            if let Some(p) = &progress {
                p.advance(n);
            }
        };
        crate::restic::restore_file(&source, &key, &path, &spec, &advance)
    });
    match task.await {
        Ok(restored) => restored,
        Err(e) => {
            let mut restored = Restored::default();
            restored.findings.push(Finding::new(
                FindingKind::StorageError,
                None,
                format!("the restore stopped: {e}"),
            ));
            restored
        }
    }
}
