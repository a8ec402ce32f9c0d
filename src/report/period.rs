//! The period report (a quarter for a quarterly business review, or any `--from/--to`):
//! per policy runs, pass rate, RPO and RTO compliance, coverage, failures with first seen,
//! resolved and time to fix, drills, the control mapping and an evidence appendix tied to
//! the history's chain head. Building it is pure: recorded runs in, a [`PeriodReport`] out;
//! [`markdown`], [`csv`] and [`html`] render the same numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use crate::config::Control;
use crate::config::units::format_duration;
use crate::history::StoredRun;

/// A period, `[from, to)`, as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub label: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Period {
    /// `2026-Q4` → 2026-10-01 to 2027-01-01, in UTC.
    pub fn quarter(text: &str) -> Result<Period, String> {
        let bad = || format!("`{text}` is not a quarter such as 2026-Q4");
        let (year, q) = text.split_once(['-', ' ']).ok_or_else(bad)?;
        let year: i16 = year.parse().map_err(|_| bad())?;
        let q: i8 = q
            .trim_start_matches(['Q', 'q'])
            .parse()
            .map_err(|_| bad())?;
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        let start = Date::new(year, (q - 1) * 3 + 1, 1).map_err(|_| bad())?;
        let end = start.checked_add(3.months()).map_err(|_| bad())?;
        Ok(Period {
            label: format!("{year}-Q{q}"),
            from: utc(start),
            to: utc(end),
        })
    }

    /// `--from 2026-10-01 --to 2026-12-31`: both days included.
    pub fn dates(from: &str, to: &str) -> Result<Period, String> {
        let parse = |t: &str| {
            t.parse::<Date>()
                .map_err(|_| format!("`{t}` is not a date such as 2026-10-01"))
        };
        let (start, last) = (parse(from)?, parse(to)?);
        if last < start {
            return Err(format!("--to {to} is before --from {from}"));
        }
        let end = last.checked_add(1.day()).map_err(|e| e.to_string())?;
        Ok(Period {
            label: format!("{start} to {last}"),
            from: utc(start),
            to: utc(end),
        })
    }
}

fn utc(date: Date) -> Timestamp {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or_default()
}

/// How one day went for a policy: the strip in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Pass,
    Fail,
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyStats {
    pub policy: String,
    pub runs: usize,
    pub passes: usize,
    pub pass_rate: f64,
    pub rpo_target_seconds: f64,
    pub rpo_worst_age_seconds: Option<f64>,
    pub rpo_met_runs: usize,
    pub rto_target_seconds: f64,
    pub rto_measured_worst_seconds: f64,
    pub rto_measured_median_seconds: f64,
    pub rto_projected_worst_seconds: Option<f64>,
    pub rto_projected_median_seconds: Option<f64>,
    pub rto_met_runs: usize,
    /// Runs that met both the RPO and the RTO.
    pub targets_met_runs: usize,
    pub last_pass: Option<Timestamp>,
    /// Days from the last passing verification to the end of the period (or now).
    pub days_since_last_pass: Option<f64>,
    pub days: Vec<(Date, Day)>,
    /// (run start, throughput bytes/s, projected RTO seconds)
    pub series: Vec<(Timestamp, Option<f64>, Option<f64>)>,
}

/// A stretch of failing runs of one policy, until a run passed again.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub policy: String,
    pub first_seen: Timestamp,
    pub resolved: Option<Timestamp>,
    pub time_to_fix_seconds: Option<f64>,
    pub failing_runs: usize,
    pub kinds: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlRow {
    pub control: String,
    pub description: String,
    pub policies: Vec<String>,
    pub runs: usize,
    pub passes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub run_id: String,
    pub kind: String,
    /// For drills: who ran it and who witnessed it.
    pub operator: Option<String>,
    pub witness: Option<String>,
    pub started_at: Timestamp,
    pub content_hash: String,
    pub record_hash: String,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodReport {
    pub client: String,
    pub period: Period,
    pub generated_at: Timestamp,
    /// The history's newest record hash when the report was made.
    pub chain_head: Option<String>,
    pub policies: Vec<PolicyStats>,
    /// Policies that never passed a verification in the period.
    pub never_verified: Vec<String>,
    pub incidents: Vec<Incident>,
    /// Runs of kind `drill` (manual restore drills).
    pub drills: Vec<Evidence>,
    pub controls: Vec<ControlRow>,
    pub evidence: Vec<Evidence>,
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

/// Builds the report for `client` from the runs recorded in the period.
pub fn build(
    client: &str,
    period: Period,
    runs: &[StoredRun],
    known_policies: &[String],
    controls: &BTreeMap<String, Control>,
    chain_head: Option<String>,
    now: Timestamp,
) -> PeriodReport {
    let end = period.to.min(now);
    let mut names: BTreeSet<String> = known_policies.iter().cloned().collect();
    for run in runs {
        names.extend(run.policies.iter().map(|p| p.policy.clone()));
    }
    let first_day = period.from.to_zoned(jiff::tz::TimeZone::UTC).date();
    let last_day = (end - jiff::SignedDuration::from_nanos(1))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mut stats = Vec::new();
    let mut incidents = Vec::new();
    for name in &names {
        let results: Vec<(&StoredRun, &crate::history::StoredPolicy)> = runs
            .iter()
            .filter_map(|r| {
                r.policies
                    .iter()
                    .find(|p| &p.policy == name)
                    .map(|p| (r, p))
            })
            .collect();
        let passes = results.iter().filter(|(_, p)| p.passed).count();
        let last_pass = results
            .iter()
            .rev()
            .find(|(_, p)| p.passed)
            .map(|(r, _)| r.started_at);
        let mut days = Vec::new();
        let mut day = first_day;
        while day <= last_day && days.len() < 400 {
            let on_day: Vec<bool> = results
                .iter()
                .filter(|(r, _)| r.started_at.to_zoned(jiff::tz::TimeZone::UTC).date() == day)
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
        let measured: Vec<f64> = results
            .iter()
            .map(|(_, p)| p.rto_measured_seconds)
            .collect();
        let projected: Vec<f64> = results
            .iter()
            .filter_map(|(_, p)| p.rto_projected_seconds)
            .collect();
        let target =
            |f: fn(&crate::history::StoredPolicy) -> f64| results.last().map_or(0.0, |(_, p)| f(p));
        stats.push(PolicyStats {
            policy: name.clone(),
            runs: results.len(),
            passes,
            pass_rate: if results.is_empty() {
                0.0
            } else {
                passes as f64 / results.len() as f64
            },
            rpo_target_seconds: target(|p| p.rpo_target_seconds),
            rpo_worst_age_seconds: worst(results.iter().filter_map(|(_, p)| p.rpo_age_seconds)),
            rpo_met_runs: results
                .iter()
                .filter(|(_, p)| p.rpo_age_seconds.is_some_and(|a| a <= p.rpo_target_seconds))
                .count(),
            rto_target_seconds: target(|p| p.rto_target_seconds),
            rto_measured_worst_seconds: worst(measured.iter().copied()).unwrap_or(0.0),
            rto_measured_median_seconds: median(measured).unwrap_or(0.0),
            rto_projected_worst_seconds: worst(projected.iter().copied()),
            rto_projected_median_seconds: median(projected),
            rto_met_runs: results
                .iter()
                .filter(|(_, p)| {
                    p.rto_projected_seconds
                        .is_some_and(|x| x <= p.rto_target_seconds)
                        && p.rto_measured_seconds <= p.rto_target_seconds
                })
                .count(),
            targets_met_runs: results
                .iter()
                .filter(|(_, p)| {
                    p.rpo_age_seconds.is_some_and(|a| a <= p.rpo_target_seconds)
                        && p.rto_projected_seconds
                            .is_some_and(|x| x <= p.rto_target_seconds)
                        && p.rto_measured_seconds <= p.rto_target_seconds
                })
                .count(),
            last_pass,
            days_since_last_pass: last_pass
                .map(|t| end.duration_since(t).as_secs_f64().max(0.0) / 86_400.0),
            days,
            series: results
                .iter()
                .map(|(r, p)| {
                    (
                        r.started_at,
                        p.throughput_bytes_per_second,
                        p.rto_projected_seconds,
                    )
                })
                .collect(),
        });
        // Incidents: a failing run opens one, the next passing run resolves it.
        let mut open: Option<Incident> = None;
        for (run, p) in &results {
            match (&mut open, p.passed) {
                (None, false) => {
                    open = Some(Incident {
                        policy: name.clone(),
                        first_seen: run.started_at,
                        resolved: None,
                        time_to_fix_seconds: None,
                        failing_runs: 1,
                        kinds: p
                            .findings
                            .iter()
                            .map(|f| f.0.clone())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect(),
                    });
                }
                (Some(incident), false) => {
                    incident.failing_runs += 1;
                    let mut kinds: BTreeSet<String> = incident.kinds.iter().cloned().collect();
                    kinds.extend(p.findings.iter().map(|f| f.0.clone()));
                    incident.kinds = kinds.into_iter().collect();
                }
                (Some(_), true) => {
                    let mut incident = open.take().expect("an open incident");
                    incident.resolved = Some(run.started_at);
                    incident.time_to_fix_seconds = Some(
                        run.started_at
                            .duration_since(incident.first_seen)
                            .as_secs_f64(),
                    );
                    incidents.push(incident);
                }
                (None, true) => {}
            }
        }
        incidents.extend(open);
    }
    let never_verified = stats
        .iter()
        .filter(|s| s.passes == 0)
        .map(|s| s.policy.clone())
        .collect();
    let evidence: Vec<Evidence> = runs
        .iter()
        .map(|r| Evidence {
            run_id: r.run_id.clone(),
            kind: r.kind.clone(),
            operator: r.operator.clone(),
            witness: r.witness.clone(),
            started_at: r.started_at,
            content_hash: r.content_hash.clone(),
            record_hash: r.record_hash.clone(),
            passed: r.policies.iter().all(|p| p.passed),
        })
        .collect();
    let controls = controls
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
        .collect();
    PeriodReport {
        client: client.to_string(),
        period,
        generated_at: now,
        chain_head,
        drills: evidence
            .iter()
            .filter(|e| e.kind == "drill")
            .cloned()
            .collect(),
        policies: stats,
        never_verified,
        incidents,
        controls,
        evidence,
    }
}

fn secs(s: f64) -> String {
    format_duration(Duration::from_secs_f64(s.max(0.0)))
}

fn opt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".into(), secs)
}

fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

/// The rows every format shows, so Markdown, CSV and HTML carry the same numbers.
fn policy_rows(report: &PeriodReport) -> Vec<[String; 9]> {
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
                    "{} / {}",
                    opt_secs(s.rpo_worst_age_seconds),
                    secs(s.rpo_target_seconds)
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

const POLICY_COLUMNS: [&str; 9] = [
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

fn incident_row(i: &Incident) -> [String; 5] {
    [
        i.policy.clone(),
        day(i.first_seen),
        i.resolved.map_or_else(|| "not resolved".into(), day),
        opt_secs(i.time_to_fix_seconds),
        format!("{} ({} failing runs)", i.kinds.join(", "), i.failing_runs),
    ]
}

const INCIDENT_COLUMNS: [&str; 5] = [
    "policy",
    "first seen",
    "resolved",
    "time to fix",
    "findings",
];

fn md_table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let cell = |c: &str| c.replace('|', "\\|").replace('\n', " ");
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
            report.never_verified.join(", ")
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
    let _ = writeln!(out, "## Evidence\n");
    let rows: Vec<[String; 6]> = report.evidence.iter().map(evidence_row).collect();
    md_table(&mut out, EVIDENCE_COLUMNS, &rows);
    out
}

const CONTROL_COLUMNS: [&str; 4] = ["control", "description", "policies", "evidence"];

fn control_rows(report: &PeriodReport) -> Vec<[String; 4]> {
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

const DRILL_COLUMNS: [&str; 5] = ["run", "started", "result", "run by", "witnessed by"];

fn drill_row(e: &Evidence) -> [String; 5] {
    let who = |w: &Option<String>| w.clone().unwrap_or_else(|| "not recorded".into());
    [
        e.run_id.clone(),
        day(e.started_at),
        if e.passed {
            "PASS".into()
        } else {
            "FAIL".into()
        },
        who(&e.operator),
        who(&e.witness),
    ]
}

const EVIDENCE_COLUMNS: [&str; 6] = [
    "run",
    "started",
    "kind",
    "result",
    "result hash",
    "record hash",
];

fn evidence_row(e: &Evidence) -> [String; 6] {
    [
        e.run_id.clone(),
        day(e.started_at),
        e.kind.clone(),
        if e.passed {
            "PASS".into()
        } else {
            "FAIL".into()
        },
        e.content_hash.clone(),
        e.record_hash.clone(),
    ]
}

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
        let cells: Vec<String> = [
            report.client.clone(),
            report.period.label.clone(),
            report.chain_head.clone().unwrap_or_default(),
        ]
        .into_iter()
        .chain(row)
        .map(|c| field(&c))
        .collect();
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// The report as one print-ready HTML page with inline SVG charts.
pub fn html(report: &PeriodReport) -> String {
    use super::html::esc;
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
    if !report.never_verified.is_empty() {
        let _ = write!(
            out,
            "<p class=\"alert\"><strong>Never verified in this period:</strong> {}</p>",
            esc(&report.never_verified.join(", "))
        );
    }
    out.push_str("<h2>Policies</h2>");
    html_table(&mut out, POLICY_COLUMNS, &policy_rows(report));
    out.push_str("<h2>Day by day</h2><p class=\"meta\">One cell a day: PASS (green, ✓), FAIL (red, ✗), no run (grey, ·).</p>");
    out.push_str(&super::charts::day_strips(report));
    out.push_str("<h2 class=\"break\">Restore throughput and projected RTO</h2>");
    for s in &report.policies {
        out.push_str(&super::charts::trend(
            s,
            report.period.from,
            report.period.to,
        ));
    }
    out.push_str("<h2>Failures</h2>");
    if report.incidents.is_empty() {
        out.push_str("<p>No failures in this period.</p>");
    } else {
        let rows: Vec<[String; 5]> = report.incidents.iter().map(incident_row).collect();
        html_table(&mut out, INCIDENT_COLUMNS, &rows);
    }
    out.push_str("<h2>Manual restore drills</h2>");
    if report.drills.is_empty() {
        out.push_str("<p>No manual drills recorded in this period.</p>");
    } else {
        let rows: Vec<[String; 5]> = report.drills.iter().map(drill_row).collect();
        html_table(&mut out, DRILL_COLUMNS, &rows);
    }
    if !report.controls.is_empty() {
        out.push_str("<h2>Control mapping</h2>");
        html_table(&mut out, CONTROL_COLUMNS, &control_rows(report));
    }
    out.push_str("<h2 class=\"break\">Evidence appendix</h2>");
    let rows: Vec<[String; 6]> = report.evidence.iter().map(evidence_row).collect();
    html_table(&mut out, EVIDENCE_COLUMNS, &rows);
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
    use super::html::esc;
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{StoredPolicy, StoredRun};

    fn stored(day: &str, imaging_passes: bool) -> StoredRun {
        let policy = |name: &str, passed: bool| StoredPolicy {
            policy: name.into(),
            client: "Bright Smile Orthodontics".into(),
            passed,
            rpo_target_seconds: 26.0 * 3600.0,
            rpo_age_seconds: Some(if passed { 3.0 * 3600.0 } else { 30.0 * 3600.0 }),
            rto_target_seconds: 4.0 * 3600.0,
            rto_measured_seconds: 40.0,
            rto_projected_seconds: Some(1800.0),
            throughput_bytes_per_second: Some(150.0 * 1024.0 * 1024.0),
            findings: if passed {
                vec![]
            } else {
                vec![("rpo_exceeded".into(), None, "too old".into())]
            },
        };
        StoredRun {
            run_id: format!("{}T020000Z-0001", day.replace('-', "")),
            kind: if day == "2026-10-22" {
                "drill".into()
            } else {
                "scheduled".into()
            },
            operator: (day == "2026-10-22").then(|| "J. Rivera (Northwind)".into()),
            witness: (day == "2026-10-22").then(|| "Dr. A. Chen (Bright Smile)".into()),
            started_at: format!("{day}T02:00:00Z").parse().unwrap(),
            record_hash: format!("{:0>64}", day.replace('-', "")),
            content_hash: format!("{:f>64}", day.replace('-', "")),
            policies: vec![
                policy("bright-imaging", imaging_passes),
                policy("bright-mail", true),
            ],
        }
    }

    fn sample() -> PeriodReport {
        let runs = vec![
            stored("2026-10-01", true),
            stored("2026-10-08", false),
            stored("2026-10-15", false),
            stored("2026-10-22", true),
        ];
        let controls = BTreeMap::from([(
            "SOC 2 A1.3".to_string(),
            Control {
                description: "Recovery plan testing".into(),
                policies: vec!["bright-imaging".into(), "acme-db".into()],
            },
        )]);
        build(
            "Bright Smile Orthodontics",
            Period::quarter("2026-Q4").unwrap(),
            &runs,
            &[
                "bright-imaging".into(),
                "bright-mail".into(),
                "bright-xray".into(),
            ],
            &controls,
            Some("c".repeat(64)),
            "2026-10-31T00:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn incidents_open_on_failure_and_close_on_the_next_pass() {
        let report = sample();
        assert_eq!(report.incidents.len(), 1);
        let incident = &report.incidents[0];
        assert_eq!(incident.failing_runs, 2);
        assert_eq!(incident.time_to_fix_seconds, Some(14.0 * 86_400.0));
        assert_eq!(report.never_verified, ["bright-xray"]);
        let imaging = &report.policies[0];
        assert_eq!((imaging.runs, imaging.passes), (4, 2));
        assert_eq!(imaging.rpo_worst_age_seconds, Some(30.0 * 3600.0));
        assert_eq!(
            imaging.days.len(),
            30,
            "days up to the report's time, not the quarter's end"
        );
    }

    #[test]
    fn quarters_and_date_ranges_parse() {
        let q = Period::quarter("2026-Q4").unwrap();
        assert_eq!(
            (q.from.to_string().as_str(), q.to.to_string().as_str()),
            ("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")
        );
        assert!(Period::quarter("2026-Q5").is_err());
        let d = Period::dates("2026-10-01", "2026-10-31").unwrap();
        assert_eq!(d.to.to_string(), "2026-11-01T00:00:00Z");
        assert!(Period::dates("2026-10-31", "2026-10-01").is_err());
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(markdown(&sample()));
    }

    #[test]
    fn html_text_snapshot() {
        // The page's text, without markup and without the charts' drawing instructions.
        let page = html(&sample());
        let mut text = String::new();
        let mut in_tag = false;
        let mut in_svg = false;
        let mut rest = page.as_str();
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("<svg") {
                in_svg = true;
            }
            if rest.starts_with("</svg>") {
                in_svg = false;
            }
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    text.push('\n');
                }
                _ if !in_tag && !in_svg => text.push(c),
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
        }
        let text: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        insta::assert_snapshot!(text.join("\n"));
    }
}
