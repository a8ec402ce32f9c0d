//! `restore-drill check`: validates settings and every policy and resolves every secret
//! reference, reporting every error at once. Exit 0 when valid, 2 otherwise; 4 when the
//! scratch folder is one the run would refuse (another user's, or writable by others).

use clap::Args;

use super::ConfigDir;
use restore_drill::config;
use restore_drill::exit::ExitCode;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// Also prove every policy's storage answers with its credentials (lists one key), and
    /// that the SMTP server accepts the connection and login; restores nothing.
    #[arg(long)]
    connect: bool,
}

pub fn execute(args: CheckArgs) -> anyhow::Result<ExitCode> {
    // Other commands resolve a secret only where they use it; check resolves them all.
    match config::load_checked(&args.config.dir()) {
        Ok(config) => {
            outln!("configuration folder: {}", args.config.located());
            let settings_file = config.dir.join(config::SETTINGS_FILE);
            let settings = if settings_file.exists() {
                settings_file.display().to_string()
            } else {
                outln!(
                    "note: there is no {} here: built-in settings apply, with no team (no mail is sent) and state in {}; `restore-drill init {}` writes one",
                    config::SETTINGS_FILE,
                    config.settings.state_dir.display(),
                    config.dir.display()
                );
                "the built-in settings".to_string()
            };
            outln!(
                "ok: {settings} and {} polic{} valid",
                config.policies.len(),
                if config.policies.len() == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
            for policy in &config.policies {
                outln!(
                    "  {} ({}): {}",
                    policy.name,
                    policy.client,
                    policy.file.display()
                );
            }
            // A local folder is cheap to look at: one that is not there (yet, or a mount that
            // is down) fails the run's policy; `--connect` tests it as unreachable (exit 7).
            if !args.connect {
                for policy in &config.policies {
                    if let Some(root) = policy.storage.missing_fs_root() {
                        outln!(
                            "warning: {} ({}): storage.root `{root}` is not a folder now: a run fails this policy with storage_error; `check --connect` tests every storage",
                            policy.name,
                            policy.file.display()
                        );
                    }
                }
            }
            coverage_warnings(&config);
            // The run refuses a scratch folder other users could write in; say so now.
            if let Err(e) =
                restore_drill::unattended::private_scratch(&config.settings.scratch_dir, false)
            {
                outln!("scratch: {e}");
                return Ok(ExitCode::RunError);
            }
            if args.connect {
                return connect(&config);
            }
            Ok(ExitCode::Success)
        }
        Err(errors) => Ok(super::config_failed(&errors)),
    }
}

/// Policies with `sample.coverage` whose budget cannot reach it: the rotation their last
/// run projected is longer than the target (or the budget leaves nothing beyond the newest
/// set). Before a policy's first run there is no projection, and check says so.
fn coverage_warnings(config: &config::Config) {
    let state = &config.settings.state_dir;
    if config.policies.iter().all(|p| p.sample.coverage.is_none()) {
        return;
    }
    let history = if state.join(restore_drill::history::DATABASE).exists() {
        match restore_drill::history::History::open(state) {
            Ok(history) => Some(history),
            Err(e) => {
                outln!(
                    "note: cannot read the history ({e}): coverage projections were not checked"
                );
                return;
            }
        }
    } else {
        None
    };
    let days = restore_drill::config::units::format_days;
    for policy in &config.policies {
        let Some(target) = policy.sample.coverage else {
            continue;
        };
        let now = restore_drill::run::now();
        let last = match history
            .as_ref()
            .map(|h| h.ledger_summary(&policy.name, target, now))
        {
            Some(Ok(summary)) => summary.last_run,
            Some(Err(e)) => {
                outln!(
                    "note: cannot read the history ({e}): coverage projections were not checked"
                );
                return;
            }
            None => None,
        };
        let target_days = target.as_secs_f64() / 86_400.0;
        let name = format!("{} ({})", policy.name, policy.file.display());
        match last.map(|c| c.projected_rotation_days) {
            None => outln!(
                "note: {name}: sample.coverage {} is set; its rotation is projected from its first run",
                days(target_days)
            ),
            Some(None) => outln!(
                "warning: {name}: sample.max_bytes leaves nothing beyond the newest set: no object is rotated through, and sample.coverage {} cannot be met; raise sample.max_bytes",
                days(target_days)
            ),
            Some(Some(rotation)) if rotation > target_days => outln!(
                "warning: {name}: at its budget a full rotation takes {}, longer than sample.coverage {}: raise sample.max_bytes or run it more often",
                days(rotation),
                days(target_days)
            ),
            Some(Some(_)) => {}
        }
    }
}

fn connect(config: &config::Config) -> anyhow::Result<ExitCode> {
    let runtime = restore_drill::runtime::build(restore_drill::runtime::Threads::Many)?;
    let mut failed = 0;
    for policy in &config.policies {
        #[cfg(feature = "restic")]
        if let Some(restic) = &policy.restic {
            if !connect_restic(&runtime, config, policy, restic) {
                failed += 1;
            }
            continue;
        }
        let result = runtime.block_on(async {
            let op = restore_drill::storage::operator(
                &policy.storage,
                &policy.file,
                &config.settings.storage,
            )?;
            restore_drill::storage::probe(&op, &policy.backups.prefix).await
        });
        match result {
            Ok(Some(key)) => outln!("connect {}: ok, storage answers (found {key})", policy.name),
            Ok(None) => outln!(
                "connect {}: ok, storage answers, but `{}` holds no objects",
                policy.name,
                policy.backups.prefix
            ),
            Err(e) => {
                failed += 1;
                outln!("connect {}: FAILED: {e}", policy.name);
            }
        }
    }
    if matches!(
        config.settings.mail.transport,
        restore_drill::config::mail::Transport::Smtp(_)
    ) {
        let mailer =
            restore_drill::notify::Mailer::new(&config.settings.mail, &config.settings.state_dir);
        match runtime.block_on(mailer.test_connection()) {
            Ok(()) => {
                outln!("connect mail: ok, the SMTP server accepts the connection and login")
            }
            Err(e) => {
                failed += 1;
                outln!("connect mail: FAILED: {e}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Unreachable
    })
}

/// Opens a restic policy's repository and lists its snapshots; says what it found.
#[cfg(feature = "restic")]
fn connect_restic(
    runtime: &tokio::runtime::Runtime,
    config: &config::Config,
    policy: &config::Policy,
    restic: &config::Restic,
) -> bool {
    let built = {
        let _entered = runtime.enter();
        restore_drill::storage::operator(&policy.storage, &policy.file, &config.settings.storage)
    };
    let op = match built {
        Ok(op) => op.confined_to(&policy.backups.prefix),
        Err(e) => {
            outln!("connect {}: FAILED: {e}", policy.name);
            return false;
        }
    };
    let (restic, prefix, handle) = (
        restic.clone(),
        policy.backups.prefix.clone(),
        runtime.handle().clone(),
    );
    let connected = runtime.block_on(
        runtime
            .spawn_blocking(move || restore_drill::restic::connect(&restic, op, &prefix, handle)),
    );
    match connected {
        Ok(Ok(c)) => {
            let newest = c.newest.map_or_else(
                || "none matches the policy's restic: filter".to_string(),
                |(id, time)| {
                    format!(
                        "the newest matching is {id} of {}",
                        time.strftime("%Y-%m-%d %H:%M UTC")
                    )
                },
            );
            outln!(
                "connect {}: ok, the restic repository opens with its password: {} snapshots, {} matching; {newest}",
                policy.name,
                c.snapshots,
                c.matching
            );
            true
        }
        Ok(Err(finding)) => {
            outln!(
                "connect {}: FAILED: {}: {}",
                policy.name,
                finding.kind,
                finding.message
            );
            false
        }
        Err(e) => {
            outln!("connect {}: FAILED: {e}", policy.name);
            false
        }
    }
}
