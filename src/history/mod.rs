//! Run history: an embedded SQLite database in `state_dir` (WAL, one transaction per run,
//! migrations in [`schema`]) holding every run, policy result, object result and finding.
//! Each run's record carries the SHA-256 of its canonical content and of the previous record:
//! a hash chain that [`History::verify`] recomputes, naming the first record that no longer
//! matches. Killing the process at any moment leaves the database as it was before the run
//! or with the run complete, never half of it. A wrong record is corrected by appending a
//! note or a voiding to the same chain ([`corrections`]), never by editing it. A run is
//! hashed and signed as this process computed it ([`record`]); a database whose schema holds
//! objects no migration made (a planted trigger) is refused. After every record the chain's
//! head is appended to a checkpoint file beside the database ([`checkpoint`]), so a history
//! cut short or rewritten no longer matches the heads kept outside it.

mod chain;
mod checkpoint;
mod content;
mod corrections;
mod ledger;
mod period;
mod record;
mod schema;
mod starts;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

pub use chain::Verification;
pub use checkpoint::{FILE as CHECKPOINTS, heads_in, parse_head};
pub use corrections::{Action, Correction};
pub use ledger::{LedgerEntry, LedgerReader, LedgerSummary};
pub use period::{StoredObject, StoredPolicy, StoredRun};

/// The database file inside `state_dir`.
pub const DATABASE: &str = "history.sqlite3";

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    // The OS or SQLite error is in these messages, so it is no `source`: it would be
    // printed twice.
    #[error("cannot create the state folder `{}`: {error}; {}", .path.display(), crate::fsx::state_folder_advice(.path))]
    Folder {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("history database `{}`: {error}{}", .path.display(), unwritable_advice(.path, .error))]
    Sql {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error(
        "history database `{path}` has schema version {found}, newer than this restore-drill knows ({known}): use a newer restore-drill"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// Objects in the schema that no migration made: triggers, views, tables, indexes.
    #[error(
        "history database `{}` holds schema objects restore-drill did not create: {}; they can rewrite records as they are written. Find out who planted them, remove them (`sqlite3 {} 'DROP TRIGGER name'`), then run `restore-drill history verify`",
        .path.display(), .objects.join(", "), .path.display()
    )]
    Foreign { path: PathBuf, objects: Vec<String> },
    /// The rows read back differ from what the run wrote: nothing was recorded.
    #[error(
        "history database `{}`: the rows of table `{table}` read back differ from what this run wrote (a trigger or another writer changed them); nothing was recorded or signed",
        .path.display()
    )]
    Forged { path: PathBuf, table: String },
    /// The record is in the database, but its head could not be kept beside it.
    #[error(
        "the record is in the history, but its head could not be appended to the checkpoint file `{}`: {error}; {}",
        .path.display(), crate::fsx::state_folder_advice(.path.parent().unwrap_or(.path))
    )]
    Checkpoint {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("run `{run_id}` is already in the history database `{path}`")]
    Duplicate { path: PathBuf, run_id: String },
    /// A correction names a run the history does not have.
    #[error(
        "no run `{run_id}` in the history database `{path}`: `restore-drill history` lists the run ids"
    )]
    UnknownRun { path: PathBuf, run_id: String },
    #[error("run `{run_id}` is already voided (by {by}: {reason}); a run is voided once")]
    AlreadyVoided {
        run_id: String,
        by: String,
        reason: String,
    },
}

/// For a database that cannot be opened or written, what to do about its folder; else
/// nothing.
fn unwritable_advice(path: &Path, error: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode::{CannotOpen, PermissionDenied, ReadOnly};
    match error.sqlite_error_code() {
        Some(CannotOpen | PermissionDenied | ReadOnly) => {
            let dir = path.parent().unwrap_or(path);
            format!("; {}", crate::fsx::state_folder_advice(dir))
        }
        _ => String::new(),
    }
}

pub struct History {
    conn: Connection,
    path: PathBuf,
}

/// One run as `restore-drill history` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub kind: String,
    pub host: String,
    pub started_at: String,
    pub status: String,
    pub policies: i64,
    pub failed: i64,
    pub record_hash: String,
    /// Why the run was voided, when it was: it counts in no figure.
    pub voided: Option<String>,
    /// Its notes and voiding, oldest first.
    pub corrections: Vec<Correction>,
}

/// One policy's result in one run.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRow {
    pub run_id: String,
    pub started_at: String,
    pub policy: String,
    pub client: String,
    pub status: String,
    pub rpo_age_seconds: Option<f64>,
    pub rpo_target_seconds: f64,
    pub rto_projected_seconds: Option<f64>,
    pub rto_target_seconds: f64,
    pub findings: i64,
    /// Why the run was voided, when it was.
    pub voided: Option<String>,
}

/// Which runs and policies to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub policy: Option<String>,
    pub client: Option<String>,
    /// RFC 3339 timestamp or date; runs started at or after it.
    pub since: Option<String>,
    pub limit: Option<usize>,
}

/// An SQLite error as the history's, naming its file. A free function over the path alone,
/// so it can be held while the connection is borrowed for a transaction.
fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> HistoryError + Copy + '_ {
    |error| HistoryError::Sql {
        path: path.to_path_buf(),
        error,
    }
}

/// Puts the database in WAL mode. Switching a new database's journal mode takes a lock that
/// SQLite does not wait for with the busy handler: processes opening a new history at once
/// get "database is locked" at once. So a busy answer is retried, for as long as the busy
/// timeout would have waited (30 s).
fn wal_mode(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

impl History {
    /// Opens (creating when absent) `state_dir/history.sqlite3` and brings its schema up to
    /// date.
    /// Refuses ([`HistoryError::Foreign`]) a database whose schema holds objects no
    /// migration made.
    pub fn open(state_dir: &Path) -> Result<History, HistoryError> {
        let history = History::open_to_verify(state_dir)?;
        let objects = history.foreign()?;
        if !objects.is_empty() {
            return Err(HistoryError::Foreign {
                path: history.path,
                objects,
            });
        }
        Ok(history)
    }

    /// Opens the history as [`History::open`] does, but a schema with foreign objects too:
    /// for `history verify`, which names them ([`Verification::foreign`]).
    pub fn open_to_verify(state_dir: &Path) -> Result<History, HistoryError> {
        std::fs::create_dir_all(state_dir).map_err(|error| HistoryError::Folder {
            path: state_dir.to_path_buf(),
            error,
        })?;
        let path = state_dir.join(DATABASE);
        let sql = sql_error(&path);
        let conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        wal_mode(&conn).map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        let mut history = History { conn, path };
        history.migrate()?;
        Ok(history)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
        sql_error(&self.path)
    }

    fn migrate(&mut self) -> Result<(), HistoryError> {
        let sql = sql_error(&self.path);
        let known = schema::MIGRATIONS.len() as i64;
        let version = |conn: &Connection| -> rusqlite::Result<i64> {
            conn.pragma_query_value(None, "user_version", |row| row.get(0))
        };
        if version(&self.conn).map_err(sql)? == known {
            return Ok(());
        }
        // One write transaction, the version read inside it: processes opening a new history
        // at once migrate it one after the other, the later ones finding nothing to do.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let found = version(&tx).map_err(sql)?;
        if found > known {
            return Err(HistoryError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        for (version, migration) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(migration).map_err(sql)?;
            tx.pragma_update(None, "user_version", version as i64 + 1)
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// The hash of the newest record (run or correction): the chain head reports print.
    pub fn head(&self) -> Result<Option<String>, HistoryError> {
        chain::head(&self.conn).map_err(self.sql())
    }

    /// Recomputes the chain from the first record to the newest, and checks that it still
    /// holds every head of the checkpoint file beside it; `signer` is the configured key's
    /// public half, which every signed record must carry.
    pub fn verify(&self, signer: Option<&str>) -> Result<Verification, HistoryError> {
        self.verify_against(signer, &[])
    }

    /// The schema objects (`trigger `name``) that no migration made.
    fn foreign(&self) -> Result<Vec<String>, HistoryError> {
        schema::foreign(&self.conn).map_err(self.sql())
    }

    /// The start and status of the newest run that restored `policy` (interrupted runs,
    /// which restored nothing to the end, and voided runs do not count).
    pub fn last_run(
        &self,
        policy: &str,
    ) -> Result<Option<(jiff::Timestamp, String)>, HistoryError> {
        self.conn
            .query_row(
                "SELECT r.started_at, p.status FROM policy_results p JOIN runs r ON r.seq = p.run_seq
                 WHERE p.policy = ?1 AND NOT EXISTS
                   (SELECT 1 FROM corrections c WHERE c.run_id = r.run_id AND c.action = 'void')
                 ORDER BY r.seq DESC LIMIT 1",
                [policy],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|row| row.and_then(|(t, s)| t.parse().ok().map(|t| (t, s))))
            .map_err(self.sql())
    }

    /// True when `record_hash` is a record of this history.
    pub fn has_record(&self, record_hash: &str) -> Result<bool, HistoryError> {
        self.conn
            .query_row(
                "SELECT 1 FROM runs WHERE record_hash = ?1
                 UNION ALL SELECT 1 FROM corrections WHERE record_hash = ?1",
                [record_hash],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(self.sql())
    }

    /// Recent runs, newest first.
    pub fn runs(&self, filter: &Filter) -> Result<Vec<RunRow>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.run_id, r.kind, r.host, r.started_at, r.status, r.record_hash,
                        COUNT(p.policy), COALESCE(SUM(p.status = 'fail'), 0),
                        (SELECT c.text FROM corrections c WHERE c.run_id = r.run_id AND c.action = 'void' ORDER BY c.id LIMIT 1)
                 FROM runs r LEFT JOIN policy_results p ON p.run_seq = r.seq
                 WHERE (?1 IS NULL OR r.started_at >= ?1)
                   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM policy_results q WHERE q.run_seq = r.seq AND q.policy = ?2))
                   AND (?3 IS NULL OR EXISTS (SELECT 1 FROM policy_results q WHERE q.run_seq = r.seq AND q.client = ?3))
                 GROUP BY r.seq ORDER BY r.seq DESC LIMIT ?4",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(
                params![filter.since, filter.policy, filter.client, limit(filter)],
                |r| {
                    Ok(RunRow {
                        run_id: r.get(0)?,
                        kind: r.get(1)?,
                        host: r.get(2)?,
                        started_at: r.get(3)?,
                        status: r.get(4)?,
                        record_hash: r.get(5)?,
                        policies: r.get(6)?,
                        failed: r.get(7)?,
                        voided: r.get(8)?,
                        corrections: Vec::new(),
                    })
                },
            )
            .map_err(self.sql())?;
        let mut rows: Vec<RunRow> = rows.collect::<Result<_, _>>().map_err(self.sql())?;
        for row in &mut rows {
            row.corrections = self.corrections(Some(&row.run_id))?;
        }
        Ok(rows)
    }

    /// Per-policy results, newest run first.
    pub fn policy_results(&self, filter: &Filter) -> Result<Vec<PolicyRow>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.run_id, r.started_at, p.policy, p.client, p.status, p.rpo_age_seconds,
                        p.rpo_target_seconds, p.rto_projected_seconds, p.rto_target_seconds,
                        (SELECT COUNT(*) FROM findings f WHERE f.run_seq = p.run_seq AND f.policy = p.policy),
                        (SELECT c.text FROM corrections c WHERE c.run_id = r.run_id AND c.action = 'void' ORDER BY c.id LIMIT 1)
                 FROM policy_results p JOIN runs r ON r.seq = p.run_seq
                 WHERE (?1 IS NULL OR r.started_at >= ?1)
                   AND (?2 IS NULL OR p.policy = ?2)
                   AND (?3 IS NULL OR p.client = ?3)
                 ORDER BY r.seq DESC, p.policy LIMIT ?4",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(
                params![filter.since, filter.policy, filter.client, limit(filter)],
                |r| {
                    Ok(PolicyRow {
                        run_id: r.get(0)?,
                        started_at: r.get(1)?,
                        policy: r.get(2)?,
                        client: r.get(3)?,
                        status: r.get(4)?,
                        rpo_age_seconds: r.get(5)?,
                        rpo_target_seconds: r.get(6)?,
                        rto_projected_seconds: r.get(7)?,
                        rto_target_seconds: r.get(8)?,
                        findings: r.get(9)?,
                        voided: r.get(10)?,
                    })
                },
            )
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }
}

/// Times are stored in one fixed-width UTC form, so text order is time order.
pub fn db_time(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn limit(filter: &Filter) -> i64 {
    filter.limit.map_or(-1, |l| l as i64)
}

/// A unit enum's serde name (`scheduled`, `tar_zstd`).
fn serde_plain<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests;
