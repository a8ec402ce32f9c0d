//! `restore-drill history [--policy P] [--client C] [--since DATE] [--json]`,
//! `restore-drill history verify [--against FILE|HEAD]`, and the corrections `history annotate RUN` and
//! `history void RUN`, appended to the chain (the history is never edited).

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets};

use super::ConfigDir;
use restore_drill::config;
use restore_drill::exit::ExitCode;
use restore_drill::history::{Action, Correction, Filter, History, HistoryError, db_time};
use restore_drill::report::secs;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    command: Option<HistoryCommand>,
    #[command(flatten)]
    config: ConfigDir,
    /// Only this policy's results.
    #[arg(long)]
    policy: Option<String>,
    /// Only this client's results.
    #[arg(long)]
    client: Option<String>,
    /// Runs started on or after this date or time (2026-10-01, 2026-10-01T00:00:00Z).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum HistoryCommand {
    /// Recompute the hash chain and name the first record that no longer matches.
    Verify(VerifyArgs),
    /// Add a note to a recorded run (appended to the chain; the run is not changed).
    Annotate(AnnotateArgs),
    /// Void a recorded run made by mistake: it stays in the chain, struck through with the
    /// reason, and counts in no report figure.
    Void(VoidArgs),
}

#[derive(Debug, Args)]
struct AnnotateArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// The run's id, as `restore-drill history` lists it.
    run: String,
    /// Who adds the note.
    #[arg(long, value_name = "NAME")]
    by: String,
    /// The note.
    #[arg(long, value_name = "TEXT")]
    note: String,
}

#[derive(Debug, Args)]
struct VoidArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// The run's id, as `restore-drill history` lists it.
    run: String,
    /// Who voids it.
    #[arg(long, value_name = "NAME")]
    by: String,
    /// Why (a drill against the wrong client, a run during a planned storage migration).
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
    /// Also check that the history still holds and extends this head: a checkpoint file, a
    /// run's results.json, a saved mail, or `N:HASH` (the mail's "History head #N HASH").
    #[arg(long, value_name = "FILE|HEAD")]
    against: Option<String>,
}

/// The heads `--against` names: read from the file when one is there, else the head given.
fn against(given: &str) -> anyhow::Result<Vec<(String, restore_drill::results::HistoryHead)>> {
    let path = std::path::Path::new(given);
    let heads = if path.symlink_metadata().is_ok() {
        let bytes = restore_drill::fsx::read_regular(path, 64 << 20)
            .with_context(|| format!("cannot read --against {given}"))?;
        restore_drill::history::heads_in(&String::from_utf8_lossy(&bytes), given)
    } else {
        restore_drill::history::parse_head(given)
            .map(|head| vec![("--against".to_string(), head)])
            .ok_or_else(|| {
                format!(
                    "--against {given}: no such file, and not a head (N:HASH, HASH 64 hex digits)"
                )
            })
    };
    heads.map_err(anyhow::Error::msg)
}

fn open(dir: &std::path::Path) -> anyhow::Result<Result<(History, config::Settings), ExitCode>> {
    let settings = match config::load(dir) {
        Ok(config) => config.settings,
        Err(errors) => return Ok(Err(super::config_failed(&errors))),
    };
    let history = History::open(&settings.state_dir).context("cannot open the history")?;
    Ok(Ok((history, settings)))
}

pub fn execute(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(HistoryCommand::Verify(verify)) => return execute_verify(verify),
        Some(HistoryCommand::Annotate(a)) => {
            return correct(&a.config, a.run, a.by, Action::Annotate, a.note);
        }
        Some(HistoryCommand::Void(v)) => {
            return correct(&v.config, v.run, v.by, Action::Void, v.reason);
        }
        None => {}
    }
    let history = match open(&args.config.dir())? {
        Ok((history, _)) => history,
        Err(code) => return Ok(code),
    };
    let since = match args.since.as_deref().map(parse_since).transpose() {
        Ok(since) => since,
        Err(message) => {
            eprintln!("error: --since: {message}");
            return Ok(ExitCode::InvalidConfig);
        }
    };
    let filter = Filter {
        policy: args.policy,
        client: args.client,
        since,
        limit: Some(args.limit),
    };
    let by_policy = filter.policy.is_some() || filter.client.is_some();
    if by_policy {
        let rows = history.policy_results(&filter)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(ExitCode::Success);
        }
        let mut table = table([
            "run",
            "started",
            "policy",
            "client",
            "status",
            "newest age / RPO",
            "projected / RTO",
            "findings",
        ]);
        for r in &rows {
            table.add_row([
                r.run_id.clone(),
                short_time(&r.started_at),
                r.policy.clone(),
                r.client.clone(),
                status(&r.status, r.voided.as_deref()),
                format!(
                    "{} / {}",
                    age(r.rpo_age_seconds),
                    target(r.rpo_target_seconds)
                ),
                format!(
                    "{} / {}",
                    r.rto_projected_seconds.map_or_else(|| "-".into(), secs),
                    target(r.rto_target_seconds)
                ),
                r.findings.to_string(),
            ]);
        }
        outln!("{table}");
    } else {
        let rows = history.runs(&filter)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(ExitCode::Success);
        }
        let mut table = table([
            "run",
            "started",
            "kind",
            "host",
            "status",
            "failed / policies",
        ]);
        for r in &rows {
            table.add_row([
                r.run_id.clone(),
                short_time(&r.started_at),
                r.kind.clone(),
                r.host.clone(),
                status(&r.status, r.voided.as_deref()),
                format!("{} / {}", r.failed, r.policies),
            ]);
        }
        outln!("{table}");
        print_corrections(rows.iter().flat_map(|r| &r.corrections));
    }
    Ok(ExitCode::Success)
}

/// The newest set's age; `future` for one dated after the run started
/// (`future_dated_backup`), `-` for none.
fn age(seconds: Option<f64>) -> String {
    match seconds {
        None => "-".into(),
        Some(age) if age < 0.0 => "future".into(),
        Some(age) => secs(age),
    }
}

/// One line per note or voiding, below the table of runs.
fn print_corrections<'a>(corrections: impl Iterator<Item = &'a Correction>) {
    for c in corrections {
        let what = match c.action {
            Action::Void => "voided",
            Action::Annotate => "note",
        };
        outln!(
            "{} {what} by {}, {}: {}",
            c.run_id,
            c.by,
            short_time(&db_time(c.made_at)),
            c.text
        );
    }
}

/// `FAIL`, or `VOIDED (was FAIL)` for a voided run.
fn status(status: &str, voided: Option<&str>) -> String {
    match voided {
        Some(_) => format!("VOIDED (was {})", status.to_uppercase()),
        None => status.to_uppercase(),
    }
}

/// Appends a note or a voiding to the chain, signed when a key is set. A run the history
/// does not have, or a run voided already, is refused (exit 2).
fn correct(
    config: &ConfigDir,
    run_id: String,
    by: String,
    action: Action,
    text: String,
) -> anyhow::Result<ExitCode> {
    let (mut history, settings) = match open(&config.dir())? {
        Ok(opened) => opened,
        Err(code) => return Ok(code),
    };
    let key = super::signing::signing_key(&settings)?;
    let correction = Correction {
        run_id,
        action,
        by,
        text,
        made_at: restore_drill::run::now(),
    };
    match history.correct(&correction, key.as_ref()) {
        Ok(record) => {
            let what = match action {
                Action::Void => "voided",
                Action::Annotate => "annotated",
            };
            outln!("{what} run {} (record {record})", correction.run_id);
            Ok(ExitCode::Success)
        }
        Err(e @ (HistoryError::UnknownRun { .. } | HistoryError::AlreadyVoided { .. })) => {
            eprintln!("error: {e}");
            Ok(ExitCode::InvalidConfig)
        }
        Err(e) => Err(e.into()),
    }
}

/// `2026-11-26 20:31` from the stored form.
/// A target, or `-` when none was recorded (an invalid policy file whose targets could not
/// be read).
fn target(seconds: f64) -> String {
    if seconds > 0.0 {
        secs(seconds)
    } else {
        "-".into()
    }
}

fn short_time(stored: &str) -> String {
    stored
        .get(..16)
        .map_or_else(|| stored.to_string(), |t| t.replacen('T', " ", 1))
}

fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    super::fit(&mut table);
    table
}

/// A date means its start, in UTC; a time is taken as given.
fn parse_since(text: &str) -> Result<String, String> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(db_time(ts));
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| db_time(z.timestamp()))
        .ok_or_else(|| {
            format!("`{text}` is not a date (2026-10-01) or time (2026-10-01T00:00:00Z)")
        })
}

fn execute_verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let settings = match config::load(&args.config.dir()) {
        Ok(config) => config.settings,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    // Opened even with planted schema objects, to name them.
    let history =
        History::open_to_verify(&settings.state_dir).context("cannot open the history")?;
    let signer =
        super::signing::signing_key(&settings)?.map(|k| restore_drill::signing::public_hex(&k));
    let given = match args.against.as_deref().map(against).transpose() {
        Ok(given) => given.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::InvalidConfig);
        }
    };
    let verification = history.verify_against(signer.as_deref(), &given)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&verification)?);
    } else if verification.ok() {
        outln!(
            "ok: {} records, chain head {}",
            verification.records,
            verification.head.as_deref().unwrap_or("(empty history)")
        );
        if signer.is_some() {
            outln!(
                "signatures: {} verified, {} records from before signing was set up",
                verification.signed,
                verification.unsigned
            );
        }
        if verification.anchors > 0 {
            outln!(
                "heads kept outside the database: {} checked, every one held by the history",
                verification.anchors
            );
        }
    } else {
        if verification.integrity != "ok" {
            outln!("FAILED: SQLite integrity check: {}", verification.integrity);
        }
        if !verification.foreign.is_empty() {
            outln!(
                "FAILED: schema objects restore-drill did not create (they can rewrite records as they are written): {}",
                verification.foreign.join(", ")
            );
        }
        if let Some(broken) = &verification.broken {
            if broken.run_id.is_empty() {
                outln!("FAILED: {}", broken.reason);
            } else {
                match &broken.correction {
                    Some(action) => outln!(
                        "FAILED: correction #{} ({action} of run {}): {}",
                        broken.seq,
                        broken.run_id,
                        broken.reason
                    ),
                    None => outln!(
                        "FAILED: record #{} (run {}): {}",
                        broken.seq,
                        broken.run_id,
                        broken.reason
                    ),
                }
            }
        }
        for why in verification
            .anchor_failures
            .iter()
            .chain(&verification.ledger)
        {
            outln!("FAILED: {why}");
        }
    }
    Ok(if verification.ok() {
        ExitCode::Success
    } else {
        ExitCode::VerificationFailed
    })
}
