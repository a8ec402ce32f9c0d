//! A drill's answer, as the person running it and the client watching want it at the end:
//! which set, what was restored, and the wall time against the RTO. Pure: computed from the
//! run's result, printed by the front end.

use std::time::Duration;

use crate::results::RunResult;

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
