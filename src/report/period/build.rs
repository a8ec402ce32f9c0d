//! Computing the period report: recorded runs in, a [`PeriodReport`] out. It exists to keep
//! every figure the report shows (pass rates, RPO and RTO compliance, verdicts, failure
//! episodes, drills, the first page's answer, control rows, evidence) in one pure place, so
//! every format carries the same numbers. Voided runs count in none of them; they are in the
//! evidence, marked. It must not read the history, the clock or the disk (the caller passes
//! runs and `now`), and must not format or render anything.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::episodes::{self, Recorded, rpo_met, rto_met, verdict};
use super::model::{
    ControlRow, Day, EpisodeState, Evidence, LastRun, Period, PeriodReport, PolicyStats,
    Presentation, SeriesPoint, Verdict, Voided,
};
use super::summary;
use crate::config::{Control, DateSource};
use crate::history::{StoredPolicy, StoredRun};

/// A policy of the client as configured when the report is made.
#[derive(Debug, Clone)]
pub struct KnownPolicy {
    pub name: String,
    pub dated_by: DateSource,
    pub description: Option<String>,
    /// The RACI responsible team, by its name.
    pub responsible: Option<String>,
}

/// Everything a report is computed from.
pub struct Inputs<'a> {
    pub client: &'a str,
    pub period: Period,
    /// The runs started in the period, oldest first.
    pub runs: &'a [StoredRun],
    /// The previous period (of the same length) and its runs: failures still open at its
    /// end carry over, and the first page says what changed.
    pub previous: Option<(Period, &'a [StoredRun])>,
    pub policies: &'a [KnownPolicy],
    pub controls: &'a BTreeMap<String, Control>,
    pub chain_head: Option<String>,
    pub presentation: Presentation,
    pub now: Timestamp,
}

/// Builds the report of `input.client` for `input.period`.
pub fn build(input: Inputs) -> PeriodReport {
    let tz = input.presentation.zone();
    let span = Span::of(&input.period, input.now, &tz);
    let earlier: &[StoredRun] = input.previous.as_ref().map_or(&[], |(_, runs)| runs);
    // A voided run was a mistake: no figure counts it.
    let counted = not_voided(input.runs);
    let counted_before = not_voided(earlier);
    let both: Vec<StoredRun> = counted_before.iter().chain(&counted).cloned().collect();
    let names = policy_names(&counted, input.policies);
    let mut stats = Vec::new();
    let mut incidents = Vec::new();
    for name in &names {
        let known = input.policies.iter().find(|k| &k.name == name);
        let responsible = known.and_then(|k| k.responsible.as_deref());
        let mut policy = policy_stats(name, &results_of(&counted, name), &span);
        policy.dated_by = known.map(|k| k.dated_by);
        policy.description = known.and_then(|k| k.description.clone());
        policy.responsible = responsible.map(str::to_string);
        let mine: Vec<_> = episodes::episodes(name, &results_of(&both, name), responsible)
            .into_iter()
            .filter(|i| episodes::overlaps(i, input.period.from, span.end))
            .collect();
        policy.open_failures = mine
            .iter()
            .filter(|i| i.state == EpisodeState::Open)
            .count();
        stats.push(policy);
        incidents.extend(mine);
    }
    incidents.sort_by(|a, b| (a.first_seen, &a.policy).cmp(&(b.first_seen, &b.policy)));
    let previous = input.previous.as_ref().and_then(|(period, _)| {
        let before = Span::of(period, input.now.min(period.to), &tz);
        let was: Vec<PolicyStats> = names
            .iter()
            .map(|name| {
                let mut stats = policy_stats(name, &results_of(&counted_before, name), &before);
                stats.open_failures =
                    episodes::episodes(name, &results_of(&counted_before, name), None)
                        .iter()
                        .filter(|i| i.state == EpisodeState::Open)
                        .count();
                stats
            })
            .filter(|s| s.runs > 0)
            .collect();
        summary::compare(period, &was, &stats)
    });
    let evidence = evidence(input.runs);
    PeriodReport {
        client: input.client.to_string(),
        period: input.period,
        generated_at: input.now,
        chain_head: input.chain_head,
        presentation: input.presentation,
        summary: summary::summarise(&stats, &incidents, &counted),
        previous,
        drills: summary::drills(&counted),
        controls: control_rows(input.controls, &names, &stats),
        policies: stats,
        incidents,
        evidence,
    }
}

fn not_voided(runs: &[StoredRun]) -> Vec<StoredRun> {
    runs.iter()
        .filter(|r| r.voided.is_none())
        .cloned()
        .collect()
}

/// The days the report covers, in the report's zone: a report made before the period's end
/// stops at the time it was made, so days still to come are not shown as days without a run.
pub(super) struct Span {
    first_day: Date,
    last_day: Date,
    pub(super) end: Timestamp,
    tz: TimeZone,
}

impl Span {
    pub(super) fn of(period: &Period, now: Timestamp, tz: &TimeZone) -> Span {
        let end = period.to.min(now).max(period.from);
        Span {
            first_day: period.from.to_zoned(tz.clone()).date(),
            last_day: (end - SignedDuration::from_nanos(1))
                .max(period.from)
                .to_zoned(tz.clone())
                .date(),
            end,
            tz: tz.clone(),
        }
    }
}

/// The client's policies known today and those of the recorded runs: a policy removed
/// since still shows what it did in the period.
fn policy_names(runs: &[StoredRun], known: &[KnownPolicy]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = known.iter().map(|k| k.name.clone()).collect();
    for run in runs {
        names.extend(run.policies.iter().map(|p| p.policy.clone()));
    }
    names
}

/// The runs that include policy `name`, oldest first, with its result in each.
pub(super) fn results_of<'a>(runs: &'a [StoredRun], name: &str) -> Vec<Recorded<'a>> {
    runs.iter()
        .filter_map(|r| r.policies.iter().find(|p| p.policy == name).map(|p| (r, p)))
        .collect()
}

/// Per-policy figures: runs, pass rate, verification, RPO and RTO against their targets,
/// the day strip and the per-run series.
pub(super) fn policy_stats(name: &str, results: &[Recorded], span: &Span) -> PolicyStats {
    let passes = results.iter().filter(|(_, p)| p.passed).count();
    let last_pass = results
        .iter()
        .rev()
        .find(|(_, p)| p.passed)
        .map(|(r, _)| r.started_at);
    // An invalid policy file's entry was never judged: its zero is no measurement.
    let judged = |p: &StoredPolicy| {
        p.findings
            .iter()
            .all(|(kind, _, _)| kind != "invalid_policy")
    };
    let measured: Vec<f64> = results
        .iter()
        .filter(|(_, p)| judged(p))
        .map(|(_, p)| p.rto_measured_seconds)
        .collect();
    let projected: Vec<f64> = results
        .iter()
        .filter_map(|(_, p)| p.rto_projected_seconds)
        .collect();
    // The targets as the newest run recorded them: a policy's RPO or RTO may have been
    // changed during the period.
    let target = |f: fn(&StoredPolicy) -> f64| results.last().map_or(0.0, |(_, p)| f(p));
    let count =
        |met: &dyn Fn(&StoredPolicy) -> bool| results.iter().filter(|(_, p)| met(p)).count();
    // A drill restores the set it is given and judges only the RTO: it is no RPO evidence.
    let judging_rpo: Vec<Recorded> = results
        .iter()
        .filter(|(r, _)| r.kind != "drill")
        .copied()
        .collect();
    let count_rpo =
        |met: &dyn Fn(&StoredPolicy) -> bool| judging_rpo.iter().filter(|(_, p)| met(p)).count();
    let objects = |verified: bool| {
        results
            .iter()
            .map(|(_, p)| p.objects.iter().filter(|o| o.verified == verified).count())
            .sum()
    };
    PolicyStats {
        policy: name.to_string(),
        description: None,
        responsible: None,
        dated_by: None,
        runs: results.len(),
        passes,
        pass_rate: if results.is_empty() {
            0.0
        } else {
            passes as f64 / results.len() as f64
        },
        verified_runs: count(&|p| verdict(p) != Verdict::Failed),
        objects_verified: objects(true),
        objects_failed: objects(false),
        last_run: results.last().map(|(r, p)| {
            let verdict = verdict(p);
            LastRun {
                run_id: r.run_id.clone(),
                at: r.started_at,
                verdict,
                label: verdict.label(),
            }
        }),
        rpo_target_seconds: target(|p| p.rpo_target_seconds),
        rpo_worst_age_seconds: worst(results.iter().filter_map(|(_, p)| p.rpo_age_seconds)),
        rpo_judged_runs: judging_rpo.len(),
        rpo_met_runs: count_rpo(&rpo_met),
        rto_target_seconds: target(|p| p.rto_target_seconds),
        rto_measured_worst_seconds: worst(measured.iter().copied()).unwrap_or(0.0),
        rto_measured_median_seconds: median(measured).unwrap_or(0.0),
        rto_projected_worst_seconds: worst(projected.iter().copied()),
        rto_projected_median_seconds: median(projected),
        rto_met_runs: count(&rto_met),
        targets_met_runs: count_rpo(&|p| rpo_met(p) && rto_met(p)),
        last_pass,
        days_since_last_pass: last_pass
            .map(|t| span.end.duration_since(t).as_secs_f64().max(0.0) / 86_400.0),
        open_failures: 0,
        coverage: results.iter().rev().find_map(|(_, p)| p.coverage.clone()),
        days: day_strip(results, span),
        series: series(results),
    }
}

/// One point per run for the charts.
fn series(results: &[Recorded]) -> Vec<SeriesPoint> {
    // An invalid policy file's entry was never judged: its zero is no measurement.
    let judged = |p: &StoredPolicy| {
        p.findings
            .iter()
            .all(|(kind, _, _)| kind != "invalid_policy")
    };
    results
        .iter()
        .map(|(r, p)| SeriesPoint {
            at: r.started_at,
            backup_age_seconds: p.rpo_age_seconds,
            rpo_target_seconds: p.rpo_target_seconds,
            measured_seconds: judged(p).then_some(p.rto_measured_seconds),
            projected_seconds: p.rto_projected_seconds,
            rto_target_seconds: p.rto_target_seconds,
            throughput_bytes_per_second: p.throughput_bytes_per_second,
            restored_bytes: p.objects.iter().map(|o| o.restored_bytes).sum(),
            coverage_share: p
                .coverage
                .as_ref()
                .filter(|c| c.retained_objects > 0)
                .map(|c| c.verified_within_objects as f64 / c.retained_objects as f64),
        })
        .collect()
}

/// One status a day, from the span's first day to its last, in the report's zone: the
/// day's last run decides. At most 400 days, so a mistyped range cannot make a page of
/// thousands of cells.
fn day_strip(results: &[Recorded], span: &Span) -> Vec<(Date, Day)> {
    let mut days = Vec::new();
    let mut day = span.first_day;
    while day <= span.last_day && days.len() < 400 {
        let on_day: Vec<bool> = results
            .iter()
            .filter(|(r, _)| r.started_at.to_zoned(span.tz.clone()).date() == day)
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
                newest_set: Some(day.into()),
                coverage: None,
                objects: vec![crate::history::StoredObject {
                    key: format!("{day}/db.tar.zst"),
                    set: day.into(),
                    restored_bytes: 1 << 20,
                    files: 1,
                    seconds: 10.0,
                    verified: passed || kinds.iter().all(|k| episodes::is_target_kind(k)),
                }],
                findings: kinds
                    .iter()
                    .map(|k| (k.to_string(), None, String::new()))
                    .collect(),
            }],
            voided: None,
        }
    }

    #[test]
    fn a_run_without_a_projection_does_not_meet_the_rto() {
        let runs = [recorded("2026-10-01", true, &[])];
        let period = Period::quarter("2026-Q4", &TimeZone::UTC).unwrap();
        let span = Span::of(
            &period,
            "2026-10-02T00:00:00Z".parse().unwrap(),
            &TimeZone::UTC,
        );
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
        let period = Period::quarter("2026-Q4", &TimeZone::UTC).unwrap();
        let span = Span::of(
            &period,
            "2026-10-03T00:00:00Z".parse().unwrap(),
            &TimeZone::UTC,
        );
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
        let period = Period::quarter("2026-Q4", &TimeZone::UTC).unwrap();
        let now = "2026-10-04T00:00:00Z".parse().unwrap();
        let report = build(Inputs {
            client: "Acme Dental",
            period,
            runs: &runs,
            previous: None,
            policies: &[],
            controls: &BTreeMap::new(),
            chain_head: None,
            presentation: Presentation::default(),
            now,
        });
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
