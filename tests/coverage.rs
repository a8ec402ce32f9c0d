//! Coverage through the real binary and clock (`RESTORE_DRILL_NOW`): a policy of ten sets,
//! a budget of one object beyond the newest set per run and `sample.coverage: 10d` rotates
//! through every set; the eleventh run takes the one verified longest ago; a re-uploaded
//! object counts as never verified and is taken first; a voided run's verifications do not
//! count; a deleted object leaves the retained count. A budget too small for its target gets
//! the `coverage_gap` finding and `check`'s warning, with the projected rotation.

mod common;

use std::path::{Path, PathBuf};

use common::{Failures, put_set, restore_drill, run, run_ok};

/// Ten sets `c/2026-10-01` … `c/2026-10-10` of one 1,000-byte object each.
fn bucket(dir: &Path) -> PathBuf {
    let bucket = dir.join("bucket");
    for day in 1..=10 {
        put_set(
            &bucket,
            &format!("c/2026-10-{day:02}"),
            &[("data.bin", common::noise(day, 1000))],
        );
    }
    bucket
}

fn config(dir: &Path, coverage: &str) -> (PathBuf, PathBuf) {
    let bucket = bucket(dir);
    let config = common::write_settings(dir, "");
    let rest = format!(
        "  date_format: \"%Y-%m-%d\"\nsample:\n  coverage: {coverage}\n  max_bytes: 2000B\ntargets:\n  rpo: 3650d\n  rto: 1h\n"
    );
    common::write_fs_policy(&config, "files", "Acme Dental", &bucket, "c/", &rest);
    (config, bucket)
}

/// Runs at `day` (2026-10-DD 02:00 UTC) and returns the results' `files` policy.
fn run_on(config: &Path, day: u32, dir: &Path) -> serde_json::Value {
    let json = dir.join(format!("run-{day}.json"));
    let json_arg = json.display().to_string();
    let out = run(restore_drill(config, &["run", "--json", &json_arg])
        .env("RESTORE_DRILL_NOW", format!("2026-10-{day:02}T02:00:00Z")));
    assert!(out.code == 0 || out.code == 1, "{out}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    common::policy(&results, "files").clone()
}

/// The sets a run restored besides the newest (2026-10-10).
fn others(policy: &serde_json::Value) -> Vec<String> {
    policy["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["set"].as_str().unwrap().to_string())
        .filter(|s| s != "2026-10-10")
        .collect()
}

fn coverage_json(config: &Path, day: u32) -> serde_json::Value {
    let out = run_ok(
        restore_drill(config, &["coverage", "--json"])
            .env("RESTORE_DRILL_NOW", format!("2026-10-{day:02}T03:00:00Z")),
    );
    let all: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    all[0].clone()
}

#[test]
fn a_rotation_verifies_every_set_then_the_least_recently_verified_first() {
    let dir = tempfile::tempdir().unwrap();
    let (config, bucket) = config(dir.path(), "10d");
    let mut failures = Failures::new();
    let mut picks = Vec::new();
    for day in 11..=20 {
        let policy = run_on(&config, day, dir.path());
        let mine = others(&policy);
        failures.check(mine.len() == 1, || {
            format!("day {day}: one set beyond the newest, got {mine:?}")
        });
        picks.push(mine.first().cloned().unwrap_or_default());
    }
    // Runs 1 to 9 each took a set never verified; run 10 the one verified longest ago.
    let first_nine: std::collections::BTreeSet<&String> = picks[..9].iter().collect();
    failures.check(first_nine.len() == 9, || {
        format!("the first nine runs repeated a set: {picks:?}")
    });
    failures.check(picks[9] == picks[0], || {
        format!("run 10 must take run 1's set: {picks:?}")
    });
    let c = coverage_json(&config, 20);
    failures.check_eq(c["retained_objects"].as_u64(), Some(10), || {
        format!("retained: {c}")
    });
    failures.check_eq(c["never_verified_objects"].as_u64(), Some(0), || {
        format!("never verified: {c}")
    });
    failures.check_eq(c["verified_within_objects"].as_u64(), Some(10), || {
        format!("within: {c}")
    });
    // The eleventh run takes the set verified longest ago: run 2's.
    let eleventh = run_on(&config, 21, dir.path());
    failures.check(others(&eleventh) == [picks[1].clone()], || {
        format!(
            "run 11 must take run 2's set {}: {:?}",
            picks[1],
            others(&eleventh)
        )
    });
    failures.check_eq(
        eleventh["coverage"]["retained_objects"].as_u64(),
        Some(10),
        || format!("the run's JSON carries coverage: {}", eleventh["coverage"]),
    );

    // Re-uploaded under the same key: a new object, never verified, taken first.
    let again = &picks[2];
    std::thread::sleep(std::time::Duration::from_millis(20));
    put_set(
        &bucket,
        &format!("c/{again}"),
        &[("data.bin", common::noise(99, 1000))],
    );
    let twelfth = run_on(&config, 22, dir.path());
    failures.check(others(&twelfth) == [again.clone()], || {
        format!(
            "the re-uploaded set {again} must be taken first: {:?}",
            others(&twelfth)
        )
    });
    // That run voided: its verification of the new object no longer counts.
    let runs = common::history_json(&config, &[]);
    let id = runs[0]["run_id"].as_str().unwrap().to_string();
    run_ok(restore_drill(
        &config,
        &[
            "history",
            "void",
            &id,
            "--by",
            "J. Rivera",
            "--reason",
            "wrong bucket mounted",
        ],
    ));
    let c = coverage_json(&config, 22);
    failures.check_eq(c["never_verified_objects"].as_u64(), Some(1), || {
        format!("after the void the re-uploaded object is never verified again: {c}")
    });
    let never = &c["least_recently_verified"][0];
    failures.check_eq(
        never["key"].as_str(),
        Some(format!("c/{again}/data.bin").as_str()),
        || format!("`coverage` lists the never-verified object first: {c}"),
    );
    failures.check(never["last_verified"].is_null(), || format!("{never}"));

    // A deleted set leaves the retained count, and the ledger keeps it as removed.
    std::fs::remove_dir_all(bucket.join("c/2026-10-01")).unwrap();
    let thirteenth = run_on(&config, 23, dir.path());
    failures.check_eq(
        thirteenth["coverage"]["retained_objects"].as_u64(),
        Some(9),
        || format!("{}", thirteenth["coverage"]),
    );
    let c = coverage_json(&config, 23);
    failures.check_eq(
        (
            c["retained_objects"].as_u64(),
            c["removed_objects"].as_u64(),
        ),
        (Some(9), Some(1)),
        || format!("{c}"),
    );
    // The ledger is made from the chained records: the history still verifies.
    run_ok(restore_drill(&config, &["history", "verify"]));
    failures.assert_none();
}

#[test]
fn a_budget_too_small_for_the_target_is_a_gap_with_its_rotation_and_a_check_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(dir.path(), "5d");
    let first = run_on(&config, 11, dir.path());
    let kinds = common::finding_kinds(&first);
    assert!(
        !kinds.contains(&"coverage_gap".to_string()),
        "nothing is overdue on the first listing: {kinds:?}"
    );
    // Nine sets beyond the newest at one a run, a run a day: nine days, more than five.
    assert_eq!(
        first["coverage"]["projected_rotation_days"].as_f64(),
        Some(9.0),
        "{}",
        first["coverage"]
    );
    let check = run_ok(restore_drill(&config, &["check"]));
    assert!(
        check.stdout.contains("warning: files (")
            && check
                .stdout
                .contains("at its budget a full rotation takes 9d, longer than sample.coverage 5d"),
        "{check}"
    );
    // Six days on, the objects listed on day 11 and never verified are overdue.
    let later = run_on(&config, 17, dir.path());
    let gap = later["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "coverage_gap")
        .unwrap_or_else(|| panic!("no coverage_gap: {later}"));
    let message = gap["message"].as_str().unwrap();
    assert!(
        message.starts_with("8 of 10 retained objects (7.8 KiB of 9.8 KiB) were not verified within the coverage target of 5d")
            && message.contains("a full rotation takes 9d, longer than the target"),
        "{message}"
    );
    assert_eq!(later["status"], "fail");
}

#[test]
fn a_corrupt_object_waits_its_turn_instead_of_stalling_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (config, bucket) = config(dir.path(), "30d");
    // Damaged after its checksum was taken: it fails every time it is restored.
    std::fs::write(
        bucket.join("c/2026-10-01/data.bin"),
        common::noise(77, 1000),
    )
    .unwrap();
    let mut picks = Vec::new();
    for day in 11..=19 {
        picks.extend(others(&run_on(&config, day, dir.path())));
    }
    let distinct: std::collections::BTreeSet<&String> = picks.iter().collect();
    assert_eq!(
        distinct.len(),
        9,
        "each older set once, the corrupt one too: {picks:?}"
    );
    let c = coverage_json(&config, 19);
    assert_eq!(c["never_verified_objects"].as_u64(), Some(1), "{c}");
    assert_eq!(
        c["least_recently_verified"][0]["key"], "c/2026-10-01/data.bin",
        "{c}"
    );
    assert_eq!(
        c["least_recently_verified"][0]["last_result"], "fail",
        "{c}"
    );
}
