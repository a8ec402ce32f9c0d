//! The commands about restore-drill itself rather than backups: `version` (with the git
//! commit and build date, `--json` for scripts), `completions SHELL` (clap_complete) and
//! `man` (clap_mangen), which packages install as files.

use clap::{Args, CommandFactory as _};
use serde::Serialize;

use restore_drill::exit::ExitCode;

/// The version, the commit it was built from and the build date, as the build script
/// (vergen) recorded them.
#[derive(Debug, Serialize)]
pub struct BuildInfo {
    pub version: &'static str,
    pub commit: &'static str,
    /// The tree had changes not committed when it was built.
    pub dirty: bool,
    pub build_date: &'static str,
}

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: env!("VERGEN_GIT_SHA"),
    dirty: matches!(env!("VERGEN_GIT_DIRTY").as_bytes(), b"true"),
    build_date: env!("VERGEN_BUILD_DATE"),
};

/// `0.1.0 (commit 1e5c043a9b2c, built 2026-11-29)`: what `--version` prints after the name.
pub static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(version_line);

fn version_line() -> String {
    let commit = BUILD.commit.get(..12).unwrap_or(BUILD.commit);
    let dirty = if BUILD.dirty {
        " with local changes"
    } else {
        ""
    };
    format!(
        "{} (commit {commit}{dirty}, built {})",
        BUILD.version, BUILD.build_date
    )
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// The same as a JSON object: version, commit, dirty, build_date.
    #[arg(long)]
    json: bool,
}

pub fn version(args: VersionArgs) -> anyhow::Result<ExitCode> {
    if args.json {
        json!("{}\n", serde_json::to_string_pretty(&BUILD)?);
    } else {
        outln!("restore-drill {}", *VERSION);
    }
    Ok(ExitCode::Success)
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Writes the completion script for a shell to stdout, e.g.
/// `restore-drill completions bash > /usr/share/bash-completion/completions/restore-drill`.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = super::Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "restore-drill",
        &mut std::io::stdout().lock(),
    );
    Ok(ExitCode::Success)
}

/// Writes the man page (roff) to stdout: `restore-drill man > restore-drill.1`.
pub fn man() -> anyhow::Result<ExitCode> {
    let page = clap_mangen::Man::new(super::Cli::command());
    let mut text = Vec::new();
    page.render(&mut text)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &text)?;
    Ok(ExitCode::Success)
}
