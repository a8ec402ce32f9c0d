//! Signing reports and run records with the configured ed25519 key, and
//! `restore-drill report verify FILE`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ed25519_dalek::SigningKey;

use super::ConfigDir;
use restore_drill::config::{self, Settings};
use restore_drill::exit::ExitCode;
use restore_drill::history::History;
use restore_drill::signing;

/// The configured signing key, read from its reference now.
pub(super) fn signing_key(settings: &Settings) -> anyhow::Result<Option<SigningKey>> {
    Ok(signing::configured_key(settings.signing_key.as_ref())?)
}

/// Appends a signature trailer when a key is configured.
pub(super) fn sign_report(settings: &Settings, text: &str, csv: bool) -> anyhow::Result<String> {
    Ok(match signing_key(settings)? {
        Some(key) => signing::sign_text(&key, text, csv),
        None => text.to_string(),
    })
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// The report to check.
    file: PathBuf,
    /// The signer's public key (64 hex digits); default: the configured signing key's.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

/// The first run of 64 hex digits after "chain head" in a report (CSV: in the first row),
/// with the head's position (`#N` before it) when the report names it.
fn chain_head(content: &str) -> Option<(Option<u64>, &str)> {
    const MARK: &str = "chain head";
    let at = content.find(MARK).or_else(|| content.find("chain_head"))? + MARK.len();
    let hash = first_hash(content, at)?;
    let between = content.get(at..content.find(hash)?).unwrap_or("");
    let records = between.rsplit_once('#').and_then(|(_, n)| {
        n.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()
    });
    Some((records, hash))
}

/// The first run of exactly 64 hex digits in `content` from byte `at`.
fn first_hash(content: &str, at: usize) -> Option<&str> {
    let bytes = content.as_bytes();
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    let mut start = at;
    while start + 64 <= bytes.len() {
        let run = bytes[start..].iter().take_while(|b| hex(**b)).count();
        if run == 64 {
            return content.get(start..start + 64);
        }
        start += run.max(1);
    }
    None
}

/// The largest report `report verify` reads; a quarter's report is a few MiB.
const MAX_REPORT_BYTES: u64 = 256 << 20;

pub(super) fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let bytes = restore_drill::fsx::read_regular(&args.file, MAX_REPORT_BYTES)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let text = String::from_utf8(bytes).with_context(|| {
        format!(
            "{} is not a restore-drill report: not UTF-8 text",
            args.file.display()
        )
    })?;
    let failed = |why: String| {
        outln!("FAILED: {}: {why}", args.file.display());
        Ok(ExitCode::VerificationFailed)
    };
    let Some((content, public, signature)) = signing::split_signed(&text) else {
        return failed("it carries no restore-drill signature".into());
    };
    let config = config::load(&args.config.dir()).ok();
    let expected = match (&args.public_key, &config) {
        (Some(hex), _) => Some(hex.to_ascii_lowercase()),
        (None, Some(config)) => signing_key(&config.settings)?.map(|k| signing::public_hex(&k)),
        (None, None) => None,
    };
    let Some(expected) = expected else {
        eprintln!("error: no key to check against: pass --public-key HEX or configure signing.key");
        return Ok(ExitCode::InvalidConfig);
    };
    if public != expected {
        return failed(format!("it was signed by another key ({public})"));
    }
    if let Err(why) = signing::verify(&public, content.as_bytes(), &signature) {
        return failed(why.to_string());
    }
    let head = chain_head(content);
    let history = config
        .as_ref()
        .and_then(|c| History::open_to_verify(&c.settings.state_dir).ok());
    match (head, history) {
        (Some((records, head)), Some(history)) => {
            // A head with its position is held against the chain as `history verify
            // --against` holds it: still there, at that position, and not cut off.
            let given: Vec<_> = records
                .map(|records| {
                    let mut held = restore_drill::history::parse_head(&format!("{records}:{head}"))
                        .expect("a position and 64 hex digits");
                    held.run_id = "named by the report".into();
                    (format!("report {}", args.file.display()), held)
                })
                .into_iter()
                .collect();
            let verification = history.verify_against(Some(&expected), &given)?;
            if !history.has_record(head)? {
                let why = verification
                    .failure()
                    .map_or_else(String::new, |w| format!(" ({w})"));
                return failed(format!(
                    "its chain head {head} is not a record of the history {}{why}",
                    history.path().display()
                ));
            }
            // The head is only evidence when the history around it verifies.
            if let Some(why) = verification.failure() {
                return failed(format!(
                    "its chain head {head} is in the history {}, but the history does not verify: {why}",
                    history.path().display()
                ));
            }
            outln!(
                "ok: signed by {public}; chain head {head} is in {}",
                history.path().display()
            );
        }
        (Some((_, head)), None) => outln!(
            "ok: signed by {public}; chain head {head} (no history here to check it against)"
        ),
        (None, _) => outln!("ok: signed by {public}; the report names no chain head"),
    }
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_heads_are_found_in_every_format() {
        let h = "ab".repeat(32);
        assert_eq!(
            chain_head(&format!("History chain head `{h}`.")),
            Some((None, h.as_str()))
        );
        assert_eq!(
            chain_head(&format!("History chain head <code>#12 {h}</code>.")),
            Some((Some(12), h.as_str()))
        );
        assert_eq!(
            chain_head(&format!("client,period,chain head\nacme,q4,#3 {h}\n")),
            Some((Some(3), h.as_str()))
        );
        assert_eq!(chain_head("chain head `(no history)`"), None);
    }
}
