//! Runs as they start: each run notes its id, kind, seed, start and version in the history
//! (table `starts`) before it restores anything. A run whose process dies is then recorded
//! as interrupted from what the history holds; the marker it left in scratch only says
//! which run it was. A marker naming a run this history never started is not evidence.
//! A start is no result, so it is not part of the chain; the interrupted record made from
//! it is.

use rusqlite::{OptionalExtension as _, params};

use super::{History, HistoryError, db_time, serde_plain};
use crate::unattended::RunMarker;

impl History {
    /// Notes that the run of `marker` started (once: a second note of the same id is
    /// ignored).
    pub fn note_start(&mut self, marker: &RunMarker) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO starts (run_id, kind, seed, started_at, version)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    marker.run_id,
                    serde_plain(&marker.kind),
                    marker.seed.to_string(),
                    db_time(marker.started_at),
                    marker.tool_version,
                ],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// The run `run_id` as its start was noted, for the state folder `state_dir` (as a
    /// marker names it); `None` when this history never started it.
    pub fn started(
        &self,
        run_id: &str,
        state_dir: &std::path::Path,
    ) -> Result<Option<RunMarker>, HistoryError> {
        let row: Option<(String, String, String, String)> = self
            .conn
            .query_row(
                "SELECT kind, seed, started_at, version FROM starts WHERE run_id = ?1",
                [run_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(self.sql())?;
        Ok(row.and_then(|(kind, seed, started_at, version)| {
            Some(RunMarker {
                state_dir: state_dir.to_path_buf(),
                run_id: run_id.to_string(),
                started_at: started_at.parse().ok()?,
                seed: seed.parse().ok()?,
                kind: serde_json::from_value(serde_json::Value::String(kind)).ok()?,
                tool_version: version,
            })
        }))
    }
}
