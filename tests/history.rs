//! Run history through the real binary: a history built by running it several times with an
//! injectable clock, per-run artifacts, `history` queries, tampering named by
//! `history verify`, and SIGKILL at random moments leaving the database consistent.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Failures, Ran, demo_config, history_json, restore_drill, run, run_code, run_ok};
use serde_json::Value;

/// A run of two policies (one passes, one fails) at `now`.
fn run_at(config: &Path, now: &str) -> Ran {
    common::date_fixtures_as_of(config, now);
    let args = ["run", "--policy", "acme-db", "--policy", "bright-imaging"];
    run(restore_drill(config, &args).env("RESTORE_DRILL_NOW", now))
}

/// `history verify`, which must succeed.
fn verify_ok(config: &Path) -> Ran {
    run_ok(restore_drill(config, &["history", "verify"]))
}

fn database(dir: &Path) -> PathBuf {
    dir.join("state").join("history.sqlite3")
}

#[test]
fn runs_over_a_quarter_build_a_history_with_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let days = [
        "2026-10-01T02:00:00Z",
        "2026-10-15T02:00:00Z",
        "2026-11-02T02:00:00Z",
        "2026-11-20T02:00:00Z",
    ];
    let mut failures = Failures::new();
    for now in days {
        let out = run_at(&config, now);
        failures.check(
            out.code == 1 && out.stdout.contains("history: recorded in"),
            || format!("exit 1 and the history recorded, at {now}: {out}"),
        );
    }
    failures.assert_none();
    let runs = history_json(&config, &[]);
    let started: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["started_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        started,
        [
            "2026-11-20T02:00:00.000000Z",
            "2026-11-02T02:00:00.000000Z",
            "2026-10-15T02:00:00.000000Z",
            "2026-10-01T02:00:00.000000Z"
        ]
    );
    let mut failures = Failures::new();
    for r in runs.as_array().unwrap() {
        let id = r["run_id"].as_str().unwrap();
        failures.check_eq(
            (r["policies"].as_i64(), r["failed"].as_i64()),
            (Some(2), Some(1)),
            || format!("run {id}: policies and failed"),
        );
        let run_dir = dir.path().join("state/runs").join(id);
        let results: Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("results.json")).unwrap()).unwrap();
        failures.check_eq(&results["run_id"], &r["run_id"], || {
            format!("run {id}: the run id in its results.json")
        });
        let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
        failures.check(
            junit.contains("<testsuite name=\"bright-imaging\"")
                && junit.contains("checksum_mismatch: imaging/"),
            || format!("run {id}: junit.xml\n{junit}"),
        );
    }
    failures.assert_none();
    let since = history_json(&config, &["--since", "2026-11-01"]);
    assert_eq!(since.as_array().unwrap().len(), 2);
    let imaging = history_json(&config, &["--policy", "bright-imaging"]);
    assert_eq!(imaging.as_array().unwrap().len(), 4);
    assert!(
        imaging
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "fail" && p["findings"].as_i64() >= Some(1))
    );
    let out = verify_ok(&config);
    assert!(
        out.combined().starts_with("ok: 4 records, chain head "),
        "{out}"
    );
}

#[test]
fn a_result_changed_in_the_database_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    for now in [
        "2026-10-01T02:00:00Z",
        "2026-10-02T02:00:00Z",
        "2026-10-03T02:00:00Z",
    ] {
        run_at(&config, now);
    }
    let runs = history_json(&config, &[]);
    let second = runs[1]["run_id"].as_str().unwrap().to_string();
    {
        // What someone with the file could do: turn a failure into a pass.
        let conn = rusqlite::Connection::open(database(dir.path())).unwrap();
        let changed = conn
            .execute(
                "UPDATE policy_results SET status = 'pass' WHERE policy = 'bright-imaging' AND run_seq = (SELECT seq FROM runs WHERE run_id = ?1)",
                [&second],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }
    let out = run_code(restore_drill(&config, &["history", "verify"]), 5);
    let text = out.combined();
    assert!(
        text.contains(&format!("(run {second})")) && text.contains("changed after the run"),
        "{out}"
    );
}

#[test]
fn sigkill_at_random_moments_leaves_a_consistent_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let binary = assert_cmd::cargo::cargo_bin("restore-drill");
    // A fixed sequence of pseudo-random delays, so a failure can be repeated.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = Duration::from_millis(state % 120);
        let mut child = std::process::Command::new(&binary)
            .args(["run", "--config-dir"])
            .arg(&config)
            .env(
                "RESTORE_DRILL_NOW",
                format!("2026-10-{:02}T02:00:00Z", i + 1),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    if database(dir.path()).exists() {
        let conn = rusqlite::Connection::open(database(dir.path())).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    verify_ok(&config);
    let out = run_at(&config, "2026-11-30T02:00:00Z");
    assert_eq!(out.code, 1, "the next run works: {out}");
    verify_ok(&config);
}
