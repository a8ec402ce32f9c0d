//! `restore-drill run` against the fixtures on local disk: the demo's verdicts, the JSON
//! schema, seeded repeatable plans, `--policy`, and the scratch folder's lifecycle.

mod common;

use common::{
    Failures, demo_config, finding_kinds, policy, restore_drill, run, run_code, run_json,
};

#[test]
fn demo_run_passes_the_good_backups_and_fails_the_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let run = run_json(&config, &[]);
    let (out, results) = (&run.out, &run.results);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(results["status"], "fail");
    let mut failures = Failures::new();
    for name in ["acme-files", "acme-db", "bright-mail"] {
        let p = policy(results, name);
        failures.check_eq(&p["status"], "pass", || {
            format!("{name}: {}", p["findings"])
        });
        failures.check_eq(&p["rpo"]["met"], true, || format!("{name}: rpo.met"));
        failures.check_eq(&p["rto"]["met"], true, || format!("{name}: rto.met"));
        for object in p["objects"].as_array().unwrap() {
            failures.check_eq(&object["status"], "pass", || format!("{name}: {object}"));
            failures.check_eq(
                &object["digest"]["expected"],
                &object["digest"]["actual"],
                || format!("{name}: {object}"),
            );
            failures.check(object["digest"]["expected"].is_string(), || {
                format!("{name}: no expected digest in {object}")
            });
        }
    }
    failures.assert_none();
    let imaging = policy(results, "bright-imaging");
    assert_eq!(imaging["status"], "fail");
    let kinds = finding_kinds(imaging);
    assert!(
        kinds.contains(&"checksum_mismatch".to_string()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"corrupt_archive".to_string()), "{kinds:?}");
    assert_eq!(imaging["objects"][0]["digest"]["algorithm"], "sha512");
    // The summary names the failure and its object.
    assert!(
        out.stdout
            .contains("FAIL bright-imaging: checksum_mismatch: imaging/2026-11-25/imaging.tar.zst"),
        "{out}"
    );
    assert!(out.stdout.contains("FAILED 1 of 4"), "{out}");
    // The scratch folder of the run is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("scratch"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "scratch not cleaned: {left:?}");
}

#[test]
fn json_results_follow_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let results = run_json(&config, &["--policy", "acme-db", "--seed", "5"]).results;
    let mut failures = Failures::new();
    for field in [
        "run_id",
        "started_at",
        "finished_at",
        "seed",
        "status",
        "policies",
        "schema_version",
    ] {
        failures.check(!results[field].is_null(), || format!("missing {field}"));
    }
    failures.check_eq(&results["seed"], 5, || "seed".to_string());
    let p = policy(&results, "acme-db");
    for field in [
        "name", "client", "status", "findings", "rpo", "rto", "objects", "sets",
    ] {
        failures.check(!p[field].is_null(), || {
            format!("missing policies[].{field}")
        });
    }
    for field in ["target_seconds", "age_seconds", "newest_set", "met"] {
        failures.check(!p["rpo"][field].is_null(), || {
            format!("missing rpo.{field}")
        });
    }
    for field in [
        "target_seconds",
        "measured_seconds",
        "projected_seconds",
        "throughput_bytes_per_second",
        "met",
    ] {
        failures.check(!p["rto"][field].is_null(), || {
            format!("missing rto.{field}")
        });
    }
    let object = &p["objects"][0];
    for field in [
        "key",
        "set",
        "stored_bytes",
        "restored_bytes",
        "files",
        "digest",
        "seconds",
        "status",
    ] {
        failures.check(!object[field].is_null(), || {
            format!("missing objects[].{field}")
        });
    }
    failures.assert_none_for(&results);
    // The in-archive manifest was checked: the archive has app.db, notes and the manifest.
    assert_eq!(object["files"], 3);
    assert_eq!(object["digest"]["algorithm"], "sha256");
}

#[test]
fn policy_subset_that_passes_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let run = run_json(
        &config,
        &["--policy", "acme-files", "--policy", "bright-mail"],
    );
    assert_eq!(run.out.code, 0, "{}", run.out);
    assert_eq!(run.results["policies"].as_array().unwrap().len(), 2);
}

#[test]
fn dry_run_with_a_seed_repeats_its_plan_and_restores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let plan = |seed: &str| {
        let args = ["run", "--dry-run", "--seed", seed];
        let out = common::run_ok(restore_drill(&config, &args));
        // The plan is valid UTF-8: nothing was replaced in reading it.
        assert!(!out.stdout.contains(char::REPLACEMENT_CHARACTER), "{out}");
        out.stdout
    };
    let first = plan("11");
    assert_eq!(first, plan("11"));
    assert!(first.contains("set 2026-11-25 [newest"), "{first}");
    assert!(
        first.contains("files/2026-11-25/fileserver.tar.zst"),
        "{first}"
    );
    assert!(first.contains("nothing was restored"));
    assert!(
        !dir.path().join("scratch").exists(),
        "a dry run created the scratch folder"
    );
}

#[test]
fn keep_leaves_the_restored_files_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let run = run_json(&config, &["--policy", "acme-db", "--keep"]);
    let (out, results) = (&run.out, &run.results);
    assert_eq!(out.code, 0, "{out}");
    let run_dir = dir
        .path()
        .join("scratch")
        .join(results["run_id"].as_str().unwrap());
    assert!(out.stdout.contains(&run_dir.display().to_string()), "{out}");
    let set = policy(results, "acme-db")["rpo"]["newest_set"]
        .as_str()
        .unwrap()
        .to_string();
    let db = run_dir.join("acme-db").join(set).join("data/app.db");
    let head = std::fs::read(&db).unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    assert!(head.starts_with(b"SQLite format 3\0"));
    // The next run clears the kept folder, and takes it for no run that died.
    let next = run_json(&config, &["--policy", "acme-db"]);
    assert_eq!(next.out.code, 0, "{}", next.out);
    assert!(!run_dir.exists(), "the kept folder outlived the next run");
    let runs = common::history_json(&config, &[]);
    let statuses: Vec<_> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses.len(), 2, "{runs}");
    assert!(!statuses.iter().any(|s| s == "interrupted"), "{runs}");
}

#[test]
fn missing_fs_root_is_a_storage_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("no/such/backups");
    let config = common::write_settings(dir.path(), "");
    common::write_fs_policy(
        &config,
        "p",
        "C",
        &root,
        "x/",
        "targets:\n  rpo: 1h\n  rto: 1h\n",
    );
    let run = run_json(&config, &[]);
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "p");
    assert_eq!(finding_kinds(p), ["storage_error"]);
    assert!(
        p["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert!(
        !dir.path().join("no").exists(),
        "the storage root was created by a verification run"
    );
}

#[test]
fn same_keys_in_two_storages_are_verified_against_their_own_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_settings(dir.path(), "");
    for (name, content) in [
        ("one", b"first storage".as_slice()),
        ("two", b"second storage".as_slice()),
    ] {
        let root = dir.path().join(name);
        common::put_zst_with_sums(&root, "x/2026-11-25", "a.zst", content);
        common::write_fs_policy(
            &config,
            name,
            "C",
            &root,
            "x/",
            "targets:\n  rpo: 1h\n  rto: 1h\n",
        );
    }
    let run = run_json(&config, &[]);
    assert_eq!(run.out.code, 0, "{}", run.out);
    assert_eq!(policy(&run.results, "one")["status"], "pass");
    assert_eq!(policy(&run.results, "two")["status"], "pass");
}

/// Objects whose files nothing reads again (no `validate` commands, no `--keep`) are removed
/// as soon as they are verified, so scratch holds only what is in flight; a policy with
/// `validate` commands keeps its set whole until they ran. Seen from a validate command,
/// which runs after every restore of the run has ended.
#[test]
fn verified_objects_leave_scratch_at_once_unless_something_reads_them() {
    use common::{put_set, put_zst_with_sums, tar, text, write_fs_policy, write_settings, zstd};
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let set = "2026-11-25";
    let image = zstd(&text(1, 3 << 20));
    let app = zstd(&tar(&[("app/config.txt", b"key: value\n".as_slice())]));
    put_set(
        &bucket,
        &format!("streamed/{set}"),
        &[("image.bin.zst", &image), ("app.tar.zst", &app)],
    );
    put_zst_with_sums(
        &bucket,
        &format!("checked/{set}"),
        "db.zst",
        &text(2, 1 << 20),
    );
    let config = write_settings(dir.path(), "");
    let targets = "targets:\n  rpo: 3650d\n  rto: 1h\n";
    write_fs_policy(&config, "streamed", "Acme", &bucket, "streamed/", targets);
    // Passes only if its own file is there and the other policy's files are gone.
    let check = format!(
        "test -f {{dir}}/db && test ! -e {{dir}}/../../streamed/{set}/image.bin && test ! -e {{dir}}/../../streamed/{set}/app/config.txt && test -d {{dir}}/../../streamed/{set}"
    );
    let validate = format!(
        "{targets}validate:\n  - name: scratch holds only what is read again\n    run: [sh, -c, \"{check}\"]\n"
    );
    write_fs_policy(&config, "checked", "Acme", &bucket, "checked/", &validate);

    let run = run_json(&config, &[]);
    assert_eq!(run.out.code, 0, "{}", run.out);
    let mut failures = Failures::new();
    for name in ["streamed", "checked"] {
        let p = policy(&run.results, name);
        failures.check_eq(&p["status"], "pass", || {
            format!("{name}: {}", p["findings"])
        });
    }
    failures.assert_none();
    assert_eq!(
        policy(&run.results, "streamed")["objects"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // With --keep, everything stays: the same check fails on the streamed files.
    let run = run_json(&config, &["--keep"]);
    let checked = policy(&run.results, "checked");
    assert_eq!(finding_kinds(checked), ["validation_failed"], "{checked}");
    let run_dir = dir
        .path()
        .join("scratch")
        .join(run.results["run_id"].as_str().unwrap());
    let kept = run_dir.join("streamed").join(set).join("image.bin");
    assert_eq!(std::fs::read(&kept).unwrap(), text(1, 3 << 20));
}

/// `scratch_direct_io: true` gives the same verdicts and digests as buffered writes (the
/// demo's fixtures, and a 5 MiB object whose restored file a `validate` command checks on
/// disk with `sha256sum -c`); a value that is not a boolean is a configuration error naming
/// the file, line and field.
#[test]
fn direct_io_setting_restores_the_same_and_is_validated() {
    use common::{put, put_zst_with_sums, sha256_hex, text, write_fs_policy};
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let bucket = dir.path().join("bucket");
    let content = text(5, (5 << 20) + 123);
    put_zst_with_sums(&bucket, "big/2026-11-25", "image.bin.zst", &content);
    let sums = dir.path().join("restored.sums");
    put(
        dir.path(),
        "restored.sums",
        format!("{}  image.bin\n", sha256_hex(&content)).as_bytes(),
    );
    let rest = format!(
        "targets:\n  rpo: 3650d\n  rto: 1h\nvalidate:\n  - name: restored bytes\n    run: [sh, -c, \"cd {{dir}} && sha256sum --quiet -c {}\"]\n",
        sums.display()
    );
    write_fs_policy(&config, "big", "Acme", &bucket, "big/", &rest);
    let settings = config.join("restore-drill.yaml");
    let buffered = run_json(&config, &["--seed", "7"]).results;
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(&settings, format!("{text}scratch_direct_io: true\n")).unwrap();
    let direct = run_json(&config, &["--seed", "7"]).results;
    let digests = |p: &serde_json::Value| -> Vec<serde_json::Value> {
        p["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["digest"]["actual"].clone())
            .collect()
    };
    let mut failures = Failures::new();
    for name in [
        "acme-files",
        "acme-db",
        "bright-mail",
        "bright-imaging",
        "big",
    ] {
        let (a, b) = (policy(&buffered, name), policy(&direct, name));
        failures.check_eq(&a["status"], &b["status"], || format!("{name}: status"));
        failures.check_eq(finding_kinds(a), finding_kinds(b), || {
            format!("{name}: finding kinds")
        });
        failures.check_eq(digests(a), digests(b), || format!("{name}: digests"));
    }
    failures.assert_none();
    assert_eq!(
        policy(&direct, "big")["status"],
        "pass",
        "{}",
        policy(&direct, "big")["findings"]
    );

    std::fs::write(&settings, format!("{text}scratch_direct_io: sometimes\n")).unwrap();
    let out = run_code(restore_drill(&config, &["check"]), 2);
    assert!(
        out.stderr
            .contains("restore-drill.yaml:5:20: scratch_direct_io: invalid type"),
        "{out}"
    );
}

/// `restore-drill run | head` closes stdout early: printing stops, the run does not — it
/// still records its history and results, and exits with the verdict, not a panic.
#[test]
fn a_closed_stdout_does_not_stop_the_run_from_recording() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("restore-drill"))
        .args(["run", "--progress", "never", "--config-dir"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("state/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].join("results.json").is_file());
    assert!(dir.path().join("state/history.sqlite3").is_file());
}

#[test]
fn json_dash_writes_the_results_to_stdout_and_the_summary_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let out = common::run_ok(
        restore_drill(&config, &["run", "--policy", "acme-files", "--json", "-"])
            .current_dir(dir.path()),
    );
    let results: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON alone ({e}): {out}"));
    assert_eq!(results["policies"][0]["name"], "acme-files", "{out}");
    assert!(out.stderr.contains("PASSED 1 of 1"), "{out}");
    assert!(
        !dir.path().join("-").exists(),
        "a file named `-` was written"
    );
}

/// The demo's restic policy (`policies/bright/workstations.yaml`) over the repository
/// `fixtures/make.sh` made with the restic CLI: its password read from the file beside the
/// policy, only the `daily` snapshots of both hosts sampled, every file restored and checked.
#[test]
fn demo_restic_policy_passes_on_its_daily_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let fixtures = dir.path().join("fixtures");
    for rel in [
        "bright/workstations.yaml",
        "bright/workstations.restic-password",
    ] {
        let text = std::fs::read_to_string(common::repo().join("policies").join(rel)).unwrap();
        let text = text.replace("../../fixtures", &fixtures.to_string_lossy());
        common::put(&config, rel, text.as_bytes());
    }
    // As of the morning after the manual snapshot, so that the second sampled snapshot
    // comes from the last 30 days however old the fixture grows.
    let json = dir.path().join("results.json");
    let json_arg = json.to_string_lossy().into_owned();
    let args = [
        "run",
        "--policy",
        "bright-workstations",
        "--json",
        &json_arg,
    ];
    let out = run(restore_drill(&config, &args).env("RESTORE_DRILL_NOW", "2026-11-27T06:00:00Z"));
    assert_eq!(out.code, 0, "{out}");
    let json_text = std::fs::read_to_string(&json).unwrap();
    let results: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let p = policy(&results, "bright-workstations");
    assert_eq!(p["status"], "pass", "{}", p["findings"]);
    // The newest daily snapshot (xray-pc, 2026-11-25 23:00), not the later manual one, plus
    // one more; two files of each.
    assert_eq!(p["rpo"]["met"], true, "{}", p["rpo"]);
    assert_eq!(
        p["total_sets"], 5,
        "the five daily snapshots, not the manual one"
    );
    let sets = p["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2, "{sets:?}");
    let newest = sets.iter().find(|s| s["newest"] == true).unwrap();
    assert_eq!(newest["date"], "2026-11-25T23:00:00Z", "{newest}");
    assert_eq!(newest["dated_by"], "snapshot", "{newest}");
    let objects = p["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 4, "{objects:?}");
    for object in objects {
        assert_eq!(object["status"], "pass", "{object}");
        let key = object["key"].as_str().unwrap();
        assert!(key.starts_with("workstations/"), "{key}");
    }
    let password = "demo-restic-password-not-a-secret";
    assert!(
        !json_text.contains(password) && !out.combined().contains(password),
        "{out}"
    );
}
