//! The `restore-drill` binary: parse, run, print the error chain once, exit.

#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use cli::Cli;
use restore_drill::exit::ExitCode;

fn main() -> std::process::ExitCode {
    // Everything this process creates (history, spool, outbox, artifacts, scratch, restored
    // client data) is its user's alone, 0600 / 0700, whatever the umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::InvalidConfig.into()
            } else {
                ExitCode::Success.into()
            };
        }
    };
    match cli.execute() {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::RunError.into()
        }
    }
}
