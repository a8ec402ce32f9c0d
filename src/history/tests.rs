//! History on real SQLite files in a temporary folder: recording, queries, the chain and
//! what tampering looks like to `verify`.

use super::*;
use crate::results::sample;

fn run(id: &str) -> RunResult {
    let mut run = sample::run();
    run.run_id = id.into();
    run
}

fn recorded(ids: &[&str]) -> (tempfile::TempDir, History) {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    for id in ids {
        history.record(&run(id), None).unwrap();
    }
    (dir, history)
}

/// Changes the database behind restore-drill's back, as someone with the file could.
fn tamper(dir: &Path, sql: &str) {
    let conn = Connection::open(dir.join(DATABASE)).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    assert!(
        conn.execute(sql, []).unwrap() > 0,
        "the tamper statement changed nothing"
    );
}

#[test]
fn runs_are_recorded_and_listed_newest_first() {
    let (_dir, history) = recorded(&["r1", "r2", "r3"]);
    let runs = history.runs(&Filter::default()).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["r3", "r2", "r1"]);
    assert_eq!((runs[0].policies, runs[0].failed), (3, 1));
    let acme = history
        .policy_results(&Filter {
            client: Some("Acme Dental".into()),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(acme.len(), 6);
    assert!(acme.iter().all(|p| p.client == "Acme Dental"));
    let failing = acme.iter().find(|p| p.policy == "acme-files").unwrap();
    assert_eq!((failing.status.as_str(), failing.findings), ("fail", 1));
}

#[test]
fn an_intact_chain_verifies_and_has_a_head() {
    let (_dir, history) = recorded(&["r1", "r2"]);
    let v = history.verify(None).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.records, 2);
    assert_eq!(v.head, history.head().unwrap());
}

#[test]
fn a_changed_result_is_named() {
    let (dir, history) = recorded(&["r1", "r2", "r3"]);
    tamper(
        dir.path(),
        "UPDATE policy_results SET status = 'pass' WHERE policy = 'acme-files' AND run_seq = 2",
    );
    let v = history.verify(None).unwrap();
    let broken = v.broken.expect("tampering went unnoticed");
    assert_eq!(broken.run_id, "r2");
    assert!(
        broken.reason.contains("changed after the run"),
        "{}",
        broken.reason
    );
}

#[test]
fn a_deleted_finding_or_run_is_named() {
    let (dir, history) = recorded(&["r1", "r2", "r3"]);
    tamper(dir.path(), "DELETE FROM findings WHERE run_seq = 3");
    assert_eq!(history.verify(None).unwrap().broken.unwrap().run_id, "r3");

    let (dir, history) = recorded(&["r1", "r2", "r3"]);
    tamper(dir.path(), "DELETE FROM runs WHERE seq = 2");
    let broken = history.verify(None).unwrap().broken.unwrap();
    assert_eq!(broken.run_id, "r3", "the record after the gap is named");
}

#[test]
fn reopening_does_not_migrate_twice_and_a_run_is_recorded_once() {
    let (dir, mut history) = recorded(&["r1"]);
    drop(History::open(dir.path()).unwrap());
    assert!(matches!(
        history.record(&run("r1"), None),
        Err(HistoryError::Duplicate { .. })
    ));
    assert!(history.verify(None).unwrap().ok());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join(DATABASE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(matches!(
        History::open(dir.path()),
        Err(HistoryError::TooNew { found: 99, .. })
    ));
}

#[test]
fn signed_records_verify_and_another_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::signing::parse_key(&"22".repeat(32)).unwrap();
    let mut history = History::open(dir.path()).unwrap();
    history.record(&run("r1"), Some(&key)).unwrap();
    history.record(&run("r2"), Some(&key)).unwrap();
    let public = crate::signing::public_hex(&key);
    let v = history.verify(Some(&public)).unwrap();
    assert!(v.ok() && v.signed == 2, "{v:?}");
    let other = crate::signing::public_hex(&crate::signing::parse_key(&"33".repeat(32)).unwrap());
    let v = history.verify(Some(&other)).unwrap();
    assert_eq!(v.broken.unwrap().run_id, "r1");
}
