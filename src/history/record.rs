//! Recording a run: the runner's own canonical record, built in memory from the run's
//! result, is what is hashed and signed, never the rows read back (a planted trigger could
//! have rewritten them). The rows are written from the same values, then read back and
//! compared with it before the transaction commits: a difference aborts the run's record
//! with an error naming the table.

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{ToSql, params};

use super::{History, HistoryError, chain, checkpoint, db_time, serde_plain};
use crate::results::{HistoryHead, RunResult};

/// One row: its columns and their values, as written.
type Row = Vec<(&'static str, Value)>;

/// A run's rows in every table, in the order `verify` reads them back.
struct Canonical {
    run: Row,
    policy_results: Vec<Row>,
    object_results: Vec<Row>,
    findings: Vec<Row>,
    ledger_changes: Vec<Row>,
}

/// A value as SQLite stores it from this parameter.
fn v<T: ToSql>(value: T) -> Value {
    match value.to_sql() {
        Ok(ToSqlOutput::Borrowed(r)) => Value::try_from(r).unwrap_or(Value::Null),
        Ok(ToSqlOutput::Owned(v)) => v,
        _ => Value::Null,
    }
}

impl Canonical {
    fn new(result: &RunResult, seq: i64, prev: &str) -> Canonical {
        let results_json = serde_json::to_string(result).expect("results serialize");
        let run = vec![
            ("run_id", v(&result.run_id)),
            ("kind", v(serde_plain(&result.kind))),
            ("host", v(&result.host)),
            ("version", v(&result.tool_version)),
            ("seed", v(result.seed.to_string())),
            ("started_at", v(db_time(result.started_at))),
            ("finished_at", v(db_time(result.finished_at))),
            ("status", v(result.status.as_str())),
            ("results_json", v(results_json)),
            ("prev_hash", v(prev)),
            ("operator", v(&result.operator)),
            ("witness", v(&result.witness)),
        ];
        let mut policies = Vec::new();
        let mut objects = Vec::new();
        let mut findings = Vec::new();
        let mut changes = Vec::new();
        for p in &result.policies {
            let row = vec![
                ("run_seq", v(seq)),
                ("policy", v(&p.name)),
                ("client", v(&p.client)),
                ("status", v(p.status.as_str())),
                ("newest_set", v(&p.rpo.newest_set)),
                ("rpo_target_seconds", v(p.rpo.target_seconds)),
                ("rpo_age_seconds", v(p.rpo.age_seconds)),
                ("rto_target_seconds", v(p.rto.target_seconds)),
                ("rto_measured_seconds", v(p.rto.measured_seconds)),
                ("rto_projected_seconds", v(p.rto.projected_seconds)),
                (
                    "throughput_bytes_per_second",
                    v(p.rto.throughput_bytes_per_second),
                ),
                ("sampled_bytes", v(p.rto.sampled_bytes as i64)),
                (
                    "coverage_json",
                    v(p.coverage
                        .as_ref()
                        .map(|c| serde_json::to_string(c).expect("coverage serializes"))),
                ),
            ];
            policies.push(((p.name.clone(), String::new(), 0), row));
            for o in &p.objects {
                let row = vec![
                    ("run_seq", v(seq)),
                    ("policy", v(&p.name)),
                    ("key", v(&o.key)),
                    ("set_name", v(&o.set)),
                    ("format", v(serde_plain(&o.format))),
                    ("stored_bytes", v(o.stored_bytes as i64)),
                    ("restored_bytes", v(o.restored_bytes as i64)),
                    ("files", v(o.files as i64)),
                    ("seconds", v(o.seconds)),
                    ("status", v(o.status.as_str())),
                    ("digest_algorithm", v(o.digest.algorithm.name())),
                    ("digest_expected", v(&o.digest.expected)),
                    ("digest_actual", v(&o.digest.actual)),
                    ("identity", v(&o.identity)),
                ];
                objects.push(((p.name.clone(), o.key.clone(), 0), row));
            }
            for (n, f) in p.findings.iter().enumerate() {
                let row = vec![
                    ("run_seq", v(seq)),
                    ("policy", v(&p.name)),
                    ("n", v(n as i64)),
                    ("kind", v(f.kind.as_str())),
                    ("object", v(&f.object)),
                    ("message", v(&f.message)),
                ];
                findings.push(((p.name.clone(), String::new(), n as i64), row));
            }
            changes.extend(ledger_rows(seq, p));
        }
        // The order of `chain::content_hash`'s queries (SQLite's BINARY collation is byte
        // order, as `String`'s).
        let sorted = |mut rows: Vec<((String, String, i64), Row)>| {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.into_iter().map(|(_, row)| row).collect()
        };
        Canonical {
            run,
            policy_results: sorted(policies),
            object_results: sorted(objects),
            findings: sorted(findings),
            ledger_changes: sorted(changes),
        }
    }

    /// Each table's rows in their canonical JSON form, as `chain` reads them back.
    fn tables(&self) -> [(&'static str, Vec<serde_json::Value>); 5] {
        let json = |rows: &[Row]| -> Vec<serde_json::Value> {
            rows.iter()
                .map(|row| chain::canonical_row(row.iter().map(|(n, v)| (*n, v.into()))))
                .collect()
        };
        [
            ("runs", json(std::slice::from_ref(&self.run))),
            ("policy_results", json(&self.policy_results)),
            ("object_results", json(&self.object_results)),
            ("findings", json(&self.findings)),
            ("ledger_changes", json(&self.ledger_changes)),
        ]
    }
}

/// The `ledger_changes` rows of one policy's result, keyed for sorting.
fn ledger_rows(
    seq: i64,
    p: &crate::results::PolicyResult,
) -> impl Iterator<Item = ((String, String, i64), Row)> + '_ {
    p.ledger_changes.iter().map(move |c| {
        let row = vec![
            ("run_seq", v(seq)),
            ("policy", v(&p.name)),
            ("key", v(&c.key)),
            ("change", v(super::ledger::change_name(c.change))),
            ("identity", v(&c.identity)),
            ("size", v(c.size.map(|s| s as i64))),
        ];
        ((p.name.clone(), c.key.clone(), 0), row)
    })
}

/// `INSERT INTO table (columns) VALUES (…)` for one row.
fn insert(tx: &rusqlite::Transaction<'_>, table: &str, row: &Row) -> rusqlite::Result<()> {
    let columns: Vec<&str> = row.iter().map(|(n, _)| *n).collect();
    let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    );
    tx.execute(&sql, rusqlite::params_from_iter(row.iter().map(|(_, v)| v)))?;
    Ok(())
}

impl History {
    /// Records a run, in one transaction, at the head of the chain, signed when a key is
    /// given, then appends the new head to the checkpoint file; returns the head. The hash
    /// is of the run as this process computed it; rows that read back otherwise abort the
    /// record ([`HistoryError::Forged`]).
    pub fn record(
        &mut self,
        result: &RunResult,
        key: Option<&ed25519_dalek::SigningKey>,
    ) -> Result<HistoryHead, HistoryError> {
        let sql = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)",
                [&result.run_id],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if exists {
            return Err(HistoryError::Duplicate {
                path: self.path.clone(),
                run_id: result.run_id.clone(),
            });
        }
        let prev: String = chain::head(&tx)
            .map_err(sql)?
            .unwrap_or_else(chain::genesis);
        let seq: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs", [], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        let canonical = Canonical::new(result, seq, &prev);
        let mut run = canonical.run.clone();
        run.extend([
            ("seq", v(seq)),
            ("content_hash", v("")),
            ("record_hash", v("")),
        ]);
        insert(&tx, "runs", &run).map_err(sql)?;
        for (table, rows) in [
            ("policy_results", &canonical.policy_results),
            ("object_results", &canonical.object_results),
            ("findings", &canonical.findings),
            ("ledger_changes", &canonical.ledger_changes),
        ] {
            for row in rows {
                insert(&tx, table, row).map_err(sql)?;
            }
        }
        let tables = canonical.tables();
        let content = chain::content_hash_of(&tables);
        let signed_by = key.map(crate::signing::public_hex);
        let record = chain::hash_for(&prev, &content, signed_by.as_deref());
        let signature = key.map(|k| crate::signing::sign(k, record.as_bytes()));
        tx.execute(
            "UPDATE runs SET content_hash = ?1, record_hash = ?2, signature = ?3, signed_by = ?4 WHERE seq = ?5",
            params![content, record, signature, signed_by, seq],
        )
        .map_err(sql)?;
        // What is stored must be what was hashed and signed, or nothing is committed.
        for (table, expected) in &tables {
            if chain::stored(&tx, table, seq).map_err(sql)? != *expected {
                return Err(HistoryError::Forged {
                    path: self.path.clone(),
                    table: (*table).to_string(),
                });
            }
        }
        let stored: (String, String, Option<String>, Option<String>) = tx
            .query_row(
                "SELECT content_hash, record_hash, signature, signed_by FROM runs WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(sql)?;
        if stored != (content, record.clone(), signature, signed_by) {
            return Err(HistoryError::Forged {
                path: self.path.clone(),
                table: "runs".into(),
            });
        }
        super::ledger::record(&tx, &super::ledger::facts(result)).map_err(sql)?;
        let head = checkpoint::head_of(&tx, record).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.anchor(head, key)
    }
}
