//! Findings: what a verification found wrong, as data. A failed check is a [`Finding`], not
//! an `Err`; `Err` means the run could not happen at all. Kinds are stable snake_case names
//! that appear in JSON results, reports and mail, so renaming one is a breaking change.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A digest computed from the restored bytes differs from the expected one.
    ChecksumMismatch,
    /// No expected digest was found and `checksums.required` is on.
    MissingChecksum,
    /// A sidecar or manifest could not be trusted: unreadable, malformed, for another file.
    InvalidChecksumFile,
    /// Bad or truncated zstd or tar data.
    CorruptArchive,
    /// An archive entry or key that would land outside the scratch folder, or a link,
    /// device or fifo entry: refused, nothing written for it.
    UnsafePath,
    /// Decompressed output beyond `limits.max_restored_bytes`, or a zstd frame asking for a
    /// window over `limits.max_zstd_window`.
    SizeLimitExceeded,
    /// A file listed in the in-archive manifest is not in the archive.
    MissingFile,
    /// A file in the archive is not listed in its in-archive manifest.
    UnexpectedFile,
    /// Storage could not be listed or read.
    StorageError,
    /// The prefix holds no backup sets.
    NoBackupsFound,
    /// A set dated by name (`backups.dated_by: name`) whose name does not match
    /// `backups.date_format`: no RPO is judged on it.
    UndatedBackup,
    /// The newest set is dated after the run started (clock skew, or a name in another
    /// time zone): its age cannot be known.
    FutureDatedBackup,
    /// A folder that would be the newest set holds no object `backups.include` matches.
    EmptySet,
    /// A sampled object of zero bytes.
    EmptyObject,
    /// The newest backup set is older than `targets.rpo`.
    RpoExceeded,
    /// The measured or projected restore time is longer than `targets.rto`.
    RtoExceeded,
    /// Nothing was restored whole, so no restore time was measured against `targets.rto`.
    RtoUnmeasured,
    /// A `validate` command exited non-zero, timed out or could not start.
    ValidationFailed,
    /// The scratch folder could not be written (full disk, permissions).
    ScratchError,
    /// The policy file did not validate: nothing of it was run, and it fails until fixed.
    InvalidPolicy,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::ChecksumMismatch => "checksum_mismatch",
            FindingKind::MissingChecksum => "missing_checksum",
            FindingKind::InvalidChecksumFile => "invalid_checksum_file",
            FindingKind::CorruptArchive => "corrupt_archive",
            FindingKind::UnsafePath => "unsafe_path",
            FindingKind::SizeLimitExceeded => "size_limit_exceeded",
            FindingKind::MissingFile => "missing_file",
            FindingKind::UnexpectedFile => "unexpected_file",
            FindingKind::StorageError => "storage_error",
            FindingKind::NoBackupsFound => "no_backups_found",
            FindingKind::UndatedBackup => "undated_backup",
            FindingKind::FutureDatedBackup => "future_dated_backup",
            FindingKind::EmptySet => "empty_set",
            FindingKind::EmptyObject => "empty_object",
            FindingKind::RpoExceeded => "rpo_exceeded",
            FindingKind::RtoExceeded => "rto_exceeded",
            FindingKind::RtoUnmeasured => "rto_unmeasured",
            FindingKind::ValidationFailed => "validation_failed",
            FindingKind::ScratchError => "scratch_error",
            FindingKind::InvalidPolicy => "invalid_policy",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found by a run, tied to the object (key, or key and entry) it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The storage key, `key!entry` for an archive entry, or null for the policy as a whole.
    pub object: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(kind: FindingKind, object: Option<&str>, message: impl Into<String>) -> Self {
        Finding {
            kind,
            object: object.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    /// The finding as a line of text: keys and names from a client's bucket are
    /// [`printable`], so they cannot move the cursor, recolour or rewrite the terminal, nor
    /// break one finding into forged lines of a log or mail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(object) => write!(
                f,
                "{}: {}: {}",
                self.kind,
                printable(object),
                printable(&self.message)
            ),
            None => write!(f, "{}: {}", self.kind, printable(&self.message)),
        }
    }
}

/// `text` with every control character (C0 and C1, DEL, newlines and ANSI escape sequences'
/// ESC included) and every bidirectional override written as a visible escape (`\u{1b}`),
/// for a terminal, a log line or a mail's text. Borrowed when there is nothing to escape.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bidi_overrides_are_shown_escaped() {
        assert!(matches!(
            printable("db/2026-11-25/a.zst"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\nPASSED"), "x\\u{a}PASSED");
        assert_eq!(printable("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(printable("caf\u{e9}"), "caf\u{e9}");
        let finding = Finding {
            kind: FindingKind::CorruptArchive,
            object: Some("k\u{7}".into()),
            message: "m\r".into(),
        };
        assert_eq!(finding.to_string(), "corrupt_archive: k\\u{7}: m\\u{d}");
    }

    #[test]
    fn kinds_serialize_as_their_stable_names() {
        for kind in [
            FindingKind::ChecksumMismatch,
            FindingKind::RtoExceeded,
            FindingKind::ScratchError,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
