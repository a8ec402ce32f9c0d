//! Command-line parsing (clap derive) and one module per subcommand: a module of the
//! binary, not of the library. The work is in the library (a run's whole lifecycle is
//! `restore_drill::session`); each command parses its flags into the library's options,
//! calls it and prints. Nothing here decides a verdict or an exit code's meaning.

/// `print!` to stdout that never panics: a closed pipe (`restore-drill run | head`) or a
/// full disk loses only this copy of the text, while the run goes on to record its history
/// and results, which are the record. While stdout carries JSON (`--json -`), to stderr.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if $crate::cli::JSON_ON_STDOUT.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = write!(std::io::stderr().lock(), $($arg)*);
        } else {
            let _ = write!(std::io::stdout().lock(), $($arg)*);
        }
    }};
}

/// `print!` of JSON to stdout, which never panics (see `out!`).
macro_rules! json {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `println!` to stdout that never panics (see `out!`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        out!("{}\n", format_args!($($arg)*));
    }};
}

/// Set by `--json -`: stdout carries the JSON alone, so what people read goes to stderr.
pub(crate) static JSON_ON_STDOUT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether `--json` names stdout (`-`); if so, says so to `out!`.
fn json_to_stdout(json: Option<&std::path::Path>) {
    if json.is_some_and(|p| p.as_os_str() == "-") {
        JSON_ON_STDOUT.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

mod check;
mod coverage;
mod drill;
mod history;
mod init;
mod keygen;
mod mail;
mod meta;
mod printer;
mod progress;
mod report;
mod run;
mod schedule;
mod signing;
mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use restore_drill::exit::ExitCode;
use restore_drill::session::SessionError;
use restore_drill::session::error_chain as chain;

#[derive(Debug, Parser)]
#[command(
    name = "restore-drill",
    version = meta::VERSION.as_str(),
    about = "Restores samples of backups, verifies them and judges RPO and RTO"
)]
pub struct Cli {
    /// More log output (-v progress, -vv debug, -vvv trace, storage requests included); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log lines as text for people or JSON objects for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Restore a sample of each policy's backups, verify and judge them.
    Run(run::RunArgs),
    /// Validate the settings and every policy; restore nothing.
    Check(check::CheckArgs),
    /// A manual restore drill: restore a whole backup set, measure it against the RTO, and
    /// record who ran and who witnessed it.
    Drill(drill::DrillArgs),
    /// List recorded runs and results, or verify the history's hash chain.
    History(history::HistoryArgs),
    /// Write the period report for a client (a quarter for a QBR), or verify a report.
    Report(report::ReportArgs),
    /// Make the signing key pair (secret seed file and minisign public key), or print the
    /// configured key's public key (--public-only).
    Keygen(keygen::KeygenArgs),
    /// Each policy's schedule, last run and result, and next due time.
    Schedule(schedule::ScheduleArgs),
    /// How much of each policy's retained backups was verified recently, and what never was.
    Coverage(coverage::CoverageArgs),
    /// Deliver spooled mail, or send a test message to a team.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Start a configuration: a commented settings file, or (--policy) a policy file.
    Init(init::InitArgs),
    /// The version, the commit it was built from and the build date.
    Version(meta::VersionArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(meta::CompletionsArgs),
    /// Print the man page (roff), e.g. `restore-drill man > restore-drill.1`.
    Man,
}

/// The configuration directory option, shared by every command.
#[derive(Debug, Args)]
struct ConfigDir {
    /// Directory holding restore-drill.yaml and the policies. Without it:
    /// $RESTORE_DRILL_DIR, then ./policies when it exists, then
    /// ~/.config/restore-drill ($XDG_CONFIG_HOME) when it exists, then /etc/restore-drill.
    #[arg(long = "config-dir", value_name = "DIR")]
    given: Option<PathBuf>,
}

/// The configuration folder the command uses and why, once chosen: every configuration
/// error names it ([`config_failed`]).
static LOCATED: std::sync::OnceLock<restore_drill::config::locate::Located> =
    std::sync::OnceLock::new();

impl ConfigDir {
    /// The folder to use ([`restore_drill::config::locate`]).
    fn dir(&self) -> PathBuf {
        self.located().dir.clone()
    }

    /// The folder to use and why it was chosen.
    fn located(&self) -> &'static restore_drill::config::locate::Located {
        LOCATED.get_or_init(|| restore_drill::config::locate::locate(self.given.as_deref()))
    }
}

impl Cli {
    /// Runs the command; `Err` is a failure to print once and exit with code 4.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        init_logging(self.verbose, self.quiet, self.log_format);
        match self.command {
            Command::Run(args) => run::execute(args),
            Command::Check(args) => check::execute(args),
            Command::Drill(args) => drill::execute(args),
            Command::Mail(command) => mail::execute(command),
            Command::History(args) => history::execute(args),
            Command::Report(args) => report::execute(args),
            Command::Schedule(args) => schedule::execute(args),
            Command::Coverage(args) => coverage::execute(args),
            Command::Init(args) => init::execute(args),
            Command::Keygen(args) => keygen::execute(args),
            Command::Version(args) => meta::version(args),
            Command::Completions(args) => meta::completions(args),
            Command::Man => meta::man(),
        }
    }
}

fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "restore_drill=info,warn",
        // Our own records only: other crates' (hyper, reqwest, rustls) may name hosts and
        // buckets read from `${…}` references, and nothing redacts them. RUST_LOG opens them.
        (false, 2) => "restore_drill=debug,warn",
        (false, _) => "restore_drill=trace,warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter)
        // Colour codes only for a person at a terminal, never into cron mail or log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let installed = match format {
        LogFormat::Text => tracing::subscriber::set_global_default(builder.finish()),
        LogFormat::Json => tracing::subscriber::set_global_default(builder.json().finish()),
    };
    if installed.is_err() {
        return;
    }
    // Libraries log through `log` too. reqsign (opendal's request signer) prints resolved
    // credentials in its debug records, and opendal prints its builders' `Debug` (bucket,
    // endpoint, values read from `${…}` references) when an operator is built, so their
    // records are dropped at any level: storage is logged by our own interceptor
    // (`storage::StorageLog`), which names only plain settings. usvg (the PDF's SVG reader)
    // warns about empty polylines in the charts, which change nothing drawn.
    let _ = tracing_log::LogTracer::builder()
        .ignore_crate("reqsign")
        .ignore_crate("opendal")
        .ignore_crate("usvg")
        .init();
}

/// The columns of the terminal stdout is, to fit tables to: `COLUMNS` when set, else the
/// terminal's width; `None` when stdout is no terminal (logs keep the full table).
fn terminal_width() -> Option<u16> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return None;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|c| *c >= 20)
        .or_else(|| console::Term::stdout().size_checked().map(|(_, w)| w))
}

/// Fits a table to the terminal (cells wrap inside it), when stdout is one.
fn fit(table: &mut comfy_table::Table) {
    if let Some(width) = terminal_width() {
        table
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .set_width(width);
    }
}

/// A session's exit code; its error printed here when it has a code of its own (invalid
/// options: 2, worded as the flags that gave them, `policy_flag` naming the policies, a
/// drill's `--set` naming no set;
/// another run holds the state folder: 6), else returned to be printed once by `main`
/// (exit 4).
fn session_code(
    outcome: Result<ExitCode, SessionError>,
    config_dir: &std::path::Path,
    policy_flag: &str,
) -> anyhow::Result<ExitCode> {
    match outcome {
        Ok(code) => Ok(code),
        Err(SessionError::UnknownPolicies { unknown, known }) => {
            let errors = unknown
                .iter()
                .map(|name| restore_drill::config::ConfigError {
                    file: config_dir.to_path_buf(),
                    line: 0,
                    column: 0,
                    field: policy_flag.into(),
                    message: format!("no policy named `{name}`; known: {}", known.join(", ")),
                })
                .collect();
            Ok(config_failed(&restore_drill::config::ConfigErrors(errors)))
        }
        Err(e @ SessionError::UnknownSet { .. }) => {
            eprintln!("error: --set: {e}");
            Ok(e.exit_code())
        }
        Err(SessionError::JsonFolder(path)) => {
            eprintln!(
                "error: --json {}: the folder for the results does not exist",
                path.display()
            );
            Ok(ExitCode::InvalidConfig)
        }
        Err(e) if e.exit_code() != ExitCode::RunError => {
            eprintln!("error: {}", chain(&e));
            Ok(e.exit_code())
        }
        Err(e) => Err(e.into()),
    }
}

/// Prints configuration errors and returns the matching exit code.
fn config_failed(errors: &restore_drill::config::ConfigErrors) -> ExitCode {
    eprintln!("error: {errors}");
    if let Some(located) = LOCATED.get() {
        eprintln!("configuration folder: {located}");
    }
    ExitCode::InvalidConfig
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks of every command and flag (conflicts, defaults,
    /// value names), which otherwise only fire when the faulty command is used.
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
