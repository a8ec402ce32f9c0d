//! The period report as one print-ready HTML page with inline SVG charts (printed to PDF for
//! a QBR). It exists to lay out the shared rows ([`super::rows`]) and the charts
//! ([`super::charts`]) in a page; it must not compute figures (the model carries them) nor
//! change a row's words.

use std::fmt::Write as _;

use super::charts;
use super::model::PeriodReport;
use super::rows::{
    CONTROL_COLUMNS, DRILL_COLUMNS, EVIDENCE_COLUMNS, INCIDENT_COLUMNS, POLICY_COLUMNS,
    SUMMARY_COLUMNS, VOIDED_COLUMNS, control_rows, drill_row, evidence_row, incident_row,
    policy_rows, summary_rows, voided_rows, when,
};
use crate::report::html::esc;

/// The report as one print-ready HTML page with inline SVG charts.
pub fn html(report: &PeriodReport) -> String {
    let tz = report.presentation.zone();
    let day = |t| when(&tz, t);
    let mut out = String::new();
    let title = format!(
        "Restore verification: {}, {}",
        report.client, report.period.label
    );
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = write!(out, "<h1>{}</h1>", esc(&title));
    let _ = write!(
        out,
        "<p class=\"meta\">Period {} to {}. Generated {}. History chain head <code>{}</code>.</p>",
        esc(&day(report.period.from)),
        esc(&day(report.period.to)),
        esc(&day(report.generated_at)),
        esc(report.chain_head.as_deref().unwrap_or("(no history)"))
    );
    let _ = write!(
        out,
        "<p class=\"alert\"><strong>Overall: {}.</strong> {}</p>",
        esc(report.summary.label),
        esc(&report.summary.headline)
    );
    html_table(&mut out, SUMMARY_COLUMNS, &summary_rows(report));
    out.push_str("<h2>Policies</h2>");
    html_table(&mut out, POLICY_COLUMNS, &policy_rows(report));
    out.push_str("<h2>Day by day</h2><p class=\"meta\">One cell a day: PASS (green, ✓), FAIL (red, ✗), no run (grey, ·).</p>");
    out.push_str(&charts::day_strips(report));
    out.push_str("<h2 class=\"break\">Restore throughput and projected RTO</h2>");
    for s in &report.policies {
        out.push_str(&charts::trend(s, report.period.from, report.period.to));
    }
    out.push_str("<h2>Failures</h2>");
    if report.incidents.is_empty() {
        out.push_str("<p>No failures in this period.</p>");
    } else {
        let rows: Vec<[String; 8]> = report
            .incidents
            .iter()
            .map(|i| incident_row(&tz, i))
            .collect();
        html_table(&mut out, INCIDENT_COLUMNS, &rows);
    }
    out.push_str("<h2>Manual restore drills</h2>");
    if report.drills.is_empty() {
        out.push_str("<p>No manual drills recorded in this period.</p>");
    } else {
        let rows: Vec<[String; 8]> = report.drills.iter().map(|d| drill_row(&tz, d)).collect();
        html_table(&mut out, DRILL_COLUMNS, &rows);
    }
    if !report.controls.is_empty() {
        out.push_str("<h2>Control mapping</h2>");
        html_table(&mut out, CONTROL_COLUMNS, &control_rows(report));
    }
    let voided = voided_rows(report);
    if !voided.is_empty() {
        out.push_str("<h2>Voided runs</h2><p class=\"meta\">Corrected after they were recorded; counted in no figure above.</p>");
        let rows: Vec<([String; 5], usize)> = voided.into_iter().map(|r| (r, 2)).collect();
        marked_table(&mut out, VOIDED_COLUMNS, &rows);
    }
    out.push_str("<h2 class=\"break\">Evidence appendix</h2>");
    let rows: Vec<([String; 6], usize)> = report
        .evidence
        .iter()
        .map(|e| (evidence_row(&tz, e), if e.voided.is_some() { 3 } else { 0 }))
        .collect();
    marked_table(&mut out, EVIDENCE_COLUMNS, &rows);
    out.push_str("<p class=\"meta\">Each record hash above can be checked against the history database with <code>restore-drill history verify</code>.</p></body></html>\n");
    out
}

const STYLE: &str = "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;color:#1f2328;margin:24px;max-width:1100px}\
h1{font-size:22px;margin:0 0 6px}h2{font-size:16px;margin:22px 0 8px}\
.meta{color:#59636e}.alert{border-left:4px solid #cf222e;padding:6px 10px;background:#fff5f5}\
table{border-collapse:collapse;width:100%;margin:0 0 8px}th,td{padding:4px 6px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top;word-break:break-word}\
th{background:#f6f8fa}code{font-size:11px;word-break:break-all}svg{max-width:100%;height:auto}\
@page{size:A4 landscape;margin:12mm}\
@media print{body{margin:0;max-width:none}.break{break-before:page}tr,svg,.strip{break-inside:avoid}}";

fn html_table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let rows: Vec<([String; N], usize)> = rows.iter().map(|r| (r.clone(), 0)).collect();
    marked_table(out, header, &rows);
}

/// A table whose rows each have their first `struck` cells struck through (`<del>`): a
/// voided run's.
fn marked_table<const N: usize>(
    out: &mut String,
    header: [&str; N],
    rows: &[([String; N], usize)],
) {
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for (row, struck) in rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            if i < *struck {
                let _ = write!(out, "<td><del>{}</del></td>", esc(c));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(c));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}
