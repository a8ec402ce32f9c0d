//! Composing mail, purely: a run's results → one digest per team (only what that team may
//! see) → subject, plain text, HTML and the JSON attachment. No I/O, so every message can be
//! checked without a mail server.
//!
//! A message stays small whatever a run found (the limits are in [`super::bounds`]); it then
//! says what it left out and where the run's whole results are (its `results.json` among
//! the run's artifacts).

use crate::finding::printable;
use std::fmt::Write as _;
use std::path::Path;

use super::bounds::{MAX_ATTACHMENT_BYTES, listed_findings, upper_first, within_limit};
use crate::config::units::format_bytes;
use crate::config::{ConfigErrors, Team, TeamScope};
use crate::judge::Status;
use crate::report::html::{self, Shown};
use crate::report::{age_cell, dating_words, rate, secs, status_word};
use crate::results::{PolicyResult, RunResult};
use maud::{Markup, html};

/// One message, ready to be built and sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub team: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// This team's share of the results: JSON, JUnit XML and the HTML report.
    pub attachments: Vec<MailAttachment>,
    /// Failures get high-priority headers.
    pub urgent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MailAttachment {
    pub name: String,
    pub content_type: &'static str,
    pub body: String,
}

/// The policies of a run that `team` receives: all of them for the MSP's team; for a
/// client's team, its own client's policies that name it in their responsibility matrix.
pub fn visible<'r>(team: &Team, result: &'r RunResult) -> Vec<&'r PolicyResult> {
    result
        .policies
        .iter()
        .filter(|p| match &team.scope {
            TeamScope::Msp => true,
            TeamScope::Client(client) => {
                client == &p.client && {
                    let r = &p.responsibility;
                    r.responsible.as_deref() == Some(&team.id)
                        || r.accountable.as_deref() == Some(&team.id)
                        || r.informed.contains(&team.id)
                }
            }
        })
        .collect()
}

/// The digest for each team that should get one from this run; `artifacts` is the run's
/// folder of artifacts, named where a message leaves something out.
pub fn digests(result: &RunResult, teams: &[Team], artifacts: &Path) -> Vec<Email> {
    teams
        .iter()
        .filter_map(|team| {
            let policies = visible(team, result);
            if policies.is_empty() {
                return None;
            }
            let failed = policies.iter().filter(|p| p.status == Status::Fail).count();
            if failed == 0 && team.notify == crate::config::Notify::Failures {
                return None;
            }
            Some(digest(team, result, &policies, teams, artifacts))
        })
        .collect()
}

fn clients_label(policies: &[&PolicyResult]) -> String {
    let mut clients: Vec<&str> = policies.iter().map(|p| p.client.as_str()).collect();
    clients.sort_unstable();
    clients.dedup();
    match clients.len() {
        1..=3 => clients.join(", "),
        n => format!("{n} clients"),
    }
}

fn team_label(teams: &[Team], id: Option<&str>) -> String {
    match id {
        None => "no responsible team set (responsibility.responsible)".into(),
        Some(id) => match teams.iter().find(|t| t.id == id) {
            Some(team) => format!("{} ({id})", team.name),
            None => id.to_string(),
        },
    }
}

fn digest(
    team: &Team,
    result: &RunResult,
    policies: &[&PolicyResult],
    teams: &[Team],
    artifacts: &Path,
) -> Email {
    // The team's share of the run: its verdict counts the policies it sees, no others.
    let mut share = result.clone();
    share.policies = policies.iter().map(|p| (*p).clone()).collect();
    // What was found on the runner's host is the MSP's to know, not a client's.
    if team.scope != TeamScope::Msp {
        share.host_findings.clear();
    }
    let failed = share.failed();
    let verdict = share.verdict();
    let date = result
        .started_at
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d")
        .to_string();
    let subject = format!(
        "[restore-drill] {verdict} · {} · {date} {}",
        clients_label(policies),
        result.kind.label()
    );
    share.status = if failed == 0 {
        Status::Pass
    } else {
        Status::Fail
    };
    let json = serde_json::to_string_pretty(&share).expect("results serialize");
    let (attachments, left_out) = within_limit(
        vec![
            MailAttachment {
                name: format!("restore-drill-{}.json", result.run_id),
                content_type: "application/json",
                body: json,
            },
            MailAttachment {
                name: format!("restore-drill-{}.junit.xml", result.run_id),
                content_type: "application/xml",
                body: crate::report::junit::junit(&share),
            },
            MailAttachment {
                name: format!("restore-drill-{}.html", result.run_id),
                content_type: "text/html",
                body: crate::report::run_report(&share, None),
            },
        ],
        |a| a.body.len(),
        |a| a.name.clone(),
    );
    let whole = artifacts.join("results.json");
    let whole = format!("{} on {}", whole.display(), result.host);
    // Where the whole results are: the attached JSON, or (when it was left out) the run's
    // results.json on the runner's host, set as code.
    let whole = (!left_out.is_empty()).then_some(whole);
    let place = whole
        .as_ref()
        .map_or_else(|| "the attached JSON".to_string(), |w| format!("`{w}`"));
    let listed: Vec<PolicyResult> = policies
        .iter()
        .map(|p| listed_findings(p, &place))
        .collect();
    let listed: Vec<&PolicyResult> = listed.iter().collect();
    let mut text = text_body(team, result, &listed, teams, (&verdict, &place));
    let mut notes = Vec::new();
    if !left_out.is_empty() {
        let note = format!(
            "Left out of this message, over its limit of {} of attachments: {}. The run's whole results are in",
            format_bytes(MAX_ATTACHMENT_BYTES as u64),
            left_out.join(", ")
        );
        let _ = writeln!(text, "{note} {place}.");
        notes.push(html! { (Shown(&note)) " " (html::code_spans(&place)) "." });
    }
    let html = html_body(team, result, &listed, teams, (&verdict, &place), &notes);
    Email {
        team: team.id.clone(),
        to: team.emails.clone(),
        subject,
        text,
        html,
        attachments,
        urgent: failed > 0,
    }
}

fn intro(result: &RunResult) -> String {
    format!(
        "Run {} on {}, started {}, seed {}.",
        result.run_id,
        result.host,
        result.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        result.seed
    )
}

fn text_body(
    team: &Team,
    result: &RunResult,
    policies: &[&PolicyResult],
    teams: &[Team],
    (verdict, whole): (&str, &str),
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "restore-drill: {verdict} for {}", team.name);
    let _ = writeln!(out, "{}\n", intro(result));
    let failing: Vec<&&PolicyResult> = policies
        .iter()
        .filter(|p| p.status == Status::Fail)
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "FAILURES\n");
        for p in failing {
            let _ = writeln!(
                out,
                "{} ({}): FAIL, action: {}",
                p.name,
                p.client,
                team_label(teams, p.responsibility.responsible.as_deref())
            );
            for f in &p.findings {
                let object = printable(f.object.as_deref().unwrap_or("policy"));
                let message = printable(&f.message);
                let _ = writeln!(out, "  - {}: {object}\n    {message}", f.kind);
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "ALL POLICIES\n");
    for p in policies {
        out.push_str(&policy_lines(p));
    }
    let _ = writeln!(
        out,
        "\nRepeat this run's choice of backups with: restore-drill run --seed {}",
        result.seed
    );
    let _ = writeln!(
        out,
        "{} holds every figure and finding of the policies above.",
        upper_first(whole)
    );
    out.push_str(&head_line(result));
    out.push_str(&host_lines(team, result));
    out
}

/// For the MSP's team: what was found on the runner's host (`untrusted_run_marker`).
fn host_lines(team: &Team, result: &RunResult) -> String {
    if team.scope != TeamScope::Msp || result.host_findings.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nON THE RUNNER'S HOST\n");
    for f in &result.host_findings {
        // A planted marker's content is anyone's text: shown escaped.
        let object = printable(f.object.as_deref().unwrap_or("host"));
        let _ = writeln!(
            out,
            "  - {}: {object}\n    {}",
            f.kind,
            printable(&f.message)
        );
    }
    out
}

/// The history's head after this run, for the recipients to keep: a copy outside the
/// runner's host that `history verify --against` checks. Empty when the run was not
/// recorded.
fn head_line(result: &RunResult) -> String {
    result.history_head.as_ref().map_or_else(String::new, |h| {
        let signed = h.key.as_deref().map_or_else(
            || "(unsigned: no signing key is set)".to_string(),
            |key| format!("signed by key {key}"),
        );
        format!(
            "History head {} {signed}. Keep this line: `restore-drill history verify --against {}:{}` shows the history still holds it.\n",
            h.label(),
            h.records,
            h.hash
        )
    })
}

/// A policy in plain text, short lines that read on a phone.
fn policy_lines(p: &PolicyResult) -> String {
    let sampled: u64 = p.objects.iter().map(|o| o.stored_bytes).sum();
    let restore = if p.objects.is_empty() {
        "nothing restored".to_string()
    } else {
        format!(
            "{} sets, {} objects, {} in {} at {}",
            p.sets.len(),
            p.objects.len(),
            format_bytes(sampled),
            secs(p.rto.measured_seconds),
            rate(p.rto.throughput_bytes_per_second)
        )
    };
    let projected = p.rto.projected_seconds.map_or_else(|| "-".into(), secs);
    let rto = if p.judged() {
        secs(p.rto.target_seconds)
    } else {
        "-".into()
    };
    let coverage = (p.coverage.as_ref()).map_or_else(String::new, |c| {
        format!("  coverage: {}\n", crate::report::coverage_words(c))
    });
    format!(
        "{} {} ({})\n  newest backup age / RPO: {} ({})\n  sample: {restore}\n  full restore projected / RTO: {projected} / {}\n{}\n",
        status_word(p.status),
        p.name,
        p.client,
        age_cell(p),
        if p.judged() {
            dating_words(p.rpo.dated_by)
        } else {
            "not judged"
        },
        rto,
        coverage
    )
}

fn html_body(
    team: &Team,
    result: &RunResult,
    policies: &[&PolicyResult],
    teams: &[Team],
    (verdict, whole): (&str, &str),
    notes: &[Markup],
) -> String {
    let tail = [head_line(result), host_lines(team, result)];
    let footer = html! {
        "Repeat this run's choice of backups with " code { "restore-drill run --seed " (result.seed) } ". "
        (html::code_spans(&upper_first(whole))) " holds every figure and finding of the policies above."
        @for l in tail.iter().filter(|l| !l.is_empty()) {
            @for (i, line) in l.trim().split('\n').enumerate() {
                @if i > 0 { br; }
                @if i == 0 { " " }
                (html::code_spans(line))
            }
        }
    };
    html::run_page(
        &format!("restore-drill: {verdict} for {}", team.name),
        &intro(result),
        policies,
        &|p: &PolicyResult| team_label(teams, p.responsibility.responsible.as_deref()),
        footer,
        notes,
    )
}

/// The notice sent to the MSP's team when a run could not start: the configuration is
/// invalid. It names files and fields, never values.
pub fn error_notice(
    errors: &ConfigErrors,
    teams: &[Team],
    host: &str,
    now: jiff::Timestamp,
) -> Vec<Email> {
    let date = now
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d")
        .to_string();
    let subject = format!("[restore-drill] ERROR · the run could not start · {date}");
    let mut text = format!(
        "restore-drill could not start on {host} at {}: the configuration is invalid, so no backup was verified.\n\n",
        now.strftime("%Y-%m-%d %H:%M:%S UTC")
    );
    let when = now.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    let lines: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
    for line in &lines {
        let _ = writeln!(text, "  - {line}");
    }
    text.push_str("\nFix the files named above, then check them with: restore-drill check\n");
    let html = html::message_page(html! {
        h1 style="font-size:20px;" {
            strong style="color:#58151c;background:#f8d7da;padding:2px 6px;" { "ERROR" }
            " the run could not start"
        }
        p {
            "restore-drill could not start on " (Shown(host)) " at " (when)
            ": the configuration is invalid, so no backup was verified."
        }
        ul { @for line in &lines { li { code { (Shown(line)) } } } }
        p { "Fix the files named above, then check them with " code { "restore-drill check" } "." }
    });
    teams
        .iter()
        .filter(|t| t.scope == TeamScope::Msp)
        .map(|team| Email {
            team: team.id.clone(),
            to: team.emails.clone(),
            subject: subject.clone(),
            text: text.clone(),
            html: html.clone(),
            attachments: Vec::new(),
            urgent: true,
        })
        .collect()
}

/// A message proving the mail path works, for `restore-drill mail test`.
pub fn test_message(team: &Team, host: &str, now: jiff::Timestamp) -> Email {
    let when = now.strftime("%Y-%m-%d %H:%M:%S UTC");
    Email {
        team: team.id.clone(),
        to: team.emails.clone(),
        subject: format!("[restore-drill] test message for {}", team.name),
        text: format!(
            "This is a test message from restore-drill on {host} at {when}, sent to team {} ({}). Run results will arrive the same way.\n",
            team.name, team.id
        ),
        html: html::message_page(html! {
            p {
                "This is a test message from restore-drill on " (Shown(host)) " at " (when)
                ", sent to team " (Shown(&team.name)) " (" (Shown(&team.id))
                "). Run results will arrive the same way."
            }
        }),
        attachments: Vec::new(),
        urgent: false,
    }
}

#[cfg(test)]
mod tests;
