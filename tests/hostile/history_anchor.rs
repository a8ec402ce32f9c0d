//! A history someone with write access to the state folder cut short or rewrote whole:
//! the newest runs deleted, every signature stripped (with the chain recomputed or not), a
//! report's history truncated after it was built. The chain head kept outside the database
//! (the checkpoint file beside it, the run's JSON and mail) must show each of them.

use std::path::{Path, PathBuf};

use crate::common::{self, Failures};
use crate::guard::{Outcome, Sandbox};

/// A sandbox with signing set up (the key outside the sandbox's sentinel tree) and one
/// passing policy, after `runs` runs.
fn signed_runs(key_dir: &Path, runs: usize) -> Sandbox {
    let key = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    std::fs::write(key_dir.join("signing.key"), format!("{key}\n")).unwrap();
    let mut sb = Sandbox::new(&format!(
        "signing:\n  key: ${{file:{}}}\n",
        key_dir.join("signing.key").display()
    ));
    let stored = common::zstd(&common::text(5, 20_000));
    common::put_set(&sb.bucket, "good/2026-11-25", &[("data.zst", stored)]);
    sb.policy("good", "good/", "");
    sb.seal();
    for _ in 0..runs {
        let out = sb.run(&[]);
        assert_eq!(out.code, 0, "{out}");
    }
    sb
}

fn database(sb: &Sandbox) -> PathBuf {
    sb.root.join("state").join("history.sqlite3")
}

/// Deletes runs from `seq` on, every row of them, as someone with the file could.
fn delete_runs_from(sb: &Sandbox, seq: i64) {
    let conn = rusqlite::Connection::open(database(sb)).unwrap();
    for table in [
        "findings",
        "object_results",
        "policy_results",
        "ledger_changes",
    ] {
        conn.execute(&format!("DELETE FROM {table} WHERE run_seq >= ?1"), [seq])
            .unwrap();
    }
    conn.execute("DELETE FROM runs WHERE seq >= ?1", [seq])
        .unwrap();
}

/// The saved `results.json` of the newest run (its head the furthest), as the run wrote
/// it into its artifacts.
fn newest_results(sb: &Sandbox) -> (PathBuf, serde_json::Value) {
    let runs = sb.root.join("state").join("runs");
    std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("results.json"))
        .map(|file| {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            (file, json)
        })
        .max_by_key(|(_, json)| json["history_head"]["records"].as_u64())
        .unwrap()
}

/// Run `seq`'s content hash as restore-drill computes it (its rows as canonical JSON, keys
/// sorted, hashes and row ids left out): the format is public, so an attacker can too.
fn content_hash(conn: &rusqlite::Connection, seq: i64) -> String {
    use rusqlite::types::ValueRef;
    let not_content = [
        "content_hash",
        "record_hash",
        "seq",
        "run_seq",
        "signature",
        "signed_by",
    ];
    let mut content = serde_json::Map::new();
    for (key, sql) in [
        ("run", "SELECT * FROM runs WHERE seq = ?1"),
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
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let mut rows = Vec::new();
        let mut query = stmt.query([seq]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let mut object = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                if not_content.contains(&name.as_str()) {
                    continue;
                }
                let raw = row.get_ref(i).unwrap();
                // Columns added later are left out while null (records made before them).
                if matches!(raw, ValueRef::Null)
                    && ["identity", "coverage_json"].contains(&name.as_str())
                {
                    continue;
                }
                let value = match raw {
                    ValueRef::Null => serde_json::Value::Null,
                    ValueRef::Integer(n) => n.into(),
                    ValueRef::Real(f) => serde_json::Number::from_f64(f).unwrap().into(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                    ValueRef::Blob(b) => hex::encode(b).into(),
                };
                object.insert(name.clone(), value);
            }
            rows.push(serde_json::Value::Object(object));
        }
        // A table added later is left out while the run has no rows in it.
        if key == "ledger_changes" && rows.is_empty() {
            continue;
        }
        content.insert(key.into(), rows.into());
    }
    common::sha256_hex(&serde_json::to_vec(&serde_json::Value::Object(content)).unwrap())
}

fn verify(sb: &mut Sandbox, extra: &[&str]) -> Outcome {
    let mut args = vec!["history", "verify"];
    args.extend_from_slice(extra);
    sb.exec(&args, false)
}

#[test]
fn deleted_newest_runs_are_named_from_the_checkpoint_and_the_kept_heads() {
    let key_dir = tempfile::tempdir().unwrap();
    let mut sb = signed_runs(key_dir.path(), 4);
    let mut failures = Failures::new();
    // Each run left its signed head beside the database, in its JSON and in its mail.
    let checkpoints =
        std::fs::read_to_string(sb.root.join("state").join("history.checkpoints")).unwrap();
    failures.check(checkpoints.lines().count() == 4, || {
        format!("one checkpoint line per run expected:\n{checkpoints}")
    });
    let (kept, json) = newest_results(&sb);
    let head = &json["history_head"];
    failures.check(
        head["records"] == 4 && head["signature"].is_string() && head["key"].is_string(),
        || format!("the run's JSON must carry its signed head: {head}"),
    );
    let hash = head["hash"].as_str().unwrap_or_default().to_string();
    let mail: String = crate::guard::walk(&sb.root.join("state").join("outbox"))
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect::<String>()
        // Quoted-printable's soft line breaks joined again.
        .replace("=\r\n", "")
        .replace("=\n", "");
    failures.check(
        mail.contains(&format!("History head #4 {hash} signed by key")),
        || format!("the mail must carry the head for its recipients to keep:\n{mail}"),
    );
    let kept_copy = sb.root.join("state").join("kept-results.json");
    std::fs::copy(&kept, &kept_copy).unwrap();
    let ok = verify(&mut sb, &["--against", &format!("4:{hash}")]);
    failures.check(ok.code == 0, || {
        format!("the intact history must verify\n{ok}")
    });
    // The run's own page names the head with its position, and verifies.
    let page = kept.with_file_name("report.html").display().to_string();
    let page_ok = sb.exec(&["report", "verify", &page], false);
    failures.check(page_ok.code == 0, || format!("{page_ok}"));

    // The two newest runs deleted cleanly: the chain that is left is intact.
    delete_runs_from(&sb, 3);
    let out = verify(&mut sb, &[]);
    failures.check(out.code == 5, || {
        format!("a history behind its checkpoint must fail (exit 5)\n{out}")
    });
    failures.check(out.stdout.contains("records #3 to #4 were deleted"), || {
        format!("`history verify` must name the deleted records\n{out}")
    });
    let page_cut = sb.exec(&["report", "verify", &page], false);
    failures.check(page_cut.code == 5, || {
        format!("the newest run's page must fail once its record is deleted\n{page_cut}")
    });
    // Without the checkpoint file, the coverage ledger still holds what the deleted runs
    // verified (a cut that also rewrote the ledger would verify alone); the head the run's
    // JSON kept shows it too.
    std::fs::remove_file(sb.root.join("state").join("history.checkpoints")).unwrap();
    let alone = verify(&mut sb, &[]);
    failures.check(
        alone.code == 5 && alone.stdout.contains("coverage ledger"),
        || format!("with its checkpoint gone, the cut history is caught by the ledger\n{alone}"),
    );
    let against = verify(&mut sb, &["--against", &kept_copy.display().to_string()]);
    failures.check(
        against.code == 5 && against.stdout.contains("records #3 to #4 were deleted"),
        || format!("--against the kept results.json must fail naming #3 to #4\n{against}"),
    );
    let pasted = verify(&mut sb, &["--against", &format!("History head #4 {hash}")]);
    failures.check(pasted.code == 5, || {
        format!("--against the mail's line must fail\n{pasted}")
    });
    failures.assert_none();
}

#[test]
fn stripped_signatures_are_caught_with_the_chain_recomputed_or_not() {
    let key_dir = tempfile::tempdir().unwrap();
    let mut sb = signed_runs(key_dir.path(), 3);
    let db = database(&sb);
    let saved = std::fs::read(&db).unwrap();
    let mut failures = Failures::new();

    // Every signature removed, nothing recomputed: each signed record's hash covers its key.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE runs SET signature = NULL, signed_by = NULL", [])
        .unwrap();
    drop(conn);
    let out = verify(&mut sb, &[]);
    failures.check(
        out.code == 5
            && out.stdout.contains("record #1")
            && out.stdout.contains("signature was removed"),
        || format!("every signature stripped must fail naming record #1\n{out}"),
    );

    // Every signature removed and every record rehashed as an unsigned one: the database
    // alone looks as if it was never signed; the heads kept outside it do not match.
    std::fs::write(&db, &saved).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut prev = "0".repeat(64);
    for seq in 1..=3 {
        conn.execute(
            "UPDATE runs SET prev_hash = ?1, signature = NULL, signed_by = NULL WHERE seq = ?2",
            rusqlite::params![prev, seq],
        )
        .unwrap();
        let content = content_hash(&conn, seq);
        let record = common::sha256_hex(format!("{prev}\n{content}").as_bytes());
        conn.execute(
            "UPDATE runs SET content_hash = ?1, record_hash = ?2 WHERE seq = ?3",
            rusqlite::params![content, record, seq],
        )
        .unwrap();
        prev = record;
    }
    // The database alone now verifies, as a history from before signing was set up.
    let checkpoints = sb.root.join("state").join("history.checkpoints");
    let kept = std::fs::read(&checkpoints).unwrap();
    std::fs::remove_file(&checkpoints).unwrap();
    let alone = verify(&mut sb, &[]);
    failures.check(alone.code == 0, || {
        format!("the recomputed chain should verify on its own (the test's recomputation is wrong otherwise)\n{alone}")
    });
    std::fs::write(&checkpoints, kept).unwrap();
    drop(conn);
    let out = verify(&mut sb, &[]);
    failures.check(out.code == 5 && out.stdout.contains("rewritten"), || {
        format!("a rehashed unsigned chain must fail against its checkpoint\n{out}")
    });
    failures.check(out.stdout.contains("record #1 of the history"), || {
        format!("the first rewritten head must be named\n{out}")
    });
    failures.assert_none();
}

#[test]
fn a_report_whose_history_was_truncated_fails_report_verify() {
    let key_dir = tempfile::tempdir().unwrap();
    let mut sb = signed_runs(key_dir.path(), 3);
    let report = sb.root.join("state").join("q.md");
    let report_arg = report.display().to_string();
    let built = sb.exec(
        &[
            "report",
            "--client",
            "Hostile",
            "--from",
            "2000-01-01",
            "--to",
            "2099-12-31",
            "-o",
            &report_arg,
        ],
        false,
    );
    assert_eq!(built.code, 0, "{built}");
    let text = std::fs::read_to_string(&report).unwrap();
    let mut failures = Failures::new();
    failures.check(text.contains("History chain head `#3 "), || {
        format!("the report must name its head with its position:\n{text}")
    });
    let ok = sb.exec(&["report", "verify", &report_arg], false);
    failures.check(ok.code == 0, || {
        format!("the fresh report must verify\n{ok}")
    });

    // The newest run deleted, and with it the head the report names.
    delete_runs_from(&sb, 3);
    let out = sb.exec(&["report", "verify", &report_arg], false);
    failures.check(out.code == 5, || {
        format!("a report whose history was truncated must fail `report verify` (exit 5)\n{out}")
    });
    failures.check(out.stdout.contains("record #3 was deleted"), || {
        format!("`report verify` must say the history was cut short\n{out}")
    });
    failures.assert_none();
}
