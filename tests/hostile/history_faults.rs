//! A history database someone with write access to the state folder has tampered with: a
//! trigger planted in the SQLite file must not turn a failing run into a signed pass, and
//! signatures removed from the newest records are named. And a new history opened by
//! several processes at once: each open succeeds.

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// A trigger that rewrites every policy result, and its run, to `pass` as it is written.
const FORCE_PASS: &str = "CREATE TRIGGER force_pass AFTER INSERT ON policy_results BEGIN
    UPDATE policy_results SET status = 'pass' WHERE run_seq = NEW.run_seq;
    UPDATE runs SET status = 'pass' WHERE seq = NEW.run_seq;
END;";

/// A sandbox with signing set up (the key outside the sandbox's sentinel tree).
fn signed_sandbox(key_dir: &std::path::Path) -> Sandbox {
    let key = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    std::fs::write(key_dir.join("signing.key"), format!("{key}\n")).unwrap();
    Sandbox::new(&format!(
        "signing:\n  key: ${{file:{}}}\n",
        key_dir.join("signing.key").display()
    ))
}

#[test]
fn stripped_signatures_are_named() {
    let key_dir = tempfile::tempdir().unwrap();
    let mut sb = signed_sandbox(key_dir.path());
    let stored = common::zstd(&common::text(5, 20_000));
    common::put_set(&sb.bucket, "good/2026-11-25", &[("data.zst", stored)]);
    sb.policy("good", "good/", "");
    sb.seal();
    for _ in 0..3 {
        let out = sb.run(&[]);
        assert_eq!(out.code, 0, "{out}");
    }
    let ok = sb.exec(&["history", "verify"], false);
    assert!(ok.code == 0 && ok.stdout.contains("3 verified"), "{ok}");
    // The signatures of the two newest records removed: their hashes still chain.
    let db = sb.root.join("state").join("history.sqlite3");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE runs SET signature = NULL, signed_by = NULL WHERE seq >= 2",
            [],
        )
        .unwrap();
    let out = sb.exec(&["history", "verify"], false);
    let mut failures = Failures::new();
    failures.check(out.code == 5, || {
        format!("unsigned records after a signed one must fail verification (exit 5)\n{out}")
    });
    failures.check(
        out.stdout.contains("record #2") && out.stdout.contains("its signature was removed"),
        || format!("`history verify` must name the first stripped record\n{out}"),
    );
    failures.assert_none();
}

#[test]
fn a_planted_trigger_gets_no_forged_record_signed() {
    let key_dir = tempfile::tempdir().unwrap();
    let mut sb = signed_sandbox(key_dir.path());
    // The checksum file does not match the object: the policy fails.
    let stored = common::zstd(&common::text(4, 20_000));
    sb.put("bad/2026-11-25/data.zst", &stored);
    sb.put(
        "bad/2026-11-25/SHA256SUMS",
        format!("{}  data.zst\n", "0".repeat(64)).as_bytes(),
    );
    sb.policy("bad", "bad/", "");
    sb.seal();
    // The history exists (listing it creates it); then the trigger is planted.
    sb.exec(&["history"], false);
    let db = sb.root.join("state").join("history.sqlite3");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(FORCE_PASS)
        .unwrap();

    let out = sb.run(&[]);
    let mut failures = Failures::new();
    failures.check(out.code == 4, || {
        format!("a history with a planted trigger must stop the run (exit 4)\n{out}")
    });
    failures.check(out.stderr.contains("trigger `force_pass`"), || {
        format!("the error must name the trigger\n{out}")
    });
    let conn = rusqlite::Connection::open(&db).unwrap();
    let forged: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM runs WHERE status = 'pass' OR signature IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    failures.check(forged == 0, || {
        format!("{forged} runs recorded as passing or signed under the trigger\n{out}")
    });

    let verify = sb.exec(&["history", "verify"], false);
    failures.check(verify.code == 5, || {
        format!("`history verify` must fail (exit 5) on a planted trigger\n{verify}")
    });
    failures.check(verify.stdout.contains("trigger `force_pass`"), || {
        format!("`history verify` must name the trigger\n{verify}")
    });
    failures.assert_none();
}

#[test]
fn concurrent_first_opens_of_a_new_history_all_succeed() {
    let mut sb = Sandbox::new("");
    sb.policy("good", "good/", "");
    sb.seal();
    // Eight processes open the history no one has made yet, at once.
    let children: Vec<_> = (0..8).map(|_| sb.spawn(&["history"], false)).collect();
    let mut failures = Failures::new();
    for child in children {
        let out = sb.wait(child, false);
        failures.check(out.code == 0, || {
            format!("every first open of a new history must succeed\n{out}")
        });
    }
    failures.assert_none();
}
