//! Detached signatures and public keys in minisign's format, made with the same ed25519 key
//! that signs the history, so an auditor checks a report with the standard
//! `minisign -Vm FILE -p restore-drill.pub` and no restore-drill. It exists to keep the
//! format (a few lines over ed25519-dalek and BLAKE2b) in one place; it must not read files
//! or know what a report is beyond the trusted comment's words.
//!
//! The format, as minisign 0.10+ writes it by default (`ED`, pre-hashed):
//!
//! ```text
//! untrusted comment: <free text>
//! base64("ED" ‖ key id (8 bytes) ‖ ed25519(BLAKE2b-512(file)))
//! trusted comment: <text>
//! base64(ed25519(that 64-byte signature ‖ trusted comment))
//! ```
//!
//! and the public key `untrusted comment: …` then `base64("Ed" ‖ key id ‖ public key)`.
//! The key id is not random, as minisign's own keys' are: it is the first 8 bytes of
//! BLAKE2b-512 of the 32-byte public key, so one seed always gives the same `.pub` file.
//! minisign prints it as those 8 bytes read as a little-endian number, in 16 upper-case hex
//! digits ([`key_id_text`]). Signing is deterministic (ed25519), so the same report bytes
//! and comment give the same `.minisig`. Checking uses the `minisign-verify` crate, a
//! separate implementation from the signer here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blake2::{Blake2b512, Digest as _};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// What a detached signature file's name adds to the signed file's: `q.pdf.minisig`.
pub const EXTENSION: &str = "minisig";

/// The key id minisign shows for `key`: the first 8 bytes of BLAKE2b-512 of the public key.
pub fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let hash = Blake2b512::digest(key.to_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&hash[..8]);
    id
}

/// A key id as minisign prints it (`minisign -V` says "key ID 0123456789ABCDEF").
pub fn key_id_text(id: [u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(id))
}

/// The public key file (`restore-drill.pub`) for `key`, as `minisign -p` reads it.
pub fn public_key_file(key: &VerifyingKey) -> String {
    let id = key_id(key);
    let mut bin = Vec::with_capacity(42);
    bin.extend_from_slice(b"Ed");
    bin.extend_from_slice(&id);
    bin.extend_from_slice(&key.to_bytes());
    format!(
        "untrusted comment: minisign public key {}\n{}\n",
        key_id_text(id),
        STANDARD.encode(bin)
    )
}

/// A comment line must stay one line: line breaks and other control characters become
/// spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The detached signature of `data` by `key`, with `trusted_comment` (signed) and
/// `untrusted_comment` (not signed), as the text of a `.minisig` file.
pub fn sign(
    key: &SigningKey,
    data: &[u8],
    trusted_comment: &str,
    untrusted_comment: &str,
) -> String {
    let trusted_comment = one_line(trusted_comment);
    let signature = key.sign(&Blake2b512::digest(data)).to_bytes();
    let mut first = Vec::with_capacity(74);
    first.extend_from_slice(b"ED");
    first.extend_from_slice(&key_id(&key.verifying_key()));
    first.extend_from_slice(&signature);
    let mut global = signature.to_vec();
    global.extend_from_slice(trusted_comment.as_bytes());
    let global = key.sign(&global).to_bytes();
    format!(
        "untrusted comment: {}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
        one_line(untrusted_comment),
        STANDARD.encode(first),
        STANDARD.encode(global)
    )
}

/// Why a detached signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinisignError {
    #[error(
        "it is not a minisign signature (four lines: comment, signature, trusted comment, signature)"
    )]
    SignatureMalformed,
    #[error("it is not a minisign public key (a comment line, then one line of base64)")]
    PublicKeyMalformed,
    #[error("it is a legacy minisign signature (not pre-hashed), which restore-drill never writes")]
    Legacy,
    #[error("it was made by the key with id {signed_by}, not by the key with id {expected}")]
    OtherKey { signed_by: String, expected: String },
    #[error(
        "the signed file was changed after it was signed: its bytes do not match the signature"
    )]
    ContentChanged,
    #[error("its trusted comment was changed after it was signed")]
    CommentChanged,
}

/// A public key as read from a `.pub` file or made from a key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub id: [u8; 8],
    pub key: VerifyingKey,
}

impl PublicKey {
    pub fn of(key: &VerifyingKey) -> PublicKey {
        PublicKey {
            id: key_id(key),
            key: *key,
        }
    }

    /// Reads a `.pub` file's text (or its base64 line alone).
    pub fn parse(text: &str) -> Result<PublicKey, MinisignError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or(MinisignError::PublicKeyMalformed)?;
        let bin = STANDARD
            .decode(line)
            .map_err(|_| MinisignError::PublicKeyMalformed)?;
        if bin.len() != 42 || &bin[..2] != b"Ed" {
            return Err(MinisignError::PublicKeyMalformed);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&bin[2..10]);
        let key: [u8; 32] = bin[10..].try_into().expect("32 bytes");
        let key = VerifyingKey::from_bytes(&key).map_err(|_| MinisignError::PublicKeyMalformed)?;
        Ok(PublicKey { id, key })
    }

    /// The key as the line of base64 that minisign's `-P` takes.
    fn base64(&self) -> String {
        let mut bin = Vec::with_capacity(42);
        bin.extend_from_slice(b"Ed");
        bin.extend_from_slice(&self.id);
        bin.extend_from_slice(&self.key.to_bytes());
        STANDARD.encode(bin)
    }
}

/// Checks a `.minisig` file's text against `data` and `public`; returns the trusted
/// comment. A failure says which part does not match: the key, the file or the comment.
pub fn verify(public: &PublicKey, data: &[u8], signature: &str) -> Result<String, MinisignError> {
    let parsed = minisign_verify::Signature::decode(signature)
        .map_err(|_| MinisignError::SignatureMalformed)?;
    let checker = minisign_verify::PublicKey::from_base64(&public.base64())
        .map_err(|_| MinisignError::PublicKeyMalformed)?;
    let (algorithm, signed_by, file_signature) = signature_parts(signature)?;
    if algorithm != *b"ED" {
        return Err(MinisignError::Legacy);
    }
    if signed_by != public.id {
        return Err(MinisignError::OtherKey {
            signed_by: key_id_text(signed_by),
            expected: key_id_text(public.id),
        });
    }
    match checker.verify(data, &parsed, false) {
        Ok(()) => Ok(parsed.trusted_comment().to_string()),
        Err(minisign_verify::Error::InvalidSignature) => {
            // Which half failed: the comment's signature covers the file's signature and
            // the comment, so when it holds, the file is what changed.
            let mut global = file_signature.to_vec();
            global.extend_from_slice(parsed.trusted_comment().as_bytes());
            let global_signature = global_signature(signature)?;
            match public.key.verify(&global, &global_signature) {
                Ok(()) => Err(MinisignError::ContentChanged),
                Err(_) => Err(MinisignError::CommentChanged),
            }
        }
        Err(_) => Err(MinisignError::SignatureMalformed),
    }
}

/// A signature's second line: algorithm, key id and the file's signature.
type Parts = ([u8; 2], [u8; 8], [u8; 64]);

/// The second line's algorithm, key id and file signature.
fn signature_parts(text: &str) -> Result<Parts, MinisignError> {
    let line = text
        .lines()
        .nth(1)
        .ok_or(MinisignError::SignatureMalformed)?;
    let bin = STANDARD
        .decode(line.trim())
        .map_err(|_| MinisignError::SignatureMalformed)?;
    if bin.len() != 74 {
        return Err(MinisignError::SignatureMalformed);
    }
    let algorithm = bin[..2].try_into().expect("2 bytes");
    let id = bin[2..10].try_into().expect("8 bytes");
    let signature = bin[10..].try_into().expect("64 bytes");
    Ok((algorithm, id, signature))
}

/// The fourth line: the signature over the file's signature and the trusted comment.
fn global_signature(text: &str) -> Result<Signature, MinisignError> {
    let line = text
        .lines()
        .nth(3)
        .ok_or(MinisignError::SignatureMalformed)?;
    let bin: [u8; 64] = STANDARD
        .decode(line.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(MinisignError::SignatureMalformed)?;
    Ok(Signature::from_bytes(&bin))
}

/// The first word of a report's trusted comment.
pub const REPORT_COMMENT: &str = "restore-drill report";

/// A report's trusted comment: what it is, the file's name, the client, the period and the
/// history's chain head (`#N:hash`, or `none`).
/// `restore-drill report file=q.pdf client="Acme Dental" period=2026-Q4 head=#42:…`.
pub fn report_comment(file: &str, client: &str, period: &str, head: Option<(u64, &str)>) -> String {
    let head = head.map_or_else(|| "none".to_string(), |(n, hash)| format!("#{n}:{hash}"));
    [
        REPORT_COMMENT.to_string(),
        field("file", file),
        field("client", client),
        field("period", period),
        field("head", &head),
    ]
    .join(" ")
}

/// The chain head a report's trusted comment names: its position and hash; `None` when it
/// is not a report's comment or names no head.
pub fn report_head(comment: &str) -> Option<(u64, String)> {
    let rest = comment.strip_prefix(REPORT_COMMENT)?;
    let (_, head) = fields(rest).into_iter().find(|(n, _)| n == "head")?;
    let (n, hash) = head.strip_prefix('#')?.split_once(':')?;
    let hash_ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    Some((n.parse().ok()?, hash.to_ascii_lowercase())).filter(|_| hash_ok)
}

/// `name=value`, the value quoted (`"…"`, with `\"` and `\\`) when it is empty or holds a
/// space, a quote, a backslash or `=`: the words of a trusted comment.
pub fn field(name: &str, value: &str) -> String {
    let value = one_line(value);
    if !value.is_empty() && !value.contains([' ', '"', '\\', '=']) {
        return format!("{name}={value}");
    }
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{name}=\"{escaped}\"")
}

/// The `name=value` words of a trusted comment written with [`field`], in order; words
/// without `=` are skipped.
pub fn fields(comment: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = comment.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ').is_some() {}
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != ' ' && *c != '=') {
            name.push(c);
        }
        if name.is_empty() && chars.peek().is_none() {
            return out;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ' ') {
                value.push(c);
            }
        }
        out.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        crate::signing::parse_key(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn a_signature_verifies_and_names_what_changed() {
        let public = PublicKey::of(&key().verifying_key());
        let signed = sign(
            &key(),
            b"report bytes",
            "restore-drill report head=#1:ab",
            "x",
        );
        assert_eq!(
            verify(&public, b"report bytes", &signed).as_deref(),
            Ok("restore-drill report head=#1:ab")
        );
        assert_eq!(
            verify(&public, b"report bytez", &signed),
            Err(MinisignError::ContentChanged)
        );
        let forged = signed.replace("head=#1:ab", "head=#2:ab");
        assert_eq!(
            verify(&public, b"report bytes", &forged),
            Err(MinisignError::CommentChanged)
        );
        let other = crate::signing::parse_key(&"22".repeat(32)).unwrap();
        assert!(matches!(
            verify(
                &PublicKey::of(&other.verifying_key()),
                b"report bytes",
                &signed
            ),
            Err(MinisignError::OtherKey { .. })
        ));
        assert_eq!(
            verify(&public, b"report bytes", "not\na signature\n"),
            Err(MinisignError::SignatureMalformed)
        );
    }

    #[test]
    fn the_public_key_file_reads_back_and_its_id_is_derived_from_the_key() {
        let text = public_key_file(&key().verifying_key());
        let public = PublicKey::parse(&text).unwrap();
        assert_eq!(public.key, key().verifying_key());
        assert_eq!(public.id, key_id(&key().verifying_key()));
        assert!(text.starts_with(&format!(
            "untrusted comment: minisign public key {}\n",
            key_id_text(public.id)
        )));
        assert_eq!(
            PublicKey::parse(public.base64().as_str()).unwrap().id,
            public.id
        );
        assert!(PublicKey::parse("untrusted comment: x\nAAAA\n").is_err());
    }

    #[test]
    fn signing_is_deterministic_and_comments_stay_one_line() {
        let a = sign(&key(), b"x", "a\nb", "c\rd");
        assert_eq!(a, sign(&key(), b"x", "a\nb", "c\rd"));
        assert_eq!(a.lines().count(), 4);
        assert!(a.contains("trusted comment: a b\n"));
    }

    #[test]
    fn a_report_comment_names_its_head() {
        let hash = "ab".repeat(32);
        let comment = report_comment("q.pdf", "Acme Dental", "2026-Q4", Some((42, &hash)));
        assert_eq!(
            comment,
            format!(
                "restore-drill report file=q.pdf client=\"Acme Dental\" period=2026-Q4 head=#42:{hash}"
            )
        );
        assert_eq!(report_head(&comment), Some((42, hash.clone())));
        assert_eq!(report_head(&report_comment("q", "c", "p", None)), None);
        assert_eq!(report_head(&format!("timestamp:1 head=#42:{hash}")), None);
    }

    #[test]
    fn trusted_comment_fields_round_trip() {
        let comment = [
            "restore-drill report".to_string(),
            field("file", "q 4.pdf"),
            field("client", "Acme \"Dental\" \\ Co"),
            field("period", "2026-Q4"),
            field("head", "#42:ab"),
            field("empty", ""),
        ]
        .join(" ");
        assert!(comment.contains(" period=2026-Q4 head=#42:ab "));
        assert_eq!(
            fields(&comment),
            [
                ("file", "q 4.pdf"),
                ("client", "Acme \"Dental\" \\ Co"),
                ("period", "2026-Q4"),
                ("head", "#42:ab"),
                ("empty", ""),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }
}
