//! The rows and columns the period report shows people, so Markdown and HTML carry the same
//! numbers in the same words (the CSV carries raw numbers of its own). It exists so the
//! renderers share one reading of the model without importing each other. It must not compute figures (they come ready in
//! the model) nor know any format's markup.

use jiff::Timestamp;

use super::model::{Evidence, Incident, PeriodReport};
use crate::report::secs;

fn opt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".into(), secs)
}

pub(super) fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

/// The rows every format shows, so Markdown, CSV and HTML carry the same numbers.
pub(super) fn policy_rows(report: &PeriodReport) -> Vec<[String; 9]> {
    report
        .policies
        .iter()
        .map(|s| {
            if s.runs == 0 {
                let none = || "-".to_string();
                return [
                    s.policy.clone(),
                    "0".into(),
                    none(),
                    none(),
                    none(),
                    none(),
                    none(),
                    "never".into(),
                    none(),
                ];
            }
            [
                s.policy.clone(),
                s.runs.to_string(),
                percent(s.pass_rate),
                format!(
                    "{} / {}{}",
                    opt_secs(s.rpo_worst_age_seconds),
                    secs(s.rpo_target_seconds),
                    match s.dated_by {
                        Some(crate::config::DateSource::Modified) => ", dated by upload time",
                        _ => "",
                    }
                ),
                format!(
                    "{} / {}",
                    secs(s.rto_measured_worst_seconds),
                    secs(s.rto_measured_median_seconds)
                ),
                format!(
                    "{} / {}",
                    opt_secs(s.rto_projected_worst_seconds),
                    opt_secs(s.rto_projected_median_seconds)
                ),
                secs(s.rto_target_seconds),
                s.days_since_last_pass
                    .map_or_else(|| "never".into(), |d| format!("{d:.1}")),
                format!("{} of {}", s.targets_met_runs, s.runs),
            ]
        })
        .collect()
}

pub(super) const POLICY_COLUMNS: [&str; 9] = [
    "policy",
    "runs",
    "pass rate",
    "worst newest-backup age / RPO",
    "measured restore worst / median",
    "projected full restore worst / median",
    "RTO",
    "days since last pass",
    "runs meeting RPO and RTO",
];

pub(super) fn incident_row(i: &Incident) -> [String; 5] {
    [
        i.policy.clone(),
        day(i.first_seen),
        i.resolved.map_or_else(|| "not resolved".into(), day),
        opt_secs(i.time_to_fix_seconds),
        format!("{} ({} failing runs)", i.kinds.join(", "), i.failing_runs),
    ]
}

pub(super) const INCIDENT_COLUMNS: [&str; 5] = [
    "policy",
    "first seen",
    "resolved",
    "time to fix",
    "findings",
];

pub(super) const CONTROL_COLUMNS: [&str; 4] = ["control", "description", "policies", "evidence"];

pub(super) fn control_rows(report: &PeriodReport) -> Vec<[String; 4]> {
    report
        .controls
        .iter()
        .map(|c| {
            [
                c.control.clone(),
                c.description.clone(),
                c.policies.join(", "),
                format!("{} runs, {} passed", c.runs, c.passes),
            ]
        })
        .collect()
}

pub(super) const DRILL_COLUMNS: [&str; 5] = ["run", "started", "result", "run by", "witnessed by"];

pub(super) fn drill_row(e: &Evidence) -> [String; 5] {
    // A drill without a witness says so; an operator is required, so a drill without one
    // predates that rule.
    let who = |w: &Option<String>, none: &str| w.clone().unwrap_or_else(|| none.into());
    [
        e.run_id.clone(),
        day(e.started_at),
        if e.passed {
            "PASS".into()
        } else {
            "FAIL".into()
        },
        who(&e.operator, "not recorded"),
        who(&e.witness, "no witness"),
    ]
}

pub(super) const EVIDENCE_COLUMNS: [&str; 6] = [
    "run",
    "started",
    "kind",
    "result",
    "result hash",
    "record hash",
];

pub(super) fn evidence_row(e: &Evidence) -> [String; 6] {
    let result = if e.passed { "PASS" } else { "FAIL" };
    [
        e.run_id.clone(),
        day(e.started_at),
        e.kind.clone(),
        match &e.voided {
            Some(v) => format!("VOIDED (was {result}): {}", v.reason),
            None => result.into(),
        },
        e.content_hash.clone(),
        e.record_hash.clone(),
    ]
}

pub(super) const VOIDED_COLUMNS: [&str; 5] = ["run", "started", "kind", "voided by", "reason"];

/// The voided runs of the period: each shown struck through, with who voided it and why.
pub(super) fn voided_rows(report: &PeriodReport) -> Vec<[String; 5]> {
    report
        .evidence
        .iter()
        .filter_map(|e| {
            let v = e.voided.as_ref()?;
            Some([
                e.run_id.clone(),
                day(e.started_at),
                e.kind.clone(),
                format!("{}, {}", v.by, day(v.at)),
                v.reason.clone(),
            ])
        })
        .collect()
}
