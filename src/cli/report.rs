//! `restore-drill report --client C --quarter 2026-Q4 [--format pdf|html|md|csv] -o FILE`
//! (or `--from/--to`), signed beside it as `FILE.minisig` when a key is configured, and
//! `restore-drill report verify FILE`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use super::ConfigDir;
use restore_drill::config;
use restore_drill::exit::ExitCode;
use restore_drill::history::History;
use restore_drill::report::period::{self, Period};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    command: Option<ReportCommand>,
    #[command(flatten)]
    config: ConfigDir,
    /// The client, as its policies name it.
    #[arg(long)]
    client: Option<String>,
    /// A quarter, e.g. 2026-Q4.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    quarter: Option<String>,
    /// First day of the period (with --to).
    #[arg(long, requires = "to", value_name = "DATE")]
    from: Option<String>,
    /// Last day of the period, included (with --from).
    #[arg(long, requires = "from", value_name = "DATE")]
    to: Option<String>,
    /// The report's format; without it, taken from the extension of -o (.pdf, .html, .md, .csv).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Where to write the report.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Pdf,
    Html,
    Md,
    Csv,
}

impl Format {
    /// The format a file's extension names; an unknown one is an error saying what to do.
    fn of(output: &std::path::Path) -> Result<Format, String> {
        let extension = output
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("pdf") => Ok(Format::Pdf),
            Some("html" | "htm") => Ok(Format::Html),
            Some("md" | "markdown") => Ok(Format::Md),
            Some("csv") => Ok(Format::Csv),
            _ => Err(format!(
                "-o {}: cannot tell the format from the file's extension; name the file .pdf, .html, .md or .csv, or give --format pdf|html|md|csv",
                output.display()
            )),
        }
    }
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Check a report's signature and that its chain head is in the history.
    Verify(super::verify::VerifyArgs),
}

pub fn execute(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if let Some(ReportCommand::Verify(verify)) = args.command {
        return super::verify::verify(verify);
    }
    let usage = |message: &str| {
        eprintln!("error: {message}");
        Ok(ExitCode::InvalidConfig)
    };
    let Some(client) = args.client else {
        return usage("--client is required (the client's name, as its policies give it)");
    };
    let Some(output) = args.output else {
        return usage("-o FILE is required: where to write the report");
    };
    let format = match args.format.map_or_else(|| Format::of(&output), Ok) {
        Ok(format) => format,
        Err(message) => return usage(&message),
    };
    let config = match config::load(&args.config.dir()) {
        Ok(config) => config,
        Err(errors) => return Ok(super::config_failed(&errors)),
    };
    let presentation = presentation(&config.settings.report);
    let tz = presentation.zone();
    let period = match (&args.quarter, &args.from, &args.to) {
        (Some(q), _, _) => Period::quarter(q, &tz).map_err(|e| e.to_string()),
        (None, Some(from), Some(to)) => Period::dates(from, to, &tz).map_err(|e| e.to_string()),
        _ => Err("give --quarter 2026-Q4, or --from DATE --to DATE".to_string()),
    };
    let period = match period {
        Ok(p) => p,
        Err(message) => return usage(&message),
    };
    // A report is evidence only when the history it is built from verifies.
    let history =
        History::open_to_verify(&config.settings.state_dir).context("cannot open the history")?;
    let signer = super::signing::signing_key(&config.settings)?
        .map(|k| restore_drill::signing::public_hex(&k));
    if let Some(why) = history.verify(signer.as_deref())?.failure() {
        eprintln!(
            "error: the history {} does not verify ({why}); no report was written. `restore-drill history verify` shows it",
            history.path().display()
        );
        return Ok(ExitCode::VerificationFailed);
    }
    let now = restore_drill::run::now();
    let report = match period::assemble(&config, &history, &client, period, presentation, now) {
        Ok(report) => report,
        Err(period::AssembleError::History(e)) => return Err(e.into()),
        Err(unknown) => return usage(&unknown.to_string()),
    };
    write(&config.settings, format, &output, &report)?;
    Ok(ExitCode::Success)
}

/// Renders `report` in `format`, writes it to `output` and, with a key, `output.minisig`
/// beside it; says what it wrote.
fn write(
    settings: &config::Settings,
    format: Format,
    output: &std::path::Path,
    report: &period::PeriodReport,
) -> anyhow::Result<()> {
    let bytes = match format {
        Format::Pdf => period::pdf(report)?,
        Format::Html => super::signing::sign_report(settings, &period::html(report))?.into(),
        Format::Md => super::signing::sign_report(settings, &period::markdown(report))?.into(),
        // The CSV is for spreadsheets: no line in it but rows; FILE.minisig signs it.
        Format::Csv => period::csv(report).into(),
    };
    std::fs::write(output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    let signed = super::signing::Signed {
        client: &report.client,
        period: &report.period.label,
        head: report.chain_head.as_deref(),
    };
    if let Some(id) = super::signing::write_detached(settings, output, &bytes, &signed)? {
        outln!(
            "signature: {} (minisign, key {id})",
            super::signing::detached_path(output).display()
        );
    }
    outln!(
        "report: {} ({} runs counted, {} voided, {} policies, chain head {})",
        output.display(),
        report.summary.runs,
        report.evidence.len() - report.summary.runs,
        report.policies.len(),
        report.chain_head.as_deref().unwrap_or("none")
    );
    Ok(())
}

/// The report's presentation from the checked `report:` settings (zone, branding, paper).
fn presentation(settings: &config::report::ReportSettings) -> period::Presentation {
    period::Presentation {
        timezone: settings.timezone_name(),
        msp_name: settings.msp_name.clone(),
        accent: settings.accent.clone(),
        logo: settings.logo.as_ref().map(|l| period::Logo {
            media_type: l.media_type.to_string(),
            bytes: l.bytes.clone(),
        }),
        paper: match settings.paper {
            config::report::Paper::A4 => period::Paper::A4,
            config::report::Paper::Letter => period::Paper::Letter,
        },
    }
}
