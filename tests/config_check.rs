//! `restore-drill check` and configuration errors: every error at once, each pointing at
//! file, line and field; exit 2; nothing restored.

mod common;

use common::{bin, put, repo};

const POLICY: &str = "name: NAME\nclient: Acme\nstorage:\n  service: fs\n  root: bucket\nbackups:\n  prefix: files/\ntargets:\n  rpo: 26h\n  rto: 4h\n";

#[test]
fn shipped_policies_are_valid() {
    let out = bin()
        .args(["check", "--config-dir"])
        .arg(repo().join("policies"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 policies valid"), "{stdout}");
}

#[test]
fn every_error_is_reported_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    put(d, "a.yaml", POLICY.replace("NAME", "same").as_bytes());
    put(d, "sub/b.yml", POLICY.replace("NAME", "same").as_bytes());
    put(
        d,
        "c.yaml",
        POLICY
            .replace("NAME", "c")
            .replace("rto: 4h", "rto: 4h\n  colour: red")
            .as_bytes(),
    );
    put(
        d,
        "d.yaml",
        POLICY
            .replace("NAME", "d")
            .replace("service: fs", "service: ftp")
            .as_bytes(),
    );
    put(
        d,
        "e.yaml",
        POLICY
            .replace("NAME", "e")
            .replace("rpo: 26h", "rpo: soon")
            .as_bytes(),
    );
    put(
        d,
        "f.yaml",
        POLICY
            .replace("NAME", "f")
            .replace(
                "service: fs\n  root: bucket",
                "service: s3\n  bucket: b\n  secret_access_key: ${env:RD_TEST_SURELY_MISSING}",
            )
            .as_bytes(),
    );
    put(d, "restore-drill.yaml", b"concurrency:\n  restores: 0\n");
    let out = bin()
        .args(["check", "--config-dir"])
        .arg(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        "sub/b.yml:1:1: name: policy name `same` is already used by",
        "c.yaml:11:3: targets.colour: unknown field `colour`, expected `rpo` or `rto`",
        "d.yaml:4:3: storage.service: unknown storage service `ftp`: expected one of fs, s3, azblob, gcs",
        "e.yaml:9:3: targets.rpo: invalid duration `soon`",
        "f.yaml:6:1: storage.secret_access_key: environment variable `RD_TEST_SURELY_MISSING` is not set",
        "restore-drill.yaml:2:1: concurrency.restores: must be between 1 and 256, got 0",
    ] {
        assert!(
            stderr.contains(expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("invalid configuration (6 errors)"),
        "{stderr}"
    );
}

#[test]
fn literal_secrets_are_refused_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let text = POLICY.replace("NAME", "p").replace(
        "service: fs\n  root: bucket",
        "service: s3\n  bucket: b\n  secret_access_key: hunter2-very-secret",
    );
    put(dir.path(), "p.yaml", text.as_bytes());
    let out = bin()
        .args(["check", "--config-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("must be a reference"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn invalid_configuration_stops_run_before_any_restore() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    put(
        dir.path(),
        "restore-drill.yaml",
        format!(
            "scratch_dir: {}\nstate_dir: {}\n",
            scratch.display(),
            dir.path().join("state").display()
        )
        .as_bytes(),
    );
    put(
        dir.path(),
        "good.yaml",
        POLICY.replace("NAME", "good").as_bytes(),
    );
    put(dir.path(), "bad.yaml", b"name: bad\nclient: [unclosed\n");
    let out = bin()
        .args(["run", "--config-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml:"));
    assert!(
        !scratch.exists(),
        "a run with invalid configuration created its scratch folder"
    );
}

#[test]
fn missing_directory_and_empty_directory_are_clear_errors() {
    let out = bin()
        .args(["check", "--config-dir", "/nonexistent/restore-drill"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot open the configuration directory")
    );
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["check", "--config-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policies found"));
}

#[test]
fn config_dir_comes_from_the_environment() {
    let out = bin()
        .arg("check")
        .env("RESTORE_DRILL_DIR", repo().join("policies"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn unknown_policy_name_is_a_usage_error() {
    let out = bin()
        .args(["run", "--policy", "nope", "--config-dir"])
        .arg(repo().join("policies"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policy named `nope`"));
}
