//! `restore-drill drill POLICY`: a manual restore drill. A whole backup set is restored (not
//! a sample), so the wall time is the real full-restore time, judged against the RTO, and
//! the run is recorded as a drill with who ran and who witnessed it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::ConfigDir;
use super::progress::ProgressMode;
use crate::config::units::{format_bytes, format_duration};
use crate::config::{self, ConfigError, ConfigErrors};
use crate::exit::ExitCode;
use crate::plan::Choice;
use crate::run::{Drill, RunOptions, RunStart};

#[derive(Debug, Args)]
pub struct DrillArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// The policy to drill.
    policy: String,
    /// Which set: `newest`, or a date (2026-11-25) for the newest set dated that day.
    #[arg(long, default_value = "newest", value_name = "newest|DATE")]
    set: String,
    /// Who runs the drill, for the record and the quarterly report.
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Who witnessed it (the client's contact, an auditor).
    #[arg(long, value_name = "NAME")]
    witness: Option<String>,
    /// Leave the restored files for hands-on checks and print where they are.
    #[arg(long)]
    keep: bool,
    /// Live progress bars on stderr: auto (when stderr is a terminal), always or never.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Write the whole result as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub fn execute(args: DrillArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.config.dir) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let usage = |field: &str, message: String| {
        super::config_failed(&ConfigErrors(vec![ConfigError {
            file: config.dir.clone(),
            line: 0,
            column: 0,
            field: field.into(),
            message,
        }]))
    };
    let Some(policy) = config.policies.iter().find(|p| p.name == args.policy) else {
        let known: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
        return Ok(usage(
            "POLICY",
            format!(
                "no policy named `{}`; known: {}",
                args.policy,
                known.join(", ")
            ),
        ));
    };
    let choice = if args.set == "newest" {
        Choice::WholeNewest
    } else {
        match args.set.parse::<jiff::civil::Date>() {
            Ok(day) => Choice::WholeOn(day),
            Err(_) => {
                return Ok(usage(
                    "--set",
                    format!(
                        "`{}` is neither `newest` nor a date such as 2026-11-25",
                        args.set
                    ),
                ));
            }
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut start = RunStart::new(None);
    start.choice = choice;
    let options = RunOptions {
        keep: args.keep,
        drill: Some(Drill {
            operator: args.operator,
            witness: args.witness,
        }),
        observer: super::progress::observer(args.progress),
    };
    let (code, result) = super::run::perform(
        runtime,
        &config,
        &[policy],
        &start,
        &options,
        args.json.as_deref(),
    )?;
    if let Some(p) = result.as_ref().and_then(|r| r.policies.first()) {
        let restored: u64 = p.objects.iter().map(|o| o.restored_bytes).sum();
        let files: u64 = p.objects.iter().map(|o| o.files).sum();
        let wall = std::time::Duration::from_secs_f64(p.rto.measured_seconds);
        let target = policy.targets.rto;
        let set = p.sets.first().map_or("(none)", |s| s.name.as_str());
        let verdict = if p.objects.is_empty() {
            "NOT MEASURED (nothing restored)"
        } else if wall <= target {
            "MET"
        } else {
            "EXCEEDED"
        };
        outln!(
            "drill {}: set {set}, {} objects, {} restored in {files} files; wall time {} against RTO {}: {verdict}",
            p.name,
            p.objects.len(),
            format_bytes(restored),
            format_duration(wall),
            format_duration(target),
        );
    }
    Ok(code)
}
