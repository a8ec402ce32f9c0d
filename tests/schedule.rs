//! `run --due` and `restore-drill schedule` through the real binary, with the injectable
//! clock: a policy never run is due, runs once per slot, and an unscheduled one is skipped.

mod common;

use std::path::Path;

use common::{Ran, restore_drill, run, run_ok};

fn config(dir: &Path) -> std::path::PathBuf {
    let bucket = dir.join("bucket");
    common::put_zst_with_sums(&bucket, "x/2026-11-19", "a.zst", b"payload");
    let config = common::write_settings(dir, "");
    for (name, schedule) in [
        ("nightly", "schedule: \"0 2 * * *\"\ntimezone: UTC\n"),
        ("by-hand", ""),
    ] {
        // Dated by name: the clock is set back, before the files were written.
        let rest =
            format!("  date_format: \"%Y-%m-%d\"\n{schedule}targets:\n  rpo: 30d\n  rto: 1h\n");
        common::write_fs_policy(&config, name, "C", &bucket, "x/", &rest);
    }
    config
}

/// `run --due` at `now`, which must succeed.
fn due_at(config: &Path, now: &str) -> Ran {
    run_ok(restore_drill(config, &["run", "--due"]).env("RESTORE_DRILL_NOW", now))
}

#[test]
fn due_runs_each_slot_once_and_skips_unscheduled_policies() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let first = due_at(&config, "2026-11-20T03:00:00Z");
    assert!(
        first.stdout.contains("nightly") && !first.stdout.contains("by-hand"),
        "{first}"
    );
    let out = due_at(&config, "2026-11-20T03:15:00Z");
    assert!(out.stdout.contains("nothing due"), "{out}");
    // Two nights missed: caught up once.
    let out = due_at(&config, "2026-11-23T09:00:00Z");
    assert!(out.stdout.contains("nightly"), "{out}");
    let out = due_at(&config, "2026-11-23T09:15:00Z");
    assert!(out.stdout.contains("nothing due"), "{out}");
    let out = run(restore_drill(&config, &["history", "--json"]));
    let runs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);

    // Its exit code was not checked before.
    let out = run_ok(
        restore_drill(&config, &["schedule"]).env("RESTORE_DRILL_NOW", "2026-11-23T10:00:00Z"),
    );
    let table = &out.stdout;
    assert!(
        table.contains("0 2 * * * (UTC)") && table.contains("2026-11-24 02:00 UTC"),
        "{out}"
    );
    assert!(table.contains("not scheduled"), "{out}");
}
