//! `backups.format: restic` against repositories made by the real `restic` CLI on local
//! disk (Debian's package; tests/run.sh installs it): snapshots back-dated with `--time`,
//! two hosts and tags. Every case checks that the run left the repository byte-identical:
//! restore-drill never writes to, locks or prunes a repository.
#![cfg(feature = "restic")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::Digest as _;

use common::{finding_kinds, noise, policy, put, restore_drill, run_code, text, write_settings};

const PASSWORD: &str = "rd-test-restic-password-7c1e";
const PASSWORD_VAR: &str = "RD_TEST_RESTIC_PASSWORD";

/// `restic -r REPO ARGS` with the test's password and no cache, in UTC (and the S3 test
/// server's credentials, for a repository `s3:http://…`).
fn restic(repo: impl AsRef<std::ffi::OsStr>, password: &str, args: &[&str]) -> String {
    let out = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .arg("--no-cache")
        .args(args)
        .env("RESTIC_PASSWORD", password)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", common::TEST_SECRET)
        .env("TZ", "UTC")
        .output()
        .expect("the restic CLI (apt-get install restic; tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `restic backup` of `source` as `host` with `tags`, dated `hours_ago` before now.
fn backup(
    repo: impl AsRef<std::ffi::OsStr>,
    source: &Path,
    host: &str,
    tags: &[&str],
    hours_ago: i64,
) {
    let time = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours_ago);
    let time = time.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let mut args = vec!["backup", "--host", host, "--time", &time];
    for tag in tags {
        args.extend(["--tag", tag]);
    }
    let source = source.to_str().unwrap();
    args.push(source);
    restic(repo, PASSWORD, &args);
}

/// Files of many sizes under `dir/source`, changed a little for each `generation`.
fn source(dir: &Path, generation: u64) -> PathBuf {
    let root = dir.join("source");
    put(&root, "etc/app.conf", &text(generation, 300));
    put(&root, "db/dump.sql", &text(100 + generation, 200_000));
    put(&root, "db/blob.bin", &noise(200 + generation, 3 << 20));
    put(&root, "empty-dir/.keep", b"");
    put(&root, "docs/readme.txt", &text(7, 5_000));
    root
}

/// A repository under `dir/storage/repo/` with three snapshots of host `acme-db` tagged
/// `nightly` (50, 26 and 2 hours old) and one of host `other`.
fn repository(dir: &Path) -> PathBuf {
    repository_of_version(dir, "2")
}

/// The same at restic's repository version `version`: 1 stores blobs uncompressed, 2 (the
/// default) compressed.
fn repository_of_version(dir: &Path, version: &str) -> PathBuf {
    let repo = dir.join("storage/repo");
    restic(&repo, PASSWORD, &["init", "--repository-version", version]);
    for (generation, hours) in [(1, 50), (2, 26), (3, 2)] {
        let src = source(dir, generation);
        backup(&repo, &src, "acme-db", &["nightly"], hours);
    }
    let src = source(dir, 9);
    backup(&repo, &src, "other", &["weekly"], 1);
    repo
}

/// Every file of the repository, by path, with its content: compared before and after.
fn fingerprint(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                files.insert(path.strip_prefix(root).unwrap().to_path_buf(), Vec::new());
                stack.push(path);
            } else {
                let content = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(root).unwrap().to_path_buf(), content);
            }
        }
    }
    files
}

/// A configuration over the repository under `dir/storage/repo/`, the policy's `restic:`
/// block being `restic` and more `sample:` settings `sample`.
fn config(dir: &Path, restic: &str, sample: &str) -> PathBuf {
    let config = write_settings(dir, "");
    let text = format!(
        "name: acme-restic\nclient: Acme Dental\nstorage:\n  service: fs\n  root: {}\n\
         backups:\n  prefix: repo/\n  format: restic\nrestic:\n  password: ${{env:{PASSWORD_VAR}}}\n\
         {restic}targets:\n  rpo: 26h\n  rto: 1h\nsample:\n  random: 1\n  within: 30d\n{sample}",
        dir.join("storage").display()
    );
    put(&config, "acme-restic.yaml", text.as_bytes());
    config
}

fn run_restic(config: &Path, password: &str) -> common::RunOutput {
    // The password reaches the binary through its own environment only.
    let json = config.join("results.json");
    let out = common::run(
        common::bin()
            .args(["run", "--seed", "7", "--json"])
            .arg(&json)
            .arg("--config-dir")
            .arg(config)
            .env(PASSWORD_VAR, password)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", common::TEST_SECRET),
    );
    let json_text =
        std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no results.json ({e}): {out}"));
    common::RunOutput {
        results: serde_json::from_str(&json_text).unwrap(),
        json_text,
        out,
    }
}

/// The data packs of the repository (those holding data blobs), from its index as the
/// restic CLI prints it.
fn data_packs(repo: &Path) -> Vec<String> {
    let mut packs = Vec::new();
    for index in restic(repo, PASSWORD, &["list", "index"]).lines() {
        let json: serde_json::Value =
            serde_json::from_str(&restic(repo, PASSWORD, &["cat", "index", index])).unwrap();
        for pack in json["packs"].as_array().unwrap() {
            let data = pack["blobs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["type"] == "data");
            if data {
                packs.push(pack["id"].as_str().unwrap().to_string());
            }
        }
    }
    packs.sort();
    packs
}

fn pack_path(repo: &Path, pack: &str) -> PathBuf {
    repo.join("data").join(&pack[..2]).join(pack)
}

#[test]
fn clean_repository_passes_and_is_left_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let config = config(
        dir.path(),
        "  host: acme-db\n  tags: [nightly]\n",
        "  objects_per_set: 3\n",
    );
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 0, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    assert_eq!(p["status"], "pass", "{}", p["findings"]);
    let sets = p["sets"].as_array().unwrap();
    assert_eq!(
        sets.len(),
        2,
        "the newest and one random snapshot: {sets:?}"
    );
    // The newest matching snapshot is the 2-hour-old one of acme-db, not other's.
    let newest = restic(
        &repo,
        PASSWORD,
        &["snapshots", "--host", "acme-db", "--json"],
    );
    let newest: serde_json::Value = serde_json::from_str(&newest).unwrap();
    let newest_id = newest.as_array().unwrap().last().unwrap()["short_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sets.iter()
            .any(|s| s["name"] == newest_id.as_str() && s["newest"] == true),
        "newest {newest_id} in {sets:?}"
    );
    let objects = p["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 6, "{objects:?}");
    for object in objects {
        assert_eq!(object["status"], "pass", "{object}");
        assert!(object["restored_bytes"].as_u64().is_some(), "{object}");
    }
    assert!(p["rpo"]["met"] == true, "{}", p["rpo"]);
    assert!(
        !run.json_text.contains(PASSWORD),
        "the password leaked into the results"
    );
    assert!(
        !run.out.combined().contains(PASSWORD),
        "the password leaked"
    );
}

#[test]
fn include_globs_match_paths_in_the_snapshot_and_a_drill_restores_the_newest_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let config = config(dir.path(), "  host: acme-db\n", "");
    let file = config.join("acme-restic.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "  format: restic\n",
        "  format: restic\n  include: [\"**/db/*.sql\"]\n",
    );
    std::fs::write(&file, text).unwrap();
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(run.out.code, 0, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    let objects = p["objects"].as_array().unwrap();
    assert_eq!(
        objects.len(),
        2,
        "one dump.sql in each of two snapshots: {objects:?}"
    );
    for object in objects {
        assert!(
            object["key"].as_str().unwrap().ends_with("/db/dump.sql"),
            "{object}"
        );
    }
    // A drill of the newest snapshot restores every file of it that `include` takes.
    let drill = common::run(
        restore_drill(
            &config,
            &[
                "drill",
                "acme-restic",
                "--set",
                "newest",
                "--operator",
                "T. Ester",
                "--progress",
                "never",
            ],
        )
        .env(PASSWORD_VAR, PASSWORD),
    );
    assert_eq!(drill.code, 0, "{drill}");
    assert_eq!(
        fingerprint(&repo),
        before,
        "the runs changed the repository"
    );
}

#[test]
fn uncompressed_repository_of_version_1_passes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository_of_version(dir.path(), "1");
    let config = config(dir.path(), "  host: acme-db\n", "  objects_per_set: all\n");
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 0, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    assert_eq!(
        p["objects"].as_array().unwrap().len(),
        8,
        "{}",
        p["objects"]
    );
}

#[test]
fn flipped_byte_in_a_data_pack_is_corrupt_archive_naming_the_file_and_pack() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let packs = data_packs(&repo);
    assert!(!packs.is_empty());
    for pack in &packs {
        let path = pack_path(&repo, pack);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[100] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    }
    let config = config(dir.path(), "  host: acme-db\n", "  objects_per_set: all\n");
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    let corrupt: Vec<&serde_json::Value> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "corrupt_archive")
        .collect();
    assert!(!corrupt.is_empty(), "{}", p["findings"]);
    for finding in corrupt {
        let message = finding["message"].as_str().unwrap();
        assert!(
            packs.iter().any(|pack| message.contains(pack.as_str())),
            "no pack named: {finding}"
        );
        assert!(
            finding["object"].as_str().unwrap().starts_with("repo/"),
            "{finding}"
        );
    }
}

#[test]
fn deleted_pack_is_a_storage_error_naming_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let packs = data_packs(&repo);
    for pack in &packs {
        std::fs::remove_file(pack_path(&repo, pack)).unwrap();
    }
    let config = config(dir.path(), "  host: acme-db\n", "  objects_per_set: 2\n");
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    let missing: Vec<&serde_json::Value> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "storage_error")
        .collect();
    assert!(!missing.is_empty(), "{}", p["findings"]);
    for finding in missing {
        let message = finding["message"].as_str().unwrap();
        assert!(message.contains("is missing"), "{finding}");
        assert!(
            packs.iter().any(|pack| message.contains(pack.as_str())),
            "no pack named: {finding}"
        );
    }
}

#[test]
fn deleted_index_is_a_storage_error_naming_each_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    for index in std::fs::read_dir(repo.join("index")).unwrap() {
        std::fs::remove_file(index.unwrap().path()).unwrap();
    }
    let config = config(dir.path(), "  host: acme-db\n", "");
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    let errors: Vec<&serde_json::Value> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "storage_error")
        .collect();
    assert_eq!(
        errors.len(),
        3,
        "one per acme-db snapshot: {}",
        p["findings"]
    );
    for finding in errors {
        assert!(
            finding["object"].as_str().unwrap().starts_with("repo/"),
            "{finding}"
        );
        assert!(
            finding["message"]
                .as_str()
                .unwrap()
                .contains("not found in index"),
            "{finding}"
        );
    }
}

#[test]
fn wrong_password_is_repository_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let config = config(dir.path(), "", "");
    let before = fingerprint(&repo);
    let run = run_restic(&config, "not-the-password");
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    assert_eq!(
        finding_kinds(p),
        ["repository_unreadable"],
        "{}",
        p["findings"]
    );
    assert!(
        p["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("wrong password"),
        "{}",
        p["findings"]
    );
}

#[test]
fn empty_repository_has_no_backups() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("storage/repo");
    restic(&repo, PASSWORD, &["init"]);
    let config = config(dir.path(), "", "");
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    assert!(
        finding_kinds(p).contains(&"no_backups_found".to_string()),
        "{}",
        p["findings"]
    );
}

#[test]
fn filter_matching_no_snapshot_is_no_backups_found() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let config = config(dir.path(), "  host: acme-db\n  tags: [weekly]\n", "");
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    assert!(
        finding_kinds(p).contains(&"no_backups_found".to_string()),
        "{}",
        p["findings"]
    );
}

#[test]
fn stale_lock_of_a_crashed_restic_is_read_through_and_left() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    // A backup from a pipe that never ends holds its lock; killed, it leaves the lock.
    let mut crashed = Command::new("restic")
        .arg("-r")
        .arg(&repo)
        .args([
            "--no-cache",
            "backup",
            "--stdin",
            "--stdin-filename",
            "stream",
            "--host",
            "crashed",
        ])
        .env("RESTIC_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let locks = repo.join("locks");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&locks).map_or(0, |d| d.count()) == 0 {
        assert!(std::time::Instant::now() < deadline, "restic took no lock");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    crashed.kill().unwrap();
    crashed.wait().unwrap();
    assert_eq!(
        std::fs::read_dir(&locks).unwrap().count(),
        1,
        "the lock is left"
    );
    let config = config(dir.path(), "  host: acme-db\n", "  objects_per_set: 2\n");
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(fingerprint(&repo), before, "the run changed the repository");
    assert_eq!(run.out.code, 0, "{}", run.out);
    assert_eq!(
        std::fs::read_dir(&locks).unwrap().count(),
        1,
        "the lock is left"
    );
}

#[test]
fn check_refuses_a_restic_policy_without_its_block_or_with_a_plain_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("storage/repo")).unwrap();
    let config = config(dir.path(), "", "");
    let file = config.join("acme-restic.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    let cases = [
        (
            good.replace(
                &format!("  password: ${{env:{PASSWORD_VAR}}}\n"),
                "  password: hunter2\n",
            ),
            "restic.password",
        ),
        (
            good.replace("restic:\n  password", "other:\n  password"),
            "other",
        ),
        (good.replace("  format: restic\n", ""), "restic"),
        (
            good.replace(
                "  format: restic\n",
                "  format: restic\n  date_format: \"%Y\"\n",
            ),
            "backups.date_format",
        ),
    ];
    for (text, field) in cases {
        std::fs::write(&file, &text).unwrap();
        let out = run_code(restore_drill(&config, &["check"]).env(PASSWORD_VAR, "x"), 2);
        let said = out.combined();
        assert!(said.contains("acme-restic.yaml:"), "{field}: {out}");
        assert!(said.contains(field), "{field}: {out}");
        assert!(
            !said.contains("hunter2"),
            "the plain password was printed: {out}"
        );
    }
    std::fs::write(&file, &good).unwrap();
    run_code(restore_drill(&config, &["check"]).env(PASSWORD_VAR, "x"), 0);
    let out = run_code(
        restore_drill(&config, &["check"]).env_remove(PASSWORD_VAR),
        2,
    );
    assert!(out.combined().contains("restic.password"), "{out}");
}

#[test]
fn check_connect_opens_the_repository_and_lists_its_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let config = config(dir.path(), "  host: acme-db\n", "");
    let before = fingerprint(&repo);
    let ok = run_code(
        restore_drill(&config, &["check", "--connect"]).env(PASSWORD_VAR, PASSWORD),
        0,
    );
    assert!(
        ok.stdout.contains("connect acme-restic: ok")
            && ok.stdout.contains("4 snapshots, 3 matching"),
        "{ok}"
    );
    let wrong = run_code(
        restore_drill(&config, &["check", "--connect"]).env(PASSWORD_VAR, "wrong"),
        7,
    );
    assert!(
        wrong
            .stdout
            .contains("connect acme-restic: FAILED: repository_unreadable: wrong password"),
        "{wrong}"
    );
    assert!(!wrong.combined().contains(PASSWORD), "{wrong}");
    assert_eq!(fingerprint(&repo), before, "check changed the repository");
}

#[test]
fn listing_over_max_listed_keys_is_listing_truncated_and_shared_folders_list_alike() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    // Every file of the three acme-db snapshots: `docs/` is the same folder (one tree) in
    // all three, listed once and named under each snapshot; each file restores.
    let config = config(dir.path(), "  host: acme-db\n", "  objects_per_set: all\n");
    let file = config.join("acme-restic.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("  random: 1\n", "  random: 2\n")).unwrap();
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(run.out.code, 0, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    let objects = p["objects"].as_array().unwrap();
    assert_eq!(
        objects.len(),
        12,
        "four files in each of three: {objects:?}"
    );
    let readmes = objects
        .iter()
        .filter(|o| {
            o["key"]
                .as_str()
                .unwrap()
                .ends_with("/source/docs/readme.txt")
        })
        .filter(|o| o["status"] == "pass")
        .count();
    assert_eq!(readmes, 3, "{objects:?}");
    // Five files at most: the newest snapshot's four and one more, and the finding the
    // object listing gives.
    common::append_settings(&config, "storage:\n  max_listed_keys: 5\n");
    let run = run_restic(&config, PASSWORD);
    assert_eq!(
        fingerprint(&repo),
        before,
        "the runs changed the repository"
    );
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    let truncated: Vec<&serde_json::Value> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "listing_truncated")
        .collect();
    assert_eq!(truncated.len(), 1, "{}", p["findings"]);
    let message = truncated[0]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "the listing brought 5 keys, storage.max_listed_keys: the rest was not listed"
        ),
        "{message}"
    );
    let objects = p["objects"].as_array().unwrap();
    assert!(objects.len() <= 5, "{objects:?}");
    assert!(
        p["sets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["newest"] == true),
        "the newest snapshot is listed first: {}",
        p["sets"]
    );
}

/// The ids of the snapshots of `host`, oldest first.
fn snapshot_ids(repo: &Path, host: &str) -> Vec<String> {
    let json = restic(repo, PASSWORD, &["snapshots", "--host", host, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn drill_set(config: &Path, set: &str) -> common::Ran {
    common::run(
        restore_drill(
            config,
            &[
                "drill",
                "acme-restic",
                "--set",
                set,
                "--operator",
                "T. Ester",
                "--progress",
                "never",
            ],
        )
        .env(PASSWORD_VAR, PASSWORD),
    )
}

#[test]
fn drill_by_snapshot_id_restores_that_snapshot_and_an_unknown_or_ambiguous_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    // More snapshots until two ids begin with the same digit (at most 17 by pigeonhole).
    let mut generation = 10;
    let shared = loop {
        let ids = snapshot_ids(&repo, "acme-db");
        let mut by_digit: BTreeMap<char, Vec<String>> = BTreeMap::new();
        for id in &ids {
            by_digit
                .entry(id.chars().next().unwrap())
                .or_default()
                .push(id.clone());
        }
        if let Some((digit, _)) = by_digit.iter().find(|(_, ids)| ids.len() > 1) {
            break (*digit, by_digit[digit].clone());
        }
        let src = source(dir.path(), generation);
        backup(
            &repo,
            &src,
            "acme-db",
            &["nightly"],
            100 + generation as i64,
        );
        generation += 1;
    };
    let config = config(dir.path(), "  host: acme-db\n", "");
    let before = fingerprint(&repo);
    let ids = snapshot_ids(&repo, "acme-db");
    // The 26-hour-old snapshot (the second of the first three), by its short id: not the
    // newest, restored whole.
    let middle = ids
        .iter()
        .find(|id| {
            let json = restic(&repo, PASSWORD, &["cat", "snapshot", id]);
            let json: serde_json::Value = serde_json::from_str(&json).unwrap();
            let time: jiff::Timestamp = json["time"].as_str().unwrap().parse().unwrap();
            let age = jiff::Timestamp::now().duration_since(time).as_hours();
            (25..28).contains(&age)
        })
        .unwrap()
        .clone();
    let short = &middle[..8];
    let drill = drill_set(&config, short);
    assert_eq!(drill.code, 0, "{drill}");
    assert!(
        drill
            .stdout
            .contains(&format!("drill acme-restic: set {short}, 4 objects")),
        "{drill}"
    );
    // The whole id names the same snapshot.
    let drill = drill_set(&config, &middle);
    assert_eq!(drill.code, 0, "{drill}");
    assert!(
        drill.stdout.contains(&format!("set {short}, 4 objects")),
        "{drill}"
    );
    // An id no snapshot has: refused, naming the snapshots there are.
    let unknown = ["0000000", "fffffff"]
        .into_iter()
        .find(|u| !ids.iter().any(|id| id.starts_with(u)))
        .unwrap();
    let refused = drill_set(&config, unknown);
    assert_eq!(refused.code, 2, "{refused}");
    let said = refused.combined();
    assert!(
        said.contains(&format!(
            "policy `acme-restic` has no snapshot or set `{unknown}`"
        )),
        "{refused}"
    );
    assert!(said.contains(short), "the snapshots there are: {refused}");
    // One digit two snapshots begin with: refused, naming both.
    let (digit, candidates) = shared;
    let refused = drill_set(&config, &digit.to_string());
    assert_eq!(refused.code, 2, "{refused}");
    let said = refused.combined();
    assert!(said.contains("is ambiguous"), "{refused}");
    for id in &candidates {
        assert!(said.contains(&id[..8]), "{id}: {refused}");
    }
    assert!(!said.contains(PASSWORD), "{refused}");
    assert_eq!(
        fingerprint(&repo),
        before,
        "the drills changed the repository"
    );
}

#[test]
fn manifest_in_the_snapshot_is_checked_like_a_tars() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("storage/repo");
    restic(&repo, PASSWORD, &["init"]);
    let src = source(dir.path(), 1);
    let dump = std::fs::read(src.join("db/dump.sql")).unwrap();
    put(&src, "db/extra.txt", b"not listed\n");
    let sums = format!(
        "{}  dump.sql\n{}  ./blob.bin\n{}  gone.txt\n",
        hex::encode(sha2::Sha256::digest(&dump)),
        "0".repeat(64),
        "1".repeat(64),
    );
    put(&src, "db/SHA256SUMS", sums.as_bytes());
    backup(&repo, &src, "acme-db", &["nightly"], 1);
    // The manifest's path in the snapshot: the source's absolute path, without its `/`.
    let in_snapshot = format!("{}/db/SHA256SUMS", src.display());
    let in_snapshot = in_snapshot.trim_start_matches('/');
    let config = config(dir.path(), "  host: acme-db\n", "");
    let file = config.join("acme-restic.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{text}checksums:\n  in_archive: \"{in_snapshot}\"\n"),
    )
    .unwrap();
    run_code(
        restore_drill(&config, &["check"]).env(PASSWORD_VAR, PASSWORD),
        0,
    );
    let before = fingerprint(&repo);
    let json = dir.path().join("drill.json");
    let drill = common::run(
        restore_drill(
            &config,
            &[
                "drill",
                "acme-restic",
                "--operator",
                "T. Ester",
                "--progress",
                "never",
                "--json",
                json.to_str().unwrap(),
            ],
        )
        .env(PASSWORD_VAR, PASSWORD),
    );
    assert_eq!(
        fingerprint(&repo),
        before,
        "the drill changed the repository"
    );
    assert_eq!(drill.code, 1, "{drill}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let p = policy(&results, "acme-restic");
    let findings = p["findings"].as_array().unwrap();
    let of = |kind: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| f["object"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let mismatch = of("checksum_mismatch");
    assert_eq!(mismatch.len(), 1, "{findings:?}");
    assert!(mismatch[0].ends_with("/db/blob.bin"), "{mismatch:?}");
    let missing = of("missing_file");
    assert_eq!(missing.len(), 1, "{findings:?}");
    assert!(
        missing[0].ends_with("/db/SHA256SUMS!gone.txt"),
        "{missing:?}"
    );
    let unexpected = of("unexpected_file");
    assert_eq!(unexpected.len(), 1, "{findings:?}");
    assert!(unexpected[0].ends_with("/db/extra.txt"), "{unexpected:?}");
    let dump_object = p["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"].as_str().unwrap().ends_with("/db/dump.sql"))
        .unwrap();
    assert_eq!(dump_object["status"], "pass", "{dump_object} {findings:?}");
    assert_eq!(
        dump_object["digest"]["expected"],
        hex::encode(sha2::Sha256::digest(&dump)),
        "{dump_object}"
    );
}

#[test]
fn read_data_subset_finds_a_damaged_pack_no_sampled_file_uses() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    let old_packs = data_packs(&repo);
    // The newest snapshot adds one file: its data goes into packs of its own.
    let src = source(dir.path(), 3);
    put(&src, "big/only.bin", &noise(77, 1 << 20));
    backup(&repo, &src, "acme-db", &["nightly"], 0);
    let new_packs: Vec<String> = data_packs(&repo)
        .into_iter()
        .filter(|p| !old_packs.contains(p))
        .collect();
    assert_eq!(new_packs.len(), 1, "{new_packs:?}");
    let damaged = &new_packs[0];
    let path = pack_path(&repo, damaged);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let newest = snapshot_ids(&repo, "acme-db").last().unwrap()[..8].to_string();
    // The sample restores only the small config files: the damage is not seen.
    let config = config(dir.path(), "  host: acme-db\n", "  objects_per_set: all\n");
    let file = config.join("acme-restic.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "  format: restic\n",
        "  format: restic\n  include: [\"**/etc/app.conf\"]\n",
    );
    std::fs::write(&file, &text).unwrap();
    let before = fingerprint(&repo);
    let run = run_restic(&config, PASSWORD);
    assert_eq!(run.out.code, 0, "{}", run.out);
    // Every pack read: the damaged one is named, with the snapshot and file it holds.
    let with = |subset: &str| {
        text.replace(
            "  host: acme-db\n",
            &format!("  host: acme-db\n  read_data_subset: \"{subset}\"\n"),
        )
    };
    std::fs::write(&file, with("100%")).unwrap();
    let run = run_restic(&config, PASSWORD);
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    let corrupt: Vec<&serde_json::Value> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "corrupt_archive")
        .collect();
    assert_eq!(corrupt.len(), 1, "{}", p["findings"]);
    let finding = corrupt[0];
    assert_eq!(
        finding["object"],
        format!("repo/data/{}/{damaged}", &damaged[..2]),
        "{finding}"
    );
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains(damaged.as_str()), "{message}");
    assert!(message.contains(&format!("snapshot {newest}")), "{message}");
    assert!(message.contains("/big/only.bin"), "{message}");
    // A share of the packs is chosen with the seed: the same run, the same findings.
    std::fs::write(&file, with("30%")).unwrap();
    let first = run_restic(&config, PASSWORD);
    let again = run_restic(&config, PASSWORD);
    assert_eq!(
        policy(&first.results, "acme-restic")["findings"],
        policy(&again.results, "acme-restic")["findings"]
    );
    assert_eq!(
        fingerprint(&repo),
        before,
        "the runs changed the repository"
    );
    // `check` refuses a subset that is none.
    std::fs::write(&file, with("0%")).unwrap();
    let out = run_code(
        restore_drill(&config, &["check"]).env(PASSWORD_VAR, PASSWORD),
        2,
    );
    assert!(out.combined().contains("restic.read_data_subset"), "{out}");
}

/// Every object of `bucket` on the S3 test server with the SHA-256 of its content, one a
/// line, sorted: compared before and after.
fn bucket_fingerprint(bucket: &str) -> String {
    let python = std::env::var("RESTORE_DRILL_TEST_PYTHON").expect("run with tests/run.sh");
    let script = r#"
import boto3, hashlib, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',
                  aws_access_key_id='test', aws_secret_access_key='test')
keys = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[2]):
    keys += [o['Key'] for o in page.get('Contents', [])]
for key in sorted(keys):
    body = s3.get_object(Bucket=sys.argv[2], Key=key)['Body'].read()
    print(key, len(body), hashlib.sha256(body).hexdigest())
"#;
    let out = Command::new(python)
        .args(["-c", script, &common::s3_endpoint(), bucket])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn repository_made_by_restic_on_s3_is_drilled_through_an_s3_storage_and_left_identical() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = common::s3_bucket("restic", |_| {});
    let endpoint = common::s3_endpoint();
    let url = format!("s3:{endpoint}/{bucket}/repo");
    restic(&url, PASSWORD, &["init"]);
    for (generation, hours) in [(1, 26), (2, 2)] {
        let src = source(dir.path(), generation);
        backup(&url, &src, "acme-db", &["nightly"], hours);
    }
    let config = write_settings(dir.path(), "");
    let text = format!(
        "name: acme-restic\nclient: Acme Dental\nstorage:\n{}backups:\n  prefix: repo/\n  \
         format: restic\nrestic:\n  password: ${{env:{PASSWORD_VAR}}}\n  host: acme-db\n\
         targets:\n  rpo: 26h\n  rto: 1h\nsample:\n  random: 1\n  within: 30d\n  \
         objects_per_set: all\n",
        common::s3_storage(&bucket, &endpoint, "AWS_SECRET_ACCESS_KEY")
    );
    put(&config, "acme-restic.yaml", text.as_bytes());
    let before = bucket_fingerprint(&bucket);
    assert!(before.contains("repo/config "), "{before}");
    let run = run_restic(&config, PASSWORD);
    assert_eq!(run.out.code, 0, "{}", run.out);
    let p = policy(&run.results, "acme-restic");
    assert_eq!(
        p["objects"].as_array().unwrap().len(),
        8,
        "{}",
        p["objects"]
    );
    let drill = common::run(
        restore_drill(
            &config,
            &[
                "drill",
                "acme-restic",
                "--operator",
                "T. Ester",
                "--progress",
                "never",
            ],
        )
        .env(PASSWORD_VAR, PASSWORD)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", common::TEST_SECRET),
    );
    assert_eq!(drill.code, 0, "{drill}");
    assert!(drill.stdout.contains(", 4 objects"), "{drill}");
    assert_eq!(
        bucket_fingerprint(&bucket),
        before,
        "the run and the drill changed the repository"
    );
}

#[test]
fn links_out_of_the_snapshot_and_unsafe_names_are_never_written_outside_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("storage/repo");
    restic(&repo, PASSWORD, &["init"]);
    let src = source(dir.path(), 1);
    // Links out of the restore root, relative and absolute, and names a file system allows
    // but a key must not carry (restic cannot store a name with `/`, nor `.` or `..`: the
    // name check on those is a unit test of src/restic/tree.rs).
    let outside = dir.path().join("outside");
    std::os::unix::fs::symlink("../../../../../../outside", src.join("escape")).unwrap();
    std::os::unix::fs::symlink(&outside, src.join("absolute")).unwrap();
    std::os::unix::fs::symlink("/etc", src.join("etc-link")).unwrap();
    put(&src, "db/back\\slash.txt", b"a name with a backslash\n");
    put(&src, "db/%2e%2e", b"a name that decodes to ..\n");
    backup(&repo, &src, "acme-db", &["nightly"], 1);
    let config = config(dir.path(), "  host: acme-db\n", "");
    let before = fingerprint(&repo);
    let json = dir.path().join("drill.json");
    let drill = common::run(
        restore_drill(
            &config,
            &[
                "drill",
                "acme-restic",
                "--operator",
                "T. Ester",
                "--progress",
                "never",
                "--keep",
                "--json",
                json.to_str().unwrap(),
            ],
        )
        .env(PASSWORD_VAR, PASSWORD),
    );
    assert_eq!(
        fingerprint(&repo),
        before,
        "the drill changed the repository"
    );
    assert_eq!(drill.code, 1, "{drill}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let p = policy(&results, "acme-restic");
    let refused: Vec<&str> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unsafe_path")
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    assert_eq!(refused.len(), 2, "{}", p["findings"]);
    assert!(
        refused.iter().any(|k| k.ends_with("/db/back\\slash.txt")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|k| k.ends_with("/db/%2e%2e")),
        "{refused:?}"
    );
    // The other files were restored, no link was made, nothing was written outside.
    let objects = p["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 4, "{objects:?}");
    assert!(objects.iter().all(|o| o["status"] == "pass"), "{objects:?}");
    assert!(!outside.exists(), "a link was followed out of scratch");
    let mut stack = vec![dir.path().join("scratch")];
    let mut files = 0;
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            assert!(
                !kind.is_symlink(),
                "a link was restored: {}",
                entry.path().display()
            );
            let name = entry.file_name();
            assert!(
                name != "back\\slash.txt" && name != "%2e%2e",
                "{name:?} was restored"
            );
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
            }
        }
    }
    assert!(files >= 4, "the kept drill's files: {files}");
}
