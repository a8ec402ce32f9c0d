//! The coverage ledger: every backup object a policy's listings have shown, by key and
//! identity (ETag, or size and modification time), when it was first listed, when it was
//! last verified and with what result, and when it left storage (kept, marked removed).
//!
//! It is an index, not a source of truth: it is made from chained rows only — each run's
//! `ledger_changes` (what its listing added, replaced or found gone) and the `object_results`
//! of runs not voided — so `verify` rebuilds it from them and a ledger edited by hand is
//! caught, and voiding a run rebuilds it without that run's verifications. One function,
//! [`Ledger::apply_run`], applies a run, for the record and the rebuild alike.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{History, HistoryError, db_time};
use crate::plan::coverage::{ChangeKind, Known, Seen};

/// One ledger row, keyed by (policy, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    identity: String,
    size: i64,
    first_seen: String,
    last_verified_at: Option<String>,
    /// The last restore of it, verified or not: the rotation's order.
    last_tried_at: Option<String>,
    last_result: Option<String>,
    last_run_id: Option<String>,
    removed_at: Option<String>,
}

/// (policy, key, change, identity, size): one row of `ledger_changes`.
type ChangeRow = (String, String, String, Option<String>, Option<i64>);

/// One run's facts, as the ledger takes them: its changes, then its objects' results.
pub(super) struct RunFacts {
    pub(super) run_id: String,
    /// The run's start (`db_time`), the time of its changes and verifications.
    pub(super) at: String,
    pub(super) voided: bool,
    /// (policy, key, change, identity, size)
    pub(super) changes: Vec<ChangeRow>,
    /// (policy, key, identity, status)
    pub(super) objects: Vec<(String, String, String, String)>,
}

/// Ledger rows in memory, keyed by (policy, key).
#[derive(Default)]
pub(super) struct Ledger {
    rows: BTreeMap<(String, String), Row>,
}

impl Ledger {
    /// Applies one run: its listing's changes, then (unless voided) its verifications.
    pub(super) fn apply_run(&mut self, run: &RunFacts) {
        for (policy, key, change, identity, size) in &run.changes {
            let id = (policy.clone(), key.clone());
            match change.as_str() {
                "removed" => {
                    if let Some(row) = self.rows.get_mut(&id) {
                        row.removed_at = Some(run.at.clone());
                    }
                }
                _ => {
                    self.rows.insert(
                        id,
                        Row {
                            identity: identity.clone().unwrap_or_default(),
                            size: size.unwrap_or(0),
                            first_seen: run.at.clone(),
                            last_verified_at: None,
                            last_tried_at: None,
                            last_result: None,
                            last_run_id: None,
                            removed_at: None,
                        },
                    );
                }
            }
        }
        if run.voided {
            return;
        }
        for (policy, key, identity, status) in &run.objects {
            let Some(row) = self.rows.get_mut(&(policy.clone(), key.clone())) else {
                continue;
            };
            if row.identity != *identity || row.removed_at.is_some() {
                continue;
            }
            row.last_result = Some(status.clone());
            row.last_run_id = Some(run.run_id.clone());
            row.last_tried_at = Some(run.at.clone());
            if status == "pass" {
                row.last_verified_at = Some(run.at.clone());
            }
        }
    }
}

/// The changes and objects of run `seq`, as stored.
fn facts_of(
    conn: &Connection,
    seq: i64,
    run_id: &str,
    at: &str,
    voided: bool,
) -> rusqlite::Result<RunFacts> {
    let mut changes = conn.prepare_cached(
        "SELECT policy, key, change, identity, size FROM ledger_changes WHERE run_seq = ?1 ORDER BY policy, key",
    )?;
    let changes = changes
        .query_map([seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut objects = conn.prepare_cached(
        "SELECT policy, key, identity, status FROM object_results
         WHERE run_seq = ?1 AND identity IS NOT NULL ORDER BY policy, key",
    )?;
    let objects = objects
        .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    Ok(RunFacts {
        run_id: run_id.to_string(),
        at: at.to_string(),
        voided,
        changes,
        objects,
    })
}

/// The ledger made from the chained rows alone, run by run in chain order.
fn rebuild(conn: &Connection) -> rusqlite::Result<Ledger> {
    let mut runs = conn.prepare(
        "SELECT seq, run_id, started_at,
                EXISTS (SELECT 1 FROM corrections c WHERE c.run_id = runs.run_id AND c.action = 'void')
         FROM runs ORDER BY seq",
    )?;
    let runs: Vec<(i64, String, String, bool)> = runs
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut ledger = Ledger::default();
    for (seq, run_id, at, voided) in &runs {
        ledger.apply_run(&facts_of(conn, *seq, run_id, at, *voided)?);
    }
    Ok(ledger)
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        identity: r.get(0)?,
        size: r.get(1)?,
        first_seen: r.get(2)?,
        last_verified_at: r.get(3)?,
        last_tried_at: r.get(4)?,
        last_result: r.get(5)?,
        last_run_id: r.get(6)?,
        removed_at: r.get(7)?,
    })
}

const COLUMNS: &str = "identity, size, first_seen, last_verified_at, last_tried_at, last_result, last_run_id, removed_at";

fn write_row(
    conn: &Connection,
    (policy, key): &(String, String),
    row: &Row,
) -> rusqlite::Result<()> {
    // Updated in place when the row is there (`OR REPLACE` would delete it and insert it
    // again, in the table and in both its indexes).
    let mut stmt = conn.prepare_cached(
        "INSERT INTO ledger (policy, key, identity, size, first_seen, last_verified_at,
             last_tried_at, last_result, last_run_id, removed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (policy, key) DO UPDATE SET identity = excluded.identity,
             size = excluded.size, first_seen = excluded.first_seen,
             last_verified_at = excluded.last_verified_at,
             last_tried_at = excluded.last_tried_at, last_result = excluded.last_result,
             last_run_id = excluded.last_run_id, removed_at = excluded.removed_at",
    )?;
    stmt.execute(params![
        policy,
        key,
        row.identity,
        row.size,
        row.first_seen,
        row.last_verified_at,
        row.last_tried_at,
        row.last_result,
        row.last_run_id,
        row.removed_at
    ])?;
    Ok(())
}

/// Applies a run being recorded to the stored ledger: only its rows are read and written.
pub(super) fn record(conn: &Connection, run: &RunFacts) -> rusqlite::Result<()> {
    let mut ledger = Ledger::default();
    let mut read = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM ledger WHERE policy = ?1 AND key = ?2"
    ))?;
    let ids = run
        .changes
        .iter()
        .map(|c| (c.0.clone(), c.1.clone()))
        .chain(run.objects.iter().map(|o| (o.0.clone(), o.1.clone())));
    for id in ids {
        if let Some(row) = read.query_row(params![id.0, id.1], read_row).optional()? {
            ledger.rows.insert(id, row);
        }
    }
    ledger.apply_run(run);
    for (id, row) in &ledger.rows {
        write_row(conn, id, row)?;
    }
    Ok(())
}

/// Rebuilds the stored ledger from the chained rows (after a run is voided).
pub(super) fn refresh(conn: &Connection) -> rusqlite::Result<()> {
    let ledger = rebuild(conn)?;
    conn.execute("DELETE FROM ledger", [])?;
    for (id, row) in &ledger.rows {
        write_row(conn, id, row)?;
    }
    Ok(())
}

/// Why the stored ledger is not the one the chained rows make; `None` when it is.
pub(super) fn check(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let expected = rebuild(conn)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT policy, key, {COLUMNS} FROM ledger ORDER BY policy, key"
    ))?;
    let mut stored = BTreeMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: (String, String) = (r.get(0)?, r.get(1)?);
        let row = Row {
            identity: r.get(2)?,
            size: r.get(3)?,
            first_seen: r.get(4)?,
            last_verified_at: r.get(5)?,
            last_tried_at: r.get(6)?,
            last_result: r.get(7)?,
            last_run_id: r.get(8)?,
            removed_at: r.get(9)?,
        };
        stored.insert(id, row);
    }
    for (id, row) in &expected.rows {
        match stored.remove(id) {
            Some(found) if found == *row => {}
            Some(_) => {
                return Ok(Some(format!(
                    "the coverage ledger's row for `{}` of policy {} does not match the recorded runs: the row was edited, or runs it came from were deleted",
                    id.1, id.0
                )));
            }
            None => {
                return Ok(Some(format!(
                    "the coverage ledger lacks `{}` of policy {}, which the recorded runs list: its row was deleted",
                    id.1, id.0
                )));
            }
        }
    }
    Ok(stored.keys().next().map(|(policy, key)| {
        format!(
            "the coverage ledger holds `{key}` of policy {policy}, which no recorded run listed: the row was added, or runs it came from were deleted"
        )
    }))
}

/// A policy's ledger row as the `coverage` command shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LedgerEntry {
    pub policy: String,
    pub key: String,
    pub identity: String,
    pub size: u64,
    pub first_seen: jiff::Timestamp,
    pub last_verified: Option<jiff::Timestamp>,
    pub last_result: Option<String>,
    pub last_run_id: Option<String>,
}

/// A policy's coverage as its ledger stands after its last listed run (`coverage`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LedgerSummary {
    pub policy: String,
    pub window_days: f64,
    pub retained_objects: u64,
    pub retained_bytes: u64,
    pub verified_within_objects: u64,
    pub verified_within_bytes: u64,
    pub never_verified_objects: u64,
    pub never_verified_bytes: u64,
    pub overdue_objects: u64,
    pub overdue_bytes: u64,
    pub oldest_verification: Option<jiff::Timestamp>,
    pub removed_objects: u64,
    /// The coverage the policy's last run recorded (its projected rotation among it).
    pub last_run: Option<crate::plan::coverage::Coverage>,
}

impl History {
    /// The coverage of `policy` from its ledger: counted over retained objects against a
    /// window of `window` ending at `now`.
    pub fn ledger_summary(
        &self,
        policy: &str,
        window: std::time::Duration,
        now: jiff::Timestamp,
    ) -> Result<LedgerSummary, HistoryError> {
        let sql = self.sql();
        let start = now
            .checked_sub(
                jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX),
            )
            .unwrap_or(jiff::Timestamp::MIN);
        let start = db_time(start);
        let row = self
            .conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0),
                        COALESCE(SUM(last_verified_at >= ?2), 0),
                        COALESCE(SUM(CASE WHEN last_verified_at >= ?2 THEN size ELSE 0 END), 0),
                        COALESCE(SUM(last_verified_at IS NULL), 0),
                        COALESCE(SUM(CASE WHEN last_verified_at IS NULL THEN size ELSE 0 END), 0),
                        COALESCE(SUM((last_verified_at IS NULL OR last_verified_at < ?2) AND first_seen < ?2), 0),
                        COALESCE(SUM(CASE WHEN (last_verified_at IS NULL OR last_verified_at < ?2) AND first_seen < ?2 THEN size ELSE 0 END), 0),
                        MIN(last_verified_at)
                 FROM ledger WHERE policy = ?1 AND removed_at IS NULL",
                params![policy, start],
                |r| {
                    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
                    Ok((
                        [n(0)?, n(1)?, n(2)?, n(3)?, n(4)?, n(5)?, n(6)?, n(7)?],
                        r.get::<_, Option<String>>(8)?,
                    ))
                },
            )
            .map_err(&sql)?;
        let removed: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM ledger WHERE policy = ?1 AND removed_at IS NOT NULL",
                [policy],
                |r| r.get(0),
            )
            .map_err(&sql)?;
        let last_run: Option<String> = self
            .conn
            .query_row(
                "SELECT p.coverage_json FROM policy_results p JOIN runs r ON r.seq = p.run_seq
                 WHERE p.policy = ?1 AND p.coverage_json IS NOT NULL ORDER BY r.seq DESC LIMIT 1",
                [policy],
                |r| r.get(0),
            )
            .optional()
            .map_err(&sql)?;
        let (
            [
                objects,
                bytes,
                within,
                within_bytes,
                never,
                never_bytes,
                overdue,
                overdue_bytes,
            ],
            oldest,
        ) = row;
        Ok(LedgerSummary {
            policy: policy.to_string(),
            window_days: window.as_secs_f64() / 86_400.0,
            retained_objects: objects,
            retained_bytes: bytes,
            verified_within_objects: within,
            verified_within_bytes: within_bytes,
            never_verified_objects: never,
            never_verified_bytes: never_bytes,
            overdue_objects: overdue,
            overdue_bytes,
            oldest_verification: oldest.and_then(|t| t.parse().ok()),
            removed_objects: removed.max(0) as u64,
            last_run: last_run.and_then(|j| serde_json::from_str(&j).ok()),
        })
    }

    /// The retained (not removed) objects of `policy`, least recently verified first (never
    /// verified first of all), at most `limit`.
    pub fn ledger_entries(
        &self,
        policy: &str,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, HistoryError> {
        let sql = self.sql();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, identity, size, first_seen, last_verified_at, last_result, last_run_id
                 FROM ledger WHERE policy = ?1 AND removed_at IS NULL
                 ORDER BY last_verified_at IS NOT NULL, last_verified_at, first_seen, key LIMIT ?2",
            )
            .map_err(&sql)?;
        let rows = stmt
            .query_map(params![policy, limit as i64], |r| {
                let time = |t: Option<String>| t.and_then(|t| t.parse().ok());
                Ok(LedgerEntry {
                    policy: policy.to_string(),
                    key: r.get(0)?,
                    identity: r.get(1)?,
                    size: r.get::<_, i64>(2)?.max(0) as u64,
                    first_seen: time(r.get(3)?).unwrap_or_default(),
                    last_verified: time(r.get(4)?),
                    last_result: r.get(5)?,
                    last_run_id: r.get(6)?,
                })
            })
            .map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(&sql)
    }
}

/// `change` as stored.
pub(super) fn change_name(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Listed => "listed",
        ChangeKind::Replaced => "replaced",
        ChangeKind::Removed => "removed",
    }
}

/// Applies a run being recorded to the stored ledger: its listing's changes a chunk at a
/// time (changes to different keys are independent; a first run over a big bucket has a
/// million), then its objects' results.
pub(super) fn record_run(
    conn: &Connection,
    result: &crate::results::RunResult,
) -> rusqlite::Result<()> {
    const CHUNK: usize = 10_000;
    let facts = |changes, objects| RunFacts {
        run_id: result.run_id.clone(),
        at: db_time(result.started_at),
        voided: false,
        changes,
        objects,
    };
    let mut changes = result
        .policies
        .iter()
        .flat_map(|p| p.ledger_changes.iter().map(move |c| (p, c)));
    loop {
        let chunk: Vec<ChangeRow> = changes
            .by_ref()
            .take(CHUNK)
            .map(|(p, c)| {
                (
                    p.name.clone(),
                    c.key.clone(),
                    change_name(c.change).to_string(),
                    c.identity.clone(),
                    c.size.map(|s| s as i64),
                )
            })
            .collect();
        if chunk.is_empty() {
            break;
        }
        record(conn, &facts(chunk, Vec::new()))?;
    }
    let mut objects = Vec::new();
    for p in &result.policies {
        for o in &p.objects {
            if let Some(identity) = &o.identity {
                objects.push((
                    p.name.clone(),
                    o.key.clone(),
                    identity.clone(),
                    o.status.as_str().to_string(),
                ));
            }
        }
    }
    record(conn, &facts(Vec::new(), objects))
}

/// A policy's ledger as recorded before a run, looked up by key a batch at a time while the
/// run's listing streams by: nothing of the ledger is held but the batch, so planning needs
/// no more memory for a ledger of a million objects than for an empty one.
pub struct LedgerReader {
    history: History,
    policy: String,
}

impl History {
    /// The ledger of `policy`, for lookups (see [`LedgerReader`]).
    pub fn ledger_reader(self, policy: &str) -> LedgerReader {
        LedgerReader {
            history: self,
            policy: policy.to_string(),
        }
    }
}

impl LedgerReader {
    /// The ledger's row under each key (none: never listed), in the keys' order.
    pub fn known<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<Vec<Option<Known>>, HistoryError> {
        let sql = self.history.sql();
        // One read transaction for all the lookups: one lock taken, and one state of the
        // ledger read (each statement alone would take and let go the file's lock).
        let read = self.history.conn.unchecked_transaction().map_err(&sql)?;
        let mut stmt = read
            .prepare_cached(
                "SELECT rowid, identity, first_seen, last_verified_at, removed_at, last_tried_at
                 FROM ledger WHERE policy = ?1 AND key = ?2",
            )
            .map_err(&sql)?;
        let mut out = Vec::new();
        for key in keys {
            let known = stmt
                .query_row(params![self.policy, key], |r| {
                    let time = |i: usize| -> rusqlite::Result<Option<jiff::Timestamp>> {
                        Ok(r.get::<_, Option<String>>(i)?.and_then(|t| t.parse().ok()))
                    };
                    Ok(Known {
                        row: r.get::<_, i64>(0)? as u64,
                        identity: r.get(1)?,
                        first_seen: time(2)?.unwrap_or_default(),
                        last_verified: time(3)?,
                        removed: r.get_ref(4)? != rusqlite::types::ValueRef::Null,
                        last_tried: time(5)?,
                    })
                })
                .optional()
                .map_err(&sql)?;
            out.push(known);
        }
        drop(stmt);
        read.finish().map_err(&sql)?;
        Ok(out)
    }

    /// The keys of the rows still retained that a listing did not match (`seen`): gone from
    /// storage. Read only when the counts say some are.
    pub fn unseen(&self, seen: &Seen) -> Result<Vec<String>, HistoryError> {
        let sql = self.history.sql();
        let retained: i64 = self
            .history
            .conn
            .query_row(
                "SELECT COUNT(*) FROM ledger WHERE policy = ?1 AND removed_at IS NULL",
                [&self.policy],
                |r| r.get(0),
            )
            .map_err(&sql)?;
        if retained.max(0) as u64 == seen.count {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .history
            .conn
            .prepare(
                "SELECT rowid, key FROM ledger WHERE policy = ?1 AND removed_at IS NULL ORDER BY key",
            )
            .map_err(&sql)?;
        let mut rows = stmt.query([&self.policy]).map_err(&sql)?;
        let mut keys = Vec::new();
        while let Some(r) = rows.next().map_err(&sql)? {
            let row: i64 = r.get(0).map_err(&sql)?;
            if !seen.contains(row as u64) {
                keys.push(r.get(1).map_err(&sql)?);
            }
        }
        Ok(keys)
    }
}
