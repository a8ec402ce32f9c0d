//! The period report as CSV (RFC 4180, written by the `csv` crate) for spreadsheets: one row
//! per policy for the period, raw numbers only (seconds, bytes, counts, rates as fractions,
//! RFC 3339 times in UTC), under a header of snake_case names ([`COLUMNS`], documented in
//! docs/reference.md). It exists to put the model's numbers in cells; it must not compute
//! figures, format them for people ("21h 34m") nor carry a signature: the CSV is data, its
//! signature is a file beside it.

use super::model::{EpisodeState, PeriodReport, PolicyStats, Verdict};

/// The header row, in order. Changing a name breaks people's spreadsheets: add, do not
/// rename.
pub const COLUMNS: [&str; 42] = [
    "client",
    "period",
    "period_from",
    "period_to",
    "generated_at",
    "chain_head",
    "policy",
    "description",
    "responsible",
    "dated_by",
    "last_run_at",
    "last_run_status",
    "runs",
    "passes",
    "pass_rate",
    "verified_runs",
    "objects_verified",
    "objects_failed",
    "rpo_target_seconds",
    "rpo_worst_age_seconds",
    "rpo_met_runs",
    "rto_target_seconds",
    "rto_measured_worst_seconds",
    "rto_measured_median_seconds",
    "rto_projected_worst_seconds",
    "rto_projected_median_seconds",
    "rto_met_runs",
    "targets_met_runs",
    "last_pass_at",
    "days_since_last_pass",
    "failure_episodes",
    "open_failure_episodes",
    "superseded_failure_episodes",
    "drills",
    "voided_runs",
    "voided_run_notes",
    "coverage_window_days",
    "coverage_retained_objects",
    "coverage_verified_within_objects",
    "coverage_never_verified_objects",
    "coverage_overdue_objects",
    "coverage_projected_rotation_days",
];

/// A cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return: OWASP's CSV injection list) gets a leading `'`, so it is shown as
/// text; numbers stay as they are.
fn neutralised(cell: String) -> String {
    let formula =
        cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err();
    if formula { format!("'{cell}") } else { cell }
}

fn number(n: impl ToString) -> String {
    n.to_string()
}

/// An absent figure is an empty cell, which a spreadsheet reads as blank, not zero.
fn optional(n: Option<f64>) -> String {
    n.map(number).unwrap_or_default()
}

/// A verdict as a spreadsheet filters on it: the model's snake_case name
/// (`verified_rto_missed`), not the words for people.
fn verdict_code(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "verified",
        Verdict::VerifiedRpoMissed => "verified_rpo_missed",
        Verdict::VerifiedRtoMissed => "verified_rto_missed",
        Verdict::VerifiedTargetsMissed => "verified_targets_missed",
        Verdict::VerifiedOtherFindings => "verified_other_findings",
        Verdict::Failed => "failed",
    }
}

/// One policy's row under [`COLUMNS`].
fn row(report: &PeriodReport, s: &PolicyStats) -> Vec<String> {
    let episodes: Vec<_> = report
        .incidents
        .iter()
        .filter(|i| i.policy == s.policy)
        .collect();
    let voided: Vec<String> = report
        .evidence
        .iter()
        .filter_map(|e| {
            let v = e.voided.as_ref()?;
            v.policies
                .iter()
                .any(|p| p == &s.policy)
                .then(|| format!("{}: {} (voided by {})", e.run_id, v.reason, v.by))
        })
        .collect();
    let state = |st: EpisodeState| episodes.iter().filter(|i| i.state == st).count();
    let drills = report
        .drills
        .iter()
        .filter(|d| d.policy == s.policy)
        .count();
    let cov = |f: fn(&crate::plan::coverage::Coverage) -> String| {
        s.coverage.as_ref().map(f).unwrap_or_default()
    };
    let measured = |x: f64| {
        if s.runs == 0 {
            String::new()
        } else {
            number(x)
        }
    };
    vec![
        report.client.clone(),
        report.period.label.clone(),
        report.period.from.to_string(),
        report.period.to.to_string(),
        report.generated_at.to_string(),
        report.chain_head.clone().unwrap_or_default(),
        s.policy.clone(),
        s.description.clone().unwrap_or_default(),
        s.responsible.clone().unwrap_or_default(),
        s.dated_by
            .map(|d| match d {
                crate::config::DateSource::Name => "name",
                crate::config::DateSource::Modified => "modified",
                crate::config::DateSource::Snapshot => "snapshot",
            })
            .unwrap_or_default()
            .to_string(),
        s.last_run
            .as_ref()
            .map(|l| l.at.to_string())
            .unwrap_or_default(),
        s.last_run
            .as_ref()
            .map(|l| verdict_code(l.verdict))
            .unwrap_or_default()
            .to_string(),
        number(s.runs),
        number(s.passes),
        if s.runs == 0 {
            String::new()
        } else {
            number(s.pass_rate)
        },
        number(s.verified_runs),
        number(s.objects_verified),
        number(s.objects_failed),
        number(s.rpo_target_seconds),
        optional(s.rpo_worst_age_seconds),
        number(s.rpo_met_runs),
        number(s.rto_target_seconds),
        measured(s.rto_measured_worst_seconds),
        measured(s.rto_measured_median_seconds),
        optional(s.rto_projected_worst_seconds),
        optional(s.rto_projected_median_seconds),
        number(s.rto_met_runs),
        number(s.targets_met_runs),
        s.last_pass.map(|t| t.to_string()).unwrap_or_default(),
        optional(s.days_since_last_pass),
        number(episodes.len()),
        number(state(EpisodeState::Open)),
        number(state(EpisodeState::Superseded)),
        number(drills),
        number(voided.len()),
        voided.join("; "),
        // Coverage after the policy's last run that recorded it; blank without one.
        cov(|c| number(c.window_days)),
        cov(|c| number(c.retained_objects)),
        cov(|c| number(c.verified_within_objects)),
        cov(|c| number(c.never_verified_objects)),
        cov(|c| number(c.overdue_objects)),
        cov(|c| optional(c.projected_rotation_days)),
    ]
}

/// The report as CSV: the header, then one row per policy.
pub fn csv(report: &PeriodReport) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing to memory fails only on a row of the wrong length, which COLUMNS prevents.
    let _ = out.write_record(COLUMNS);
    for s in &report.policies {
        let _ = out.write_record(row(report, s).into_iter().map(neutralised));
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_shown_as_text_and_numbers_stay_numbers() {
        let n = |s: &str| neutralised(s.to_string());
        assert_eq!(n("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(n("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(n("+1+cmd"), "'+1+cmd");
        assert_eq!(n("\tx"), "'\tx");
        assert_eq!(n("\rx"), "'\rx");
        assert_eq!(n("-"), "'-");
        assert_eq!(n("-2.5"), "-2.5");
        assert_eq!(n("db"), "db");
    }
}
