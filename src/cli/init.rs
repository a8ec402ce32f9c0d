//! `restore-drill init`: starts a configuration. `init [DIR]` writes a commented settings
//! file; `init --policy NAME --client C --storage S …` adds a commented policy file with its
//! service's storage keys and secret references. It asks nothing (flags carry every
//! answer, placeholders the rest), never overwrites a file without `--force`, and says what
//! to do next. The texts are the library's (`config::scaffold`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use restore_drill::config::locate;
use restore_drill::config::scaffold::{self, PolicyScaffold, SettingsScaffold};
use restore_drill::config::{self, SETTINGS_FILE};
use restore_drill::exit::ExitCode;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The configuration folder to write into. Default: /etc/restore-drill as root, else
    /// ~/.config/restore-drill; with --policy, the folder other commands would use.
    dir: Option<PathBuf>,
    /// The MSP's team name in the settings.
    #[arg(long, default_value = "MSP NOC", value_name = "NAME")]
    msp: String,
    /// The MSP's team address.
    #[arg(long, default_value = "noc@msp.example", value_name = "ADDRESS")]
    msp_email: String,
    /// The client's name: the settings' client team, or the policy's client with --policy.
    #[arg(long, default_value = "Example Client", value_name = "NAME")]
    client: String,
    /// The client's internal IT team's address.
    #[arg(long, default_value = "it@client.example", value_name = "ADDRESS")]
    client_email: String,
    /// The SMTP relay; without it mail is written as files into the state folder's outbox.
    #[arg(long, value_name = "HOST")]
    smtp_host: Option<String>,
    /// The sender of the mail.
    #[arg(
        long,
        default_value = "restore-drill <restore-drill@msp.example>",
        value_name = "ADDRESS"
    )]
    from: String,
    /// The state folder (history, spool, results) to write into the settings; default as
    /// the settings file's comment says.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Add a policy file NAME.yaml instead of the settings.
    #[arg(long, value_name = "NAME")]
    policy: Option<String>,
    /// The policy's storage service: fs, s3, azblob or gcs.
    #[arg(long, value_name = "SERVICE", requires = "policy")]
    storage: Option<String>,
    /// The bucket (s3, gcs) or container (azblob).
    #[arg(long, requires = "policy")]
    bucket: Option<String>,
    /// The folder holding the backups (fs).
    #[arg(long, requires = "policy")]
    root: Option<String>,
    /// Where the policy's backups are below the bucket or root.
    #[arg(long, default_value = "", requires = "policy")]
    prefix: String,
    /// The bucket's region (s3).
    #[arg(long, requires = "policy")]
    region: Option<String>,
    /// An S3-compatible service's endpoint URL (s3), or azblob's.
    #[arg(long, requires = "policy")]
    endpoint: Option<String>,
    /// Overwrite a file that exists.
    #[arg(long)]
    force: bool,
}

pub fn execute(args: InitArgs) -> anyhow::Result<ExitCode> {
    match args.policy.clone() {
        Some(name) => add_policy(args, name),
        None => write_settings(args),
    }
}

fn write_settings(args: InitArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let text = scaffold::settings(&SettingsScaffold {
        msp_name: args.msp,
        msp_email: args.msp_email,
        client: args.client,
        client_email: args.client_email,
        smtp_host: args.smtp_host,
        from: args.from,
        state_dir: args.state_dir.map(|d| d.display().to_string()),
    });
    let file = dir.join(SETTINGS_FILE);
    if !write_new(&file, &text, args.force)? {
        return Ok(ExitCode::InvalidConfig);
    }
    outln!("wrote {}", file.display());
    outln!(
        "next: edit the teams' names and addresses in it, then add a policy per protected system:"
    );
    outln!(
        "  restore-drill init{} --policy NAME --client \"Client\" --storage s3 --bucket BUCKET --prefix PREFIX",
        dir_flag(&dir, args.dir.is_some())
    );
    outln!(
        "  restore-drill check{}",
        if args.dir.is_some() {
            format!(" --config-dir {}", dir.display())
        } else {
            String::new()
        }
    );
    Ok(ExitCode::Success)
}

fn add_policy(args: InitArgs, name: String) -> anyhow::Result<ExitCode> {
    let dir = args.dir.clone().unwrap_or_else(|| locate::locate(None).dir);
    let Some(service) = args.storage.clone() else {
        eprintln!("error: --policy needs --storage fs|s3|azblob|gcs");
        return Ok(ExitCode::InvalidConfig);
    };
    let policy = PolicyScaffold {
        name: name.clone(),
        client: args.client.clone(),
        service: service.to_ascii_lowercase(),
        bucket: args.bucket,
        root: args.root,
        prefix: args.prefix,
        region: args.region,
        endpoint: args.endpoint,
    };
    let text = match scaffold::policy(&policy) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::InvalidConfig);
        }
    };
    let settings_exist = dir.join(SETTINGS_FILE).exists();
    if !settings_exist {
        eprintln!(
            "note: {} has no {SETTINGS_FILE} yet (no team would be told): `restore-drill init {}` writes one",
            dir.display(),
            dir.display()
        );
    }
    let file = dir.join(format!("{name}.yaml"));
    if !write_new(&file, &text, args.force)? {
        return Ok(ExitCode::InvalidConfig);
    }
    outln!("wrote {}", file.display());
    let vars = scaffold::credential_vars(&policy);
    if !vars.is_empty() {
        outln!("its credentials are read from the environment when the storage is used; set:");
        let width = vars.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        for (field, var) in &vars {
            outln!("  {var:width$}  (storage.{field})");
        }
        outln!(
            "(under systemd, in an EnvironmentFile= readable by the service only; or change them to ${{file:PATH}})"
        );
    }
    outln!(
        "next: restore-drill check --connect --config-dir {}",
        dir.display()
    );
    // The client must have a team to tell, or `check` says so: say it now.
    if settings_exist
        && let Ok(config) = config::load(&dir)
        && !config
            .settings
            .teams
            .iter()
            .any(|t| matches!(&t.scope, config::TeamScope::Client(c) if *c == args.client))
    {
        eprintln!(
            "note: no team in {} is told about client `{}` but the MSP's; add a team with `client: {}` for its internal IT",
            dir.join(SETTINGS_FILE).display(),
            args.client,
            args.client
        );
    }
    Ok(ExitCode::Success)
}

/// `/etc/restore-drill` as root, else the user's configuration folder.
fn default_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from(locate::SYSTEM_DIR);
    }
    locate::user_dir().unwrap_or_else(|| PathBuf::from("restore-drill"))
}

/// ` DIR` when the folder was given (the next command needs it too).
fn dir_flag(dir: &Path, given: bool) -> String {
    if given {
        format!(" {}", dir.display())
    } else {
        String::new()
    }
}

/// Writes `text` to `file` (its folder created, mode 0700) unless it exists and `force` is
/// off; false (with the reason printed) when it was not written.
fn write_new(file: &Path, text: &str, force: bool) -> anyhow::Result<bool> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut out = match options.open(file) {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "error: {} exists; not overwritten (--force replaces it)",
                file.display()
            );
            return Ok(false);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", file.display())),
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(true)
}
