//! Recording a run: the runner's own canonical record, built in memory from the run's
//! result, is what is hashed and signed, never the rows read back (a planted trigger could
//! have rewritten them). The rows are written from the same values, then read back and
//! compared with it before the transaction commits: a difference aborts the run's record
//! with an error naming the table.

use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, Value};

use super::{History, HistoryError, chain, checkpoint, content, db_time, serde_plain};
use crate::results::{HistoryHead, PolicyResult, RunResult};

/// One row: its columns and their values, as written.
type Row = Vec<(&'static str, Value)>;

/// A run's rows of the small tables (the run, its policy results and findings), in the
/// order `verify` reads them back. The rows of a row per object (object results, and the
/// ledger's changes: a million on a first run over a big bucket) are made one at a time
/// from the result instead ([`object_rows`], [`ledger_rows`]).
struct Canonical {
    run: Row,
    policy_results: Vec<Row>,
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

/// The record's tables, in the order they are written and compared.
const TABLES: [&str; 5] = [
    "runs",
    "policy_results",
    "object_results",
    "findings",
    "ledger_changes",
];

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
            ("results_json", Value::Text(results_json)),
            ("prev_hash", v(prev)),
            ("operator", v(&result.operator)),
            ("witness", v(&result.witness)),
            // Outside the content (`content::NOT_CONTENT`): the row's id, and its hashes,
            // set once the content is hashed (and its signature then added).
            ("seq", v(seq)),
            ("content_hash", v("")),
            ("record_hash", v("")),
        ];
        let mut policies = Vec::new();
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
            policies.push(((p.name.clone(), 0), row));
            for (n, f) in p.findings.iter().enumerate() {
                let row = vec![
                    ("run_seq", v(seq)),
                    ("policy", v(&p.name)),
                    ("n", v(n as i64)),
                    ("kind", v(f.kind.as_str())),
                    ("object", v(&f.object)),
                    ("message", v(&f.message)),
                ];
                findings.push(((p.name.clone(), n as i64), row));
            }
        }
        // The order of `chain::content_hash`'s queries (SQLite's BINARY collation is byte
        // order, as `String`'s).
        let sorted = |mut rows: Vec<((String, i64), Row)>| {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.into_iter().map(|(_, row)| row).collect()
        };
        Canonical {
            run,
            policy_results: sorted(policies),
            findings: sorted(findings),
        }
    }

    /// Calls `each` with `table`'s rows in key order, as `chain` reads them back: the
    /// small tables' from memory, the per-object ones made from `result` one at a time.
    fn each(&self, result: &RunResult, seq: i64, table: &str, each: &mut dyn FnMut(&Row)) {
        match table {
            "runs" => each(&self.run),
            "policy_results" => self.policy_results.iter().for_each(each),
            "findings" => self.findings.iter().for_each(each),
            "object_results" => object_rows(result, seq).for_each(|row| each(&row)),
            "ledger_changes" => ledger_rows(result, seq).for_each(|row| each(&row)),
            _ => {}
        }
    }
}

/// A row's cells, borrowed from its values.
fn cells(row: &Row) -> Vec<(&str, rusqlite::types::ValueRef<'_>)> {
    row.iter().map(|(n, v)| (*n, v.into())).collect()
}

/// The items `of` each policy of a run, with their policy, one at a time in the order
/// `chain` reads the per-object tables (policy, then key; SQLite's BINARY collation is byte
/// order, as `String`'s).
fn keyed<'r, T: 'r>(
    result: &'r RunResult,
    of: impl Fn(&'r PolicyResult) -> &'r [T] + Copy + 'r,
    key: impl Fn(&T) -> &str + Copy + 'r,
) -> impl Iterator<Item = (&'r PolicyResult, &'r T)> + 'r {
    let mut policies: Vec<&PolicyResult> = result.policies.iter().collect();
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    policies.into_iter().flat_map(move |p| {
        let items = of(p);
        let mut order: Vec<&T> = items.iter().collect();
        order.sort_by(|a, b| key(a).cmp(key(b)));
        order.into_iter().map(move |item| (p, item))
    })
}

/// The `object_results` rows of a run, made one at a time in key order.
fn object_rows(result: &RunResult, seq: i64) -> impl Iterator<Item = Row> + '_ {
    keyed(result, |p| &p.objects, |o| &o.key).map(move |(p, o)| {
        vec![
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
        ]
    })
}

/// The `ledger_changes` rows of a run, made one at a time in key order.
fn ledger_rows(result: &RunResult, seq: i64) -> impl Iterator<Item = Row> + '_ {
    keyed(result, |p| &p.ledger_changes, |c| &c.key).map(move |(p, c)| {
        vec![
            ("run_seq", v(seq)),
            ("policy", v(&p.name)),
            ("key", v(&c.key)),
            ("change", v(super::ledger::change_name(c.change))),
            ("identity", v(&c.identity)),
            ("size", v(c.size.map(|s| s as i64))),
        ]
    })
}

/// Inserts `table`'s rows (all of one table have the same columns), through one prepared
/// `INSERT INTO table (columns) VALUES (…)`: a run may write a million rows of one table.
fn insert_all(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    each: impl FnOnce(&mut dyn FnMut(&Row)),
) -> rusqlite::Result<()> {
    let mut stmt: Option<rusqlite::CachedStatement<'_>> = None;
    let mut failed = None;
    each(&mut |row: &Row| {
        if failed.is_some() {
            return;
        }
        let done = (|| {
            if stmt.is_none() {
                let columns: Vec<&str> = row.iter().map(|(n, _)| *n).collect();
                let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    columns.join(", "),
                    marks.join(", ")
                );
                stmt = Some(tx.prepare_cached(&sql)?);
            }
            let stmt = stmt.as_mut().expect("prepared above");
            stmt.execute(rusqlite::params_from_iter(row.iter().map(|(_, v)| v)))
        })();
        if let Err(e) = done {
            failed = Some(e);
        }
    });
    failed.map_or(Ok(()), Err)
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
        let mut canonical = Canonical::new(result, seq, &prev);
        // The run's own row goes in last, with its hashes, once they are known: a row of
        // 40 MB (a drill's results document) is written once, not written and updated. The
        // other tables' rows refer to it, so their references are checked at the commit.
        tx.pragma_update(None, "defer_foreign_keys", "ON")
            .map_err(sql)?;
        // Each table's rows are made once: inserted, and hashed as they go by (the run's
        // own row is hashed last, in the content's key order).
        let content = content::content_hash_streamed(|table, sink| {
            if table == "runs" {
                sink(&cells(&canonical.run));
                return Ok(());
            }
            insert_all(&tx, table, |each| {
                canonical.each(result, seq, table, &mut |row| {
                    each(row);
                    sink(&cells(row));
                })
            })
        })
        .map_err(sql)?;
        let signed_by = key.map(crate::signing::public_hex);
        let record = chain::hash_for(&prev, &content, signed_by.as_deref());
        let signature = key.map(|k| crate::signing::sign(k, record.as_bytes()));
        // Outside the content (`content::NOT_CONTENT`): the hash is the same with them.
        for (name, value) in &mut canonical.run {
            match *name {
                "content_hash" => *value = v(&content),
                "record_hash" => *value = v(&record),
                _ => {}
            }
        }
        canonical.run.push(("signature", v(&signature)));
        canonical.run.push(("signed_by", v(&signed_by)));
        insert_all(&tx, "runs", |each| each(&canonical.run)).map_err(sql)?;
        // What is stored must be what was hashed and signed, or nothing is committed: the
        // rows as read back must hash the same, or the first table that differs is named.
        if content::content_hash(&tx, seq).map_err(sql)? != content {
            let table = differing_table(&tx, &canonical, result, seq).map_err(sql)?;
            return Err(HistoryError::Forged {
                path: self.path.clone(),
                table: table.to_string(),
            });
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
        let head = checkpoint::head_of(&tx, record, result.run_id.clone()).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.anchor(head, key)
    }
}

/// The first of a run's tables whose rows as stored differ from the runner's own (`runs`
/// when none does on its own).
fn differing_table(
    tx: &rusqlite::Transaction<'_>,
    canonical: &Canonical,
    result: &RunResult,
    seq: i64,
) -> rusqlite::Result<&'static str> {
    for table in TABLES {
        let mine = content::rows_digest(|each| {
            canonical.each(result, seq, table, &mut |row| each(&cells(row)));
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        if content::stored_digest(tx, table, seq)? != mine {
            return Ok(table);
        }
    }
    Ok("runs")
}
