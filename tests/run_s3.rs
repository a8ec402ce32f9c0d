//! `restore-drill run` against a real S3 server on loopback (moto, started by
//! tests/run.sh). The test builds its backups with the tar and zstd libraries and uploads
//! them with boto3; one run covers every case, each test checks one policy's verdict.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{
    Failures, RunOutput, finding_kinds, policy, put, put_set, put_with_sums, sha256_hex, tar, text,
    zstd,
};

/// The one run every test here checks: its configuration folder's parent and what it left.
struct Shared {
    _dir: tempfile::TempDir,
    root: PathBuf,
    run: RunOutput,
}

fn day(days_ago: i64) -> String {
    let today = jiff::Zoned::now().date();
    today
        .checked_sub(jiff::Span::new().days(days_ago))
        .unwrap()
        .to_string()
}

/// Builds the bucket's content in `stage`: one prefix per case.
fn stage_backups(stage: &Path) {
    let (d1, d2) = (day(1), day(2));

    // healthy: dated folders, tar.zst + zst, SHA256SUMS per folder.
    for d in [&d1, &d2] {
        let archive = zstd(&tar(&[
            ("home/notes.txt", &text(1, 40_000)),
            ("home/ledger.csv", &text(2, 30_000)),
        ]));
        let log = zstd(&text(3, 20_000));
        put_set(
            stage,
            &format!("healthy/{d}"),
            &[("home.tar.zst", &archive), ("audit.log.zst", &log)],
        );
    }

    // db: one object per night with a BLAKE3 sidecar and an in-archive manifest.
    for d in [&d1, &d2] {
        let db = text(4, 50_000);
        let manifest = format!("{}  data/app.db\n", sha256_hex(&db));
        let archive = zstd(&tar(&[
            ("data/app.db", &db),
            ("MANIFEST.sha256", manifest.as_bytes()),
        ]));
        let key = format!("db/app-{d}.tar.zst");
        put(stage, &key, &archive);
        let b3 = blake3::hash(&archive).to_hex();
        put(
            stage,
            &format!("{key}.b3"),
            format!("{b3}  app-{d}.tar.zst\n").as_bytes(),
        );
    }

    // flipped: one byte flipped after the manifest was written.
    let mut archive = zstd(&tar(&[("data.bin", &text(5, 200_000))]));
    let sums = format!("{}  data.tar.zst\n", sha256_hex(&archive));
    let middle = archive.len() / 2;
    archive[middle] ^= 0x10;
    put(stage, &format!("flipped/{d1}/data.tar.zst"), &archive);
    put(stage, &format!("flipped/{d1}/SHA256SUMS"), sums.as_bytes());

    // truncated: a zstd frame cut in half, its sidecar from before.
    let dump = zstd(&text(6, 300_000));
    put(
        stage,
        &format!("truncated/{d1}/dump.sql.zst"),
        &dump[..dump.len() / 2],
    );
    put(
        stage,
        &format!("truncated/{d1}/dump.sql.zst.sha256"),
        format!("{}  dump.sql.zst\n", sha256_hex(&dump)).as_bytes(),
    );

    // stale: the newest set is from 2020.
    put_with_sums(stage, "stale/2020-01-01", "old.zst", &zstd(b"old backup"));

    // validate: restores fine, but its validation command fails.
    let app = zstd(&tar(&[("app.txt", b"version 1\n")]));
    put_with_sums(stage, &format!("validate/{d1}"), "app.tar.zst", &app);

    // traversal: an archive entry climbing out of the scratch folder.
    let evil = zstd(&tar(&[
        ("fine.txt", b"ok"),
        ("../../../escape-s3.txt", b"owned"),
    ]));
    put_with_sums(stage, &format!("traversal/{d1}"), "evil.tar.zst", &evil);

    // unchecked: no sidecar, no manifest, checksums required.
    put(
        stage,
        &format!("unchecked/{d1}/x.zst"),
        &zstd(b"no digest anywhere"),
    );
}

/// Writes policy `name` over `prefix/` in `bucket` at `endpoint`: dated folders, the newest
/// set and one more at random.
fn write_s3_policy(config: &Path, name: &str, bucket: &str, endpoint: &str, prefix: &str) {
    let storage = common::s3_storage(bucket, endpoint, "AWS_SECRET_ACCESS_KEY");
    let rest = "  sets: by-folder\n  date_format: \"%Y-%m-%d\"\nsample:\n  random: 1\ntargets:\n  rpo: 72h\n  rto: 1h\n";
    let prefix = format!("{prefix}/");
    common::write_policy(config, name, "Test Client", &storage, &prefix, rest);
}

/// Edits policy file `name` in `config`.
fn edit(config: &Path, name: &str, change: impl FnOnce(String) -> String) {
    let path = config.join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, change(text)).unwrap();
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let endpoint = common::s3_endpoint();
        let bucket = common::s3_bucket("core", stage_backups);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let config = common::write_settings(&root, "");
        for name in [
            "healthy",
            "db",
            "flipped",
            "truncated",
            "stale",
            "traversal",
            "unchecked",
            "validate",
        ] {
            write_s3_policy(&config, name, &bucket, &endpoint, name);
        }
        // by-object layout and in-archive manifest for db, its secret from a file; a failing
        // command for validate.
        edit(&config, "db", |text| {
            text.replace("  sets: by-folder\n", "  sets: by-object\n")
                .replace(
                    "sample:\n",
                    "  include: [\"*.tar.zst\"]\nchecksums:\n  in_archive: MANIFEST.sha256\nsample:\n",
                )
                .replace("${env:AWS_SECRET_ACCESS_KEY}", "${file:secrets/s3.secret}")
        });
        let secret = format!("{}\n", common::TEST_SECRET);
        put(&config, "secrets/s3.secret", secret.as_bytes());
        edit(&config, "validate", |text| {
            text.replace(
                "targets:",
                "validate:\n  - name: release marker\n    run: [\"grep\", \"-q\", \"version 2\", \"{dir}/app.txt\"]\n    timeout: 30s\ntargets:",
            )
        });
        // absent: nothing listens on this port.
        let absent = format!("http://127.0.0.1:{}", common::closed_port());
        write_s3_policy(&config, "absent", &bucket, &absent, "healthy");
        // no-bucket: the server answers, the bucket is not there.
        write_s3_policy(&config, "no-bucket", "rd-no-such-bucket", &endpoint, "healthy");

        // -vvv: trace logs, storage requests included, must not carry the secret either.
        let run = common::run_json(&config, &["-vvv"]);
        Shared {
            _dir: dir,
            root,
            run,
        }
    })
}

fn kinds_of(name: &str) -> Vec<String> {
    finding_kinds(policy(&shared().run.results, name))
}

#[test]
fn s3_run_fails_overall_and_reports_every_policy() {
    let s = &shared().run;
    assert_eq!(s.out.code, 1, "{}", s.out);
    println!("{}", s.out.stdout);
    assert_eq!(s.results["policies"].as_array().unwrap().len(), 10);
}

#[test]
fn s3_secrets_appear_in_no_output() {
    let s = &shared().run;
    let mut failures = Failures::new();
    for (what, text) in [
        ("stdout", &s.out.stdout),
        ("stderr", &s.out.stderr),
        ("results.json", &s.json_text),
    ] {
        failures.check(!text.contains(common::TEST_SECRET), || {
            format!("the secret appeared in {what}")
        });
    }
    failures.check(s.out.stderr.contains("DEBUG"), || {
        "debug logging was not on, the check proves little".to_string()
    });
    failures.assert_none();
}

#[test]
fn s3_healthy_sets_pass_with_manifest_digests() {
    let p = policy(&shared().run.results, "healthy");
    assert_eq!(p["status"], "pass", "{}", p["findings"]);
    assert_eq!(
        p["sets"].as_array().unwrap().len(),
        2,
        "newest plus one random set"
    );
    assert_eq!(p["objects"].as_array().unwrap().len(), 4);
    let mut failures = Failures::new();
    for o in p["objects"].as_array().unwrap() {
        let digest = &o["digest"];
        failures.check_eq(&digest["expected"], &digest["actual"], || {
            format!("{}: the digests", o["key"])
        });
        let source = digest["source"].as_str();
        failures.check(source.is_some_and(|s| s.ends_with("SHA256SUMS")), || {
            format!("{}: the digest from {source:?}", o["key"])
        });
    }
    failures.assert_none();
    assert_eq!(p["rpo"]["newest_set"], day(1));
    assert!(p["rto"]["projected_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn s3_sidecar_and_in_archive_manifest_pass() {
    let p = policy(&shared().run.results, "db");
    assert_eq!(p["status"], "pass", "{}", p["findings"]);
    let object = &p["objects"][0];
    assert_eq!(object["digest"]["algorithm"], "blake3");
    assert_eq!(object["files"], 2);
}

#[test]
fn s3_flipped_byte_is_caught() {
    let kinds = kinds_of("flipped");
    assert!(kinds.contains(&"checksum_mismatch".into()), "{kinds:?}");
}

#[test]
fn s3_truncated_frame_is_corrupt_archive() {
    let kinds = kinds_of("truncated");
    assert!(kinds.contains(&"corrupt_archive".into()), "{kinds:?}");
    assert!(kinds.contains(&"checksum_mismatch".into()), "{kinds:?}");
}

#[test]
fn s3_stale_newest_set_exceeds_the_rpo() {
    let p = policy(&shared().run.results, "stale");
    assert_eq!(finding_kinds(p), ["rpo_exceeded"]);
    assert_eq!(p["rpo"]["met"], false);
    assert!(p["rpo"]["age_seconds"].as_f64().unwrap() > 86_400.0 * 365.0);
}

#[test]
fn s3_failing_validation_carries_its_output() {
    let p = policy(&shared().run.results, "validate");
    assert_eq!(finding_kinds(p), ["validation_failed"]);
    let message = p["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("exited with code 1"), "{message}");
}

#[test]
fn s3_traversal_entry_is_refused_and_nothing_escapes() {
    let s = shared();
    assert_eq!(kinds_of("traversal"), ["unsafe_path"]);
    let mut escaped = Vec::new();
    let mut stack = vec![s.root.clone(), std::env::temp_dir()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_name() == "escape-s3.txt" {
                escaped.push(path.display().to_string());
            }
            if path.starts_with(&s.root) && path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    assert!(escaped.is_empty(), "escaped to {escaped:?}");
}

#[test]
fn s3_object_without_any_checksum_is_missing_checksum() {
    assert_eq!(kinds_of("unchecked"), ["missing_checksum"]);
}

#[test]
fn s3_absent_server_is_a_storage_error_for_its_policy_only() {
    let results = &shared().run.results;
    assert_eq!(finding_kinds(policy(results, "absent")), ["storage_error"]);
    assert_eq!(policy(results, "healthy")["status"], "pass");
}

/// The message of a policy's only finding.
fn only_message(name: &str) -> String {
    let p = policy(&shared().run.results, name);
    assert_eq!(finding_kinds(p), ["storage_error"], "{name}");
    p["findings"][0]["message"].as_str().unwrap().to_string()
}

#[test]
fn s3_refused_connection_names_host_and_port() {
    let config = shared().root.join("config");
    let text = std::fs::read_to_string(config.join("absent.yaml")).unwrap();
    let host_port = text
        .split("endpoint: http://")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap()
        .to_string();
    let message = only_message("absent");
    for says in [
        format!("connection refused by {host_port}"),
        "storage.endpoint".to_string(),
        config.join("absent.yaml").display().to_string(),
    ] {
        assert!(message.contains(&says), "no {says:?} in: {message}");
    }
}

#[test]
fn s3_missing_bucket_names_bucket_endpoint_and_field_without_a_debug_dump() {
    let message = only_message("no-bucket");
    let endpoint = common::s3_endpoint();
    let host_port = endpoint.trim_start_matches("http://");
    let config = shared().root.join("config");
    for says in [
        "s3 bucket `rd-no-such-bucket`".to_string(),
        format!("at {host_port}"),
        "the bucket does not exist".to_string(),
        "storage.bucket".to_string(),
        config.join("no-bucket.yaml").display().to_string(),
    ] {
        assert!(message.contains(&says), "no {says:?} in: {message}");
    }
    for never in ["request_id", "S3Error", "{"] {
        assert!(!message.contains(never), "{never:?} in: {message}");
    }
}
