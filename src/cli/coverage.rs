//! `restore-drill coverage [--policy P] [--client C] [--json] [--limit N]`: per policy, how
//! much of what storage retains was verified within the coverage window (the policy's
//! `sample.coverage`, else 30 days), what was never verified, the oldest verification and the
//! projected rotation; then the objects least recently verified (never verified first). Read
//! from the history's ledger alone: no storage is listed.

use anyhow::Context;
use clap::Args;
use comfy_table::{ContentArrangement, Table, presets};

use super::ConfigDir;
use restore_drill::config::units::{format_bytes, format_duration};
use restore_drill::config::{self, Policy};
use restore_drill::exit::ExitCode;
use restore_drill::history::{History, LedgerEntry, LedgerSummary};

#[derive(Debug, Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// Only this policy (repeatable).
    #[arg(long = "policy", value_name = "NAME")]
    policies: Vec<String>,
    /// Only this client's policies.
    #[arg(long)]
    client: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Objects listed per policy, least recently verified first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit: usize,
}

/// The default window when a policy sets no `sample.coverage`.
const DEFAULT_WINDOW: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

#[derive(serde::Serialize)]
struct PolicyCoverage {
    #[serde(flatten)]
    summary: LedgerSummary,
    client: String,
    target_days: Option<f64>,
    least_recently_verified: Vec<LedgerEntry>,
}

fn selected<'c>(
    config: &'c config::Config,
    args: &CoverageArgs,
) -> Result<Vec<&'c Policy>, String> {
    for name in &args.policies {
        if !config.policies.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "--policy {name}: no such policy; policies: {}",
                known.join(", ")
            ));
        }
    }
    if let Some(client) = &args.client
        && !config.policies.iter().any(|p| &p.client == client)
    {
        return Err(format!("--client {client}: no policy names this client"));
    }
    Ok(config
        .policies
        .iter()
        .filter(|p| args.policies.is_empty() || args.policies.contains(&p.name))
        .filter(|p| args.client.as_ref().is_none_or(|c| &p.client == c))
        .collect())
}

pub fn execute(args: CoverageArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let policies = match selected(&config, &args) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::InvalidConfig);
        }
    };
    let state = &config.settings.state_dir;
    if !state.join(restore_drill::history::DATABASE).exists() {
        eprintln!(
            "error: no history in {}: coverage is recorded by runs; run `restore-drill run` first",
            state.display()
        );
        return Ok(ExitCode::InvalidConfig);
    }
    let history = History::open(state).context("cannot open the history")?;
    let now = restore_drill::run::now();
    let mut out = Vec::new();
    for policy in policies {
        let window = policy.sample.coverage.unwrap_or(DEFAULT_WINDOW);
        out.push(PolicyCoverage {
            summary: history.ledger_summary(&policy.name, window, now)?,
            client: policy.client.clone(),
            target_days: policy.sample.coverage.map(|c| c.as_secs_f64() / 86_400.0),
            least_recently_verified: history.ledger_entries(&policy.name, args.limit)?,
        });
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_tables(&out, now);
    }
    Ok(ExitCode::Success)
}

fn days(d: f64) -> String {
    restore_drill::config::units::format_days(d)
}

fn print_tables(policies: &[PolicyCoverage], now: jiff::Timestamp) {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header([
            "policy",
            "retained",
            "verified in window",
            "never verified",
            "overdue",
            "oldest verification",
            "rotation",
        ]);
    super::fit(&mut table);
    for p in policies {
        let s = &p.summary;
        let window = match p.target_days {
            Some(t) => format!(" (target {})", days(t)),
            None => format!(" ({}, no target)", days(s.window_days)),
        };
        let rotation = match (p.target_days, s.last_run.as_ref()) {
            (None, _) => "random sampling".to_string(),
            (Some(_), None) => "-".to_string(),
            (Some(_), Some(c)) => c
                .projected_rotation_days
                .map_or_else(|| "never at this budget".into(), days),
        };
        table.add_row([
            p.summary.policy.clone(),
            format!(
                "{} ({})",
                s.retained_objects,
                format_bytes(s.retained_bytes)
            ),
            format!(
                "{} ({}){window}",
                s.verified_within_objects,
                format_bytes(s.verified_within_bytes)
            ),
            format!(
                "{} ({})",
                s.never_verified_objects,
                format_bytes(s.never_verified_bytes)
            ),
            format!("{} ({})", s.overdue_objects, format_bytes(s.overdue_bytes)),
            s.oldest_verification
                .map_or_else(|| "-".into(), |t| ago(t, now)),
            rotation,
        ]);
    }
    outln!("{table}");
    for p in policies
        .iter()
        .filter(|p| !p.least_recently_verified.is_empty())
    {
        outln!("");
        outln!(
            "{}: least recently verified first ({} shown of {} retained)",
            p.summary.policy,
            p.least_recently_verified.len(),
            p.summary.retained_objects
        );
        for e in &p.least_recently_verified {
            let when = match e.last_verified {
                None => format!("never verified (listed {})", ago(e.first_seen, now)),
                Some(t) => format!("verified {}", ago(t, now)),
            };
            outln!(
                "  {}  {}  {when}",
                restore_drill::finding::printable(&e.key),
                format_bytes(e.size)
            );
        }
    }
}

/// `2026-11-01 (28d ago)`.
fn ago(t: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let age = now.duration_since(t).as_secs_f64().max(0.0);
    format!(
        "{} ({} ago)",
        t.strftime("%Y-%m-%d"),
        format_duration(std::time::Duration::from_secs_f64(age))
    )
}
