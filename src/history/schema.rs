//! The history database's schema, versioned in code: each migration runs once, in order,
//! all in one write transaction (`BEGIN IMMEDIATE`: concurrent first opens take turns), and
//! `PRAGMA user_version` records how far a database has come.
//! [`foreign`] names the schema objects no migration made.

/// Migration `i` takes a database from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: runs, the hash chain, and every result that reports are made from.
    r#"
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        host TEXT NOT NULL,
        version TEXT NOT NULL,
        seed TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        status TEXT NOT NULL,
        results_json TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        record_hash TEXT NOT NULL
    );
    CREATE TABLE policy_results (
        run_seq INTEGER NOT NULL REFERENCES runs(seq),
        policy TEXT NOT NULL,
        client TEXT NOT NULL,
        status TEXT NOT NULL,
        newest_set TEXT,
        rpo_target_seconds REAL NOT NULL,
        rpo_age_seconds REAL,
        rto_target_seconds REAL NOT NULL,
        rto_measured_seconds REAL NOT NULL,
        rto_projected_seconds REAL,
        throughput_bytes_per_second REAL,
        sampled_bytes INTEGER NOT NULL,
        PRIMARY KEY (run_seq, policy)
    );
    CREATE INDEX policy_results_by_policy ON policy_results(policy);
    CREATE INDEX policy_results_by_client ON policy_results(client);
    CREATE TABLE object_results (
        run_seq INTEGER NOT NULL REFERENCES runs(seq),
        policy TEXT NOT NULL,
        key TEXT NOT NULL,
        set_name TEXT NOT NULL,
        format TEXT NOT NULL,
        stored_bytes INTEGER NOT NULL,
        restored_bytes INTEGER NOT NULL,
        files INTEGER NOT NULL,
        seconds REAL NOT NULL,
        status TEXT NOT NULL,
        digest_algorithm TEXT NOT NULL,
        digest_expected TEXT,
        digest_actual TEXT,
        PRIMARY KEY (run_seq, policy, key)
    );
    CREATE TABLE findings (
        run_seq INTEGER NOT NULL REFERENCES runs(seq),
        policy TEXT NOT NULL,
        n INTEGER NOT NULL,
        kind TEXT NOT NULL,
        object TEXT,
        message TEXT NOT NULL,
        PRIMARY KEY (run_seq, policy, n)
    );
    "#,
    // 2: an ed25519 signature over each record hash, and the public key that made it.
    r#"
    ALTER TABLE runs ADD COLUMN signature TEXT;
    ALTER TABLE runs ADD COLUMN signed_by TEXT;
    "#,
    // 3: who ran a manual restore drill, and who witnessed it.
    r#"
    ALTER TABLE runs ADD COLUMN operator TEXT;
    ALTER TABLE runs ADD COLUMN witness TEXT;
    "#,
    // 4: corrections (a note on a run, or its voiding), appended to the same chain: the
    // run's rows are never edited. A correction comes after run `after_seq` (the newest run
    // when it was made; 0 before any), in `id` order.
    r#"
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        after_seq INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        action TEXT NOT NULL,
        made_by TEXT NOT NULL,
        text TEXT NOT NULL,
        made_at TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        record_hash TEXT NOT NULL,
        signature TEXT,
        signed_by TEXT
    );
    CREATE INDEX corrections_by_run ON corrections(run_id);
    "#,
    // 5: runs as they start, so a run whose process dies is recorded from what the history
    // holds, not from what a marker in scratch says (not part of the chain: a start is no
    // result).
    r#"
    CREATE TABLE starts (
        run_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        seed TEXT NOT NULL,
        started_at TEXT NOT NULL,
        version TEXT NOT NULL
    );
    "#,
    // 6: the coverage ledger. Each object restored carries its identity, each policy result
    // its coverage, and each run the ledger changes its listing made (chained: part of the
    // record's content); `ledger` is the index made from them (see `ledger`).
    r#"
    ALTER TABLE object_results ADD COLUMN identity TEXT;
    ALTER TABLE policy_results ADD COLUMN coverage_json TEXT;
    CREATE TABLE ledger_changes (
        run_seq INTEGER NOT NULL REFERENCES runs(seq),
        policy TEXT NOT NULL,
        key TEXT NOT NULL,
        change TEXT NOT NULL,
        identity TEXT,
        size INTEGER,
        PRIMARY KEY (run_seq, policy, key)
    );
    CREATE TABLE ledger (
        policy TEXT NOT NULL,
        key TEXT NOT NULL,
        identity TEXT NOT NULL,
        size INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_verified_at TEXT,
        last_tried_at TEXT,
        last_result TEXT,
        last_run_id TEXT,
        removed_at TEXT,
        PRIMARY KEY (policy, key)
    );
    CREATE INDEX ledger_by_verification ON ledger(policy, removed_at, last_verified_at);
    "#,
];

/// The schema objects of `conn` (as `trigger \`name\``) that the migrations up to its
/// version do not make: a planted trigger or view could rewrite rows as they are written.
/// The known set is taken from a fresh in-memory database migrated to the same version.
pub(super) fn foreign(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let fresh = rusqlite::Connection::open_in_memory()?;
    for migration in MIGRATIONS.iter().take(version.max(0) as usize) {
        fresh.execute_batch(migration)?;
    }
    let known = objects(&fresh)?;
    Ok(objects(conn)?
        .into_iter()
        .filter(|o| !known.contains(o))
        .map(|(kind, name)| format!("{kind} `{name}`"))
        .collect())
}

/// Every (type, name) in `sqlite_master`, SQLite's own `sqlite_%` tables aside.
fn objects(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT type, name FROM sqlite_master
         WHERE NOT (type = 'table' AND name LIKE 'sqlite\\_%' ESCAPE '\\')
         ORDER BY type, name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
