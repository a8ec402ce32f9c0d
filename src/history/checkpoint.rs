//! The chain head anchored outside the database. After every record the head (its
//! position, hash, run and time, signed when a key is configured) is appended as one JSON
//! line to `history.checkpoints` beside the database (`O_APPEND`, fsync), and the run's
//! JSON and mail carry it too. Whoever can rewrite the database cannot make it hold the
//! heads signed earlier again: [`check`] names a head the history no longer holds (its
//! newest records deleted, or a record rewritten) or holds unsigned. This module appends;
//! it must never rewrite or truncate the file.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use super::chain::{self, Position};
use super::{History, HistoryError, Verification, db_time};
use crate::results::HistoryHead;

/// The checkpoint file inside `state_dir`, beside the database.
pub const FILE: &str = "history.checkpoints";

/// A checkpoint file larger than this is not read (a history of a run a night for a
/// century holds some 37,000 lines of under 400 bytes).
const MAX_BYTES: u64 = 64 << 20;

impl History {
    /// The checkpoint file beside the database.
    pub fn checkpoint_path(&self) -> std::path::PathBuf {
        self.path.with_file_name(FILE)
    }

    /// The chain's newest record as a head (unsigned, timed now); `None` for an empty
    /// history.
    pub fn chain_head(&self) -> Result<Option<HistoryHead>, HistoryError> {
        let head = chain::head_record(&self.conn).map_err(self.sql())?;
        head.map(|(hash, run_id)| head_of(&self.conn, hash, run_id))
            .transpose()
            .map_err(self.sql())
    }

    /// Appends `head` (the record just committed), signed with `key` when given, to the
    /// checkpoint file; returns it.
    pub(super) fn anchor(
        &self,
        mut head: HistoryHead,
        key: Option<&ed25519_dalek::SigningKey>,
    ) -> Result<HistoryHead, HistoryError> {
        if let Some(key) = key {
            sign(&mut head, key);
        }
        let path = self.checkpoint_path();
        append(&path, &head).map_err(|error| HistoryError::Checkpoint { path, error })?;
        Ok(head)
    }

    /// [`History::verify`], and checks that the history still holds each of `given`
    /// (`--against`, with where each was read) and extends it.
    pub fn verify_against(
        &self,
        signer: Option<&str>,
        given: &[(String, HistoryHead)],
    ) -> Result<Verification, HistoryError> {
        let mut verification = chain::verify(&self.conn, signer).map_err(self.sql())?;
        verification.foreign = self.foreign()?;
        let mut heads = match read(&self.checkpoint_path()) {
            Ok(heads) => heads,
            Err(why) => {
                verification.anchor_failures.push(why);
                Vec::new()
            }
        };
        heads.extend(given.iter().cloned());
        verification.anchors = heads.len();
        // A chain broken before its end has no positions to hold heads against.
        let Some(positions) = verification.positions.take() else {
            return Ok(verification);
        };
        if let Some(why) = behind(&positions, &heads) {
            verification.anchor_failures.push(why);
        }
        for (source, head) in &heads {
            if let Some(why) = check(&positions, source, head, signer) {
                verification.anchor_failures.push(why);
            }
        }
        Ok(verification)
    }
}

/// The record `hash` (of run `run_id`, or of a correction of it), the newest of the chain
/// in `conn`, as a head (unsigned, timed now): read inside the transaction that made it, it
/// is that record's, whoever writes next.
pub(super) fn head_of(
    conn: &rusqlite::Connection,
    hash: String,
    run_id: String,
) -> rusqlite::Result<HistoryHead> {
    // Counted by their keys alone: a run's row holds its whole results document.
    let records: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM corrections)",
        [],
        |r| r.get(0),
    )?;
    Ok(HistoryHead {
        records: records.max(0) as u64,
        hash,
        run_id,
        at: db_time(crate::clock::now()),
        key: None,
        signature: None,
    })
}

/// Signs `head` with `key` (its key and signature fields set).
pub(super) fn sign(head: &mut HistoryHead, key: &ed25519_dalek::SigningKey) {
    head.key = Some(crate::signing::public_hex(key));
    head.signature = Some(crate::signing::sign(key, head.payload().as_bytes()));
}

/// Appends `head` as one line, created 0600 when absent, and waits until it is on disk.
pub(super) fn append(path: &Path, head: &HistoryHead) -> std::io::Result<()> {
    let mut line = serde_json::to_string(head).map_err(std::io::Error::other)?;
    line.push('\n');
    // Not through a link, and never blocking on a FIFO planted in its place.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    file.write_all(line.as_bytes())?;
    file.sync_all()
}

/// The heads of a checkpoint file, each with where it was read (`file:line`); an empty
/// list when there is no file. A line that is not a head is an `Err` naming it.
pub(super) fn read(path: &Path) -> Result<Vec<(String, HistoryHead)>, String> {
    let bytes = match crate::fsx::read_regular(path, MAX_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "cannot read the checkpoint file {}: {e}",
                path.display()
            ));
        }
    };
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o022 != 0) {
        tracing::warn!(path = %path.display(), "the history's checkpoint file is writable by others");
    }
    let text = String::from_utf8_lossy(&bytes);
    parse(&text, &path.display().to_string())
}

/// The heads of a checkpoint file's text (blank lines skipped).
pub(super) fn parse(text: &str, source: &str) -> Result<Vec<(String, HistoryHead)>, String> {
    let mut heads = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{source}:{}", n + 1);
        let head: HistoryHead = serde_json::from_str(line).map_err(|e| {
            format!("{at} is not a history head ({e}): the file was damaged or edited")
        })?;
        heads.push((at, head));
    }
    Ok(heads)
}

/// Why the chain (`positions`, in chain order) does not hold `head` read from `source`;
/// `None` when it holds it, signed as the head was. With `signer` (the configured key), a
/// signed head must be signed by it. Heads past the chain's end are not named here: the
/// caller names the newest of them ([`behind`]).
pub(super) fn check(
    positions: &[Position],
    source: &str,
    head: &HistoryHead,
    signer: Option<&str>,
) -> Option<String> {
    if let (Some(key), Some(signature)) = (&head.key, &head.signature) {
        if let Err(why) = crate::signing::verify(key, head.payload().as_bytes(), signature) {
            return Some(format!(
                "the head {} in {source} does not verify ({why}): it was forged or damaged",
                head.label()
            ));
        }
        if signer.is_some_and(|s| s != key) {
            return Some(format!(
                "the head {} in {source} was signed by another key ({key})",
                head.label()
            ));
        }
    }
    if head.records == 0 {
        return Some(format!(
            "the head in {source} names record #0: there is none"
        ));
    }
    let at = positions.get(usize::try_from(head.records - 1).ok()?)?;
    if at.hash != head.hash {
        return Some(format!(
            "record #{} of the history is {} (run {}), but {source} has {}: the history was rewritten at or before record #{}",
            head.records, at.hash, at.run_id, head.hash, head.records
        ));
    }
    if head.signature.is_some() && at.signed_by.is_none() {
        return Some(format!(
            "record #{} (run {}) carries no signature, but its head in {source} was signed: its signature was removed",
            head.records, at.run_id
        ));
    }
    None
}

/// For the newest of `heads` past the chain's end: the records deleted, named.
pub(super) fn behind(positions: &[Position], heads: &[(String, HistoryHead)]) -> Option<String> {
    let held = positions.len() as u64;
    let (source, head) = heads
        .iter()
        .filter(|(_, h)| h.records > held)
        .max_by_key(|(_, h)| h.records)?;
    let missing = if head.records == held + 1 {
        format!("record #{} was", head.records)
    } else {
        format!("records #{} to #{} were", held + 1, head.records)
    };
    Some(format!(
        "the history holds {held} records, but {source} has head {} (run {}, {}): {missing} deleted; the database is behind its checkpoint",
        head.label(),
        head.run_id,
        head.at
    ))
}

/// The heads `history verify --against FILE` reads from a file's text: a checkpoint
/// file's lines, a run's JSON (`history_head`), or a text holding one head (a saved mail).
pub fn heads_in(text: &str, source: &str) -> Result<Vec<(String, HistoryHead)>, String> {
    if let Ok(heads) = parse(text, source)
        && !heads.is_empty()
    {
        return Ok(heads);
    }
    let from_json = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::from_value(v.get("history_head")?.clone()).ok());
    match from_json.or_else(|| parse_head(text)) {
        Some(head) => Ok(vec![(source.to_string(), head)]),
        None => Err(format!(
            "{source} holds no history head: give a checkpoint file, a run's results.json, or N:HASH"
        )),
    }
}

/// A head as given to `history verify --against`: `N:HASH`, or text holding `#N` and a
/// 64-hex-digit hash (the line of a run's mail).
pub fn parse_head(text: &str) -> Option<HistoryHead> {
    let text = text.trim();
    let (records, hash) = match text.split_once(':') {
        Some((n, hash)) if n.trim().parse::<u64>().is_ok() => {
            (n.trim().parse().ok()?, hash.trim().to_ascii_lowercase())
        }
        _ => {
            let n = text.split('#').nth(1)?;
            let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
            let hash = text
                .split(|c: char| !c.is_ascii_hexdigit())
                .find(|w| w.len() == 64)?;
            (digits.parse().ok()?, hash.to_ascii_lowercase())
        }
    };
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| HistoryHead {
        records,
        hash,
        run_id: String::new(),
        at: String::new(),
        key: None,
        signature: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(hash: &str, signed: bool) -> Position {
        Position {
            hash: hash.repeat(64),
            run_id: "r".into(),
            signed_by: signed.then(|| "k".into()),
        }
    }

    fn head(records: u64, hash: &str) -> HistoryHead {
        HistoryHead {
            records,
            hash: hash.repeat(64),
            run_id: "r".into(),
            at: "2026-11-29T01:00:00.000000Z".into(),
            key: None,
            signature: None,
        }
    }

    #[test]
    fn heads_are_read_from_the_mail_line_and_the_short_form() {
        let hash = "ab".repeat(32);
        let mail = format!("History head #12 {hash} signed by key {}", "cd".repeat(32));
        assert_eq!(
            parse_head(&mail).map(|h| (h.records, h.hash)),
            Some((12, hash.clone()))
        );
        assert_eq!(
            parse_head(&format!("3:{}", hash.to_uppercase())).map(|h| (h.records, h.hash)),
            Some((3, hash.clone()))
        );
        assert!(parse_head("3:abc").is_none());
        assert!(parse_head(&hash).is_none());
    }

    #[test]
    fn a_rewritten_record_a_stripped_one_and_deleted_ones_are_named() {
        let chain = [position("a", true), position("b", false)];
        assert_eq!(check(&chain, "f:1", &head(1, "a"), None), None);
        let rewritten = check(&chain, "f:2", &head(2, "c"), None).unwrap();
        assert!(rewritten.contains("record #2"), "{rewritten}");
        let key = crate::signing::parse_key(&"11".repeat(32)).unwrap();
        let mut signed = head(2, "b");
        sign(&mut signed, &key);
        let stripped = check(&chain, "f:3", &signed, None).unwrap();
        assert!(stripped.contains("signature was removed"), "{stripped}");
        signed.run_id = "forged".into();
        let forged = check(&chain, "f:3", &signed, None).unwrap();
        assert!(forged.contains("forged"), "{forged}");
        let heads = [
            ("f:4".to_string(), head(5, "e")),
            ("f:3".into(), head(3, "d")),
        ];
        assert_eq!(check(&chain, "f:4", &heads[0].1, None), None);
        let gone = behind(&chain, &heads).unwrap();
        assert!(gone.contains("records #3 to #5 were deleted"), "{gone}");
    }
}
