//! The period report as Markdown, for reading as text or pasting where Markdown shows. It exists
//! to lay out the shared rows ([`super::rows`]) in Markdown tables; it must not compute
//! figures (the model carries them) nor change a row's words (every format shows the same).

use std::fmt::Write as _;

use super::model::PeriodReport;
use super::rows::{
    CHANGE_COLUMNS, CONTROL_COLUMNS, DRILL_COLUMNS, EVIDENCE_COLUMNS, INCIDENT_COLUMNS,
    POLICY_COLUMNS, SUMMARY_COLUMNS, VOIDED_COLUMNS, change_row, control_rows, days_of, drill_row,
    evidence_row, incident_row, policy_rows, summary_rows, voided_rows, when,
};

/// A voided run's row: its run, start and kind struck through (`~~…~~`); the result with
/// the reason, and the hashes, stay readable.
fn struck<const N: usize>(mut row: [String; N]) -> [String; N] {
    for cell in row.iter_mut().take(3) {
        *cell = format!("~~{cell}~~");
    }
    row
}

/// `text` as literal Markdown text: the characters that would make HTML, links, images,
/// code or emphasis of a key or message from a client's bucket are backslash-escaped
/// (CommonMark), control characters shown escaped, and a newline cannot end a table row.
fn md_text(text: &str) -> String {
    let text = crate::finding::printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '<' | '>' | '&' | '[' | ']' | '`' | '*' | '|' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let cell = |c: &str| {
        // A struck-through cell (`~~…~~`) keeps its marks; what is inside is escaped.
        match c.strip_prefix("~~").and_then(|c| c.strip_suffix("~~")) {
            Some(inner) => format!("~~{}~~", md_text(inner)),
            None => md_text(c),
        }
    };
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(N));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The report as Markdown: the answer first (overall status, one line per policy, what
/// changed), then the detail.
pub fn markdown(report: &PeriodReport) -> String {
    let tz = report.presentation.zone();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Restore verification: {}, {}\n",
        md_text(&report.client),
        report.period.label
    );
    if let Some(msp) = &report.presentation.msp_name {
        let _ = writeln!(out, "Prepared by {}.\n", md_text(msp));
    }
    let _ = writeln!(
        out,
        "Period {} (both days included). Generated {}. Times in {}. History chain head `{}`.\n",
        days_of(&tz, &report.period),
        when(&tz, report.generated_at),
        report.presentation.timezone,
        report.chain_head.as_deref().unwrap_or("(no history)")
    );
    let summary = &report.summary;
    let _ = writeln!(
        out,
        "**Overall: {}.** {}\n",
        summary.label.to_uppercase(),
        md_text(&summary.headline)
    );
    let _ = writeln!(
        out,
        "Counted: {} (voided runs left out), {}; open failures: {}.\n",
        count(summary.runs, "run", "runs"),
        count(summary.drills, "manual drill", "manual drills"),
        summary.open_failures
    );
    md_table(&mut out, SUMMARY_COLUMNS, &summary_rows(report));
    match &report.previous {
        Some(previous) if previous.changes.is_empty() => {
            let _ = writeln!(
                out,
                "Against {} (overall: {}): no change in pass rate, targets met or open failures.\n",
                previous.period.label,
                previous.status.label()
            );
        }
        Some(previous) => {
            let _ = writeln!(
                out,
                "### Changes against {} (overall then: {})\n",
                previous.period.label,
                previous.status.label()
            );
            let rows: Vec<[String; 5]> = previous.changes.iter().map(change_row).collect();
            md_table(&mut out, CHANGE_COLUMNS, &rows);
        }
        None => {
            let _ = writeln!(
                out,
                "No runs were recorded in the previous period to compare with.\n"
            );
        }
    }
    detail(&mut out, report, &tz);
    out
}

/// Everything after the first page: per-policy figures, failures, drills, controls, voided
/// runs, the evidence appendix.
fn detail(out: &mut String, report: &PeriodReport, tz: &jiff::tz::TimeZone) {
    let _ = writeln!(out, "## Policies\n");
    md_table(out, POLICY_COLUMNS, &policy_rows(report));
    let _ = writeln!(out, "## Failures\n");
    if report.incidents.is_empty() {
        let _ = writeln!(out, "No failures in this period.\n");
    } else {
        let rows: Vec<[String; 8]> = report
            .incidents
            .iter()
            .map(|i| incident_row(tz, i))
            .collect();
        md_table(out, INCIDENT_COLUMNS, &rows);
    }
    let _ = writeln!(out, "## Manual restore drills\n");
    if report.drills.is_empty() {
        let _ = writeln!(out, "No manual drills recorded in this period.\n");
    } else {
        let rows: Vec<[String; 8]> = report.drills.iter().map(|d| drill_row(tz, d)).collect();
        md_table(out, DRILL_COLUMNS, &rows);
    }
    if !report.controls.is_empty() {
        let _ = writeln!(out, "## Control mapping\n");
        md_table(out, CONTROL_COLUMNS, &control_rows(report));
    }
    let voided = voided_rows(report);
    if !voided.is_empty() {
        let _ = writeln!(out, "## Voided runs\n");
        let _ = writeln!(
            out,
            "Corrected after they were recorded; counted in no figure above.\n"
        );
        let rows: Vec<[String; 5]> = voided
            .into_iter()
            .map(|[run, started, kind, by, reason]| {
                [
                    format!("~~{run}~~"),
                    format!("~~{started}~~"),
                    kind,
                    by,
                    reason,
                ]
            })
            .collect();
        md_table(out, VOIDED_COLUMNS, &rows);
    }
    let _ = writeln!(out, "## Evidence\n");
    let rows: Vec<[String; 6]> = report
        .evidence
        .iter()
        .map(|e| match e.voided {
            Some(_) => struck(evidence_row(tz, e)),
            None => evidence_row(tz, e),
        })
        .collect();
    md_table(out, EVIDENCE_COLUMNS, &rows);
}
