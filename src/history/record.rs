//! Recording a run: the runner's own canonical record, built in memory from the run's
//! result, is what is hashed and signed, never the rows read back (a planted trigger could
//! have rewritten them). The rows are written from the same values, then read back and
//! compared with it before the transaction commits: a difference aborts the run's record
//! with an error naming the table.

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{ToSql, params};

use super::{History, HistoryError, chain, checkpoint, content, db_time, serde_plain};
use crate::results::{HistoryHead, RunResult};

/// One row: its columns and their values, as written.
type Row = Vec<(&'static str, Value)>;

/// A run's rows in every table, in the order `verify` reads them back; the ledger's changes
/// (a row per object new to the ledger: a million on a first run over a big bucket) are
/// made one at a time from the result instead ([`ledger_rows`]).
struct Canonical {
    run: Row,
    policy_results: Vec<Row>,
    object_results: Vec<Row>,
    findings: Vec<Row>,
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
        }
    }

    /// The rows of the tables held in memory, by table.
    fn held(&self) -> [(&'static str, &[Row]); 4] {
        [
            ("runs", std::slice::from_ref(&self.run)),
            ("policy_results", &self.policy_results),
            ("object_results", &self.object_results),
            ("findings", &self.findings),
        ]
    }

    /// Calls `each` with `table`'s rows in canonical JSON form and key order, as `chain`
    /// reads them back; the ledger's changes made from `result` one at a time.
    fn each(
        &self,
        result: &RunResult,
        seq: i64,
        table: &str,
        each: &mut dyn FnMut(&serde_json::Value),
    ) {
        let json = |row: &Row| content::canonical_row(row.iter().map(|(n, v)| (*n, v.into())));
        if table == "ledger_changes" {
            for row in ledger_rows(result, seq) {
                each(&json(&row));
            }
            return;
        }
        for (name, rows) in self.held() {
            if name == table {
                rows.iter().for_each(|row| each(&json(row)));
            }
        }
    }
}

/// The `ledger_changes` rows of a run, made one at a time in the order `chain` reads them
/// (policy, then key; SQLite's BINARY collation is byte order, as `String`'s).
fn ledger_rows(result: &RunResult, seq: i64) -> impl Iterator<Item = Row> + '_ {
    let mut policies: Vec<&crate::results::PolicyResult> = result.policies.iter().collect();
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    policies.into_iter().flat_map(move |p| {
        let mut order: Vec<usize> = (0..p.ledger_changes.len()).collect();
        order.sort_by(|&a, &b| p.ledger_changes[a].key.cmp(&p.ledger_changes[b].key));
        order.into_iter().map(move |i| {
            let c = &p.ledger_changes[i];
            vec![
                ("run_seq", v(seq)),
                ("policy", v(&p.name)),
                ("key", v(&c.key)),
                ("change", v(super::ledger::change_name(c.change))),
                ("identity", v(&c.identity)),
                ("size", v(c.size.map(|s| s as i64))),
            ]
        })
    })
}

/// `INSERT INTO table (columns) VALUES (…)` for one row (the statement cached: a run may
/// write a million rows of one table).
fn insert(tx: &rusqlite::Transaction<'_>, table: &str, row: &Row) -> rusqlite::Result<()> {
    let columns: Vec<&str> = row.iter().map(|(n, _)| *n).collect();
    let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    );
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(row.iter().map(|(_, v)| v)))?;
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
        for (table, rows) in canonical.held().into_iter().skip(1) {
            for row in rows {
                insert(&tx, table, row).map_err(sql)?;
            }
        }
        for row in ledger_rows(result, seq) {
            insert(&tx, "ledger_changes", &row).map_err(sql)?;
        }
        let content = content::content_hash_streamed(|table, sink| {
            canonical.each(result, seq, table, sink);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        let signed_by = key.map(crate::signing::public_hex);
        let record = chain::hash_for(&prev, &content, signed_by.as_deref());
        let signature = key.map(|k| crate::signing::sign(k, record.as_bytes()));
        tx.execute(
            "UPDATE runs SET content_hash = ?1, record_hash = ?2, signature = ?3, signed_by = ?4 WHERE seq = ?5",
            params![content, record, signature, signed_by, seq],
        )
        .map_err(sql)?;
        // What is stored must be what was hashed and signed, or nothing is committed.
        for (table, _) in canonical
            .held()
            .into_iter()
            .chain([("ledger_changes", &[][..])])
        {
            if !same_as_stored(&tx, &canonical, result, seq, table).map_err(sql)? {
                return Err(HistoryError::Forged {
                    path: self.path.clone(),
                    table: table.to_string(),
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
        super::ledger::record_run(&tx, result).map_err(sql)?;
        let head = checkpoint::head_of(&tx, record).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.anchor(head, key)
    }
}

/// Whether run `seq`'s rows of `table` as stored are the canonical ones, compared a row at a
/// time as both are read (none of either side held).
fn same_as_stored(
    tx: &rusqlite::Transaction<'_>,
    canonical: &Canonical,
    result: &RunResult,
    seq: i64,
    table: &str,
) -> rusqlite::Result<bool> {
    let json = |row: &Row| content::canonical_row(row.iter().map(|(n, v)| (*n, v.into())));
    let mut mine: Box<dyn Iterator<Item = serde_json::Value>> = if table == "ledger_changes" {
        Box::new(ledger_rows(result, seq).map(move |row| json(&row)))
    } else {
        let held = canonical
            .held()
            .into_iter()
            .find(|(name, _)| *name == table)
            .map_or(&[][..], |(_, rows)| rows);
        Box::new(held.iter().map(json))
    };
    let mut same = true;
    content::each_stored(tx, table, seq, &mut |stored| {
        same &= mine.next().is_some_and(|row| row == *stored);
    })?;
    Ok(same && mine.next().is_none())
}
