//! The hash chain over run records. A record's content is its rows (the run and all its
//! policy results, object results and findings; built in memory when recorded, read back
//! from the rows as stored when verified) written canonically (JSON, keys sorted, rows in
//! key order), so any change to any stored value changes its hash; each record's hash also
//! covers the previous record's. Corrections (notes and voidings, [`super::corrections`])
//! are records of the same chain: each comes after the run that was newest when it was
//! made, so one chain covers both. A signed record's hash also covers its key, so the chain
//! records where signing began and a stripped signature breaks its record; the heads kept
//! outside the database ([`super::checkpoint`]) are checked against the [`Position`]s that
//! `verify` collects.

use rusqlite::Connection;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::content::{content_hash, rows};

/// The `prev_hash` of the first record.
pub(super) fn genesis() -> String {
    "0".repeat(64)
}

pub(super) fn record_hash(prev: &str, content: &str) -> String {
    hex::encode(Sha256::digest(format!("{prev}\n{content}").as_bytes()))
}

/// A signed record's hash also covers the key that signs it: the chain itself says from
/// which record on it was signed, and a signature removed leaves a hash that no longer
/// matches. (Records signed before this was so carry [`record_hash`]; verify takes both.)
pub(super) fn signed_record_hash(prev: &str, content: &str, signed_by: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{prev}\n{content}\nsigned-by {signed_by}").as_bytes(),
    ))
}

/// The record hash of a record signed by `key`, or unsigned.
pub(super) fn hash_for(prev: &str, content: &str, signed_by: Option<&str>) -> String {
    match signed_by {
        Some(key) => signed_record_hash(prev, content, key),
        None => record_hash(prev, content),
    }
}

/// SHA-256 of the canonical content of correction `id`.
pub(super) fn correction_hash(conn: &Connection, id: i64) -> rusqlite::Result<String> {
    let content = serde_json::json!({
        "correction": rows(conn, "SELECT * FROM corrections WHERE id = ?1", id)?,
    });
    let bytes = serde_json::to_vec(&content).expect("json serializes");
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The newest record's hash, run or correction: what the next record links to.
pub(super) fn head(conn: &Connection) -> rusqlite::Result<Option<String>> {
    Ok(head_record(conn)?.map(|(hash, _)| hash))
}

/// The newest record's hash and the run it records or corrects.
pub(super) fn head_record(conn: &Connection) -> rusqlite::Result<Option<(String, String)>> {
    use rusqlite::OptionalExtension;
    let run: Option<(i64, String, String)> = conn
        .query_row(
            "SELECT seq, record_hash, run_id FROM runs ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let correction: Option<(i64, String, String)> = conn
        .query_row(
            "SELECT after_seq, record_hash, run_id FROM corrections ORDER BY after_seq DESC, id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match (run, correction) {
        (Some((seq, _, _)), Some((after, hash, id))) if after >= seq => Some((hash, id)),
        (None, Some((_, hash, id))) => Some((hash, id)),
        (Some((_, hash, id)), _) => Some((hash, id)),
        (None, None) => None,
    })
}

/// One record of the chain, run or correction, as `verify` walks it.
struct Link {
    /// Chain order: (run seq, 0, 0) for a run, (after_seq, 1, id) for a correction.
    order: (i64, i64, i64),
    seq: i64,
    run_id: String,
    /// `Some(action)` for a correction.
    correction: Option<String>,
    content: String,
    prev: String,
    record: String,
    signature: Option<String>,
    signed_by: Option<String>,
}

/// Every record of the chain, in chain order.
fn links(conn: &Connection) -> rusqlite::Result<Vec<Link>> {
    let mut links = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT seq, run_id, content_hash, prev_hash, record_hash, signature, signed_by FROM runs",
    )?;
    let runs = stmt.query_map([], |r| {
        let seq: i64 = r.get(0)?;
        Ok(Link {
            order: (seq, 0, 0),
            seq,
            run_id: r.get(1)?,
            correction: None,
            content: r.get(2)?,
            prev: r.get(3)?,
            record: r.get(4)?,
            signature: r.get(5)?,
            signed_by: r.get(6)?,
        })
    })?;
    for link in runs {
        links.push(link?);
    }
    let mut stmt = conn.prepare(
        "SELECT id, after_seq, run_id, action, content_hash, prev_hash, record_hash, signature, signed_by FROM corrections",
    )?;
    let corrections = stmt.query_map([], |r| {
        let id: i64 = r.get(0)?;
        Ok(Link {
            order: (r.get(1)?, 1, id),
            seq: id,
            run_id: r.get(2)?,
            correction: Some(r.get(3)?),
            content: r.get(4)?,
            prev: r.get(5)?,
            record: r.get(6)?,
            signature: r.get(7)?,
            signed_by: r.get(8)?,
        })
    })?;
    for link in corrections {
        links.push(link?);
    }
    links.sort_by_key(|l| l.order);
    Ok(links)
}

/// The outcome of recomputing the chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub records: usize,
    /// The newest record's hash, when the chain is intact.
    pub head: Option<String>,
    /// The first record that does not match, and why.
    pub broken: Option<Broken>,
    /// SQLite's own `PRAGMA integrity_check` result.
    pub integrity: String,
    /// Records whose signature verified.
    pub signed: usize,
    /// Records without a signature although a signing key is configured, all older than the
    /// first signed record (made before signing was set up; an unsigned record after a
    /// signed one breaks the chain).
    pub unsigned: usize,
    /// Schema objects no migration made (`trigger `name``): the history is not trusted.
    pub foreign: Vec<String>,
    /// Heads kept outside the database (the checkpoint file, `--against`) checked.
    pub anchors: usize,
    /// Why heads kept outside the database are no longer in it: its newest records were
    /// deleted, or it was rewritten.
    pub anchor_failures: Vec<String>,
    /// Why the coverage ledger is not the one the recorded runs make (after the chain and
    /// its anchors: a deleted run is named by them first).
    pub ledger: Option<String>,
    /// Every record's hash and signer, in chain order, when the whole chain was walked.
    #[serde(skip)]
    pub(super) positions: Option<Vec<Position>>,
}

/// One record as the anchors are checked against it.
#[derive(Debug, Clone)]
pub(super) struct Position {
    pub(super) hash: String,
    pub(super) run_id: String,
    pub(super) signed_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Broken {
    /// The run's `seq`, or the correction's id.
    pub seq: i64,
    /// The run, or the run a correction is about.
    pub run_id: String,
    /// For a correction: its action (`annotate`, `void`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    pub reason: String,
}

impl Broken {
    /// A break of the history as a whole, not of one record.
    fn history(reason: String) -> Broken {
        Broken {
            seq: 0,
            run_id: String::new(),
            correction: None,
            reason,
        }
    }
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
            && self.integrity == "ok"
            && self.foreign.is_empty()
            && self.anchor_failures.is_empty()
            && self.ledger.is_none()
    }

    /// Why the history does not verify, in one sentence; `None` when it does.
    pub fn failure(&self) -> Option<String> {
        if self.integrity != "ok" {
            return Some(format!("SQLite integrity check: {}", self.integrity));
        }
        if !self.foreign.is_empty() {
            return Some(format!(
                "schema objects restore-drill did not create: {}",
                self.foreign.join(", ")
            ));
        }
        let Some(b) = self.broken.as_ref() else {
            return self
                .anchor_failures
                .first()
                .cloned()
                .or_else(|| self.ledger.clone());
        };
        Some(match (&b.correction, b.run_id.is_empty()) {
            (_, true) => b.reason.clone(),
            (Some(action), false) => format!(
                "correction #{} ({action} of run {}): {}",
                b.seq, b.run_id, b.reason
            ),
            (None, false) => format!("record #{} (run {}): {}", b.seq, b.run_id, b.reason),
        })
    }
}

/// Recomputes the chain. With `signer` (the configured key's public half), every signed
/// record must be signed by it. From the first signed record on, every record must be
/// signed: an unsigned one after it had its signature stripped.
pub(super) fn verify(conn: &Connection, signer: Option<&str>) -> rusqlite::Result<Verification> {
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    let records = links(conn)?;
    let mut expected_prev = genesis();
    // The first signed record (seq, run): from it on, an unsigned record was stripped.
    let mut signing_began: Option<(i64, String)> = None;
    let mut verification = Verification {
        records: records.len(),
        head: None,
        broken: None,
        integrity,
        signed: 0,
        unsigned: 0,
        foreign: Vec::new(),
        anchors: 0,
        anchor_failures: Vec::new(),
        ledger: None,
        positions: None,
    };
    let mut positions = Vec::with_capacity(records.len());
    let orphans = orphans(conn)?;
    for link in records {
        let Link {
            seq,
            run_id,
            correction,
            content,
            prev,
            record,
            signature,
            signed_by,
            ..
        } = link;
        let broken = |reason: String| Broken {
            seq,
            run_id: run_id.clone(),
            correction: correction.clone(),
            reason,
        };
        if prev != expected_prev {
            verification.broken = Some(broken(
                "its link to the previous record does not match: a record before it was removed, inserted or changed".into(),
            ));
            return Ok(verification);
        }
        if let Some(why) = content_changed(conn, seq, correction.is_some(), &content)? {
            verification.broken = Some(broken(why));
            return Ok(verification);
        }
        if let Some(why) = hash_mismatch(&prev, &content, &record, signed_by.as_deref(), signer) {
            verification.broken = Some(broken(why));
            return Ok(verification);
        }
        let signed = Signed {
            prev: &prev,
            content: &content,
            record: &record,
            signature: signature.as_deref(),
            signed_by: signed_by.as_deref(),
        };
        match signed.check(signer, signing_began.as_ref()) {
            Err(why) => {
                verification.broken = Some(broken(why));
                return Ok(verification);
            }
            Ok(Some(true)) => verification.signed += 1,
            Ok(Some(false)) => verification.unsigned += 1,
            Ok(None) => {}
        }
        if signature.is_some() && signing_began.is_none() {
            signing_began = Some((seq, run_id.clone()));
        }
        positions.push(Position {
            hash: record.clone(),
            run_id,
            signed_by: signature.and(signed_by),
        });
        expected_prev = record;
    }
    verification.positions = Some(positions);
    if orphans > 0 {
        verification.broken = Some(Broken::history(format!(
            "{orphans} result or correction rows belong to no recorded run: a run record was deleted"
        )));
        return Ok(verification);
    }
    verification.ledger = super::ledger::check(conn)?;
    verification.head = Some(expected_prev).filter(|h| *h != genesis());
    Ok(verification)
}

/// Why record `seq` (a correction's id when `correction`) no longer matches its stored
/// content hash; `None` when it does.
fn content_changed(
    conn: &Connection,
    seq: i64,
    correction: bool,
    content: &str,
) -> rusqlite::Result<Option<String>> {
    let (actual, after) = if correction {
        (
            correction_hash(conn, seq)?,
            "it was changed after it was made",
        )
    } else {
        (content_hash(conn, seq)?, "it was changed after the run")
    };
    Ok((actual != content).then(|| {
        format!("its stored content no longer matches the hash recorded with it: {after}")
    }))
}

/// One record's signature, as `verify` checks it.
struct Signed<'a> {
    prev: &'a str,
    content: &'a str,
    record: &'a str,
    signature: Option<&'a str>,
    signed_by: Option<&'a str>,
}

impl Signed<'_> {
    /// Why the record's signature, or its lack, breaks the chain; else whether it counts as
    /// signed (`Some(true)`), as unsigned from before signing (`Some(false)`), or neither.
    /// `began` is the first signed record so far.
    fn check(
        &self,
        signer: Option<&str>,
        began: Option<&(i64, String)>,
    ) -> Result<Option<bool>, String> {
        match (self.signature, self.signed_by, signer) {
            (Some(sig), Some(by), _) => {
                if let Err(why) = crate::signing::verify(by, self.record.as_bytes(), sig) {
                    return Err(format!("its signature does not verify: {why}"));
                }
                if signer.is_some_and(|s| s != by) {
                    return Err(format!("it was signed by another key ({by})"));
                }
                Ok(Some(true))
            }
            (None, Some(by), _)
                if signed_record_hash(self.prev, self.content, by) == self.record =>
            {
                Err(format!(
                    "it carries no signature, but its hash says it was signed by key {by}: its signature was removed"
                ))
            }
            _ if began.is_some() => Err(began.map(stripped).unwrap_or_default()),
            (None, _, Some(_)) => Ok(Some(false)),
            _ => Ok(None),
        }
    }
}

/// Findings, objects, policy results or corrections whose run is gone: a run record was
/// removed from the chain.
fn orphans(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM policy_results WHERE run_seq NOT IN (SELECT seq FROM runs))
              + (SELECT COUNT(*) FROM object_results WHERE run_seq NOT IN (SELECT seq FROM runs))
              + (SELECT COUNT(*) FROM findings WHERE run_seq NOT IN (SELECT seq FROM runs))
              + (SELECT COUNT(*) FROM ledger_changes WHERE run_seq NOT IN (SELECT seq FROM runs))
              + (SELECT COUNT(*) FROM corrections WHERE run_id NOT IN (SELECT run_id FROM runs))",
        [],
        |r| r.get(0),
    )
}

/// Why an unsigned record after `began`, the first signed one, breaks the chain.
fn stripped((seq, run_id): &(i64, String)) -> String {
    format!(
        "it carries no signature, but signing began at record #{seq} (run {run_id}) and every record since must be signed: its signature was removed, or it was made without the key"
    )
}

/// Why a record's stored hash is not the hash of its link and content (signed: covering its
/// key, or as records signed before that were hashed); `None` when it is.
fn hash_mismatch(
    prev: &str,
    content: &str,
    record: &str,
    signed_by: Option<&str>,
    signer: Option<&str>,
) -> Option<String> {
    if hash_for(prev, content, signed_by) == record
        || (signed_by.is_some() && record_hash(prev, content) == record)
    {
        return None;
    }
    match signer {
        Some(key) if signed_by.is_none() && signed_record_hash(prev, content, key) == record => {
            Some(format!(
                "it carries no signature, but its hash says it was signed by key {key}: its signature was removed"
            ))
        }
        _ => Some("its record hash was changed".into()),
    }
}
