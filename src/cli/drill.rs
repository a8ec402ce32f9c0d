//! `restore-drill drill POLICY`: a manual restore drill. A whole backup set is restored (not
//! a sample), so the wall time is the real full-restore time, judged against the RTO, and
//! the run is recorded as a drill with who ran and who witnessed it. The lifecycle is the
//! same session as `run`'s; this file turns flags into its options and prints the answer.

use std::path::PathBuf;

use clap::Args;

use super::ConfigDir;
use super::progress::ProgressMode;
use restore_drill::config::units::{format_bytes, format_duration};
use restore_drill::config::{self, ConfigError, ConfigErrors};
use restore_drill::exit::ExitCode;
use restore_drill::plan::Choice;
use restore_drill::run::Drill;
use restore_drill::session::{DrillSummary, Session, SessionOptions};

#[derive(Debug, Args)]
pub struct DrillArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// The policy to drill.
    policy: String,
    /// Which set: `newest`, a date (2026-11-25) for the newest set dated that day, or a
    /// restic snapshot's id (the short id restic prints, or the whole id).
    #[arg(long, default_value = "newest", value_name = "newest|DATE|SNAPSHOT-ID")]
    set: String,
    /// Who runs the drill, for the record and the quarterly report (required: a drill
    /// nobody answers for is not evidence of anything).
    #[arg(long, value_name = "NAME", required = true)]
    operator: String,
    /// Who witnessed it (the client's contact, an auditor); without one, the record and
    /// the report say "no witness".
    #[arg(long, value_name = "NAME")]
    witness: Option<String>,
    /// Leave the restored files for hands-on checks and print where they are.
    #[arg(long)]
    keep: bool,
    /// Live progress bars on stderr: auto (when stderr is a terminal), always or never.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Write the whole result as JSON to this file; `-` for stdout.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub fn execute(args: DrillArgs) -> anyhow::Result<ExitCode> {
    // Another policy's invalid file does not stop a drill; the drilled policy's own does.
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => {
            let code = super::config_failed(&errors);
            // The monitor learns of every run that ends, a drill's too.
            if let Some(heartbeat) = config::load_heartbeat_only(&args.config.dir()) {
                restore_drill::session::tell_monitor(&heartbeat, code, &errors.to_string());
            }
            return Ok(code);
        }
    };
    if let Some(invalid) = config.invalid.iter().find(|p| p.name == args.policy) {
        return Ok(super::config_failed(&config::ConfigErrors(
            invalid.errors.clone(),
        )));
    }
    let choice = match set_choice(&args.set, &config.dir) {
        Ok(choice) => choice,
        // An unknown policy is the first thing said (by the session, below), then the set.
        Err(_) if !config.policies.iter().any(|p| p.name == args.policy) => Choice::WholeNewest,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let options = SessionOptions {
        policies: vec![args.policy.clone()],
        choice,
        json: {
            super::json_to_stdout(args.json.as_deref());
            args.json
        },
        keep: args.keep,
        drill: Some(Drill {
            operator: Some(args.operator.clone()),
            witness: args.witness.clone(),
        }),
        observer: super::progress::observer(args.progress),
        ..SessionOptions::default()
    };
    let outcome = match Session::new(&config, options).and_then(|s| s.run(&super::printer::Printer))
    {
        Ok(outcome) => outcome,
        Err(e) => return super::session_code(Err(e), &config.dir, "POLICY"),
    };
    let rto = config
        .policies
        .iter()
        .find(|p| p.name == args.policy)
        .map(|p| p.targets.rto);
    let summary = outcome
        .result
        .as_ref()
        .zip(rto)
        .and_then(|(result, rto)| DrillSummary::of(result, rto));
    if let Some(d) = summary {
        let witness = args
            .witness
            .as_deref()
            .map_or_else(|| "no witness".to_string(), |w| format!("witnessed by {w}"));
        outln!(
            "drill {}: set {}, {} objects, {} restored in {} files; the set's restore took {} against RTO {}: {}; run by {}, {witness}",
            d.policy,
            d.set,
            d.objects,
            format_bytes(d.restored_bytes),
            d.files,
            format_duration(d.wall),
            format_duration(d.rto),
            d.verdict.as_str(),
            args.operator,
        );
    }
    Ok(outcome.code)
}

/// `--set newest`, `--set 2026-11-25` or `--set 3f2a9c1e`.
fn set_choice(set: &str, config_dir: &std::path::Path) -> Result<Choice, ConfigErrors> {
    if set == "newest" {
        return Ok(Choice::WholeNewest);
    }
    if let Some(id) = restore_drill::plan::IdPrefix::parse(set) {
        return Ok(Choice::WholeSnapshot(id));
    }
    set.parse::<jiff::civil::Date>()
        .map(Choice::WholeOn)
        .map_err(|_| {
            ConfigErrors(vec![ConfigError {
                file: config_dir.to_path_buf(),
                line: 0,
                column: 0,
                field: "--set".into(),
                message: format!(
                    "`{set}` is neither `newest`, a date such as 2026-11-25, nor a snapshot id \
                     (hex digits, such as 3f2a9c1e)"
                ),
            }])
        })
}
