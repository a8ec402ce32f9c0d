//! History on real SQLite files in a temporary folder: recording, queries, the chain and
//! what tampering looks like to `verify`.

use super::*;
use crate::results::{RunResult, sample};

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

fn correction(run_id: &str, action: Action, text: &str) -> Correction {
    Correction {
        run_id: run_id.into(),
        action,
        by: "J. Rivera".into(),
        text: text.into(),
        made_at: "2026-11-27T10:00:00Z".parse().unwrap(),
    }
}

#[test]
fn corrections_join_the_chain_between_runs_and_leave_the_runs_untouched() {
    let (dir, mut history) = recorded(&["r1", "r2"]);
    let before = history.verify(None).unwrap().head;
    let void = history
        .correct(&correction("r1", Action::Void, "wrong client"), None)
        .unwrap();
    assert_eq!(history.head().unwrap().as_deref(), Some(void.as_str()));
    history.record(&run("r3"), None).unwrap();
    let v = history.verify(None).unwrap();
    assert!(v.ok() && v.records == 4, "{v:?}");
    assert_ne!(v.head, before);
    assert!(history.has_record(&void).unwrap());
    let runs = history.runs(&Filter::default()).unwrap();
    let r1 = runs.iter().find(|r| r.run_id == "r1").unwrap();
    assert_eq!(r1.voided.as_deref(), Some("wrong client"));
    assert_eq!(r1.corrections.len(), 1);
    let period = history
        .period(
            "2000-01-01T00:00:00Z".parse().unwrap(),
            "2100-01-01T00:00:00Z".parse().unwrap(),
            None,
        )
        .unwrap();
    let voided: Vec<bool> = period.iter().map(|r| r.voided.is_some()).collect();
    assert_eq!(voided, [true, false, false]);

    tamper(
        dir.path(),
        "UPDATE corrections SET made_by = 'someone else'",
    );
    let broken = history.verify(None).unwrap().broken.unwrap();
    assert_eq!(
        (broken.run_id.as_str(), broken.correction.as_deref()),
        ("r1", Some("void"))
    );
}

#[test]
fn a_correction_of_an_unknown_run_or_a_second_voiding_is_refused() {
    let (_dir, mut history) = recorded(&["r1"]);
    assert!(history.last_run("acme-files").unwrap().is_some());
    assert!(matches!(
        history.correct(&correction("r9", Action::Annotate, "x"), None),
        Err(HistoryError::UnknownRun { .. })
    ));
    history
        .correct(&correction("r1", Action::Annotate, "looked at"), None)
        .unwrap();
    history
        .correct(&correction("r1", Action::Void, "mistake"), None)
        .unwrap();
    assert!(matches!(
        history.correct(&correction("r1", Action::Void, "again"), None),
        Err(HistoryError::AlreadyVoided { .. })
    ));
    assert_eq!(history.corrections(Some("r1")).unwrap().len(), 2);
    // A voided run is no policy's last run: `run --due` and `schedule` do not count it.
    assert!(history.last_run("acme-files").unwrap().is_none());
    assert!(history.verify(None).unwrap().ok());
}

#[test]
fn rows_rewritten_as_they_are_written_abort_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    // Planted after the history was opened (and its schema checked).
    history
        .conn
        .execute_batch(
            "CREATE TRIGGER rewrite AFTER INSERT ON findings BEGIN
                 UPDATE findings SET message = 'all fine' WHERE run_seq = NEW.run_seq;
             END;",
        )
        .unwrap();
    let mut r = run("forged");
    assert!(
        r.policies.iter().any(|p| !p.findings.is_empty()),
        "the sample has findings"
    );
    r.policies.retain(|p| !p.findings.is_empty());
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    match history.record(&r, Some(&key)) {
        Err(HistoryError::Forged { table, .. }) => assert_eq!(table, "findings"),
        other => panic!("expected Forged, got {other:?}"),
    }
    assert!(history.runs(&Filter::default()).unwrap().is_empty());
    // Opened again, the trigger is refused by name.
    drop(history);
    match History::open(dir.path()) {
        Err(HistoryError::Foreign { objects, .. }) => {
            assert_eq!(objects, vec!["trigger `rewrite`".to_string()]);
        }
        Err(e) => panic!("expected Foreign, got {e}"),
        Ok(_) => panic!("expected Foreign, the history opened"),
    }
}

#[test]
fn the_records_hash_matches_the_stored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    history.record(&run("one"), None).unwrap();
    history.record(&run("two"), None).unwrap();
    let v = history.verify(None).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.records, 2);
}

#[test]
fn an_edited_run_rehashed_with_its_signatures_stripped_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::signing::parse_key(&"22".repeat(32)).unwrap();
    let public = crate::signing::public_hex(&key);
    let mut history = History::open(dir.path()).unwrap();
    // r0 is from before signing was set up: unsigned, and fine.
    history.record(&run("r0"), None).unwrap();
    for id in ["r1", "r2", "r3"] {
        history.record(&run(id), Some(&key)).unwrap();
    }
    let v = history.verify(Some(&public)).unwrap();
    assert!(v.ok() && v.signed == 3 && v.unsigned == 1, "{v:?}");
    // r2 edited, r2 and r3 rehashed the way `record` hashes, their signatures removed.
    let conn = &history.conn;
    conn.execute("UPDATE runs SET status = 'pass' WHERE run_id = 'r2'", [])
        .unwrap();
    let mut prev: String = conn
        .query_row(
            "SELECT record_hash FROM runs WHERE run_id = 'r1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    for seq in [3, 4] {
        conn.execute(
            "UPDATE runs SET prev_hash = ?1 WHERE seq = ?2",
            params![prev, seq],
        )
        .unwrap();
        let content = content::content_hash(conn, seq).unwrap();
        let record = chain::record_hash(&prev, &content);
        conn.execute(
            "UPDATE runs SET content_hash = ?1, record_hash = ?2, signature = NULL, signed_by = NULL WHERE seq = ?3",
            params![content, record, seq],
        )
        .unwrap();
        prev = record;
    }
    for signer in [Some(public.as_str()), None] {
        let v = history.verify(signer).unwrap();
        let broken = v.broken.expect("the stripped record is named");
        assert_eq!(broken.run_id, "r2", "{signer:?}");
        assert!(
            broken
                .reason
                .contains("signing began at record #2 (run r1)"),
            "{}",
            broken.reason
        );
    }
}

#[test]
fn every_signature_stripped_is_named_by_the_hash_that_covers_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::signing::parse_key(&"22".repeat(32)).unwrap();
    let public = crate::signing::public_hex(&key);
    let mut history = History::open(dir.path()).unwrap();
    for id in ["r1", "r2"] {
        history.record(&run(id), Some(&key)).unwrap();
    }
    // The signature alone removed, its key left: the hash says it was signed.
    tamper(dir.path(), "UPDATE runs SET signature = NULL WHERE seq = 1");
    let v = history.verify(None).unwrap();
    let broken = v.broken.expect("the stripped record is named");
    assert!(
        broken.run_id == "r1" && broken.reason.contains("signature was removed"),
        "{broken:?}"
    );
    // Both removed: with the configured key, said as much; without, the hash is wrong.
    tamper(
        dir.path(),
        "UPDATE runs SET signature = NULL, signed_by = NULL",
    );
    let v = history.verify(Some(&public)).unwrap();
    assert!(
        v.failure().unwrap().contains("signature was removed"),
        "{v:?}"
    );
    assert!(!history.verify(None).unwrap().ok());
}

#[test]
fn every_record_appends_its_head_and_a_deleted_run_puts_the_history_behind_it() {
    let (dir, mut history) = recorded(&["r1", "r2"]);
    history
        .correct(&correction("r1", Action::Annotate, "looked at"), None)
        .unwrap();
    let head = history.record(&run("r3"), None).unwrap();
    assert_eq!((head.records, head.run_id.as_str()), (4, "r3"));
    let text = std::fs::read_to_string(dir.path().join(CHECKPOINTS)).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(history.verify(None).unwrap().ok());
    tamper(dir.path(), "DELETE FROM runs WHERE seq = 3");
    let v = history.verify(None).unwrap();
    assert!(
        !v.ok()
            && v.anchor_failures
                .iter()
                .any(|f| f.contains("record #4 was deleted")),
        "{v:?}"
    );
}

#[test]
fn concurrent_first_opens_of_a_new_history_all_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            let opens: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        History::open(dir.path()).map(|_| ())
                    })
                })
                .collect();
            for open in opens {
                let opened = open.join().unwrap();
                assert!(opened.is_ok(), "{opened:?}");
            }
        });
    }
}

#[test]
fn records_signed_before_hashes_covered_the_key_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::signing::parse_key(&"22".repeat(32)).unwrap();
    let mut history = History::open(dir.path()).unwrap();
    history.record(&run("old"), Some(&key)).unwrap();
    // As an earlier release signed it: the hash over link and content alone.
    let (prev, content): (String, String) = history
        .conn
        .query_row("SELECT prev_hash, content_hash FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let record = chain::record_hash(&prev, &content);
    let signature = crate::signing::sign(&key, record.as_bytes());
    history
        .conn
        .execute(
            "UPDATE runs SET record_hash = ?1, signature = ?2",
            params![record, signature],
        )
        .unwrap();
    std::fs::remove_file(dir.path().join(CHECKPOINTS)).unwrap();
    let public = crate::signing::public_hex(&key);
    let v = history.verify(Some(&public)).unwrap();
    assert!(v.ok() && v.signed == 1, "{v:?}");
}

fn cells<'a>(
    row: &'a [(&'static str, rusqlite::types::Value)],
) -> Vec<(&'static str, rusqlite::types::ValueRef<'a>)> {
    row.iter().map(|(n, v)| (*n, v.into())).collect()
}

#[test]
fn the_streamed_content_hash_is_the_whole_objects_hash() {
    // Every kind of cell, text needing escapes, a late column null and set, columns left
    // out of the content, and columns out of order.
    let rows = |n: usize, table: &str| -> Vec<Vec<(&'static str, rusqlite::types::Value)>> {
        use rusqlite::types::Value as V;
        (0..n)
            .map(|i| {
                vec![
                    ("zeta", V::Text(format!("{table}/k\"{i}\\ é\u{1}\n"))),
                    ("n", V::Integer(i as i64 - 2)),
                    ("x", V::Null),
                    (
                        "identity",
                        if i % 2 == 0 {
                            V::Null
                        } else {
                            V::Text("id".into())
                        },
                    ),
                    ("real", V::Real(i as f64 * 1.5 + 0.1)),
                    ("whole", V::Real(3.0)),
                    ("nan", V::Real(f64::NAN)),
                    ("blob", V::Blob(vec![0, 255, i as u8])),
                    ("run_seq", V::Integer(7)),
                    ("content_hash", V::Text("left out".into())),
                    ("alpha", V::Text(String::new())),
                ]
            })
            .collect()
    };
    for (changes, findings) in [(0, 0), (0, 3), (2, 0), (5, 7)] {
        let tables = [
            ("runs", rows(1, "runs")),
            ("policy_results", rows(2, "policy_results")),
            ("object_results", rows(3, "object_results")),
            ("findings", rows(findings, "findings")),
            ("ledger_changes", rows(changes, "ledger_changes")),
        ];
        let streamed = content::content_hash_streamed(|table, sink| {
            let (_, rows) = tables.iter().find(|(t, _)| *t == table).unwrap();
            rows.iter().for_each(|row| sink(&cells(row)));
            Ok::<(), ()>(())
        })
        .unwrap();
        let whole: Vec<(&str, Vec<serde_json::Value>)> = tables
            .iter()
            .map(|(name, rows)| {
                let canonical = rows
                    .iter()
                    .map(|row| content::canonical_row(cells(row).into_iter()))
                    .collect();
                (*name, canonical)
            })
            .collect();
        assert_eq!(
            streamed,
            content::content_hash_of(&whole),
            "{changes} {findings}"
        );
    }
}
