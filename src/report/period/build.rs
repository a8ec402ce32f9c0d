//! Computing the period report: recorded runs in, a [`PeriodReport`] out. It exists to keep
//! every figure the report shows (pass rates, RPO and RTO compliance, failure episodes,
//! drills, control rows, evidence) in one pure place, so every format carries the same
//! numbers. Voided runs count in none of them; they are in the evidence, marked. It must not read the history, the clock or the disk (the caller passes runs and
//! `now`), and must not format or render anything.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::model::{
    ControlRow, Day, Evidence, Incident, Period, PeriodReport, PolicyStats, Voided,
};
use crate::config::{Control, DateSource};
use crate::history::{StoredPolicy, StoredRun};

/// Builds the report for `client` from the runs recorded in the period. `known_policies`
/// are the client's policies configured today, with how each dates its sets.
pub fn build(
    client: &str,
    period: Period,
    runs: &[StoredRun],
    known_policies: &[(String, DateSource)],
    controls: &BTreeMap<String, Control>,
    chain_head: Option<String>,
    now: Timestamp,
) -> PeriodReport {
    let span = Span::of(&period, now);
    // A voided run was a mistake: no figure counts it.
    let counted: Vec<StoredRun> = runs
        .iter()
        .filter(|r| r.voided.is_none())
        .cloned()
        .collect();
    let names = policy_names(&counted, known_policies);
    let mut stats = Vec::new();
    let mut incidents = Vec::new();
    for name in &names {
        let results = results_of(&counted, name);
        let mut policy = policy_stats(name, &results, &span);
        policy.dated_by = known_policies
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, by)| *by);
        stats.push(policy);
        incidents.extend(failure_episodes(name, &results));
    }
    let evidence = evidence(runs);
    PeriodReport {
        client: client.to_string(),
        period,
        generated_at: now,
        chain_head,
        never_verified: never_verified(&stats),
        drills: drills(&evidence),
        controls: control_rows(controls, &names, &stats),
        policies: stats,
        incidents,
        evidence,
    }
}

/// The days the report covers: a report made before the period's end stops at the time it
/// was made, so days still to come are not shown as days without a run.
struct Span {
    first_day: Date,
    last_day: Date,
    end: Timestamp,
}

impl Span {
    fn of(period: &Period, now: Timestamp) -> Span {
        let end = period.to.min(now);
        Span {
            first_day: period.from.to_zoned(TimeZone::UTC).date(),
            last_day: (end - SignedDuration::from_nanos(1))
                .to_zoned(TimeZone::UTC)
                .date(),
            end,
        }
    }
}

/// One policy's result in one recorded run.
type Recorded<'a> = (&'a StoredRun, &'a StoredPolicy);

/// The client's policies known today and those of the recorded runs: a policy removed
/// since still shows what it did in the period.
fn policy_names(runs: &[StoredRun], known_policies: &[(String, DateSource)]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = known_policies.iter().map(|(n, _)| n.clone()).collect();
    for run in runs {
        names.extend(run.policies.iter().map(|p| p.policy.clone()));
    }
    names
}

/// The runs that include policy `name`, oldest first, with its result in each.
fn results_of<'a>(runs: &'a [StoredRun], name: &str) -> Vec<Recorded<'a>> {
    runs.iter()
        .filter_map(|r| r.policies.iter().find(|p| p.policy == name).map(|p| (r, p)))
        .collect()
}

/// Per-policy figures: runs, pass rate, RPO and RTO against their targets, the day strip
/// and the throughput and projected-RTO series.
fn policy_stats(name: &str, results: &[Recorded], span: &Span) -> PolicyStats {
    let passes = results.iter().filter(|(_, p)| p.passed).count();
    let last_pass = results
        .iter()
        .rev()
        .find(|(_, p)| p.passed)
        .map(|(r, _)| r.started_at);
    // An invalid policy file's entry was never judged: its zero is no measurement.
    let measured: Vec<f64> = results
        .iter()
        .filter(|(_, p)| {
            p.findings
                .iter()
                .all(|(kind, _, _)| kind != "invalid_policy")
        })
        .map(|(_, p)| p.rto_measured_seconds)
        .collect();
    let projected: Vec<f64> = results
        .iter()
        .filter_map(|(_, p)| p.rto_projected_seconds)
        .collect();
    // The targets as the newest run recorded them: a policy's RPO or RTO may have been
    // changed during the period.
    let target = |f: fn(&StoredPolicy) -> f64| results.last().map_or(0.0, |(_, p)| f(p));
    let count = |met: fn(&StoredPolicy) -> bool| results.iter().filter(|(_, p)| met(p)).count();
    PolicyStats {
        policy: name.to_string(),
        dated_by: None,
        runs: results.len(),
        passes,
        pass_rate: if results.is_empty() {
            0.0
        } else {
            passes as f64 / results.len() as f64
        },
        rpo_target_seconds: target(|p| p.rpo_target_seconds),
        rpo_worst_age_seconds: worst(results.iter().filter_map(|(_, p)| p.rpo_age_seconds)),
        rpo_met_runs: count(rpo_met),
        rto_target_seconds: target(|p| p.rto_target_seconds),
        rto_measured_worst_seconds: worst(measured.iter().copied()).unwrap_or(0.0),
        rto_measured_median_seconds: median(measured).unwrap_or(0.0),
        rto_projected_worst_seconds: worst(projected.iter().copied()),
        rto_projected_median_seconds: median(projected),
        rto_met_runs: count(rto_met),
        targets_met_runs: count(|p| rpo_met(p) && rto_met(p)),
        last_pass,
        days_since_last_pass: last_pass
            .map(|t| span.end.duration_since(t).as_secs_f64().max(0.0) / 86_400.0),
        days: day_strip(results, span),
        series: results
            .iter()
            .map(|(r, p)| {
                (
                    r.started_at,
                    p.throughput_bytes_per_second,
                    p.rto_projected_seconds,
                )
            })
            .collect(),
    }
}

/// The newest backup was within the RPO; an age that is not known (no date, or dated after
/// the run started: a negative age) never is.
fn rpo_met(p: &StoredPolicy) -> bool {
    p.rpo_age_seconds
        .is_some_and(|a| (0.0..=p.rpo_target_seconds).contains(&a))
}

/// Both the projected full restore and the measured restore were within the RTO; a run
/// that projected nothing did not show it meets the RTO.
fn rto_met(p: &StoredPolicy) -> bool {
    p.rto_projected_seconds
        .is_some_and(|x| x <= p.rto_target_seconds)
        && p.rto_measured_seconds <= p.rto_target_seconds
}

/// One status a day, from the span's first day to its last: the day's last run decides.
/// At most 400 days, so a mistyped range cannot make a page of thousands of cells.
fn day_strip(results: &[Recorded], span: &Span) -> Vec<(Date, Day)> {
    let mut days = Vec::new();
    let mut day = span.first_day;
    while day <= span.last_day && days.len() < 400 {
        let on_day: Vec<bool> = results
            .iter()
            .filter(|(r, _)| r.started_at.to_zoned(TimeZone::UTC).date() == day)
            .map(|(_, p)| p.passed)
            .collect();
        let status = match on_day.last() {
            None => Day::NotRun,
            Some(true) => Day::Pass,
            Some(false) => Day::Fail,
        };
        days.push((day, status));
        day = match day.tomorrow() {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    days
}

/// Failure episodes of policy `name`: a failing run opens one, the next passing run
/// resolves it; one still failing at the end of the period stays open (last in the list).
fn failure_episodes(name: &str, results: &[Recorded]) -> Vec<Incident> {
    let mut incidents = Vec::new();
    let mut open: Option<Incident> = None;
    for (run, p) in results {
        match (&mut open, p.passed) {
            (None, false) => {
                open = Some(Incident {
                    policy: name.to_string(),
                    first_seen: run.started_at,
                    resolved: None,
                    time_to_fix_seconds: None,
                    failing_runs: 1,
                    kinds: p
                        .findings
                        .iter()
                        .map(|f| f.0.clone())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                });
            }
            (Some(incident), false) => {
                incident.failing_runs += 1;
                let mut kinds: BTreeSet<String> = incident.kinds.iter().cloned().collect();
                kinds.extend(p.findings.iter().map(|f| f.0.clone()));
                incident.kinds = kinds.into_iter().collect();
            }
            (Some(_), true) => {
                let mut incident = open.take().expect("an open incident");
                incident.resolved = Some(run.started_at);
                incident.time_to_fix_seconds = Some(
                    run.started_at
                        .duration_since(incident.first_seen)
                        .as_secs_f64(),
                );
                incidents.push(incident);
            }
            (None, true) => {}
        }
    }
    incidents.extend(open);
    incidents
}

/// Policies that never passed a verification in the period (including those never run).
fn never_verified(stats: &[PolicyStats]) -> Vec<String> {
    stats
        .iter()
        .filter(|s| s.passes == 0)
        .map(|s| s.policy.clone())
        .collect()
}

/// The evidence appendix: every run of the period with the hashes that tie it to the
/// history's chain (voided ones too, marked); a run passed when all the client's policies
/// in it passed.
fn evidence(runs: &[StoredRun]) -> Vec<Evidence> {
    runs.iter()
        .map(|r| Evidence {
            run_id: r.run_id.clone(),
            kind: r.kind.clone(),
            operator: r.operator.clone(),
            witness: r.witness.clone(),
            started_at: r.started_at,
            content_hash: r.content_hash.clone(),
            record_hash: r.record_hash.clone(),
            passed: r.policies.iter().all(|p| p.passed),
            voided: r.voided.as_ref().map(|v| Voided {
                by: v.by.clone(),
                at: v.made_at,
                reason: v.text.clone(),
                policies: r.policies.iter().map(|p| p.policy.clone()).collect(),
            }),
        })
        .collect()
}

/// The manual restore drills among the evidence, voided ones left out.
fn drills(evidence: &[Evidence]) -> Vec<Evidence> {
    evidence
        .iter()
        .filter(|e| e.kind == "drill" && e.voided.is_none())
        .cloned()
        .collect()
}

/// One row per control that names at least one of the client's policies, with the runs
/// and passes of those policies; other clients' policies in a control are left out.
fn control_rows(
    controls: &BTreeMap<String, Control>,
    names: &BTreeSet<String>,
    stats: &[PolicyStats],
) -> Vec<ControlRow> {
    controls
        .iter()
        .filter_map(|(id, control)| {
            let mine: Vec<String> = control
                .policies
                .iter()
                .filter(|p| names.contains(*p))
                .cloned()
                .collect();
            if mine.is_empty() {
                return None;
            }
            let relevant: Vec<&PolicyStats> =
                stats.iter().filter(|s| mine.contains(&s.policy)).collect();
            Some(ControlRow {
                control: id.clone(),
                description: control.description.clone(),
                runs: relevant.iter().map(|s| s.runs).sum(),
                passes: relevant.iter().map(|s| s.passes).sum(),
                policies: mine,
            })
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn worst(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |acc: Option<f64>, v| {
        Some(acc.map_or(v, |a| a.max(v)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(day: &str, passed: bool, kinds: &[&str]) -> StoredRun {
        StoredRun {
            run_id: format!("{day}-run"),
            kind: "scheduled".into(),
            operator: None,
            witness: None,
            started_at: format!("{day}T02:00:00Z").parse().unwrap(),
            record_hash: String::new(),
            content_hash: String::new(),
            policies: vec![StoredPolicy {
                policy: "acme-db".into(),
                client: "Acme Dental".into(),
                passed,
                rpo_target_seconds: 3600.0,
                rpo_age_seconds: Some(60.0),
                rto_target_seconds: 3600.0,
                rto_measured_seconds: 10.0,
                rto_projected_seconds: None,
                throughput_bytes_per_second: None,
                findings: kinds
                    .iter()
                    .map(|k| (k.to_string(), None, String::new()))
                    .collect(),
            }],
            voided: None,
        }
    }

    #[test]
    fn an_episode_still_failing_at_the_end_stays_open_with_every_kind_seen() {
        let runs = [
            recorded("2026-10-01", false, &["digest_mismatch"]),
            recorded("2026-10-02", true, &[]),
            recorded("2026-10-03", false, &["rpo_exceeded"]),
            recorded("2026-10-04", false, &["missing_object", "rpo_exceeded"]),
        ];
        let episodes = failure_episodes("acme-db", &results_of(&runs, "acme-db"));
        assert_eq!(episodes.len(), 2);
        assert_eq!(episodes[0].time_to_fix_seconds, Some(86_400.0));
        let open = &episodes[1];
        assert_eq!((open.resolved, open.failing_runs), (None, 2));
        assert_eq!(open.kinds, ["missing_object", "rpo_exceeded"]);
    }

    #[test]
    fn a_run_without_a_projection_does_not_meet_the_rto() {
        let runs = [recorded("2026-10-01", true, &[])];
        let period = Period::quarter("2026-Q4").unwrap();
        let span = Span::of(&period, "2026-10-02T00:00:00Z".parse().unwrap());
        let stats = policy_stats("acme-db", &results_of(&runs, "acme-db"), &span);
        assert_eq!((stats.rpo_met_runs, stats.rto_met_runs), (1, 0));
        assert_eq!(stats.targets_met_runs, 0);
        assert_eq!(stats.days, [("2026-10-01".parse().unwrap(), Day::Pass)]);
    }

    /// An invalid policy file's entry (never judged, 0 s) is no measured restore.
    #[test]
    fn an_invalid_policy_entry_is_not_a_measured_restore() {
        let mut invalid = recorded("2026-10-02", false, &["invalid_policy"]);
        invalid.policies[0].rto_measured_seconds = 0.0;
        let runs = [recorded("2026-10-01", true, &[]), invalid];
        let period = Period::quarter("2026-Q4").unwrap();
        let span = Span::of(&period, "2026-10-03T00:00:00Z".parse().unwrap());
        let stats = policy_stats("acme-db", &results_of(&runs, "acme-db"), &span);
        assert_eq!(stats.runs, 2);
        assert_eq!(
            (
                stats.rto_measured_worst_seconds,
                stats.rto_measured_median_seconds
            ),
            (10.0, 10.0)
        );
    }

    #[test]
    fn a_voided_run_counts_in_no_figure_and_stays_in_the_evidence() {
        let mut runs = vec![
            recorded("2026-10-01", true, &[]),
            recorded("2026-10-02", false, &["digest_mismatch"]),
        ];
        runs[1].kind = "drill".into();
        runs[1].voided = Some(crate::history::Correction {
            run_id: runs[1].run_id.clone(),
            action: crate::history::Action::Void,
            by: "J. Rivera".into(),
            text: "drilled the wrong client".into(),
            made_at: "2026-10-03T00:00:00Z".parse().unwrap(),
        });
        let period = Period::quarter("2026-Q4").unwrap();
        let now = "2026-10-04T00:00:00Z".parse().unwrap();
        let report = build(
            "Acme Dental",
            period,
            &runs,
            &[],
            &BTreeMap::new(),
            None,
            now,
        );
        let stats = &report.policies[0];
        assert_eq!((stats.runs, stats.passes, stats.pass_rate), (1, 1, 1.0));
        assert!(report.incidents.is_empty() && report.drills.is_empty());
        assert_eq!(stats.days[1].1, Day::NotRun);
        assert_eq!(report.evidence.len(), 2);
        let voided = report.evidence[1].voided.as_ref().unwrap();
        assert_eq!(voided.policies, ["acme-db"]);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }
}
