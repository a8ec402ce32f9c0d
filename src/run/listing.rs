//! A policy's storage listed into its plan, within the policy's bounds: the listings share
//! one budget of keys and list requests (`storage::Listing`), and the whole of it is given up
//! at `storage.policy_timeout` (a hostile endpoint answering slowly page after page). What
//! the bounds cut short, and names that are not valid UTF-8, are findings of the policy.
//!
//! Must not: hold the listing (the planner folds it as it comes), or let one policy's
//! listing hold the others: each policy is listed in a future of its own.

use super::ledger::{LedgerSource, find_removed, list_known};
use crate::config::Policy;
use crate::finding::{Finding, FindingKind};
use crate::plan::{PlanContext, Planner, PolicyPlan};
use crate::storage::{self, Listing, Storage};

/// The policy's plan and what its listing found wrong, or the one finding of a listing that
/// failed or ran out of time.
pub(super) async fn list_policy(
    policy: &Policy,
    op: &Storage,
    ctx: &PlanContext,
    ledger: Option<&LedgerSource>,
) -> Result<(PolicyPlan, Vec<Finding>), Finding> {
    let allowed = op.tuning().policy_time(policy.targets.rto);
    let mut listing = Listing::default();
    let planned = tokio::time::timeout(allowed, plan(policy, op, ctx, ledger, &mut listing)).await;
    let mut plan = match planned {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => return Err(Finding::new(FindingKind::StorageError, None, e.to_string())),
        Err(_) => {
            return Err(Finding::new(
                FindingKind::PolicyTimeout,
                Some(&policy.backups.prefix),
                format!(
                    "listing {} took longer than {}, the policy's time (storage.policy_timeout; \
                     twice targets.rto, at least 1h, by default): nothing was restored; check \
                     the endpoint, or raise storage.policy_timeout",
                    op.place(),
                    crate::config::units::format_duration(allowed)
                ),
            ));
        }
    };
    let mut findings = Vec::new();
    if let Some(why) = &listing.truncated {
        findings.push(truncated(&mut plan, policy, op, why));
    }
    for name in &listing.invalid_names {
        findings.push(Finding::new(
            FindingKind::InvalidName,
            Some(name),
            format!(
                "the name is not valid UTF-8 (its bytes shown escaped, `\\xNN`) in {}: it was \
                 not read; rename the file in the client's storage",
                op.place()
            ),
        ));
    }
    if listing.more_invalid_names > 0 {
        findings.push(Finding::new(
            FindingKind::InvalidName,
            None,
            format!(
                "and {} more names that are not valid UTF-8 in {}",
                listing.more_invalid_names,
                op.place()
            ),
        ));
    }
    Ok((plan, findings))
}

/// The `listing_truncated` finding of a listing cut short by `why`, and the plan told: a
/// listing cut short proves nothing gone from storage, nor the coverage complete.
pub(super) fn truncated(
    plan: &mut PolicyPlan,
    policy: &Policy,
    op: &Storage,
    why: &str,
) -> Finding {
    plan.ledger_changes
        .retain(|c| c.change != crate::plan::coverage::ChangeKind::Removed);
    plan.coverage.complete = false;
    Finding::new(
        FindingKind::ListingTruncated,
        Some(&policy.backups.prefix),
        format!(
            "{}: {why}, so the sets were chosen from part of the storage (an endpoint that \
             lists without end, or a prefix holding more than a policy should): check the \
             prefix, or raise the setting in restore-drill.yaml",
            op.place()
        ),
    )
}

/// Both listings folded into the plan, each key with its ledger row: the first into sets,
/// the second of the chosen sets' folders for their objects, so the first keeps a few
/// numbers per set and no object. Then what the ledger holds that storage no longer does.
async fn plan(
    policy: &Policy,
    op: &Storage,
    ctx: &PlanContext,
    ledger: Option<&LedgerSource>,
    listing: &mut Listing,
) -> Result<PolicyPlan, storage::StorageError> {
    let mut reader = match ledger {
        Some(source) => source.open(&policy.name).await,
        None => None,
    };
    let had_ledger = reader.is_some();
    let mut planner = Planner::new(policy, ctx);
    let prefix = &policy.backups.prefix;
    list_known(op, prefix, listing, &mut reader, |e, k| planner.add(e, k)).await?;
    let mut selection = planner.select(ctx);
    for folder in selection.folders() {
        list_known(op, &folder, listing, &mut reader, |e, k| {
            selection.add(e, k)
        })
        .await?;
    }
    let mut plan = selection.finish();
    if had_ledger && reader.is_none() {
        // The ledger failed part way (its problem is kept): the figures are not whole.
        plan.coverage.complete = false;
    }
    find_removed(&mut plan, reader, listing.truncated.is_none()).await;
    Ok(plan)
}
