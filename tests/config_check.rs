//! `restore-drill check` and configuration errors: every error at once, each pointing at
//! file, line and field; exit 2; nothing restored.

mod common;

use std::path::Path;

use common::{Failures, bin, put, repo, restore_drill, run_code, run_ok, write_settings};

const POLICY: &str = "name: NAME\nclient: Acme\nstorage:\n  service: fs\n  root: bucket\nbackups:\n  prefix: files/\ntargets:\n  rpo: 26h\n  rto: 4h\n";

#[test]
fn shipped_policies_are_valid() {
    let out = run_ok(restore_drill(&repo().join("policies"), &["check"]));
    assert!(out.stdout.contains("5 policies valid"), "{out}");
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
    let out = run_code(restore_drill(d, &["check"]), 2);
    let mut failures = Failures::new();
    for expected in [
        "sub/b.yml:1:1: name: policy name `same` is also used by",
        "a.yaml:1:1: name: policy name `same` is also used by",
        "c.yaml:11:3: targets.colour: unknown field `colour`, expected `rpo` or `rto`",
        "d.yaml:4:3: storage.service: unknown storage service `ftp`: expected one of fs, s3, azblob, gcs",
        "e.yaml:9:3: targets.rpo: invalid duration `soon`",
        "f.yaml:6:1: storage.secret_access_key: environment variable `RD_TEST_SURELY_MISSING` is not set",
        "restore-drill.yaml:2:1: concurrency.restores: must be between 1 and 256, got 0",
        "invalid configuration (7 errors)",
    ] {
        failures.check(out.stderr.contains(expected), || {
            format!("missing `{expected}` in stderr")
        });
    }
    failures.assert_none_for(&out);
}

#[test]
fn literal_secrets_are_refused_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let text = POLICY.replace("NAME", "p").replace(
        "service: fs\n  root: bucket",
        "service: s3\n  bucket: b\n  secret_access_key: hunter2-very-secret",
    );
    put(dir.path(), "p.yaml", text.as_bytes());
    let out = run_code(restore_drill(dir.path(), &["check"]), 2);
    assert!(out.stderr.contains("must be a reference"), "{out}");
    assert!(!out.stderr.contains("hunter2"), "{out}");
}

#[test]
fn invalid_settings_stop_run_before_any_restore() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    let config = write_settings(dir.path(), "concurrency:\n  restores: 0\n");
    put(
        &config,
        "good.yaml",
        POLICY.replace("NAME", "good").as_bytes(),
    );
    let out = run_code(restore_drill(&config, &["run"]), 2);
    assert!(out.stderr.contains("concurrency.restores"), "{out}");
    assert!(
        !scratch.exists(),
        "a run with invalid settings created its scratch folder"
    );
}

#[test]
fn missing_directory_and_empty_directory_are_clear_errors() {
    let out = run_code(
        restore_drill(Path::new("/nonexistent/restore-drill"), &["check"]),
        2,
    );
    assert!(
        out.stderr
            .contains("cannot open the configuration directory"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_code(restore_drill(dir.path(), &["check"]), 2);
    assert!(out.stderr.contains("no policies found"), "{out}");
}

#[test]
fn config_dir_comes_from_the_environment() {
    run_ok(
        bin()
            .arg("check")
            .env("RESTORE_DRILL_DIR", repo().join("policies")),
    );
}

#[test]
fn unknown_policy_name_is_a_usage_error() {
    let out = run_code(
        restore_drill(&repo().join("policies"), &["run", "--policy", "nope"]),
        2,
    );
    assert!(out.stderr.contains("no policy named `nope`"), "{out}");
}

#[test]
fn overlapping_storage_of_different_clients_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s3 = |name: &str, client: &str, bucket: &str, prefix: &str| {
        POLICY
            .replace("NAME", name)
            .replace("client: Acme", &format!("client: {client}"))
            .replace(
                "service: fs\n  root: bucket",
                &format!("service: s3\n  bucket: {bucket}\n  endpoint: http://127.0.0.1:9"),
            )
            .replace("prefix: files/", &format!("prefix: {prefix}"))
    };
    // Acme's `a/` contains Globex's `a/db/`: refused, both files named.
    put(
        d,
        "acme.yaml",
        s3("acme", "Acme", "shared", "a/").as_bytes(),
    );
    put(
        d,
        "globex.yaml",
        s3("globex", "Globex", "shared", "a/db/").as_bytes(),
    );
    // Neither overlaps: another bucket, a sibling prefix (`a2/` is not under `a/`), and the
    // same client twice.
    put(
        d,
        "initech.yaml",
        s3("initech", "Initech", "other", "a/").as_bytes(),
    );
    put(
        d,
        "hooli.yaml",
        s3("hooli", "Hooli", "shared", "a2/").as_bytes(),
    );
    put(
        d,
        "acme2.yaml",
        s3("acme2", "Acme", "shared", "a/x/").as_bytes(),
    );
    let out = run_code(restore_drill(d, &["check"]), 2);
    let mut failures = Failures::new();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| l.contains("overlaps"))
        .collect();
    for (file, other) in [("acme.yaml", "globex.yaml"), ("globex.yaml", "acme.yaml")] {
        failures.check(
            lines
                .iter()
                .any(|l| l.contains(&format!("{file}: backups.prefix")) && l.contains(other)),
            || format!("no overlap error in {file} naming {other}: {lines:#?}"),
        );
    }
    // acme2 is under acme's prefix but of the same client; `a/x/` and `a/db/` are siblings.
    for quiet in ["initech.yaml:", "hooli.yaml:", "acme2.yaml:"] {
        failures.check(!lines.iter().any(|l| l.contains(quiet)), || {
            format!("{quiet} should not be flagged: {lines:#?}")
        });
    }
    failures.check_eq(lines.len(), 2, || {
        format!("one error per overlapping policy: {lines:#?}")
    });
    failures.assert_none_for(&out);

    // Two prefixes of different clients that do not overlap: valid.
    std::fs::remove_file(d.join("globex.yaml")).unwrap();
    run_ok(restore_drill(d, &["check"]));
}

#[test]
fn a_spool_warning_age_of_zero_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_settings(
        dir.path(),
        "mail:\n  from: rd <rd@msp.example>\n  transport: file\n  spool_warn_after: 0s\n",
    );
    let out = run_code(restore_drill(&config, &["check"]), 2);
    assert!(
        out.stderr.contains("restore-drill.yaml") && out.stderr.contains("mail.spool_warn_after"),
        "{out}"
    );
}
