//! `restore-drill run` against a real S3 server on loopback (moto, started by
//! tests/run.sh). The test builds its backups with the tar and zstd libraries and uploads
//! them with boto3; one run covers every case, each test checks one policy's verdict.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{finding_kinds, policy, put, sha256_hex, tar, text, upload, zstd};
use serde_json::Value;

struct Shared {
    _dir: tempfile::TempDir,
    root: PathBuf,
    code: i32,
    results: Value,
    json_text: String,
    stdout: String,
    stderr: String,
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
        put(stage, &format!("healthy/{d}/home.tar.zst"), &archive);
        put(stage, &format!("healthy/{d}/audit.log.zst"), &log);
        let sums = format!(
            "{}  home.tar.zst\n{}  audit.log.zst\n",
            sha256_hex(&archive),
            sha256_hex(&log)
        );
        put(stage, &format!("healthy/{d}/SHA256SUMS"), sums.as_bytes());
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
    let old = zstd(b"old backup");
    put(stage, "stale/2020-01-01/old.zst", &old);
    put(
        stage,
        "stale/2020-01-01/SHA256SUMS",
        format!("{}  old.zst\n", sha256_hex(&old)).as_bytes(),
    );

    // validate: restores fine, but its validation command fails.
    let app = zstd(&tar(&[("app.txt", b"version 1\n")]));
    put(stage, &format!("validate/{d1}/app.tar.zst"), &app);
    put(
        stage,
        &format!("validate/{d1}/SHA256SUMS"),
        format!("{}  app.tar.zst\n", sha256_hex(&app)).as_bytes(),
    );

    // traversal: an archive entry climbing out of the scratch folder.
    let evil = zstd(&tar(&[
        ("fine.txt", b"ok"),
        ("../../../escape-s3.txt", b"owned"),
    ]));
    put(stage, &format!("traversal/{d1}/evil.tar.zst"), &evil);
    put(
        stage,
        &format!("traversal/{d1}/SHA256SUMS"),
        format!("{}  evil.tar.zst\n", sha256_hex(&evil)).as_bytes(),
    );

    // unchecked: no sidecar, no manifest, checksums required.
    put(
        stage,
        &format!("unchecked/{d1}/x.zst"),
        &zstd(b"no digest anywhere"),
    );
}

fn policy_yaml(name: &str, bucket: &str, endpoint: &str, prefix: &str, extra: &str) -> String {
    format!(
        "name: {name}\nclient: Test Client\nstorage:\n  service: s3\n  bucket: {bucket}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: ${{env:AWS_ACCESS_KEY_ID}}\n  secret_access_key: ${{env:AWS_SECRET_ACCESS_KEY}}\nbackups:\n  prefix: {prefix}/\n  sets: by-folder\n  date_format: \"%Y-%m-%d\"\nsample:\n  random: 1\n{extra}targets:\n  rpo: 72h\n  rto: 1h\n"
    )
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let endpoint = common::s3_endpoint();
        let dir = tempfile::tempdir().unwrap();
        let stage = tempfile::tempdir().unwrap();
        stage_backups(stage.path());
        let bucket = common::bucket_name("core");
        upload(&bucket, stage.path());

        let root = dir.path().to_path_buf();
        let config = root.join("config");
        let p = |name: &str, prefix: &str, extra: &str| {
            put(&config, &format!("{name}.yaml"), policy_yaml(name, &bucket, &endpoint, prefix, extra).as_bytes());
        };
        p("healthy", "healthy", "");
        p("db", "db", "");
        p("flipped", "flipped", "");
        p("truncated", "truncated", "");
        p("stale", "stale", "");
        p("traversal", "traversal", "");
        p("unchecked", "unchecked", "");
        p("validate", "validate", "");
        // by-object layout and in-archive manifest for db; a failing command for validate.
        let db = std::fs::read_to_string(config.join("db.yaml"))
            .unwrap()
            .replace("  sets: by-folder\n", "  sets: by-object\n")
            .replace(
                "sample:\n",
                "  include: [\"*.tar.zst\"]\nchecksums:\n  in_archive: MANIFEST.sha256\nsample:\n",
            );
        let db = db.replace("${env:AWS_SECRET_ACCESS_KEY}", "${file:secrets/s3.secret}");
        put(&config, "secrets/s3.secret", format!("{}\n", common::TEST_SECRET).as_bytes());
        std::fs::write(config.join("db.yaml"), db).unwrap();
        let validate = std::fs::read_to_string(config.join("validate.yaml")).unwrap().replace(
            "targets:",
            "validate:\n  - name: release marker\n    run: [\"grep\", \"-q\", \"version 2\", \"{dir}/app.txt\"]\n    timeout: 30s\ntargets:",
        );
        std::fs::write(config.join("validate.yaml"), validate).unwrap();
        // absent: nothing listens on this port.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        put(
            &config,
            "absent.yaml",
            policy_yaml("absent", &bucket, &format!("http://127.0.0.1:{closed_port}"), "healthy", "").as_bytes(),
        );
        put(&config, "restore-drill.yaml", format!("scratch_dir: {}\nstate_dir: {}\n", root.join("scratch").display(), root.join("state").display()).as_bytes());

        // -vvv: trace logs, storage requests included, must not carry the secret either.
        let run = common::run_json(&config, &["-vvv"]);
        Shared {
            _dir: dir,
            root,
            code: run.code,
            results: run.results,
            json_text: run.json_text,
            stdout: run.stdout,
            stderr: run.stderr,
        }
    })
}

fn kinds_of(name: &str) -> Vec<String> {
    finding_kinds(policy(&shared().results, name))
}

#[test]
fn s3_run_fails_overall_and_reports_every_policy() {
    let s = shared();
    assert_eq!(s.code, 1, "{}", s.stdout);
    println!("{}", s.stdout);
    assert_eq!(s.results["policies"].as_array().unwrap().len(), 9);
}

#[test]
fn s3_secrets_appear_in_no_output() {
    let s = shared();
    for (what, text) in [
        ("stdout", &s.stdout),
        ("stderr", &s.stderr),
        ("results.json", &s.json_text),
    ] {
        assert!(
            !text.contains(common::TEST_SECRET),
            "the secret appeared in {what}"
        );
    }
    assert!(
        s.stderr.contains("DEBUG"),
        "debug logging was not on, the check proves little"
    );
}

#[test]
fn s3_healthy_sets_pass_with_manifest_digests() {
    let p = policy(&shared().results, "healthy");
    assert_eq!(p["status"], "pass", "{}", p["findings"]);
    assert_eq!(
        p["sets"].as_array().unwrap().len(),
        2,
        "newest plus one random set"
    );
    assert_eq!(p["objects"].as_array().unwrap().len(), 4);
    for o in p["objects"].as_array().unwrap() {
        assert_eq!(o["digest"]["expected"], o["digest"]["actual"]);
        assert!(
            o["digest"]["source"]
                .as_str()
                .unwrap()
                .ends_with("SHA256SUMS")
        );
    }
    assert_eq!(p["rpo"]["newest_set"], day(1));
    assert!(p["rto"]["projected_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn s3_sidecar_and_in_archive_manifest_pass() {
    let p = policy(&shared().results, "db");
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
    let p = policy(&shared().results, "stale");
    assert_eq!(finding_kinds(p), ["rpo_exceeded"]);
    assert_eq!(p["rpo"]["met"], false);
    assert!(p["rpo"]["age_seconds"].as_f64().unwrap() > 86_400.0 * 365.0);
}

#[test]
fn s3_failing_validation_carries_its_output() {
    let p = policy(&shared().results, "validate");
    assert_eq!(finding_kinds(p), ["validation_failed"]);
    let message = p["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("exited with code 1"), "{message}");
}

#[test]
fn s3_traversal_entry_is_refused_and_nothing_escapes() {
    let s = shared();
    assert_eq!(kinds_of("traversal"), ["unsafe_path"]);
    let mut stack = vec![s.root.clone(), std::env::temp_dir()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            assert_ne!(
                e.file_name(),
                "escape-s3.txt",
                "escaped to {}",
                path.display()
            );
            if path.starts_with(&s.root) && path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
}

#[test]
fn s3_object_without_any_checksum_is_missing_checksum() {
    assert_eq!(kinds_of("unchecked"), ["missing_checksum"]);
}

#[test]
fn s3_absent_server_is_a_storage_error_for_its_policy_only() {
    let p = policy(&shared().results, "absent");
    assert_eq!(finding_kinds(p), ["storage_error"]);
    assert_eq!(policy(&shared().results, "healthy")["status"], "pass");
}
