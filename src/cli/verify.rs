//! `restore-drill report verify FILE`: the report's detached signature (`FILE.minisig`,
//! every format, PDF included) or, for an HTML or Markdown report without one, its trailer
//! line; then that the chain head it names is a record of this history and that the
//! history verifies. It only checks and prints; the formats are the library's.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ed25519_dalek::VerifyingKey;

use super::ConfigDir;
use super::signing::{detached_path, signing_key};
use restore_drill::config::{self, Config};
use restore_drill::exit::ExitCode;
use restore_drill::history::History;
use restore_drill::signing::{self, minisign};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    config: ConfigDir,
    /// The report to check; its detached signature is FILE.minisig beside it.
    file: PathBuf,
    /// The signer's public key: a minisign .pub file (`restore-drill keygen` writes it), or
    /// 64 hex digits; default: the configured signing key's.
    #[arg(long, value_name = "FILE.pub")]
    public_key: Option<String>,
}

/// The largest report `report verify` reads; a quarter's report is a few MiB.
const MAX_REPORT_BYTES: u64 = 256 << 20;
/// The largest `.minisig` read: four short lines.
const MAX_SIGNATURE_BYTES: u64 = 64 << 10;

/// What a good signature says: who signed, and the chain head named (position when known).
struct Signer {
    label: String,
    head: Option<(Option<u64>, String)>,
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

/// The key to check against: `--public-key` (a .pub file or hex), else the configured one.
fn expected_key(
    given: Option<&str>,
    config: Option<&Config>,
) -> anyhow::Result<Option<VerifyingKey>> {
    if let Some(given) = given {
        if given.len() == 64 && given.bytes().all(|b| b.is_ascii_hexdigit()) {
            let bytes: [u8; 32] = hex::decode(given)?.try_into().expect("32 bytes");
            return Ok(Some(VerifyingKey::from_bytes(&bytes).map_err(|_| {
                anyhow::anyhow!("--public-key {given}: not a valid ed25519 public key")
            })?));
        }
        let text = restore_drill::fsx::read_regular(Path::new(given), MAX_SIGNATURE_BYTES)
            .with_context(|| format!("--public-key {given}: cannot read it"))?;
        let public = minisign::PublicKey::parse(&String::from_utf8_lossy(&text))
            .map_err(|why| anyhow::anyhow!("--public-key {given}: {why}"))?;
        return Ok(Some(public.key));
    }
    match config {
        Some(config) => Ok(signing_key(&config.settings)?.map(|k| k.verifying_key())),
        None => Ok(None),
    }
}

pub(super) fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.display().to_string();
    let bytes = restore_drill::fsx::read_regular(&args.file, MAX_REPORT_BYTES)
        .with_context(|| format!("cannot read {file}"))?;
    let failed = |why: String| {
        outln!("FAILED: {file}: {why}");
        Ok(ExitCode::VerificationFailed)
    };
    let config = config::load(&args.config.dir()).ok();
    let Some(expected) = expected_key(args.public_key.as_deref(), config.as_ref())? else {
        eprintln!(
            "error: no key to check against: pass --public-key restore-drill.pub (the signer's published key) or configure signing.key"
        );
        return Ok(ExitCode::InvalidConfig);
    };
    let sig_path = detached_path(&args.file);
    let signer = match restore_drill::fsx::read_regular(&sig_path, MAX_SIGNATURE_BYTES) {
        Ok(signature) => detached(&expected, &bytes, &signature, &sig_path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => trailer(&expected, &bytes, &sig_path),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", sig_path.display()));
        }
    };
    let signer = match signer {
        Ok(signer) => signer,
        Err(why) => return failed(why),
    };
    check_head(&file, &expected, &signer, config.as_ref())
}

/// Checks `FILE.minisig`; the error says what failed and what to do.
fn detached(
    expected: &VerifyingKey,
    bytes: &[u8],
    signature: &[u8],
    sig_path: &Path,
) -> Result<Signer, String> {
    let sig = sig_path.display();
    let public = minisign::PublicKey::of(expected);
    let signature = String::from_utf8_lossy(signature);
    let comment = minisign::verify(&public, bytes, &signature).map_err(|why| match why {
        minisign::MinisignError::OtherKey { .. } => format!(
            "{sig}: {why}: check it with the signer's public key (--public-key THEIR.pub)"
        ),
        minisign::MinisignError::ContentChanged => format!(
            "{why} (checked with {sig}): it is not the report that was signed; get the original from its sender"
        ),
        _ => format!("{sig}: {why}"),
    })?;
    let head = minisign::report_head(&comment).map(|(n, hash)| (Some(n), hash));
    let id = minisign::key_id_text(public.id);
    Ok(Signer {
        label: format!("signed by key {id} ({}: {comment})", sig),
        head,
    })
}

/// Checks the trailer line of an HTML or Markdown report that has no `FILE.minisig`.
fn trailer(expected: &VerifyingKey, bytes: &[u8], sig_path: &Path) -> Result<Signer, String> {
    let missing = || {
        format!(
            "{} is missing: a report is signed when it is written with signing.key configured; get the .minisig from the report's sender, or write the report again",
            sig_path.display()
        )
    };
    let text = std::str::from_utf8(bytes).map_err(|_| missing())?;
    let (content, public, signature) = signing::split_signed(text).ok_or_else(missing)?;
    let expected = hex::encode(expected.to_bytes());
    if public != expected {
        return Err(format!(
            "it was signed by another key ({public}), not {expected}: check it with the signer's public key (--public-key)"
        ));
    }
    signing::verify(&public, content.as_bytes(), &signature).map_err(|why| why.to_string())?;
    Ok(Signer {
        label: format!("signed by {public} (its trailer line)"),
        head: chain_head(content).map(|(n, h)| (n, h.to_string())),
    })
}

/// The chain head the signature names is a record of this history, and the history
/// verifies.
fn check_head(
    file: &str,
    expected: &VerifyingKey,
    signer: &Signer,
    config: Option<&Config>,
) -> anyhow::Result<ExitCode> {
    let label = &signer.label;
    let history = config.and_then(|c| History::open_to_verify(&c.settings.state_dir).ok());
    let (Some((records, head)), Some(history)) = (&signer.head, history) else {
        match &signer.head {
            Some((records, head)) => outln!(
                "ok: {file}: {label}; chain head {}{head} (no history here to check it against)",
                records.map_or_else(String::new, |n| format!("#{n} "))
            ),
            None => outln!("ok: {file}: {label}; the report names no chain head"),
        }
        return Ok(ExitCode::Success);
    };
    let failed = |why: String| {
        outln!("FAILED: {file}: {why}");
        Ok(ExitCode::VerificationFailed)
    };
    // A head with its position is held against the chain as `history verify --against`
    // holds it: still there, at that position, and not cut off.
    let given: Vec<_> = records
        .map(|records| {
            let mut held = restore_drill::history::parse_head(&format!("{records}:{head}"))
                .expect("a position and 64 hex digits");
            held.run_id = "named by the report".into();
            (format!("report {file}"), held)
        })
        .into_iter()
        .collect();
    let public = hex::encode(expected.to_bytes());
    let verification = history.verify_against(Some(&public), &given)?;
    let shown = format!(
        "{}{head}",
        records.map_or_else(String::new, |n| format!("#{n} "))
    );
    if !history.has_record(head)? {
        let why = verification
            .failure()
            .map_or_else(String::new, |w| format!(" ({w})"));
        return failed(format!(
            "its chain head {shown} is not a record of the history {}{why}: it was made from another history, or this one lost records",
            history.path().display()
        ));
    }
    // The head is only evidence when the history around it verifies.
    if let Some(why) = verification.failure() {
        return failed(format!(
            "its chain head {shown} is in the history {}, but the history does not verify: {why}",
            history.path().display()
        ));
    }
    outln!(
        "ok: {file}: {label}; chain head {shown} is in {}",
        history.path().display()
    );
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
