//! The period report as Markdown, for reading as text or pasting where Markdown shows. It exists
//! to lay out the shared rows ([`super::rows`]) in Markdown tables; it must not compute
//! figures (the model carries them) nor change a row's words (every format shows the same).

use std::fmt::Write as _;

use super::model::PeriodReport;
use super::rows::{
    CONTROL_COLUMNS, DRILL_COLUMNS, EVIDENCE_COLUMNS, INCIDENT_COLUMNS, POLICY_COLUMNS,
    VOIDED_COLUMNS, control_rows, day, drill_row, evidence_row, incident_row, policy_rows,
    voided_rows,
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

/// The report as Markdown.
pub fn markdown(report: &PeriodReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Restore verification: {}, {}\n",
        report.client, report.period.label
    );
    let _ = writeln!(
        out,
        "Period {} to {}. Generated {}. History chain head `{}`.\n",
        day(report.period.from),
        day(report.period.to),
        day(report.generated_at),
        report.chain_head.as_deref().unwrap_or("(no history)")
    );
    if !report.never_verified.is_empty() {
        let _ = writeln!(
            out,
            "**Never verified in this period:** {}\n",
            md_text(&report.never_verified.join(", "))
        );
    }
    let _ = writeln!(out, "## Policies\n");
    md_table(&mut out, POLICY_COLUMNS, &policy_rows(report));
    let _ = writeln!(out, "## Failures\n");
    if report.incidents.is_empty() {
        let _ = writeln!(out, "No failures in this period.\n");
    } else {
        let rows: Vec<[String; 5]> = report.incidents.iter().map(incident_row).collect();
        md_table(&mut out, INCIDENT_COLUMNS, &rows);
    }
    let _ = writeln!(out, "## Manual restore drills\n");
    if report.drills.is_empty() {
        let _ = writeln!(out, "No manual drills recorded in this period.\n");
    } else {
        md_table(
            &mut out,
            DRILL_COLUMNS,
            &report.drills.iter().map(drill_row).collect::<Vec<_>>(),
        );
    }
    if !report.controls.is_empty() {
        let _ = writeln!(out, "## Control mapping\n");
        md_table(&mut out, CONTROL_COLUMNS, &control_rows(report));
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
        md_table(&mut out, VOIDED_COLUMNS, &rows);
    }
    let _ = writeln!(out, "## Evidence\n");
    let rows: Vec<[String; 6]> = report
        .evidence
        .iter()
        .map(|e| match e.voided {
            Some(_) => struck(evidence_row(e)),
            None => evidence_row(e),
        })
        .collect();
    md_table(&mut out, EVIDENCE_COLUMNS, &rows);
    out
}
