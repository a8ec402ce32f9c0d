//! The `report` stage: results rendered for people (the terminal summary, the dry-run plan)
//! and for machines (JSON). Rendering is pure; only [`write_json`] touches the disk.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};
use jiff::Timestamp;

use crate::config::DateSource;
use crate::config::units::{format_bytes, format_duration};
use crate::fsx::write_atomic;
use crate::judge::Status;
use crate::results::{PolicyResult, RunResult};
use crate::run::Planned;

pub mod html;
pub mod junit;
pub mod period;

/// Seconds as people read a duration (`1h 2m`); negative as zero.
pub fn secs(s: f64) -> String {
    format_duration(Duration::from_secs_f64(s.max(0.0)))
}

pub(crate) fn rate(bytes_per_second: Option<f64>) -> String {
    bytes_per_second.map_or_else(|| "-".into(), |r| format!("{}/s", format_bytes(r as u64)))
}

pub(crate) fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Interrupted => "INTERRUPTED",
    }
}

/// The columns of a policy row, in the terminal summary and in mail.
pub(crate) const COLUMNS: [&str; 8] = [
    "policy",
    "client",
    "status",
    "newest age / RPO",
    "sample sets/objects/bytes",
    "restore time",
    "throughput",
    "projected / RTO",
];

/// One policy's row under [`COLUMNS`].
pub(crate) fn cells(p: &PolicyResult) -> [String; 8] {
    [
        p.name.clone(),
        p.client.clone(),
        status_word(p.status).to_string(),
        match p.rpo.dated_by {
            DateSource::Modified => age_cell(p).replacen(" / ", &format!("{UPLOAD_MARK} / "), 1),
            DateSource::Name | DateSource::Snapshot => age_cell(p),
        },
        format!(
            "{}/{}/{}",
            // A set whose objects `max_bytes` all left out was not sampled.
            p.sets.iter().filter(|s| s.sampled_objects > 0).count(),
            p.objects.len(),
            format_bytes(p.objects.iter().map(|o| o.stored_bytes).sum())
        ),
        if p.objects.is_empty() {
            "-".to_string()
        } else {
            secs(p.rto.measured_seconds)
        },
        rate(p.rto.throughput_bytes_per_second),
        if p.judged() {
            format!(
                "{} / {}",
                p.rto.projected_seconds.map_or_else(|| "-".into(), secs),
                secs(p.rto.target_seconds)
            )
        } else {
            "-".to_string()
        },
    ]
}

/// A policy's coverage in one line: how much of what storage retains was verified within
/// the window, what never was, the oldest verification, the rotation the budget allows.
pub fn coverage_words(c: &crate::plan::coverage::Coverage) -> String {
    let days = crate::config::units::format_days;
    let window = match c.target_days {
        Some(t) => format!("{} (sample.coverage)", days(t)),
        None => format!("{} (no sample.coverage set)", days(c.window_days)),
    };
    let oldest = c.oldest_verification.map_or_else(
        || "none verified yet".to_string(),
        |t| format!("oldest verification {}", t.strftime("%Y-%m-%d")),
    );
    let rotation = match (c.target_days, c.projected_rotation_days) {
        (None, _) => "random sampling, no rotation (sample.coverage sets one)".to_string(),
        (Some(_), Some(r)) => format!("a full rotation takes {} at this budget", days(r)),
        (Some(_), None) => "the budget leaves nothing beyond the newest set".to_string(),
    };
    format!(
        "{} of {} objects ({} of {}) verified within {window}; {} never verified; {} overdue; {oldest}; {rotation}{}",
        c.verified_within_objects,
        c.retained_objects,
        format_bytes(c.verified_within_bytes),
        format_bytes(c.retained_bytes),
        c.never_verified_objects,
        c.overdue_objects,
        if c.complete {
            ""
        } else {
            " (the listing was cut short: partial figures)"
        }
    )
}

/// Marks, in a table's age cell, a policy dated by upload time; [`dating_legend`] says so.
pub(crate) const UPLOAD_MARK: &str = "*";

/// The line under a table explaining [`UPLOAD_MARK`], when a policy in it is dated by
/// upload time.
pub(crate) fn dating_legend<'a>(
    policies: impl IntoIterator<Item = &'a PolicyResult>,
) -> Option<String> {
    policies
        .into_iter()
        .any(|p| p.rpo.dated_by == DateSource::Modified)
        .then(|| {
            format!(
                "{UPLOAD_MARK} dated by upload time, which a copy or re-upload resets (backups.dated_by: modified)"
            )
        })
}

/// How a policy dates its sets, in words.
pub fn dating_words(dated_by: DateSource) -> &'static str {
    match dated_by {
        DateSource::Name => "dated by name",
        DateSource::Modified => "dated by upload time",
        DateSource::Snapshot => "dated by snapshot time",
    }
}

/// A plain-text table of policies, as the terminal and the text part of mail show it, with
/// the legend of its marks.
pub(crate) fn policy_table<'a>(
    policies: impl IntoIterator<Item = &'a PolicyResult> + Clone,
) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(COLUMNS);
    for p in policies.clone() {
        table.add_row(cells(p));
    }
    let mut out = table.to_string();
    if let Some(legend) = dating_legend(policies) {
        out.push('\n');
        out.push_str(&legend);
    }
    out
}

/// The policies for a terminal too narrow for the table: a block each, its name, client and
/// status on the first line, then each column's name and value, never split, packed into
/// lines of `width` columns. A table squeezed to fit would split words inside its cells.
fn policy_blocks(policies: &[PolicyResult], width: usize) -> String {
    let mut out = String::new();
    for p in policies {
        let [name, client, status, rest @ ..] = cells(p);
        let _ = writeln!(
            out,
            "{}",
            wrap(
                &format!("{status} {name} ({client})"),
                Some(width as u16),
                4
            )
        );
        let fields: Vec<String> = COLUMNS[3..]
            .iter()
            .zip(rest)
            .map(|(column, value)| format!("{column}: {value}"))
            .collect();
        let mut line = String::from("   ");
        for field in fields {
            if line.len() > 3 && line.chars().count() + 3 + field.chars().count() > width {
                let _ = writeln!(out, "{}", wrap(&line, Some(width as u16), 6));
                line = String::from("   ");
            }
            if line.len() > 3 {
                line.push_str(" ·");
            }
            line.push(' ');
            line.push_str(&field);
        }
        let _ = writeln!(out, "{}", wrap(&line, Some(width as u16), 6));
    }
    out
}

/// The terminal summary: a table of policies, then each finding on its own line.
pub fn summary(result: &RunResult) -> String {
    summary_within(result, None)
}

/// The summary fitted to a terminal `width` columns wide: the table's cells and the
/// findings' lines wrap inside it. `None` (not a terminal: logs, mail from cron): the full
/// table, one line per finding.
pub fn summary_within(result: &RunResult, width: Option<u16>) -> String {
    let table = policy_table(&result.policies);
    let fits = |w: u16| table.lines().all(|l| l.chars().count() <= usize::from(w));
    let mut out = match width {
        Some(w) if !fits(w) => {
            let mut blocks = policy_blocks(&result.policies, usize::from(w));
            if let Some(legend) = dating_legend(&result.policies) {
                blocks.push_str(&wrap(&legend, width, 2));
            }
            blocks
        }
        _ => table,
    };

    out.push('\n');
    for p in &result.policies {
        if let Some(c) = &p.coverage {
            let line = format!("  coverage {}: {}", p.name, coverage_words(c));
            let _ = writeln!(out, "{}", wrap(&line, width, 6));
        }
    }
    for p in result.policies.iter().filter(|p| !p.findings.is_empty()) {
        for f in &p.findings {
            let line = format!("  {} {}: {f}", status_word(p.status), p.name);
            let _ = writeln!(out, "{}", wrap(&line, width, 6));
        }
    }
    let _ = writeln!(
        out,
        "{} · run {} · seed {}",
        result.verdict(),
        result.run_id,
        result.seed
    );
    out
}

/// `line` wrapped at spaces to `width` columns, its next lines indented by `indent`; a word
/// longer than a line (a digest) is cut where the line ends.
fn wrap(line: &str, width: Option<u16>, indent: usize) -> String {
    let Some(width) = width.map(usize::from).filter(|w| *w > indent + 20) else {
        return line.to_string();
    };
    let text = line.trim_start_matches(' ');
    let mut column = line.len() - text.len();
    let mut out = " ".repeat(column);
    let room = width - indent;
    let words = text.split(' ').flat_map(|word| {
        let chars: Vec<char> = word.chars().collect();
        let pieces: Vec<String> = if chars.len() > room {
            chars.chunks(room).map(|c| c.iter().collect()).collect()
        } else {
            vec![word.to_string()]
        };
        pieces
    });
    for (i, word) in words.enumerate() {
        let len = word.chars().count();
        if i > 0 && column > indent && column + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
        } else if i > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(&word);
        column += len;
    }
    out
}

/// `age / RPO`; `-` for a newest set with no date, `future` for one dated after the run
/// started.
pub(crate) fn age_cell(p: &PolicyResult) -> String {
    if !p.judged() {
        return "-".into();
    }
    let age = match p.rpo.age_seconds {
        Some(age) if age < 0.0 => "future".to_string(),
        Some(age) => secs(age),
        None => "-".to_string(),
    };
    format!("{age} / {}", secs(p.rpo.target_seconds))
}

/// The `--dry-run` plan: per policy, each chosen set with its date and objects.
pub fn plan_text(planned: &[Planned<'_>], seed: u64) -> String {
    let mut out = String::new();
    for item in planned {
        let policy = item.policy;
        let _ = writeln!(out, "{} ({})", policy.name, policy.client);
        for f in item.findings.iter().chain(&item.rpo.1) {
            let _ = writeln!(out, "  ! {f}");
        }
        let undated = item.plan.as_ref().map_or(0, |p| p.undated.len());
        let _ = writeln!(out, "  {}", rpo_forecast(policy, &item.rpo.0, undated));
        let Some(plan) = &item.plan else { continue };
        let _ = writeln!(
            out,
            "  {} objects listed in {} sets; sampling {} {}, {} {}, {}",
            plan.listed_objects,
            plan.total_sets,
            plan.sets.len(),
            if plan.sets.len() == 1 { "set" } else { "sets" },
            plan.sampled_objects(),
            if plan.sampled_objects() == 1 {
                "object"
            } else {
                "objects"
            },
            format_bytes(plan.sampled_bytes())
        );
        let _ = writeln!(
            out,
            "  coverage before this run: {}",
            coverage_words(&plan.coverage)
        );
        let rotating = policy.sample.coverage.is_some();
        for set in &plan.sets {
            let date = match (set.date, set.dated_by) {
                (Some(d), crate::plan::DatedBy::Name) => format!("{} by name", utc(d)),
                (Some(d), crate::plan::DatedBy::Snapshot) => {
                    format!("{} by snapshot time", utc(d))
                }
                (Some(d), _) => format!("{} by upload time", utc(d)),
                (None, _) => "no date".to_string(),
            };
            let role = match (set.newest, rotating) {
                (true, _) => "newest",
                (false, true) => "least recently verified",
                (false, false) => "random",
            };
            let _ = writeln!(
                out,
                "  set {} [{role}, {date}]: {} of {} objects, {} of {}{}",
                crate::finding::printable(&set.name),
                set.objects.len(),
                set.total_objects,
                format_bytes(set.objects.iter().map(|o| o.size).sum()),
                format_bytes(set.total_bytes),
                if set.capped_objects > 0 {
                    format!(" ({} left out by max_bytes)", set.capped_objects)
                } else {
                    String::new()
                }
            );
            for object in &set.objects {
                let key = crate::finding::printable(&object.key);
                let last = object.last_verified.map_or_else(
                    || "never verified".to_string(),
                    |t| format!("last verified {}", t.strftime("%Y-%m-%d")),
                );
                let _ = writeln!(out, "    {key} ({}, {last})", format_bytes(object.size));
            }
        }
    }
    let _ = writeln!(
        out,
        "seed {seed} (repeat this choice with --seed {seed}); nothing was restored"
    );
    out
}

/// The results as JSON text, ending in a newline.
pub fn json_text(result: &RunResult) -> String {
    let mut json = serde_json::to_string_pretty(result).expect("results serialize");
    json.push('\n');
    json
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// What the plan says of the RPO before anything is restored: the date source, and
/// whether the policy will break its RPO.
fn rpo_forecast(policy: &crate::config::Policy, rpo: &crate::judge::Rpo, undated: usize) -> String {
    let source = match (policy.backups.dated_by, &policy.backups.date_format) {
        (DateSource::Name, Some(format)) => format!("dated by name (`{format}`)"),
        (by, _) => dating_words(by).to_string(),
    };
    let target = secs(rpo.target_seconds);
    let verdict = match (&rpo.newest_set, rpo.age_seconds) {
        (None, _) => "no backup set: will break its RPO".to_string(),
        (Some(_), _) if rpo.met => format!(
            "newest set {} old: within its RPO of {target}",
            secs(rpo.age_seconds.unwrap_or(0.0))
        ),
        (Some(_), Some(age)) if undated > 0 && age >= 0.0 && age <= rpo.target_seconds => format!(
            "newest dated set {} old, but {undated} set(s) have no date: will break its RPO of {target}",
            secs(age)
        ),
        (Some(_), Some(age)) if age >= 0.0 => {
            format!(
                "newest set {} old: will break its RPO of {target}",
                secs(age)
            )
        }
        (Some(_), Some(_)) => {
            format!("newest set dated in the future: will break its RPO of {target}")
        }
        (Some(_), None) => format!("newest set has no date: will break its RPO of {target}"),
    };
    format!("RPO: {source}; {verdict}")
}

/// Writes the results as JSON, atomically: a reader never sees half a file.
pub fn write_json(result: &RunResult, path: &Path) -> std::io::Result<()> {
    write_atomic(path, json_text(result).as_bytes())
}

/// Writes the run's artifacts into `state_dir/runs/<run-id>/`: `results.json`, `junit.xml`
/// and `report.html`, which names the run's record hash when it was recorded and is signed
/// when a key is configured. Returns the folder.
pub fn write_artifacts(
    state_dir: &Path,
    result: &RunResult,
    record_hash: Option<&str>,
    key: Option<&ed25519_dalek::SigningKey>,
) -> std::io::Result<std::path::PathBuf> {
    let dir = state_dir.join("runs").join(&result.run_id);
    std::fs::create_dir_all(&dir)?;
    write_json(result, &dir.join("results.json"))?;
    write_atomic(&dir.join("junit.xml"), junit::junit(result).as_bytes())?;
    let page = run_report(result, record_hash);
    let page = match key {
        Some(key) => crate::signing::sign_text(key, &page, false),
        None => page,
    };
    write_atomic(&dir.join("report.html"), page.as_bytes())?;
    Ok(dir)
}

/// One run as a self-contained HTML page.
pub fn run_report(result: &RunResult, record_hash: Option<&str>) -> String {
    let verdict = result.verdict();
    let policies: Vec<&PolicyResult> = result.policies.iter().collect();
    // A drill's record says who ran it and who witnessed it, or that nobody did.
    let people = match (result.kind, &result.operator) {
        (crate::results::RunKind::Drill, operator) => format!(
            " Run by {}, {}.",
            operator.as_deref().unwrap_or("(not recorded)"),
            result
                .witness
                .as_deref()
                .map_or_else(|| "no witness".to_string(), |w| format!("witnessed by {w}"))
        ),
        _ => String::new(),
    };
    html::run_page(
        &format!("restore-drill run {}: {verdict}", result.run_id),
        &format!(
            "{} on {}, started {}, seed {}.{people}",
            result.kind.label(),
            result.host,
            result.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            result.seed
        ),
        &policies,
        &|p: &PolicyResult| {
            p.responsibility
                .responsible
                .clone()
                .unwrap_or_else(|| "no responsible team set".into())
        },
        maud::html! {
            "restore-drill " (html::Shown(&result.tool_version)) "."
            @if let Some(h) = record_hash {
                " History chain head (this run's record) " code { (html::Shown(h)) } "."
            }
        },
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_table_lists_policies_then_findings() {
        insta::assert_snapshot!(summary(&crate::results::sample::run()));
    }

    #[test]
    fn a_summary_fitted_to_a_terminal_has_no_line_wider_than_it() {
        let run = crate::results::sample::run();
        assert!(summary(&run).lines().any(|l| l.chars().count() > 100));
        for width in [60u16, 80, 100, 120] {
            let text = summary_within(&run, Some(width));
            for line in text.lines() {
                assert!(
                    line.chars().count() <= usize::from(width),
                    "{width}: {line:?} in\n{text}"
                );
            }
            for p in &run.policies {
                assert!(text.contains(&p.name), "{width}: {} is missing", p.name);
            }
        }
    }

    #[test]
    fn wrapped_lines_keep_their_indent_and_every_word() {
        let line = "  FAIL db: storage_error: cannot list `x/` in s3 bucket `b` at 127.0.0.1:9000";
        let text = wrap(line, Some(40), 6);
        assert!(text.starts_with("  FAIL db:"), "{text}");
        assert!(
            text.lines().skip(1).all(|l| l.starts_with("      ")),
            "{text}"
        );
        assert_eq!(
            text.split_whitespace().collect::<Vec<_>>(),
            line.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_policy_dated_by_upload_time_is_marked_and_the_legend_says_so() {
        let mut run = crate::results::sample::run();
        let text = summary(&run);
        assert!(!text.contains("upload time"), "{text}");
        run.policies[0].rpo.dated_by = DateSource::Modified;
        run.policies[1].rpo.age_seconds = Some(-3600.0);
        let text = summary(&run);
        assert!(
            text.contains(&format!("9h 30m{UPLOAD_MARK} / 26h")),
            "{text}"
        );
        assert!(text.contains("* dated by upload time"), "{text}");
        assert!(text.contains("future / 26h"), "{text}");
        let widest = |t: &str| t.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest(&text) <= widest(&summary(&crate::results::sample::run())) + 1);
    }
}
