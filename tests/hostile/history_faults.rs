//! A history database someone with write access to the state folder has tampered with: a
//! trigger planted in the SQLite file must not turn a failing run into a signed pass.

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// A trigger that rewrites every policy result, and its run, to `pass` as it is written.
const FORCE_PASS: &str = "CREATE TRIGGER force_pass AFTER INSERT ON policy_results BEGIN
    UPDATE policy_results SET status = 'pass' WHERE run_seq = NEW.run_seq;
    UPDATE runs SET status = 'pass' WHERE seq = NEW.run_seq;
END;";

#[test]
fn a_planted_trigger_gets_no_forged_record_signed() {
    let key_dir = tempfile::tempdir().unwrap();
    let key = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    std::fs::write(key_dir.path().join("signing.key"), format!("{key}\n")).unwrap();
    let mut sb = Sandbox::new(&format!(
        "signing:\n  key: ${{file:{}}}\n",
        key_dir.path().join("signing.key").display()
    ));
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
