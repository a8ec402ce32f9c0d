//! A drill's answer, as the person running it and the client watching want it at the end:
//! which set, what was restored, and the wall time against the RTO; and the refusal of a
//! drill whose `--set` names no set. Pure: computed from the plan or the run's result,
//! printed by the front end.

use std::time::Duration;

use super::SessionError;
use crate::plan::Choice;
use crate::results::RunResult;
use crate::run::Planned;

/// A drill of `--set DAY` needs a set dated that day: when the policy has sets but none
/// on that day, the drill is refused with the nearest ones. A policy whose storage could
/// not be listed, or that has no set at all, goes on to be recorded as failing: that is
/// true of the backups, whatever day was asked for.
pub(super) fn resolve_set(planned: &[Planned<'_>], choice: Choice) -> Result<(), SessionError> {
    if let Choice::WholeSnapshot(id) = choice {
        return resolve_snapshot(planned, id.as_str());
    }
    let Choice::WholeOn(day) = choice else {
        return Ok(());
    };
    for p in planned {
        if let Some(plan) = &p.plan
            && plan.sets.is_empty()
            && plan.total_sets > 0
        {
            return Err(SessionError::UnknownSet {
                policy: p.policy.name.clone(),
                day,
                nearest: plan.nearest.clone(),
            });
        }
    }
    Ok(())
}

/// A drill of `--set SNAPSHOT-ID` needs exactly one snapshot whose id begins so: none, or
/// more than one, is refused with the snapshots there are (or those it could mean).
fn resolve_snapshot(planned: &[Planned<'_>], id: &str) -> Result<(), SessionError> {
    for p in planned {
        if let Some(plan) = &p.plan
            && plan.sets.is_empty()
            && plan.total_sets > 0
        {
            return Err(SessionError::UnknownSnapshot(SnapshotMiss {
                policy: p.policy.name.clone(),
                id: id.to_string(),
                candidates: plan.nearest.clone(),
            }));
        }
    }
    Ok(())
}

/// A drill's snapshot id that names no snapshot of the policy, or more than one.
#[derive(Debug)]
pub struct SnapshotMiss {
    pub policy: String,
    pub id: String,
    /// The snapshots it could mean, or the newest ones (name, date).
    pub candidates: Vec<(String, Option<jiff::Timestamp>)>,
}

impl std::fmt::Display for SnapshotMiss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&unknown_snapshot_message(
            &self.policy,
            &self.id,
            &self.candidates,
        ))
    }
}

/// `policy `x` has no snapshot 0bad…; its newest: …`, or `snapshot id 3f of policy `x` is
/// ambiguous: …`. The candidates of an ambiguous id all begin with it.
fn unknown_snapshot_message(
    policy: &str,
    id: &str,
    candidates: &[(String, Option<jiff::Timestamp>)],
) -> String {
    let listed: Vec<String> = candidates
        .iter()
        .map(|(name, date)| match date {
            Some(t) => format!("`{name}` (dated {})", t.strftime("%Y-%m-%d %H:%M UTC")),
            None => format!("`{name}` (undated)"),
        })
        .collect();
    let ambiguous = candidates.len() > 1 && candidates.iter().all(|(n, _)| n.starts_with(id));
    if ambiguous {
        format!(
            "snapshot id `{id}` of policy `{policy}` is ambiguous: it begins {}; give more of \
             its digits; nothing was restored or recorded",
            listed.join(", ")
        )
    } else {
        format!(
            "policy `{policy}` has no snapshot or set `{id}`; newest: {}; nothing was restored \
             or recorded",
            listed.join(", ")
        )
    }
}

/// `policy `x` has no backup set dated 2025-01-01; nearest: a (dated …), …`.
pub(super) fn unknown_set_message(
    policy: &str,
    day: &jiff::civil::Date,
    nearest: &[(String, Option<jiff::Timestamp>)],
) -> String {
    let sets: Vec<String> = nearest
        .iter()
        .map(|(name, date)| match date {
            Some(t) => format!("`{name}` (dated {})", t.strftime("%Y-%m-%d %H:%M UTC")),
            None => format!("`{name}` (undated)"),
        })
        .collect();
    format!(
        "policy `{policy}` has no backup set dated {day}; nearest: {}; nothing was restored or recorded",
        sets.join(", ")
    )
}

/// The wall time of a whole-set restore against the RTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtoVerdict {
    Met,
    Exceeded,
    /// Nothing was restored, so nothing was measured: never a pass.
    NotMeasured,
}

impl RtoVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RtoVerdict::Met => "MET",
            RtoVerdict::Exceeded => "EXCEEDED",
            RtoVerdict::NotMeasured => "NOT MEASURED (nothing restored)",
        }
    }
}

/// One drilled policy, summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillSummary {
    pub policy: String,
    /// The set restored; `(none)` when none was found.
    pub set: String,
    pub objects: usize,
    pub restored_bytes: u64,
    pub files: u64,
    pub wall: Duration,
    pub rto: Duration,
    pub verdict: RtoVerdict,
}

impl DrillSummary {
    /// The drill of the result's first policy against `rto`; `None` when the run judged no
    /// policy (it was stopped).
    pub fn of(result: &RunResult, rto: Duration) -> Option<DrillSummary> {
        let p = result.policies.first()?;
        let wall = Duration::from_secs_f64(p.rto.measured_seconds);
        let verdict = if p.objects.is_empty() {
            RtoVerdict::NotMeasured
        } else if wall <= rto {
            RtoVerdict::Met
        } else {
            RtoVerdict::Exceeded
        };
        Some(DrillSummary {
            policy: p.name.clone(),
            set: p
                .sets
                .first()
                .map_or_else(|| "(none)".into(), |s| s.name.clone()),
            objects: p.objects.len(),
            restored_bytes: p.objects.iter().map(|o| o.restored_bytes).sum(),
            files: p.objects.iter().map(|o| o.files).sum(),
            wall,
            rto,
            verdict,
        })
    }
}
