//! Corrections of recorded runs, by appending: a note on a run (`annotate`), or its voiding
//! (`void`: the run was a mistake, such as a drill against the wrong client or a run during
//! a planned storage migration, and counts in no figure). Each correction is a record of
//! the history's chain, after the newest run, signed like a run when a key is given. A run's
//! own rows are never edited: that is what keeps the chain, and the reports tied to its
//! head, true.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{History, HistoryError, chain, checkpoint, db_time};

/// What a correction does to its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A note beside the run; its figures stand.
    Annotate,
    /// The run is left out of every figure; it stays in the chain, struck through.
    Void,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Annotate => "annotate",
            Action::Void => "void",
        }
    }

    fn parse(text: &str) -> Action {
        if text == "void" {
            Action::Void
        } else {
            Action::Annotate
        }
    }
}

/// One correction of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correction {
    pub run_id: String,
    pub action: Action,
    /// Who made it.
    pub by: String,
    /// The note, or the reason for voiding.
    pub text: String,
    pub made_at: jiff::Timestamp,
}

impl History {
    /// Appends `correction` to the chain, signed when a key is given, and the new head to
    /// the checkpoint file; returns its record hash. A run that is not in the history, or
    /// voiding a run already voided, is refused.
    pub fn correct(
        &mut self,
        correction: &Correction,
        key: Option<&ed25519_dalek::SigningKey>,
    ) -> Result<String, HistoryError> {
        let sql = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let known: Option<i64> = tx
            .query_row(
                "SELECT seq FROM runs WHERE run_id = ?1",
                [&correction.run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if known.is_none() {
            return Err(HistoryError::UnknownRun {
                path: self.path.clone(),
                run_id: correction.run_id.clone(),
            });
        }
        if correction.action == Action::Void
            && let Some(earlier) = voiding(&tx, &correction.run_id).map_err(sql)?
        {
            return Err(HistoryError::AlreadyVoided {
                run_id: correction.run_id.clone(),
                by: earlier.by,
                reason: earlier.text,
            });
        }
        let prev = chain::head(&tx)
            .map_err(sql)?
            .unwrap_or_else(chain::genesis);
        let after: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM runs", [], |r| r.get(0))
            .map_err(sql)?;
        tx.execute(
            "INSERT INTO corrections (after_seq, run_id, action, made_by, text, made_at, prev_hash, content_hash, record_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '', '')",
            params![
                after,
                correction.run_id,
                correction.action.as_str(),
                correction.by,
                correction.text,
                db_time(correction.made_at),
                prev,
            ],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid();
        let content = chain::correction_hash(&tx, id).map_err(sql)?;
        let signed_by = key.map(crate::signing::public_hex);
        let record = chain::hash_for(&prev, &content, signed_by.as_deref());
        let signature = key.map(|k| crate::signing::sign(k, record.as_bytes()));
        tx.execute(
            "UPDATE corrections SET content_hash = ?1, record_hash = ?2, signature = ?3, signed_by = ?4 WHERE id = ?5",
            params![content, record, signature, signed_by, id],
        )
        .map_err(sql)?;
        // A voided run's verifications no longer count toward coverage.
        if correction.action == Action::Void {
            super::ledger::refresh(&tx).map_err(sql)?;
        }
        let head =
            checkpoint::head_of(&tx, record.clone(), correction.run_id.clone()).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.anchor(head, key)?;
        Ok(record)
    }

    /// The corrections of `run_id` (of every run when `None`), oldest first.
    pub fn corrections(&self, run_id: Option<&str>) -> Result<Vec<Correction>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, action, made_by, text, made_at FROM corrections
                 WHERE ?1 IS NULL OR run_id = ?1 ORDER BY after_seq, id",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([run_id], correction_row)
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }
}

fn correction_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Correction> {
    Ok(Correction {
        run_id: r.get(0)?,
        action: Action::parse(&r.get::<_, String>(1)?),
        by: r.get(2)?,
        text: r.get(3)?,
        made_at: r.get::<_, String>(4)?.parse().unwrap_or_default(),
    })
}

/// The voiding of `run_id`, if it was voided.
pub(super) fn voiding(
    conn: &rusqlite::Connection,
    run_id: &str,
) -> rusqlite::Result<Option<Correction>> {
    conn.query_row(
        "SELECT run_id, action, made_by, text, made_at FROM corrections
         WHERE run_id = ?1 AND action = 'void' ORDER BY id LIMIT 1",
        [run_id],
        correction_row,
    )
    .optional()
}
