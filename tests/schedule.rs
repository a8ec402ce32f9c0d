//! `run --due` and `restore-drill schedule` through the real binary, with the injectable
//! clock: a policy never run is due, runs once per slot, and an unscheduled one is skipped.

mod common;

use std::path::Path;

use common::bin;

fn config(dir: &Path) -> std::path::PathBuf {
    let bucket = dir.join("bucket");
    common::put_zst_with_sums(&bucket, "x/2026-11-19", "a.zst", b"payload");
    let config = common::write_settings(dir, "");
    for (name, schedule) in [
        ("nightly", "schedule: \"0 2 * * *\"\ntimezone: UTC\n"),
        ("by-hand", ""),
    ] {
        let rest = format!("{schedule}targets:\n  rpo: 30d\n  rto: 1h\n");
        common::write_fs_policy(&config, name, "C", &bucket, "x/", &rest);
    }
    config
}

fn due_at(config: &Path, now: &str) -> String {
    let out = bin()
        .args(["run", "--due", "--config-dir"])
        .arg(config)
        .env("RESTORE_DRILL_NOW", now)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn due_runs_each_slot_once_and_skips_unscheduled_policies() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let first = due_at(&config, "2026-11-20T03:00:00Z");
    assert!(
        first.contains("nightly") && !first.contains("by-hand"),
        "{first}"
    );
    assert!(due_at(&config, "2026-11-20T03:15:00Z").contains("nothing due"));
    // Two nights missed: caught up once.
    assert!(due_at(&config, "2026-11-23T09:00:00Z").contains("nightly"));
    assert!(due_at(&config, "2026-11-23T09:15:00Z").contains("nothing due"));
    let out = bin()
        .args(["history", "--json", "--config-dir"])
        .arg(&config)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);

    let out = bin()
        .args(["schedule", "--config-dir"])
        .arg(&config)
        .env("RESTORE_DRILL_NOW", "2026-11-23T10:00:00Z")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("0 2 * * * (UTC)") && table.contains("2026-11-24 02:00 UTC"),
        "{table}"
    );
    assert!(table.contains("not scheduled"), "{table}");
}
