//! Findings: what a verification found wrong, as data. A failed check is a [`Finding`], not
//! an `Err`; `Err` means the run could not happen at all. Kinds are stable snake_case names
//! that appear in JSON results, reports and mail, so renaming one is a breaking change.
//!
//! One bad object must not make unbounded work: [`cap`] keeps a policy's findings to a few of
//! each kind per object and per policy and counts the rest in one summarising finding, and
//! [`Finding::new`] cuts a message or object name beyond a few KiB. The caps are constants,
//! documented in the README's Findings section.

use std::collections::HashMap;
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
    /// Storage could not be listed or read, sent too slowly (`storage.min_rate`), or sent
    /// more or fewer bytes than it listed.
    StorageError,
    /// A policy's listing stopped at `storage.max_listed_keys` or `storage.max_list_pages`.
    ListingTruncated,
    /// A policy's listing or restores ran past `storage.policy_timeout`; the rest was given up.
    PolicyTimeout,
    /// A listed name that is not valid UTF-8: never read.
    InvalidName,
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
    /// Retained objects not verified within `sample.coverage` though kept longer than it.
    CoverageGap,
    /// A dead-run marker in scratch that is not evidence (a folder not private to the
    /// runner, or a run id this history never started): reported, not recorded.
    UntrustedRunMarker,
    /// A restic repository that cannot be opened: no repository at the prefix, a wrong
    /// password (`restic.password`), or its keys or config file unreadable.
    RepositoryUnreadable,
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
            FindingKind::ListingTruncated => "listing_truncated",
            FindingKind::PolicyTimeout => "policy_timeout",
            FindingKind::InvalidName => "invalid_name",
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
            FindingKind::CoverageGap => "coverage_gap",
            FindingKind::UntrustedRunMarker => "untrusted_run_marker",
            FindingKind::RepositoryUnreadable => "repository_unreadable",
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

/// At most this many findings of one kind are kept per object (a key, its archive entries
/// `key!entry` included); the rest are counted in one finding.
pub const MAX_PER_OBJECT: usize = 10;
/// At most this many findings of one kind are kept per policy; the rest are counted in one
/// finding.
pub const MAX_PER_POLICY: usize = 50;
/// A finding's message is cut beyond this many bytes.
pub const MAX_MESSAGE_BYTES: usize = 2048;
/// A finding's object is cut beyond this many bytes (S3 keys are at most 1024, paths 4096).
pub const MAX_OBJECT_BYTES: usize = 4096;

impl Finding {
    /// A finding; a message or object over [`MAX_MESSAGE_BYTES`] or [`MAX_OBJECT_BYTES`] is
    /// cut, saying how much was left out.
    pub fn new(kind: FindingKind, object: Option<&str>, message: impl Into<String>) -> Self {
        Finding {
            kind,
            object: object.map(|o| clip(o.to_string(), MAX_OBJECT_BYTES)),
            message: clip(message.into(), MAX_MESSAGE_BYTES),
        }
    }
}

/// `text`, cut at a character boundary within `max` bytes, with what was left out.
fn clip(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(40);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("… ({} more bytes)", thousands(cut)));
    text
}

/// `189000` as `189,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The object a finding is about: `key` for `key!entry`, `None` for the policy.
fn object_of(finding: &Finding) -> Option<&str> {
    finding
        .object
        .as_deref()
        .map(|o| o.split_once('!').map_or(o, |(key, _)| key))
}

/// A policy's findings with at most [`MAX_PER_OBJECT`] of a kind per object and
/// [`MAX_PER_POLICY`] of a kind in all, in their order; what is left out is counted in one
/// finding of the same kind per object (for an object some of whose findings are kept) or
/// per policy, so the status and the counts stay true. Linear in the findings.
pub fn cap(findings: Vec<Finding>) -> Vec<Finding> {
    type Key = (FindingKind, Option<String>);
    let mut kept = Vec::new();
    let mut per_object: HashMap<Key, usize> = HashMap::new();
    let mut per_kind: HashMap<FindingKind, usize> = HashMap::new();
    // (kind, object) → left out, in the order first seen; kind → (left out, objects).
    let mut object_more: Vec<(Key, usize)> = Vec::new();
    let mut object_more_at: HashMap<Key, usize> = HashMap::new();
    let mut kind_more: Vec<(FindingKind, usize, usize)> = Vec::new();
    let mut kind_objects: HashMap<FindingKind, std::collections::HashSet<Option<String>>> =
        HashMap::new();
    for finding in findings {
        let key: Key = (finding.kind, object_of(&finding).map(str::to_string));
        let of_object = per_object.get(&key).copied().unwrap_or(0);
        let of_kind = per_kind.get(&finding.kind).copied().unwrap_or(0);
        if of_object < MAX_PER_OBJECT && of_kind < MAX_PER_POLICY {
            per_object.insert(key, of_object + 1);
            per_kind.insert(finding.kind, of_kind + 1);
            kept.push(finding);
        } else if of_object > 0 {
            let at = *object_more_at.entry(key.clone()).or_insert_with(|| {
                object_more.push((key, 0));
                object_more.len() - 1
            });
            object_more[at].1 += 1;
        } else {
            let objects = kind_objects.entry(finding.kind).or_default();
            objects.insert(key.1);
            match kind_more.iter_mut().find(|(k, _, _)| *k == finding.kind) {
                Some(more) => (more.1, more.2) = (more.1 + 1, objects.len()),
                None => kind_more.push((finding.kind, 1, objects.len())),
            }
        }
    }
    for ((kind, object), more) in object_more {
        let shown = per_object[&(kind, object.clone())];
        let whose = object.as_ref().map_or("this policy", |_| "this object");
        let message = format!(
            "and {} more {kind} findings for {whose}, {} in all (at most {MAX_PER_OBJECT} of a kind are listed per object)",
            thousands(more),
            thousands(more + shown)
        );
        kept.push(Finding::new(kind, object.as_deref(), message));
    }
    for (kind, more, objects) in kind_more {
        let message = format!(
            "and {} more {kind} findings of this policy, for {} {} (at most {MAX_PER_POLICY} of a kind are listed per policy)",
            thousands(more),
            thousands(objects),
            if objects == 1 { "object" } else { "objects" }
        );
        kept.push(Finding::new(kind, None, message));
    }
    kept
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

    fn missing(object: &str) -> Finding {
        Finding::new(FindingKind::MissingFile, Some(object), "listed but absent")
    }

    #[test]
    fn one_object_with_many_findings_keeps_a_few_and_counts_the_rest() {
        let findings: Vec<Finding> = (0..190_000)
            .map(|i| missing(&format!("set/SHA256SUMS!f{i}")))
            .collect();
        let capped = cap(findings);
        assert_eq!(capped.len(), MAX_PER_OBJECT + 1);
        let last = capped.last().unwrap();
        assert_eq!(last.kind, FindingKind::MissingFile);
        assert_eq!(last.object.as_deref(), Some("set/SHA256SUMS"));
        assert!(
            last.message
                .contains("and 189,990 more missing_file findings")
                && last.message.contains("190,000 in all"),
            "{}",
            last.message
        );
    }

    #[test]
    fn many_objects_are_capped_per_policy_and_other_kinds_survive() {
        let mut findings: Vec<Finding> = (0..1000).map(|i| missing(&format!("k{i}"))).collect();
        findings.push(Finding::new(FindingKind::RpoExceeded, None, "too old"));
        let capped = cap(findings);
        assert_eq!(capped.len(), MAX_PER_POLICY + 2);
        assert!(capped.iter().any(|f| f.kind == FindingKind::RpoExceeded));
        let summary = capped.last().unwrap();
        assert_eq!(summary.object, None);
        assert!(
            summary
                .message
                .contains("and 950 more missing_file findings of this policy, for 950 objects"),
            "{}",
            summary.message
        );
    }

    #[test]
    fn few_findings_are_kept_as_they_are() {
        let findings = vec![missing("a"), missing("b")];
        assert_eq!(cap(findings.clone()), findings);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let f = Finding::new(FindingKind::MissingFile, Some("k"), "é".repeat(100_000));
        assert!(f.message.len() <= MAX_MESSAGE_BYTES);
        assert!(
            f.message.ends_with("more bytes)"),
            "{}",
            &f.message[f.message.len() - 40..]
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

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
