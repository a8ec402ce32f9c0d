//! A run record's canonical content: its rows (the run and all its policy results, object
//! results, findings and ledger changes) written canonically (JSON, keys sorted, rows in
//! key order), and the SHA-256 over them that the chain links. Hashed a row at a time, as
//! the rows are read back or made, each row written straight into the hash from its
//! cells, so a run with a million ledger changes (or a results document of 40 MB) is never
//! held whole or copied.

use std::io::Write;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One row as its columns' names and values, borrowed from where they are (a statement's
/// row as read, or the runner's own values).
pub(super) type Cells<'a> = [(&'a str, ValueRef<'a>)];

/// Writes into a SHA-256 (which cannot fail).
struct Hashing<'a>(&'a mut Sha256);

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn column(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(hex::encode(b)),
    }
}

/// Columns outside a record's content: the hashes and signature over it, and the row ids.
const NOT_CONTENT: [&str; 6] = [
    "content_hash",
    "record_hash",
    "seq",
    "run_seq",
    "signature",
    "signed_by",
];

/// Columns added after records were first made: left out of a row's content while null, so
/// records made before them hash as they did (a value set when recorded is hashed, so
/// clearing it later still breaks the record).
const LATE_COLUMNS: [&str; 2] = ["identity", "coverage_json"];

/// Tables added after records were first made: left out of a record's content while it has
/// no rows in them (rows deleted later still break the record, whose hash covered them).
const LATE_TABLES: [&str; 1] = ["ledger_changes"];

/// Whether a cell is part of a row's content.
fn is_content(name: &str, value: &ValueRef<'_>) -> bool {
    let late_null = LATE_COLUMNS.contains(&name) && matches!(value, ValueRef::Null);
    !NOT_CONTENT.contains(&name) && !late_null
}

/// Writes one row's canonical form into `out`: the bytes serde_json writes for
/// [`canonical_row`]'s object (content columns, keys sorted by byte; a row's column names
/// are unique), made from the cells as they are, no value copied.
fn write_row(out: &mut impl Write, cells: &Cells<'_>) -> serde_json::Result<()> {
    let mut kept: Vec<&(&str, ValueRef<'_>)> =
        cells.iter().filter(|(n, v)| is_content(n, v)).collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{").map_err(serde_json::Error::io)?;
    for (i, (name, value)) in kept.into_iter().enumerate() {
        out.write_all(if i == 0 { b"" } else { b"," })
            .map_err(serde_json::Error::io)?;
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(b":").map_err(serde_json::Error::io)?;
        match *value {
            ValueRef::Null => out.write_all(b"null").map_err(serde_json::Error::io)?,
            ValueRef::Integer(i) => serde_json::to_writer(&mut *out, &i)?,
            ValueRef::Real(f) => {
                serde_json::to_writer(&mut *out, &serde_json::Number::from_f64(f))?
            }
            ValueRef::Text(t) => serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(t))?,
            ValueRef::Blob(b) => serde_json::to_writer(&mut *out, &hex::encode(b))?,
        }
    }
    out.write_all(b"}").map_err(serde_json::Error::io)
}

/// SHA-256 of rows given one at a time, each in canonical form: two runs of rows are the
/// same when their digests are (what `record` compares the rows it wrote and read back by).
pub(super) fn rows_digest<E>(
    rows_of: impl FnOnce(&mut dyn FnMut(&Cells<'_>)) -> Result<(), E>,
) -> Result<[u8; 32], E> {
    let mut sha = Sha256::new();
    rows_of(&mut |cells: &Cells<'_>| {
        write_row(&mut Hashing(&mut sha), cells).expect("hashing cannot fail");
        sha.update(b"\n");
    })?;
    Ok(sha.finalize().into())
}

/// SHA-256 of run `seq`'s rows of `table` as stored (see [`rows_digest`]).
pub(super) fn stored_digest(
    conn: &Connection,
    table: &str,
    seq: i64,
) -> rusqlite::Result<[u8; 32]> {
    rows_digest(|each| each_stored(conn, table, seq, each))
}

/// One row's canonical form: its content columns by name (keys sorted).
pub(super) fn canonical_row<'a>(columns: impl Iterator<Item = (&'a str, ValueRef<'a>)>) -> Value {
    let mut object = Map::new();
    for (name, value) in columns {
        if is_content(name, &value) {
            object.insert(name.to_string(), column(value));
        }
    }
    Value::Object(object)
}

/// Rows of one table for one run, every column, in primary-key order.
pub(super) fn rows(conn: &Connection, sql: &str, seq: i64) -> rusqlite::Result<Vec<Value>> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    let mut query = stmt.query(params![seq])?;
    while let Some(row) = query.next()? {
        let mut values = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            values.push((name.as_str(), row.get_ref(i)?));
        }
        out.push(canonical_row(values.into_iter()));
    }
    Ok(out)
}

/// The tables of a run's record, each with the query that reads its rows in key order.
const TABLES: [(&str, &str); 5] = [
    ("runs", "SELECT * FROM runs WHERE seq = ?1"),
    (
        "policy_results",
        "SELECT * FROM policy_results WHERE run_seq = ?1 ORDER BY policy",
    ),
    (
        "object_results",
        "SELECT * FROM object_results WHERE run_seq = ?1 ORDER BY policy, key",
    ),
    (
        "findings",
        "SELECT * FROM findings WHERE run_seq = ?1 ORDER BY policy, n",
    ),
    (
        "ledger_changes",
        "SELECT * FROM ledger_changes WHERE run_seq = ?1 ORDER BY policy, key",
    ),
];

/// The record's tables in the order their keys come in the canonical content object (the
/// order serde_json's `Map` keeps), each with its key (`runs` is under `run`).
fn content_order() -> Vec<(&'static str, &'static str)> {
    let keys: Map<String, Value> = TABLES
        .iter()
        .map(|(name, _)| {
            let key = if *name == "runs" { "run" } else { name };
            (key.to_string(), Value::Null)
        })
        .collect();
    keys.keys()
        .filter_map(|key| {
            TABLES
                .iter()
                .map(|(name, _)| *name)
                .find(|name| *name == key || (*name == "runs" && key == "run"))
                .map(|name| (name, if name == "runs" { "run" } else { name }))
        })
        .collect()
}

/// SHA-256 of a run's canonical content, written row by row as `rows_of(table, sink)` gives
/// each table's canonical rows in key order: the same bytes as the whole content object
/// serialized at once (a late table with no rows left out), without holding it.
pub(super) fn content_hash_streamed<E>(
    mut rows_of: impl FnMut(&str, &mut dyn FnMut(&Cells<'_>)) -> Result<(), E>,
) -> Result<String, E> {
    let mut sha = Sha256::new();
    sha.update(b"{");
    let mut fields = 0usize;
    for (name, key) in content_order() {
        let mut opening = Vec::new();
        if fields > 0 {
            opening.push(b',');
        }
        serde_json::to_writer(&mut opening, key).expect("json serializes");
        opening.extend_from_slice(b":[");
        let mut rows = 0usize;
        rows_of(name, &mut |cells: &Cells<'_>| {
            sha.update(if rows == 0 { &opening[..] } else { b"," });
            write_row(&mut Hashing(&mut sha), cells).expect("hashing cannot fail");
            rows += 1;
        })?;
        if rows == 0 {
            if LATE_TABLES.contains(&name) {
                continue;
            }
            sha.update(&opening);
        }
        sha.update(b"]");
        fields += 1;
    }
    sha.update(b"}");
    Ok(hex::encode(sha.finalize()))
}

/// SHA-256 of a run's canonical content, from its tables' canonical rows in memory.
#[cfg(test)]
pub(super) fn content_hash_of(tables: &[(&str, Vec<Value>)]) -> String {
    let content: Map<String, Value> = tables
        .iter()
        .filter(|(name, rows)| !(LATE_TABLES.contains(name) && rows.is_empty()))
        // The run's own row has been under the key `run` since the first record.
        .map(|(name, rows)| {
            let key = if *name == "runs" { "run" } else { name };
            (key.to_string(), Value::Array(rows.clone()))
        })
        .collect();
    let bytes = serde_json::to_vec(&Value::Object(content)).expect("json serializes");
    hex::encode(Sha256::digest(&bytes))
}

/// Calls `each` with run `seq`'s rows of `table` as stored, in key order, one at a time.
pub(super) fn each_stored(
    conn: &Connection,
    table: &str,
    seq: i64,
    each: &mut dyn FnMut(&Cells<'_>),
) -> rusqlite::Result<()> {
    let (_, sql) = TABLES
        .iter()
        .find(|(name, _)| *name == table)
        .expect("a table of the record");
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut query = stmt.query(params![seq])?;
    while let Some(row) = query.next()? {
        let mut values = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            values.push((name.as_str(), row.get_ref(i)?));
        }
        each(&values);
    }
    Ok(())
}

/// SHA-256 of the canonical content of run `seq`, as stored, read a row at a time.
pub(super) fn content_hash(conn: &Connection, seq: i64) -> rusqlite::Result<String> {
    content_hash_streamed(|table, sink| each_stored(conn, table, seq, sink))
}
