//! `restore-drill check`: validates settings and every policy, reporting every error at
//! once. Exit 0 when valid, 2 otherwise.

use clap::Args;

use super::ConfigDir;
use crate::config;
use crate::exit::ExitCode;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    config: ConfigDir,
}

pub fn execute(args: CheckArgs) -> anyhow::Result<ExitCode> {
    match config::load(&args.config.dir) {
        Ok(config) => {
            println!(
                "ok: {} and {} polic{} valid",
                config.dir.join(config::SETTINGS_FILE).display(),
                config.policies.len(),
                if config.policies.len() == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
            for policy in &config.policies {
                println!(
                    "  {} ({}): {}",
                    policy.name,
                    policy.client,
                    policy.file.display()
                );
            }
            Ok(ExitCode::Success)
        }
        Err(errors) => Ok(super::config_failed(&errors)),
    }
}
