//! The period report as one print-ready HTML page with inline SVG charts (printed to PDF for
//! a QBR). It exists to lay out the shared rows ([`super::rows`]) and the charts
//! ([`super::charts`]) in a page; it must not compute figures (the model carries them) nor
//! change a row's words.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::charts;
use super::model::PeriodReport;
use super::rows::{
    CONTROL_COLUMNS, DRILL_COLUMNS, EVIDENCE_COLUMNS, INCIDENT_COLUMNS, POLICY_COLUMNS,
    SUMMARY_COLUMNS, VOIDED_COLUMNS, control_rows, drill_row, evidence_row, incident_row,
    policy_rows, summary_rows, voided_rows, when,
};
use crate::report::html::Shown;

/// The report as one print-ready HTML page with inline SVG charts.
pub fn html(report: &PeriodReport) -> String {
    let tz = report.presentation.zone();
    let day = |t| when(&tz, t);
    let title = format!(
        "Restore verification: {}, {}",
        report.client, report.period.label
    );
    let incidents: Vec<[String; 8]> = report
        .incidents
        .iter()
        .map(|i| incident_row(&tz, i))
        .collect();
    let drills: Vec<[String; 8]> = report.drills.iter().map(|d| drill_row(&tz, d)).collect();
    let voided: Vec<([String; 5], usize)> =
        voided_rows(report).into_iter().map(|r| (r, 2)).collect();
    let evidence: Vec<([String; 6], usize)> = report
        .evidence
        .iter()
        .map(|e| (evidence_row(&tz, e), if e.voided.is_some() { 3 } else { 0 }))
        .collect();
    let page = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (Shown(&title)) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (Shown(&title)) }
                p class="meta" {
                    "Period " (day(report.period.from)) " to " (day(report.period.to))
                    ". Generated " (day(report.generated_at)) ". History chain head "
                    code { (Shown(report.chain_head.as_deref().unwrap_or("(no history)"))) } "."
                }
                p class="alert" {
                    strong { "Overall: " (report.summary.label) "." } " "
                    (Shown(&report.summary.headline))
                }
                (table(SUMMARY_COLUMNS, &plain(summary_rows(report))))
                h2 { "Policies" }
                (table(POLICY_COLUMNS, &plain(policy_rows(report))))
                h2 { "Day by day" }
                p class="meta" { "One cell a day: PASS (green, ✓), FAIL (red, ✗), no run (grey, ·)." }
                (charts::day_strips(report))
                h2 class="break" { "Restore throughput and projected RTO" }
                @for s in &report.policies { (charts::trend(s, report.period.from, report.period.to)) }
                h2 { "Failures" }
                @if incidents.is_empty() {
                    p { "No failures in this period." }
                } @else {
                    (table(INCIDENT_COLUMNS, &plain(incidents)))
                }
                h2 { "Manual restore drills" }
                @if drills.is_empty() {
                    p { "No manual drills recorded in this period." }
                } @else {
                    (table(DRILL_COLUMNS, &plain(drills)))
                }
                @if !report.controls.is_empty() {
                    h2 { "Control mapping" }
                    (table(CONTROL_COLUMNS, &plain(control_rows(report))))
                }
                @if !voided.is_empty() {
                    h2 { "Voided runs" }
                    p class="meta" { "Corrected after they were recorded; counted in no figure above." }
                    (table(VOIDED_COLUMNS, &voided))
                }
                h2 class="break" { "Evidence appendix" }
                (table(EVIDENCE_COLUMNS, &evidence))
                p class="meta" {
                    "Each record hash above can be checked against the history database with "
                    code { "restore-drill history verify" } "."
                }
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

const STYLE: &str = "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;color:#1f2328;margin:24px;max-width:1100px}\
h1{font-size:22px;margin:0 0 6px}h2{font-size:16px;margin:22px 0 8px}\
.meta{color:#59636e}.alert{border-left:4px solid #cf222e;padding:6px 10px;background:#fff5f5}\
table{border-collapse:collapse;width:100%;margin:0 0 8px}th,td{padding:4px 6px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top;word-break:break-word}\
th{background:#f6f8fa}code{font-size:11px;word-break:break-all}svg{max-width:100%;height:auto}\
@page{size:A4 landscape;margin:12mm}\
@media print{body{margin:0;max-width:none}.break{break-before:page}tr,svg,.strip{break-inside:avoid}}";

/// Rows with nothing struck through.
fn plain<const N: usize>(rows: Vec<[String; N]>) -> Vec<([String; N], usize)> {
    rows.into_iter().map(|r| (r, 0)).collect()
}

/// A table whose rows each have their first `struck` cells struck through (`<del>`): a
/// voided run's.
fn table<const N: usize>(header: [&str; N], rows: &[([String; N], usize)]) -> Markup {
    html! {
        table {
            thead { tr { @for h in header { th { (h) } } } }
            tbody {
                @for (row, struck) in rows {
                    tr {
                        @for (i, c) in row.iter().enumerate() {
                            td {
                                @if i < *struck { del { (Shown(c)) } } @else { (Shown(c)) }
                            }
                        }
                    }
                }
            }
        }
    }
}
