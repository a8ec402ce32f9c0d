//! ed25519 signatures over run records and reports, so a record or a report edited after the
//! fact is caught. The key is a 32-byte seed written as 64 hex digits and given by reference
//! (`signing.key: ${file:/etc/restore-drill/signing.key}`); it is read when used and never
//! printed. A report is signed twice over: a detached signature in minisign's format
//! beside it ([`minisign`], every format, checked with the standard `minisign` tool), and
//! for HTML and Markdown one trailer line inside it naming the public key and signature.
//! [`generate`] and [`write_secret_key`] make a new key for `restore-drill keygen`.

pub mod minisign;

use std::io::Write as _;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::secret::{ConfigValue, SecretError};

/// The marker that starts a report's signature trailer.
pub const TRAILER: &str = "restore-drill-signature ed25519";

pub fn parse_key(hex_seed: &str) -> Option<SigningKey> {
    let bytes = hex::decode(hex_seed.trim()).ok()?;
    let seed: [u8; 32] = bytes.try_into().ok()?;
    Some(SigningKey::from_bytes(&seed))
}

pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    hex::encode(key.sign(message).to_bytes())
}

/// A new key from the operating system's random source.
pub fn generate() -> std::io::Result<SigningKey> {
    let mut seed = [0u8; 32];
    let mut filled = 0;
    while filled < seed.len() {
        filled +=
            rustix::rand::getrandom(&mut seed[filled..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `key`'s seed as 64 hex digits and a newline (what `signing.key: ${file:PATH}`
/// reads), readable by its owner alone (0600). An existing file is never replaced: a key
/// overwritten is every signature made with it unverifiable.
pub fn write_secret_key(path: &Path, key: &SigningKey) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{}\n", hex::encode(key.to_bytes())).as_bytes())?;
    file.sync_all()
}

/// Why a signature does not verify: a damaged trailer (the first three), or content changed
/// after it was signed ([`SignatureError::Mismatch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not 64 hex digits")]
    PublicKeyNotHex,
    #[error("the public key is not a valid ed25519 key")]
    PublicKeyInvalid,
    #[error("the signature is not 128 hex digits")]
    SignatureNotHex,
    #[error("the signature does not match the content: it was changed after it was signed")]
    Mismatch,
}

/// Checks a hex signature by a hex public key.
pub fn verify(public_hex: &str, message: &[u8], signature_hex: &str) -> Result<(), SignatureError> {
    let public: [u8; 32] = hex::decode(public_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::PublicKeyNotHex)?;
    let public = VerifyingKey::from_bytes(&public).map_err(|_| SignatureError::PublicKeyInvalid)?;
    let signature: [u8; 64] = hex::decode(signature_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::SignatureNotHex)?;
    public
        .verify(message, &Signature::from_bytes(&signature))
        .map_err(|_| SignatureError::Mismatch)
}

/// Appends the trailer line: `<!-- … -->` for HTML and Markdown, `# …` for CSV.
/// The trailer goes on a line of its own: a text that does not end its last line (a run's
/// HTML page) gets a newline first, and it is signed with it.
pub fn sign_text(key: &SigningKey, text: &str, csv: bool) -> String {
    let ended;
    let text = if text.is_empty() || text.ends_with('\n') {
        text
    } else {
        ended = format!("{text}\n");
        &ended
    };
    let signature = sign(key, text.as_bytes());
    let public = public_hex(key);
    if csv {
        format!("{text}# {TRAILER} {public} {signature}\n")
    } else {
        format!("{text}<!-- {TRAILER} {public} {signature} -->\n")
    }
}

/// Splits a signed text into (content, public key, signature).
pub fn split_signed(text: &str) -> Option<(&str, String, String)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let start = body.rfind('\n').map_or(0, |i| i + 1);
    let (content, last) = text.split_at(start);
    let last = last.trim_end();
    let inner = last
        .strip_prefix("<!-- ")
        .and_then(|l| l.strip_suffix(" -->"))
        .or_else(|| last.strip_prefix("# "))?;
    let rest = inner.strip_prefix(TRAILER)?.trim();
    let (public, signature) = rest.split_once(' ')?;
    Some((content, public.to_string(), signature.to_string()))
}

/// Why the configured signing key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing.key")]
    Read(#[source] SecretError),
    #[error("signing.key is not 64 hex digits")]
    Malformed,
}

/// The key of the settings' `signing.key` (`settings.signing_key.as_ref()`), read from its
/// reference now; `None` when no key is configured. It takes the reference, not the
/// settings: the settings check the key with [`parse_key`], and signing must not import them
/// back.
pub fn configured_key(reference: Option<&ConfigValue>) -> Result<Option<SigningKey>, KeyError> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    if let ConfigValue::File(path) = reference {
        warn_if_readable_by_others(path);
    }
    let value = reference.resolve().map_err(KeyError::Read)?;
    parse_key(&value).map(Some).ok_or(KeyError::Malformed)
}

/// A key file its group or others can read is warned about, as ssh does: anyone who can
/// read it can sign forged records.
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::MetadataExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:04o}", meta.mode() & 0o7777),
            "the signing key file is readable or writable by others: anyone who can read it can sign forged records; `chmod 600` it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        parse_key(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn a_text_without_a_last_newline_is_signed_on_a_line_of_its_own() {
        let signed = sign_text(&key(), "<html></html>", false);
        let (content, public, signature) = split_signed(&signed).expect("a trailer");
        assert_eq!(content, "<html></html>\n");
        assert_eq!(verify(&public, content.as_bytes(), &signature), Ok(()));
    }

    #[test]
    fn signed_text_verifies_and_a_changed_one_does_not() {
        for csv in [false, true] {
            let signed = sign_text(&key(), "a,b\n1,2\n", csv);
            let (content, public, signature) = split_signed(&signed).unwrap();
            assert_eq!(content, "a,b\n1,2\n");
            assert_eq!(public, public_hex(&key()));
            assert_eq!(verify(&public, content.as_bytes(), &signature), Ok(()));
            assert_eq!(
                verify(&public, b"a,b\n1,3\n", &signature),
                Err(SignatureError::Mismatch)
            );
        }
    }

    /// A damaged trailer is told apart from changed content.
    #[test]
    fn a_damaged_trailer_is_not_a_mismatch() {
        let public = public_hex(&key());
        let signature = sign(&key(), b"x");
        assert_eq!(
            verify("zz", b"x", &signature),
            Err(SignatureError::PublicKeyNotHex)
        );
        assert_eq!(
            verify(&public, b"x", &signature[..126]),
            Err(SignatureError::SignatureNotHex)
        );
    }

    #[test]
    fn a_written_key_reads_back_is_private_and_is_not_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = generate().unwrap();
        assert_ne!(key.to_bytes(), generate().unwrap().to_bytes());
        write_secret_key(&path, &key).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(parse_key(&text).unwrap().to_bytes(), key.to_bytes());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = write_secret_key(&path, &generate().unwrap()).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(parse_key("zz").is_none());
        assert!(parse_key(&"11".repeat(31)).is_none());
        assert!(split_signed("no trailer\n").is_none());
    }
}
