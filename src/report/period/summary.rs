//! The first page's answer and the drill rows: the quarter's overall status for the client
//! with one sentence saying why, what changed against the previous period, and one row per
//! policy per manual restore drill. It exists so the words a client's IT manager reads first
//! are computed from the same figures as the detail; it must not read the history or render
//! anything, and takes the per-policy figures ready from `build`.

use std::collections::BTreeSet;

use super::episodes::verdict;
use super::model::{
    Change, Comparison, Direction, DrillRow, EpisodeState, Incident, Overall, Period, PolicyStats,
    Summary, Verdict,
};
use crate::history::StoredRun;

/// The overall status: no evidence without a run; action needed when a failure is open, a
/// policy's last run failed, or a policy had nothing verified; attention when a run missed
/// a target or failed and was fixed; good otherwise.
pub(super) fn status(stats: &[PolicyStats], incidents: &[Incident]) -> Overall {
    if stats.iter().all(|s| s.runs == 0) {
        return Overall::NoEvidence;
    }
    let open = incidents.iter().any(|i| i.state == EpisodeState::Open)
        || stats.iter().any(|s| s.open_failures > 0);
    let last_failed = stats.iter().any(|s| {
        s.last_run
            .as_ref()
            .is_some_and(|l| l.verdict == Verdict::Failed)
    });
    if open || last_failed || stats.iter().any(|s| s.objects_verified == 0) {
        return Overall::ActionNeeded;
    }
    if !incidents.is_empty() || stats.iter().any(|s| s.passes < s.runs) {
        return Overall::Attention;
    }
    Overall::Good
}

pub(super) fn summarise(
    stats: &[PolicyStats],
    incidents: &[Incident],
    runs: &[StoredRun],
) -> Summary {
    let status = status(stats, incidents);
    let not_verified: Vec<String> = stats
        .iter()
        .filter(|s| s.objects_verified == 0)
        .map(|s| s.policy.clone())
        .collect();
    let open: Vec<&Incident> = incidents
        .iter()
        .filter(|i| i.state == EpisodeState::Open)
        .collect();
    let headline = headline(status, stats, &open, &not_verified);
    Summary {
        status,
        label: status.label(),
        headline,
        runs: runs.len(),
        drills: runs.iter().filter(|r| r.kind == "drill").count(),
        open_failures: open.len(),
        not_verified,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One sentence: what the client needs to know first.
fn headline(
    status: Overall,
    stats: &[PolicyStats],
    open: &[&Incident],
    not_verified: &[String],
) -> String {
    let policies = plural(stats.len(), "policy", "policies");
    match status {
        Overall::NoEvidence => {
            format!("No restore test of the {policies} was recorded in this period.")
        }
        Overall::Good => format!(
            "Every run of the {policies} verified its restored backups and met both the RPO and the RTO."
        ),
        Overall::Attention => {
            let missed = stats.iter().filter(|s| s.passes < s.runs).count();
            format!(
                "Every policy was verified and no failure is open; {} of the {policies} had runs that missed a target or failed, since fixed.",
                missed
            )
        }
        Overall::ActionNeeded => {
            let mut parts = Vec::new();
            if !open.is_empty() {
                let mut who: Vec<&str> = open
                    .iter()
                    .map(|i| {
                        i.responsible
                            .as_deref()
                            .unwrap_or("no responsible team set")
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                who.truncate(3);
                let affected: BTreeSet<&str> = open.iter().map(|i| i.policy.as_str()).collect();
                parts.push(format!(
                    "{} open in {} (to act: {})",
                    plural(open.len(), "failure is", "failures are"),
                    affected.into_iter().collect::<Vec<_>>().join(", "),
                    who.join(", ")
                ));
            }
            if !not_verified.is_empty() {
                parts.push(format!(
                    "nothing was verified for {}",
                    not_verified.join(", ")
                ));
            }
            let last_failed: Vec<&str> = stats
                .iter()
                .filter(|s| {
                    s.last_run
                        .as_ref()
                        .is_some_and(|l| l.verdict == Verdict::Failed)
                })
                .map(|s| s.policy.as_str())
                .collect();
            if !last_failed.is_empty() && open.is_empty() {
                parts.push(format!(
                    "the last run failed for {}",
                    last_failed.join(", ")
                ));
            }
            let mut text = parts.join("; ");
            if let Some(first) = text.get(..1) {
                text = first.to_uppercase() + &text[1..];
            }
            text + "."
        }
    }
}

/// What changed per policy against the previous period: pass rate, share of runs meeting
/// both targets, failures open at the period's end. None when no policy ran then.
pub(super) fn compare(
    period: &Period,
    before: &[PolicyStats],
    now: &[PolicyStats],
) -> Option<Comparison> {
    if before.is_empty() {
        return None;
    }
    let mut changes = Vec::new();
    for was in before {
        let Some(is) = now.iter().find(|s| s.policy == was.policy && s.runs > 0) else {
            continue;
        };
        let share = |s: &PolicyStats| s.targets_met_runs as f64 / s.rpo_judged_runs.max(1) as f64;
        let percent = |x: f64| format!("{:.0}%", x * 100.0);
        let rows = [
            (
                "pass rate",
                was.pass_rate,
                is.pass_rate,
                true,
                percent(was.pass_rate),
                percent(is.pass_rate),
            ),
            (
                "runs meeting both targets",
                share(was),
                share(is),
                true,
                percent(share(was)),
                percent(share(is)),
            ),
            (
                "open failures",
                was.open_failures as f64,
                is.open_failures as f64,
                false,
                was.open_failures.to_string(),
                is.open_failures.to_string(),
            ),
        ];
        for (measure, a, b, higher_is_better, before, after) in rows {
            if before == after {
                continue;
            }
            let direction = match (b > a, higher_is_better) {
                (true, true) | (false, false) => Direction::Better,
                _ => Direction::Worse,
            };
            changes.push(Change {
                policy: is.policy.clone(),
                measure,
                before,
                after,
                direction,
            });
        }
    }
    Some(Comparison {
        period: period.clone(),
        status: status(before, &[]),
        changes,
    })
}

/// One row per policy per manual restore drill (voided drills are not passed in).
pub(super) fn drills(runs: &[StoredRun]) -> Vec<DrillRow> {
    let mut rows = Vec::new();
    for run in runs.iter().filter(|r| r.kind == "drill") {
        for p in &run.policies {
            let sets: BTreeSet<&str> = p.objects.iter().map(|o| o.set.as_str()).collect();
            let verdict = verdict(p);
            rows.push(DrillRow {
                run_id: run.run_id.clone(),
                started_at: run.started_at,
                policy: p.policy.clone(),
                set: (!sets.is_empty()).then(|| sets.into_iter().collect::<Vec<_>>().join(", ")),
                restored_bytes: p.objects.iter().map(|o| o.restored_bytes).sum(),
                files: p.objects.iter().map(|o| o.files).sum(),
                wall_seconds: p.rto_measured_seconds,
                rto_target_seconds: p.rto_target_seconds,
                rto_met: p.rto_measured_seconds <= p.rto_target_seconds,
                verdict,
                label: verdict.label(),
                operator: run.operator.clone(),
                witness: run.witness.clone(),
            });
        }
    }
    rows
}
