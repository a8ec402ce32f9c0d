//! Signing reports and run records with the configured ed25519 key: the trailer line of an
//! HTML or Markdown report and the detached `FILE.minisig` beside every report
//! (`restore-drill report verify FILE` is in `verify`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use ed25519_dalek::SigningKey;

use restore_drill::config::Settings;
use restore_drill::signing::{self, minisign};

/// The configured signing key, read from its reference now.
pub(super) fn signing_key(settings: &Settings) -> anyhow::Result<Option<SigningKey>> {
    Ok(signing::configured_key(settings.signing_key.as_ref())?)
}

/// Appends a signature trailer when a key is configured.
pub(super) fn sign_report(settings: &Settings, text: &str) -> anyhow::Result<String> {
    Ok(match signing_key(settings)? {
        Some(key) => signing::sign_text(&key, text, false),
        None => text.to_string(),
    })
}

/// `FILE.minisig`: where the detached signature of `file` goes.
pub(super) fn detached_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(minisign::EXTENSION);
    PathBuf::from(name)
}

/// What a report's trusted comment says besides its file's name.
pub(super) struct Signed<'a> {
    pub client: &'a str,
    pub period: &'a str,
    /// The chain head as the report names it (`#N hash`).
    pub head: Option<&'a str>,
}

/// Writes `FILE.minisig` for the report just written at `output` (its `bytes`) when a key
/// is configured, and returns its key id; without a key, removes a `FILE.minisig` left from
/// an earlier report there, which would no longer match.
pub(super) fn write_detached(
    settings: &Settings,
    output: &Path,
    bytes: &[u8],
    report: &Signed<'_>,
) -> anyhow::Result<Option<String>> {
    let path = detached_path(output);
    let Some(key) = signing_key(settings)? else {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e)
                    .with_context(|| format!("cannot remove the stale {}", path.display()));
            }
            _ => {}
        }
        return Ok(None);
    };
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let head = report.head.and_then(|h| {
        let held = restore_drill::history::parse_head(h)?;
        Some((held.records, held.hash))
    });
    let comment = minisign::report_comment(
        &name,
        report.client,
        report.period,
        head.as_ref().map(|(n, h)| (*n, h.as_str())),
    );
    let id = minisign::key_id_text(minisign::key_id(&key.verifying_key()));
    let untrusted = format!("signature of {name} by restore-drill key {id}");
    let text = minisign::sign(&key, bytes, &comment, &untrusted);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(id))
}
