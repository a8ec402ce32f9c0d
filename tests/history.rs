//! Run history through the real binary: a history built by running it several times with an
//! injectable clock, per-run artifacts, `history` queries, tampering named by
//! `history verify`, and SIGKILL at random moments leaving the database consistent.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{bin, demo_config, history, history_json};
use serde_json::Value;

fn run_at(config: &Path, now: &str) -> (i32, String) {
    let out = bin()
        .args([
            "run",
            "--policy",
            "acme-db",
            "--policy",
            "bright-imaging",
            "--config-dir",
        ])
        .arg(config)
        .env("RESTORE_DRILL_NOW", now)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
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
    for now in days {
        let (code, stdout) = run_at(&config, now);
        assert_eq!(code, 1, "{stdout}");
        assert!(stdout.contains("history: recorded in"), "{stdout}");
    }
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
    for r in runs.as_array().unwrap() {
        assert_eq!(
            (r["policies"].as_i64(), r["failed"].as_i64()),
            (Some(2), Some(1))
        );
        let run_dir = dir
            .path()
            .join("state/runs")
            .join(r["run_id"].as_str().unwrap());
        let results: Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("results.json")).unwrap()).unwrap();
        assert_eq!(results["run_id"], r["run_id"]);
        let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
        assert!(
            junit.contains("<testsuite name=\"bright-imaging\"")
                && junit.contains("checksum_mismatch: imaging/"),
            "{junit}"
        );
    }
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
    let (code, text) = history(&config, &["verify"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("ok: 4 records, chain head "), "{text}");
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
    let (code, text) = history(&config, &["verify"]);
    assert_eq!(code, 5, "{text}");
    assert!(
        text.contains(&format!("(run {second})")) && text.contains("changed after the run"),
        "{text}"
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
    let (code, text) = history(&config, &["verify"]);
    assert_eq!(code, 0, "{text}");
    let (code, stdout) = run_at(&config, "2026-11-30T02:00:00Z");
    assert_eq!(code, 1, "the next run works: {stdout}");
    let (code, text) = history(&config, &["verify"]);
    assert_eq!(code, 0, "{text}");
}
