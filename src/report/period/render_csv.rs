//! The period report as CSV (RFC 4180): the policy table, one row per policy, for
//! spreadsheets, with a last column naming the policy's voided runs and why. It exists to quote the shared rows ([`super::rows`]) as CSV fields; it must
//! not compute figures nor change a row's words.

use std::fmt::Write as _;

use super::model::PeriodReport;
use super::rows::{POLICY_COLUMNS, policy_rows, voided_runs_of};

/// A cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return: OWASP's CSV injection list) gets a leading `'`, so it is shown as
/// text; numbers and a lone `-` (no value) stay as they are.
fn neutralised(cell: &str) -> std::borrow::Cow<'_, str> {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
        && cell != "-"
        && cell.parse::<f64>().is_err();
    if formula {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The policy table as CSV (RFC 4180), one row per policy, with the period and chain head.
pub fn csv(report: &PeriodReport) -> String {
    let field = |c: &str| {
        let c = neutralised(c);
        if c.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", c.replace('"', "\"\""))
        } else {
            c.into_owned()
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

#[cfg(test)]
mod tests {
    use super::neutralised;

    #[test]
    fn formulas_are_shown_as_text_and_numbers_stay_numbers() {
        assert_eq!(
            neutralised("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralised("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralised("+1+cmd"), "'+1+cmd");
        assert_eq!(neutralised("-2.5"), "-2.5");
        assert_eq!(neutralised("-"), "-");
        assert_eq!(neutralised("db"), "db");
    }
}
