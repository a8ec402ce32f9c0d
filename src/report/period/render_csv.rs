//! The period report as CSV (RFC 4180): the policy table, one row per policy, for
//! spreadsheets, with a last column naming the policy's voided runs and why. It exists to quote the shared rows ([`super::rows`]) as CSV fields; it must
//! not compute figures nor change a row's words.

use std::fmt::Write as _;

use super::model::PeriodReport;
use super::rows::{POLICY_COLUMNS, policy_rows, voided_runs_of};

/// The policy table as CSV (RFC 4180), one row per policy, with the period and chain head.
pub fn csv(report: &PeriodReport) -> String {
    let field = |c: &str| {
        if c.contains([',', '"', '\n']) {
            format!("\"{}\"", c.replace('"', "\"\""))
        } else {
            c.to_string()
        }
    };
    let mut out = String::new();
    let header: Vec<String> = ["client", "period", "chain head"]
        .iter()
        .map(|s| s.to_string())
        .chain(POLICY_COLUMNS.iter().map(|s| s.to_string()))
        .chain(["voided runs".to_string()])
        .collect();
    let _ = writeln!(
        out,
        "{}",
        header
            .iter()
            .map(|c| field(c))
            .collect::<Vec<_>>()
            .join(",")
    );
    for row in policy_rows(report) {
        let voided = voided_runs_of(report, &row[0]);
        let cells: Vec<String> = [
            report.client.clone(),
            report.period.label.clone(),
            report.chain_head.clone().unwrap_or_default(),
        ]
        .into_iter()
        .chain(row)
        .chain([voided])
        .map(|c| field(&c))
        .collect();
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}
