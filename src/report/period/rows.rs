//! The rows and columns the period report shows people, so Markdown and HTML carry the same
//! numbers in the same words (the CSV carries raw numbers of its own). It exists so the
//! renderers share one reading of the model without importing each other. It must not
//! compute figures (they come ready in the model) nor know any format's markup.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::model::{
    Change, Direction, DrillRow, EpisodeState, Evidence, Incident, PeriodReport, Subject,
};
use crate::config::units::format_bytes;
use crate::report::secs;

fn opt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".into(), secs)
}

/// A time in the report's zone, with the zone's abbreviation (`2026-10-01 04:00 CEST`).
pub(super) fn when(tz: &TimeZone, t: Timestamp) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The period's first and last day in the report's zone (`2026-10-01 to 2026-12-31`).
pub(super) fn days_of(tz: &TimeZone, period: &super::model::Period) -> String {
    let last = period.to - jiff::SignedDuration::from_nanos(1);
    format!(
        "{} to {}",
        period.from.to_zoned(tz.clone()).date(),
        last.max(period.from).to_zoned(tz.clone()).date()
    )
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

fn of_runs(n: usize, runs: usize) -> String {
    format!("{n} of {runs}")
}

/// The first page: one line per policy.
pub(super) const SUMMARY_COLUMNS: [&str; 7] = [
    "policy",
    "last run",
    "verified runs",
    "RPO met (drills not counted)",
    "RTO met",
    "backups verified within window",
    "open failures (to act)",
];

/// A policy's coverage as its last run left it: `9 of 10 within 30d`.
fn coverage_cell(c: Option<&crate::plan::coverage::Coverage>) -> String {
    let Some(c) = c else {
        return "not recorded".into();
    };
    let window = secs(c.window_days * 86_400.0);
    let target = if c.target_days.is_some() {
        ""
    } else {
        ", no target"
    };
    format!(
        "{} of {} within {window}{target}",
        c.verified_within_objects, c.retained_objects
    )
}

pub(super) fn summary_rows(report: &PeriodReport) -> Vec<[String; 7]> {
    let tz = report.presentation.zone();
    report
        .policies
        .iter()
        .map(|s| {
            let name = match &s.description {
                Some(d) => format!("{}: {d}", s.policy),
                None => s.policy.clone(),
            };
            let last = s.last_run.as_ref().map_or_else(
                || "no run".into(),
                |l| format!("{}, {}", l.label, when(&tz, l.at)),
            );
            let open = match (s.open_failures, &s.responsible) {
                (0, _) => "none".into(),
                (n, Some(team)) => format!("{n} ({team})"),
                (n, None) => format!("{n} (no responsible team set)"),
            };
            [
                name,
                last,
                of_runs(s.verified_runs, s.runs),
                of_runs(s.rpo_met_runs, s.rpo_judged_runs),
                of_runs(s.rto_met_runs, s.runs),
                coverage_cell(s.coverage.as_ref()),
                open,
            ]
        })
        .collect()
}

pub(super) const CHANGE_COLUMNS: [&str; 5] = [
    "policy",
    "measure",
    "previous period",
    "this period",
    "change",
];

pub(super) fn change_row(c: &Change) -> [String; 5] {
    [
        c.policy.clone(),
        c.measure.into(),
        c.before.clone(),
        c.after.clone(),
        match c.direction {
            Direction::Better => "better",
            Direction::Worse => "worse",
            Direction::Same => "same",
        }
        .into(),
    ]
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
                of_runs(s.targets_met_runs, s.rpo_judged_runs),
            ]
        })
        .collect()
}

pub(super) const POLICY_COLUMNS: [&str; 9] = [
    "policy",
    "runs (not voided)",
    "pass rate (runs passed)",
    "worst newest-backup age / RPO",
    "measured restore worst / median",
    "projected full restore worst / median",
    "RTO",
    "days since last passing run",
    "runs meeting RPO and RTO (drills not counted)",
];

pub(super) fn incident_row(tz: &TimeZone, i: &Incident) -> [String; 8] {
    let what = match &i.subject {
        Subject::Object { key, set } => format!("object {key} (set {set})"),
        Subject::Policy => "the policy".into(),
    };
    let state = match (i.state, &i.superseded_by_set) {
        (EpisodeState::Superseded, Some(set)) => format!("superseded by set {set}"),
        (state, _) => state.label().into(),
    };
    [
        i.policy.clone(),
        what,
        format!(
            "{} ({} failing {})",
            i.kinds.join(", "),
            i.failing_runs,
            if i.failing_runs == 1 { "run" } else { "runs" }
        ),
        when(tz, i.first_seen),
        state,
        i.ended_at.map_or_else(|| "-".into(), |t| when(tz, t)),
        opt_secs(i.time_to_fix_seconds),
        i.responsible.clone().unwrap_or_else(|| "not set".into()),
    ]
}

pub(super) const INCIDENT_COLUMNS: [&str; 8] = [
    "policy",
    "what failed",
    "findings",
    "first seen",
    "state",
    "resolved or superseded",
    "time to fix",
    "to act",
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

pub(super) const DRILL_COLUMNS: [&str; 8] = [
    "started",
    "policy",
    "set",
    "restored",
    "wall time / RTO",
    "result",
    "run by",
    "witnessed by",
];

pub(super) fn drill_row(tz: &TimeZone, d: &DrillRow) -> [String; 8] {
    // A drill without a witness says so; an operator is required, so a drill without one
    // predates that rule.
    let who = |w: &Option<String>, none: &str| w.clone().unwrap_or_else(|| none.into());
    [
        when(tz, d.started_at),
        d.policy.clone(),
        d.set.clone().unwrap_or_else(|| "none restored".into()),
        format!(
            "{}, {} {}",
            format_bytes(d.restored_bytes),
            d.files,
            if d.files == 1 { "file" } else { "files" }
        ),
        format!(
            "{} / {} ({})",
            secs(d.wall_seconds),
            secs(d.rto_target_seconds),
            if d.rto_met { "MET" } else { "EXCEEDED" }
        ),
        d.label.into(),
        who(&d.operator, "not recorded"),
        who(&d.witness, "no witness"),
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

pub(super) fn evidence_row(tz: &TimeZone, e: &Evidence) -> [String; 6] {
    let result = if e.passed { "PASS" } else { "FAIL" };
    [
        e.run_id.clone(),
        when(tz, e.started_at),
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
    let tz = report.presentation.zone();
    report
        .evidence
        .iter()
        .filter_map(|e| {
            let v = e.voided.as_ref()?;
            Some([
                e.run_id.clone(),
                when(&tz, e.started_at),
                e.kind.clone(),
                format!("{}, {}", v.by, when(&tz, v.at)),
                v.reason.clone(),
            ])
        })
        .collect()
}

/// The worst figures of a policy in one sentence, written under its charts: a restore of
/// milliseconds against an RTO of hours draws as a line at zero. Empty without a run.
pub(super) fn worst(s: &super::model::PolicyStats) -> String {
    if s.runs == 0 {
        return String::new();
    }
    let age = s
        .rpo_worst_age_seconds
        .map_or_else(|| "not known".to_string(), secs);
    let projected = s
        .rto_projected_worst_seconds
        .map_or_else(|| "none".to_string(), secs);
    format!(
        "Worst newest-backup age {age} against the RPO of {}; worst restore measured {}, projected full restore {projected}, against the RTO of {}.",
        secs(s.rpo_target_seconds),
        secs(s.rto_measured_worst_seconds),
        secs(s.rto_target_seconds)
    )
}
