//! Failure episodes, keyed on what failed. A finding about one object (a corrupt archive, a
//! checksum mismatch) opens an episode of that object: it is *resolved* only when a later
//! run verifies that same object clean, *superseded* when a later run verifies clean an
//! object of that run's newest set while the failing object (of another set) never was, and
//! *open* otherwise. A finding about the policy as a whole opens an episode of its kind,
//! resolved by the next run that meets that target (the RPO for `rpo_exceeded`, the RTO for
//! the RTO kinds) or, for any other kind, by the next run without it that verified an object.
//! It exists so no passing run of an unrelated object or an older set can close a failure.
//! It must not read the history or render anything.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::model::{EpisodeState, Incident, Subject, Verdict};
use crate::history::{StoredPolicy, StoredRun};

/// One policy's result in one recorded run.
pub(super) type Recorded<'a> = (&'a StoredRun, &'a StoredPolicy);

const RPO_KINDS: [&str; 1] = ["rpo_exceeded"];
/// Kinds about the policy as a whole, whatever object their finding names (a
/// `coverage_gap` names the most overdue object, which a newer set does not fix).
const POLICY_KINDS: [&str; 10] = [
    "rpo_exceeded",
    "rto_exceeded",
    "rto_unmeasured",
    "coverage_gap",
    "validation_failed",
    "storage_error",
    "listing_truncated",
    "policy_timeout",
    "no_backups_found",
    "scratch_error",
];
const RTO_KINDS: [&str; 2] = ["rto_exceeded", "rto_unmeasured"];

/// The newest backup was within the RPO; an age that is not known (no date, or dated after
/// the run started: a negative age) never is.
pub(super) fn rpo_met(p: &StoredPolicy) -> bool {
    p.rpo_age_seconds
        .is_some_and(|a| (0.0..=p.rpo_target_seconds).contains(&a))
}

/// Both the projected full restore and the measured restore were within the RTO; a run
/// that projected nothing did not show it meets the RTO.
pub(super) fn rto_met(p: &StoredPolicy) -> bool {
    p.rto_projected_seconds
        .is_some_and(|x| x <= p.rto_target_seconds)
        && p.rto_measured_seconds <= p.rto_target_seconds
}

/// Whether a finding of `kind` is about the policy's targets rather than its data.
pub(super) fn is_target_kind(kind: &str) -> bool {
    RPO_KINDS.contains(&kind) || RTO_KINDS.contains(&kind)
}

/// Whether run `p` shows the policy-level finding `kind` fixed.
fn meets(kind: &str, p: &StoredPolicy) -> bool {
    if RPO_KINDS.contains(&kind) {
        return rpo_met(p);
    }
    if RTO_KINDS.contains(&kind) {
        return rto_met(p);
    }
    p.findings.iter().all(|(k, _, _)| k != kind) && p.objects.iter().any(|o| o.verified)
}

/// The episodes of policy `name` over `results` (oldest first), responsible team `responsible`.
/// Every episode is returned, those ended before the caller's period too.
pub(super) fn episodes(
    name: &str,
    results: &[Recorded],
    responsible: Option<&str>,
) -> Vec<Incident> {
    let mut by_object: BTreeMap<String, Incident> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Incident> = BTreeMap::new();
    // Superseded episodes by object: the same object failing again extends its episode
    // (it stays superseded); verified clean later, it is resolved.
    let mut superseded: BTreeMap<String, Incident> = BTreeMap::new();
    let mut done = Vec::new();
    for (run, p) in results {
        close(
            &mut by_object,
            &mut by_kind,
            &mut superseded,
            &mut done,
            run,
            p,
        );
        // Each episode counts a run once, however many of its findings the run had.
        let mut seen: BTreeSet<(bool, String)> = BTreeSet::new();
        for (kind, object, _) in &p.findings {
            let restored = object
                .as_deref()
                .filter(|_| !POLICY_KINDS.contains(&kind.as_str()))
                .and_then(|key| p.objects.iter().find(|o| o.key == key));
            if let Some(o) = restored
                && let Some(incident) = superseded.get_mut(&o.key)
            {
                extend(
                    incident,
                    kind,
                    run.started_at,
                    seen.insert((true, o.key.clone())),
                );
                continue;
            }
            let (open, id, subject) = match restored {
                Some(o) => (
                    &mut by_object,
                    o.key.clone(),
                    Subject::Object {
                        key: o.key.clone(),
                        set: o.set.clone(),
                    },
                ),
                None => (&mut by_kind, kind.clone(), Subject::Policy),
            };
            let incident = open.entry(id.clone()).or_insert_with(|| Incident {
                policy: name.to_string(),
                subject,
                kinds: Vec::new(),
                first_seen: run.started_at,
                last_seen: run.started_at,
                failing_runs: 0,
                state: EpisodeState::Open,
                ended_at: None,
                ended_by_run: None,
                superseded_by_set: None,
                time_to_fix_seconds: None,
                responsible: responsible.map(str::to_string),
            });
            let counted = seen.insert((restored.is_some(), id));
            extend(incident, kind, run.started_at, counted);
        }
    }
    done.extend(by_object.into_values());
    done.extend(by_kind.into_values());
    done.extend(superseded.into_values());
    done.sort_by(|a, b| (a.first_seen, &a.policy).cmp(&(b.first_seen, &b.policy)));
    done
}

/// Adds a run's finding of `kind` to `incident`; `new_run` when it is the first finding of
/// that run for it.
fn extend(incident: &mut Incident, kind: &str, at: jiff::Timestamp, new_run: bool) {
    if !incident.kinds.iter().any(|k| k == kind) {
        incident.kinds.push(kind.to_string());
        incident.kinds.sort();
    }
    incident.last_seen = at;
    if new_run {
        incident.failing_runs += 1;
    }
}

/// Ends the open episodes that run `p` resolves or supersedes, and resolves superseded ones
/// whose object it verified clean.
fn close(
    by_object: &mut BTreeMap<String, Incident>,
    by_kind: &mut BTreeMap<String, Incident>,
    superseded: &mut BTreeMap<String, Incident>,
    done: &mut Vec<Incident>,
    run: &StoredRun,
    p: &StoredPolicy,
) {
    let verified: BTreeSet<&str> = p
        .objects
        .iter()
        .filter(|o| o.verified)
        .map(|o| o.key.as_str())
        .collect();
    // A set verified clean (every object of it this run restored was verified) that was
    // the newest in storage when this run listed it.
    let newest_verified = p.newest_set.as_deref().filter(|newest| {
        let mut of_set = p.objects.iter().filter(|o| o.set == *newest).peekable();
        of_set.peek().is_some() && of_set.all(|o| o.verified)
    });
    let end = |mut incident: Incident, state: EpisodeState, set: Option<&str>| {
        incident.state = state;
        incident.ended_at = Some(run.started_at);
        incident.ended_by_run = Some(run.run_id.clone());
        incident.superseded_by_set = set.map(str::to_string);
        incident.time_to_fix_seconds = Some(
            run.started_at
                .duration_since(incident.first_seen)
                .as_secs_f64(),
        );
        incident
    };
    let keys: Vec<String> = by_object.keys().cloned().collect();
    for key in keys {
        let failing_set = match &by_object[&key].subject {
            Subject::Object { set, .. } => set.clone(),
            Subject::Policy => continue,
        };
        if verified.contains(key.as_str()) {
            let incident = by_object.remove(&key).expect("an open episode");
            done.push(end(incident, EpisodeState::Resolved, None));
        } else if let Some(newer) = newest_verified.filter(|n| *n != failing_set) {
            let incident = by_object.remove(&key).expect("an open episode");
            superseded.insert(key, end(incident, EpisodeState::Superseded, Some(newer)));
        }
    }
    let keys: Vec<String> = superseded.keys().cloned().collect();
    for key in keys {
        if verified.contains(key.as_str()) {
            let incident = superseded.remove(&key).expect("a superseded episode");
            done.push(end(incident, EpisodeState::Resolved, None));
        }
    }
    let kinds: Vec<String> = by_kind.keys().cloned().collect();
    for kind in kinds {
        if meets(&kind, p) {
            let incident = by_kind.remove(&kind).expect("an open episode");
            done.push(end(incident, EpisodeState::Resolved, None));
        }
    }
}

/// What run `p` showed: verified (and which target it missed) or failed.
pub(super) fn verdict(p: &StoredPolicy) -> Verdict {
    let verified = p.objects.iter().filter(|o| o.verified).count();
    if verified == 0 || p.objects.iter().any(|o| !o.verified) {
        return Verdict::Failed;
    }
    if p.passed {
        return Verdict::Verified;
    }
    if p.findings.iter().any(|(kind, _, _)| !is_target_kind(kind)) {
        return Verdict::VerifiedOtherFindings;
    }
    match (rpo_met(p), rto_met(p)) {
        (false, false) => Verdict::VerifiedTargetsMissed,
        (false, true) => Verdict::VerifiedRpoMissed,
        (true, false) => Verdict::VerifiedRtoMissed,
        (true, true) => Verdict::VerifiedOtherFindings,
    }
}

/// Whether `incident` was open at some time in `[from, to)`.
pub(super) fn overlaps(incident: &Incident, from: Timestamp, to: Timestamp) -> bool {
    incident.first_seen < to && incident.ended_at.is_none_or(|end| end >= from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::StoredObject;

    fn object(key: &str, set: &str, verified: bool) -> StoredObject {
        StoredObject {
            key: key.into(),
            set: set.into(),
            restored_bytes: 100,
            files: 1,
            seconds: 1.0,
            verified,
        }
    }

    fn run(
        day: &str,
        newest: &str,
        objects: Vec<StoredObject>,
        kinds: &[(&str, Option<&str>)],
    ) -> StoredRun {
        StoredRun {
            run_id: format!("{day}-run"),
            kind: "scheduled".into(),
            operator: None,
            witness: None,
            started_at: format!("{day}T02:00:00Z").parse().unwrap(),
            record_hash: String::new(),
            content_hash: String::new(),
            policies: vec![StoredPolicy {
                policy: "db".into(),
                client: "Acme".into(),
                passed: kinds.is_empty(),
                rpo_target_seconds: 3600.0,
                rpo_age_seconds: Some(if kinds.iter().any(|k| k.0 == "rpo_exceeded") {
                    7200.0
                } else {
                    60.0
                }),
                rto_target_seconds: 3600.0,
                rto_measured_seconds: 10.0,
                rto_projected_seconds: Some(20.0),
                throughput_bytes_per_second: None,
                newest_set: Some(newest.into()),
                coverage: None,
                findings: kinds
                    .iter()
                    .map(|(k, o)| (k.to_string(), o.map(str::to_string), String::new()))
                    .collect(),
                objects,
            }],
            voided: None,
        }
    }

    fn of(runs: &[StoredRun]) -> Vec<Incident> {
        let results: Vec<Recorded> = runs.iter().map(|r| (r, &r.policies[0])).collect();
        episodes("db", &results, Some("msp"))
    }

    #[test]
    fn a_corrupt_object_is_resolved_only_by_verifying_that_object() {
        let runs = [
            run(
                "2026-10-01",
                "s2",
                vec![object("s1/a", "s1", false)],
                &[("corrupt_archive", Some("s1/a"))],
            ),
            // An unrelated object of the same old set passes: nothing resolved.
            run("2026-10-02", "s2", vec![object("s1/b", "s1", true)], &[]),
            run("2026-10-03", "s2", vec![object("s1/a", "s1", true)], &[]),
        ];
        let e = of(&runs);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].state, EpisodeState::Resolved);
        assert_eq!(e[0].ended_by_run.as_deref(), Some("2026-10-03-run"));
        assert_eq!(e[0].time_to_fix_seconds, Some(2.0 * 86_400.0));
        assert_eq!(e[0].responsible.as_deref(), Some("msp"));
    }

    #[test]
    fn a_newer_set_verified_clean_supersedes_and_an_older_one_does_not() {
        let runs = [
            run(
                "2026-10-01",
                "s2",
                vec![object("s2/a", "s2", false)],
                &[("checksum_mismatch", Some("s2/a"))],
            ),
            // A drill of an older set: resolves nothing.
            run("2026-10-02", "s2", vec![object("s1/a", "s1", true)], &[]),
            run("2026-10-03", "s3", vec![object("s3/a", "s3", true)], &[]),
        ];
        let e = of(&runs);
        assert_eq!(e[0].state, EpisodeState::Superseded);
        assert_eq!(e[0].superseded_by_set.as_deref(), Some("s3"));
        assert_eq!(e[0].ended_by_run.as_deref(), Some("2026-10-03-run"));
    }

    #[test]
    fn a_superseded_object_failing_again_stays_one_episode_until_verified() {
        let bad = |day| {
            run(
                day,
                "s3",
                vec![object("s1/a", "s1", false), object("s3/a", "s3", true)],
                &[("corrupt_archive", Some("s1/a"))],
            )
        };
        let runs = [
            run(
                "2026-10-01",
                "s1",
                vec![object("s1/a", "s1", false)],
                &[("corrupt_archive", Some("s1/a"))],
            ),
            run("2026-10-02", "s3", vec![object("s3/a", "s3", true)], &[]),
            bad("2026-10-03"),
            bad("2026-10-04"),
        ];
        let e = of(&runs);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            (e[0].state, e[0].failing_runs),
            (EpisodeState::Superseded, 3)
        );
        let mut more = runs.to_vec();
        more.push(run(
            "2026-10-05",
            "s3",
            vec![object("s1/a", "s1", true)],
            &[],
        ));
        let e = of(&more);
        assert_eq!((e.len(), e[0].state), (1, EpisodeState::Resolved));
        assert_eq!(e[0].ended_by_run.as_deref(), Some("2026-10-05-run"));
    }

    #[test]
    fn a_coverage_gap_naming_a_failed_object_is_about_the_policy() {
        let runs = [run(
            "2026-10-01",
            "s1",
            vec![object("s1/a", "s1", false)],
            &[
                ("corrupt_archive", Some("s1/a")),
                ("coverage_gap", Some("s1/a")),
            ],
        )];
        let e = of(&runs);
        assert_eq!(e.len(), 2);
        assert!(
            e.iter()
                .any(|i| i.subject == Subject::Policy && i.kinds == ["coverage_gap"])
        );
    }

    #[test]
    fn a_newer_set_with_a_failed_object_is_not_clean() {
        let runs = [
            run(
                "2026-10-01",
                "s2",
                vec![object("s2/a", "s2", false)],
                &[("checksum_mismatch", Some("s2/a"))],
            ),
            run(
                "2026-10-03",
                "s3",
                vec![object("s3/a", "s3", true), object("s3/b", "s3", false)],
                &[("corrupt_archive", Some("s3/b"))],
            ),
        ];
        let e = of(&runs);
        let first = e
            .iter()
            .find(|i| i.first_seen.to_string().starts_with("2026-10-01"))
            .unwrap();
        assert_eq!(first.state, EpisodeState::Open);
    }

    #[test]
    fn a_policy_finding_is_resolved_by_the_next_run_meeting_the_target() {
        let runs = [
            run(
                "2026-10-01",
                "s1",
                vec![object("s1/a", "s1", true)],
                &[("rpo_exceeded", None)],
            ),
            run(
                "2026-10-02",
                "s1",
                vec![object("s1/a", "s1", true)],
                &[("rpo_exceeded", None), ("validation_failed", None)],
            ),
            run(
                "2026-10-03",
                "s2",
                vec![object("s2/a", "s2", true)],
                &[("validation_failed", None)],
            ),
        ];
        let e = of(&runs);
        assert_eq!(e.len(), 2);
        let rpo = e.iter().find(|i| i.kinds == ["rpo_exceeded"]).unwrap();
        assert_eq!((rpo.state, rpo.failing_runs), (EpisodeState::Resolved, 2));
        let validation = e.iter().find(|i| i.kinds == ["validation_failed"]).unwrap();
        assert_eq!(
            (validation.state, validation.failing_runs),
            (EpisodeState::Open, 2)
        );
    }
}
