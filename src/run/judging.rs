//! Judging one policy from its objects' outcomes: the RTO measured and projected, the RPO
//! from the plan, the findings capped, and coverage after this run (the plan's figures with
//! the objects it verified, and the `coverage_gap` finding against `sample.coverage`). Pure:
//! it must not restore, list or read the clock (`now` is the run's start).

use std::time::Duration;

use super::{JobOutcome, Planned, timeout};
use crate::finding::Finding;
use crate::judge::{self, Status, Timing};
use crate::plan::coverage::{self, Coverage};
use crate::plan::{PlannedObject, PolicyPlan};
use crate::results::{ObjectResult, PolicyResult, SetResult};
use crate::unattended::RunFolder;
use crate::verify::{self, ChecksumFiles};

pub(super) fn judge_policy(
    planned: Planned<'_>,
    outcomes: Vec<JobOutcome>,
    validation: Vec<Finding>,
    whole_set: bool,
    now: jiff::Timestamp,
) -> PolicyResult {
    let policy = planned.policy;
    let mut findings = planned.findings;
    let mut plan = planned.plan;
    let newest = plan.as_ref().and_then(|p| p.newest());
    let (rpo, rpo_finding) = planned.rpo;
    let time = planned
        .op
        .as_ref()
        .map(|op| op.tuning().policy_time(policy.targets.rto));
    let all: Vec<&JobOutcome> = outcomes.iter().collect();
    findings.extend(time.and_then(|t| timeout::policy_timeout(&all, t)));
    let restored: Vec<&JobOutcome> = all.into_iter().filter(|o| !o.abandoned).collect();
    let (rto, rto_finding) = judge_rto(
        &policy.targets,
        &restored,
        newest,
        plan.as_ref()
            .and_then(|p| p.sets.first())
            .filter(|_| whole_set),
    );
    // Each result moved, not copied: a drill of a whole snapshot has one per file.
    let mut objects = Vec::with_capacity(outcomes.len());
    for outcome in outcomes.into_iter().filter(|o| !o.abandoned) {
        findings.extend(outcome.findings);
        let mut result = outcome.result;
        if let Some(set) = plan.as_ref().and_then(|p| p.sets.get(outcome.set)) {
            result.set = set.name.clone();
        }
        objects.push(result);
    }
    objects.sort_by(|a, b| a.set.cmp(&b.set).then_with(|| a.key.cmp(&b.key)));
    findings.extend(validation);
    findings.extend(rpo_finding);
    findings.extend(rto_finding);
    let (coverage, ledger_changes) = match plan.as_mut() {
        Some(plan) => {
            let coverage = after_run(plan, &objects, now);
            findings.extend(judge::judge_coverage(&coverage));
            // Moved, not copied: a first run over a big bucket lists a million new objects.
            (Some(coverage), std::mem::take(&mut plan.ledger_changes))
        }
        None => (None, Vec::new()),
    };
    // One bad object must not flood the summary, history and mail: the rest is counted.
    let findings = crate::finding::cap(findings);
    let sets = plan
        .as_ref()
        .map(|p| {
            p.sets
                .iter()
                .map(|s| SetResult {
                    name: s.name.clone(),
                    date: s.date,
                    dated_by: s.dated_by,
                    newest: s.newest,
                    total_objects: s.total_objects,
                    total_bytes: s.total_bytes,
                    sampled_objects: s.objects.len(),
                    capped_objects: s.capped_objects,
                })
                .collect()
        })
        .unwrap_or_default();
    PolicyResult {
        name: policy.name.clone(),
        client: policy.client.clone(),
        description: policy.description.clone(),
        file: policy.file.display().to_string(),
        responsibility: policy.responsibility.clone(),
        status: Status::of(&findings),
        findings,
        rpo,
        rto,
        listed_objects: plan.as_ref().map_or(0, |p| p.listed_objects),
        total_sets: plan.as_ref().map_or(0, |p| p.total_sets),
        sets,
        objects,
        coverage,
        ledger_changes,
    }
}

/// Coverage after this run: the plan's figures with the objects this run verified.
fn after_run(plan: &PolicyPlan, objects: &[ObjectResult], now: jiff::Timestamp) -> Coverage {
    let planned: std::collections::HashMap<&str, &PlannedObject> = plan
        .sets
        .iter()
        .flat_map(|s| &s.objects)
        .map(|o| (o.key.as_str(), o))
        .collect();
    let verified: Vec<(&str, u64, Option<jiff::Timestamp>, bool)> = objects
        .iter()
        .filter(|o| o.status == Status::Pass)
        .filter_map(|o| planned.get(o.key.as_str()))
        .map(|o| (o.key.as_str(), o.size, o.last_verified, o.overdue))
        .collect();
    coverage::after_run(plan.coverage.clone(), &plan.oldest, &verified, now)
}

/// Validates, checks manifest coverage and judges each policy from its objects' outcomes.
pub(super) async fn finish_policies(
    planned: Vec<Planned<'_>>,
    outcomes: Vec<JobOutcome>,
    run: &RunFolder,
    checksum_files: &ChecksumFiles,
    whole_set: bool,
    now: jiff::Timestamp,
) -> Vec<PolicyResult> {
    let mut policies = Vec::with_capacity(planned.len());
    let mut by_policy: Vec<Vec<JobOutcome>> = planned.iter().map(|_| Vec::new()).collect();
    for outcome in outcomes {
        if let Some(mine) = by_policy.get_mut(outcome.policy) {
            mine.push(outcome);
        }
    }
    for (planned_policy, mine) in planned.into_iter().zip(by_policy) {
        let refs: Vec<&JobOutcome> = mine.iter().collect();
        let mut validation = super::validate_sets(&planned_policy, &refs, run).await;
        if let (Some(op), Some(plan)) = (&planned_policy.op, &planned_policy.plan) {
            for set in &plan.sets {
                validation.extend(
                    verify::manifest_coverage(&planned_policy.policy.name, op, set, checksum_files)
                        .await,
                );
            }
        }
        policies.push(judge_policy(
            planned_policy,
            mine,
            validation,
            whole_set,
            now,
        ));
    }
    policies
}

/// The RTO from the outcomes restored (none abandoned): the sample measured and projected to
/// the `newest` set; for a drill of `drilled`, the whole set's measured restore instead.
fn judge_rto(
    targets: &crate::config::Targets,
    outcomes: &[&JobOutcome],
    newest: Option<&crate::plan::PlannedSet>,
    drilled: Option<&crate::plan::PlannedSet>,
) -> (judge::Rto, Option<Finding>) {
    let timings: Vec<Timing> = outcomes.iter().filter_map(|o| o.timing).collect();
    let measured = match (
        outcomes.iter().map(|o| o.started).min(),
        outcomes.iter().map(|o| o.ended).max(),
    ) {
        (Some(first), Some(last)) => last.duration_since(first),
        _ => Duration::ZERO,
    };
    let (rto, finding) = judge::judge_rto(
        targets,
        &timings,
        measured,
        newest.map_or(0, |s| s.total_bytes),
        newest.map_or(0, |s| s.total_objects),
    );
    match drilled {
        Some(set) => {
            judge::judge_drill_rto(rto, targets, &set.name, measured, !outcomes.is_empty())
        }
        None => (rto, finding),
    }
}
