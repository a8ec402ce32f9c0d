//! Resolving every secret reference of a loaded configuration at once, for `check`. Loading
//! only checks a reference's form: a command resolves the references of the storage, mail
//! server or heartbeat it is about to use, where it uses them, so `history`, `report` or
//! `mail flush` need no storage credentials. `check` is where a missing variable or
//! unreadable file is found ahead of the night, pointing at the file and line
//! ([`super::load_checked`]).

use std::path::Path;

use super::mail::Transport;
use super::{ConfigError, Policy, SETTINGS_FILE, Settings, locate};
use crate::secret::ConfigValue;

/// Every reference of a policy's storage that cannot be resolved now (a variable not set,
/// a file not readable).
pub(super) fn policy_secrets(policy: &Policy) -> Vec<ConfigError> {
    let text = std::fs::read_to_string(&policy.file).unwrap_or_default();
    policy
        .storage
        .options
        .iter()
        .filter_map(|(key, value)| {
            unresolved(&policy.file, &text, &format!("storage.{key}"), value)
        })
        .chain(
            policy
                .restic
                .as_ref()
                .and_then(|r| unresolved(&policy.file, &text, "restic.password", &r.password)),
        )
        .collect()
}

/// The same for the settings' mail login, and a heartbeat URL that does not resolve to
/// http:// or https://.
pub(super) fn settings_secrets(dir: &Path, settings: &Settings) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let file = dir.join(SETTINGS_FILE);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if let Transport::Smtp(smtp) = &settings.mail.transport {
        for (field, value) in [
            ("mail.username", &smtp.username),
            ("mail.password", &smtp.password),
        ] {
            if let Some(value) = value {
                errors.extend(unresolved(&file, &text, field, value));
            }
        }
    }
    if let Some(heartbeat) = &settings.heartbeat {
        let error = |message: String| error(&file, &text, "heartbeat.url", message);
        match heartbeat.url.resolve() {
            Ok(url) => errors.extend(
                super::settings::check_heartbeat_url(&url)
                    .err()
                    .map(|m| error(format!("{m} (the value of {:?})", heartbeat.url))),
            ),
            Err(e) => errors.push(error(e.to_string())),
        }
    }
    errors
}

fn unresolved(file: &Path, text: &str, field: &str, value: &ConfigValue) -> Option<ConfigError> {
    value
        .check()
        .err()
        .map(|e| error(file, text, field, e.to_string()))
}

fn error(file: &Path, text: &str, field: &str, message: String) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line: locate(text, field),
        column: 1,
        field: field.to_string(),
        message,
    }
}
