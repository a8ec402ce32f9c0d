//! A policy's time (`storage.policy_timeout`): its restores are given up once it has passed
//! since its first object started, so a hostile endpoint holds one policy at most that long
//! and the run goes on with the others. Objects not started by then are left out of the
//! results; the policy gets one `policy_timeout` finding saying how many.
//!
//! Must not: stop an object half-way itself (the restore's pump does, at the deadline it is
//! given, and removes what it wrote).

use std::time::{Duration, Instant};

use super::{Job, JobOutcome};
use crate::checksum::Algorithm;
use crate::finding::{Finding, FindingKind};
use crate::judge::Status;
use crate::results::{Digest, ObjectResult};

/// The outcome of a job not started because its policy's time was up.
pub(super) fn abandoned(job: &Job<'_>, now: Instant) -> JobOutcome {
    let object = job.object;
    JobOutcome {
        policy: job.policy,
        set: job.set,
        result: ObjectResult {
            key: object.key.clone(),
            identity: Some(object.identity.clone()),
            set: String::new(),
            format: object.format,
            stored_bytes: 0,
            restored_bytes: 0,
            files: 0,
            digest: Digest {
                algorithm: Algorithm::Sha256,
                expected: None,
                actual: None,
                source: None,
            },
            seconds: 0.0,
            status: Status::Fail,
        },
        findings: Vec::new(),
        timing: None,
        started: now,
        ended: now,
        abandoned: true,
        late: true,
    }
}

/// The policy's one `policy_timeout` finding when its restores ran out of time: how many
/// objects were not started.
pub(super) fn policy_timeout(outcomes: &[&JobOutcome], time: Duration) -> Option<Finding> {
    if !outcomes.iter().any(|o| o.late) {
        return None;
    }
    let skipped = outcomes.iter().filter(|o| o.abandoned).count();
    Some(Finding::new(
        FindingKind::PolicyTimeout,
        None,
        format!(
            "the policy's restores ran for {}, its time (storage.policy_timeout; twice \
             targets.rto, at least 1h, by default): {skipped} of {} sampled objects were not \
             started, and those in flight were stopped (each a storage_error); check the storage's speed, or raise \
             storage.policy_timeout in restore-drill.yaml",
            crate::config::units::format_duration(time),
            outcomes.len()
        ),
    ))
}
