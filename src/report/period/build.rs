//! Computing the period report: recorded runs in, a [`PeriodReport`] out. It exists to keep
//! every figure the report shows (pass rates, RPO and RTO compliance, failure episodes,
//! drills, control rows, evidence) in one pure place, so every format carries the same
//! numbers. It must not read the history, the clock or the disk (the caller passes runs and
//! `now`), and must not format or render anything.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::model::{ControlRow, Day, Evidence, Incident, Period, PeriodReport, PolicyStats};
use crate::config::Control;
use crate::history::StoredRun;

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

/// Builds the report for `client` from the runs recorded in the period.
pub fn build(
    client: &str,
    period: Period,
    runs: &[StoredRun],
    known_policies: &[String],
    controls: &BTreeMap<String, Control>,
    chain_head: Option<String>,
    now: Timestamp,
) -> PeriodReport {
    let end = period.to.min(now);
    let mut names: BTreeSet<String> = known_policies.iter().cloned().collect();
    for run in runs {
        names.extend(run.policies.iter().map(|p| p.policy.clone()));
    }
    let first_day = period.from.to_zoned(jiff::tz::TimeZone::UTC).date();
    let last_day = (end - jiff::SignedDuration::from_nanos(1))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mut stats = Vec::new();
    let mut incidents = Vec::new();
    for name in &names {
        let results: Vec<(&StoredRun, &crate::history::StoredPolicy)> = runs
            .iter()
            .filter_map(|r| {
                r.policies
                    .iter()
                    .find(|p| &p.policy == name)
                    .map(|p| (r, p))
            })
            .collect();
        let passes = results.iter().filter(|(_, p)| p.passed).count();
        let last_pass = results
            .iter()
            .rev()
            .find(|(_, p)| p.passed)
            .map(|(r, _)| r.started_at);
        let mut days = Vec::new();
        let mut day = first_day;
        while day <= last_day && days.len() < 400 {
            let on_day: Vec<bool> = results
                .iter()
                .filter(|(r, _)| r.started_at.to_zoned(jiff::tz::TimeZone::UTC).date() == day)
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
        let measured: Vec<f64> = results
            .iter()
            .map(|(_, p)| p.rto_measured_seconds)
            .collect();
        let projected: Vec<f64> = results
            .iter()
            .filter_map(|(_, p)| p.rto_projected_seconds)
            .collect();
        let target =
            |f: fn(&crate::history::StoredPolicy) -> f64| results.last().map_or(0.0, |(_, p)| f(p));
        stats.push(PolicyStats {
            policy: name.clone(),
            runs: results.len(),
            passes,
            pass_rate: if results.is_empty() {
                0.0
            } else {
                passes as f64 / results.len() as f64
            },
            rpo_target_seconds: target(|p| p.rpo_target_seconds),
            rpo_worst_age_seconds: worst(results.iter().filter_map(|(_, p)| p.rpo_age_seconds)),
            rpo_met_runs: results
                .iter()
                .filter(|(_, p)| p.rpo_age_seconds.is_some_and(|a| a <= p.rpo_target_seconds))
                .count(),
            rto_target_seconds: target(|p| p.rto_target_seconds),
            rto_measured_worst_seconds: worst(measured.iter().copied()).unwrap_or(0.0),
            rto_measured_median_seconds: median(measured).unwrap_or(0.0),
            rto_projected_worst_seconds: worst(projected.iter().copied()),
            rto_projected_median_seconds: median(projected),
            rto_met_runs: results
                .iter()
                .filter(|(_, p)| {
                    p.rto_projected_seconds
                        .is_some_and(|x| x <= p.rto_target_seconds)
                        && p.rto_measured_seconds <= p.rto_target_seconds
                })
                .count(),
            targets_met_runs: results
                .iter()
                .filter(|(_, p)| {
                    p.rpo_age_seconds.is_some_and(|a| a <= p.rpo_target_seconds)
                        && p.rto_projected_seconds
                            .is_some_and(|x| x <= p.rto_target_seconds)
                        && p.rto_measured_seconds <= p.rto_target_seconds
                })
                .count(),
            last_pass,
            days_since_last_pass: last_pass
                .map(|t| end.duration_since(t).as_secs_f64().max(0.0) / 86_400.0),
            days,
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
        });
        // Incidents: a failing run opens one, the next passing run resolves it.
        let mut open: Option<Incident> = None;
        for (run, p) in &results {
            match (&mut open, p.passed) {
                (None, false) => {
                    open = Some(Incident {
                        policy: name.clone(),
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
    }
    let never_verified = stats
        .iter()
        .filter(|s| s.passes == 0)
        .map(|s| s.policy.clone())
        .collect();
    let evidence: Vec<Evidence> = runs
        .iter()
        .map(|r| Evidence {
            run_id: r.run_id.clone(),
            kind: r.kind.clone(),
            operator: r.operator.clone(),
            witness: r.witness.clone(),
            started_at: r.started_at,
            content_hash: r.content_hash.clone(),
            record_hash: r.record_hash.clone(),
            passed: r.policies.iter().all(|p| p.passed),
        })
        .collect();
    let controls = controls
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
        .collect();
    PeriodReport {
        client: client.to_string(),
        period,
        generated_at: now,
        chain_head,
        drills: evidence
            .iter()
            .filter(|e| e.kind == "drill")
            .cloned()
            .collect(),
        policies: stats,
        never_verified,
        incidents,
        controls,
        evidence,
    }
}
