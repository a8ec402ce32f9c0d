//! How every backup is dated, from the outside: the binary over backups made in the test on
//! local disk (and one bucket on the loopback S3 server), all uploaded now. A set dated by
//! name is never dated by its upload time instead; a policy dated by upload time says so; a
//! set that cannot be dated, a future-dated set, a zero-byte object and a folder `include`
//! empties are findings, never a PASS.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Failures, finding_kinds, policy, put, put_set, restore_drill, run_code, run_json,
    write_fs_policy, write_settings,
};

const TARGETS: &str = "targets:\n  rpo: 26h\n  rto: 1h\n";

/// A config folder with one fs policy `p` over `root/db/`; `backups` is more of the
/// `backups:` block (date_format, dated_by, include), indented.
fn config_with(dir: &Path, root: &Path, backups: &str) -> PathBuf {
    let config = write_settings(dir, "");
    write_fs_policy(
        config.as_path(),
        "p",
        "Acme",
        root,
        "db/",
        &format!("{backups}{TARGETS}"),
    );
    config
}

/// Sets `db/<name>/dump.sql` under `root`, each written now, as a re-upload or a sync does.
fn reuploaded(root: &Path, names: &[&str]) {
    for name in names {
        put_set(
            root,
            &format!("db/{name}"),
            &[("dump.sql", format!("dump of {name}"))],
        );
    }
}

/// `run --json` with the clock at `now`; asserts exit 1 (a finding).
fn run_at(config: &Path, now: &str) -> (common::Ran, serde_json::Value) {
    let json = config.join("results.json");
    let mut cmd = common::bin();
    cmd.args(["run", "--config-dir"])
        .arg(config)
        .arg("--json")
        .arg(&json)
        .env("RESTORE_DRILL_NOW", now);
    let out = run_code(cmd, 1);
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no results ({e}): {out}"));
    (out, serde_json::from_str(&text).unwrap())
}

fn findings_text(p: &serde_json::Value) -> String {
    p["findings"].to_string()
}

#[test]
fn a_weeks_old_backup_reuploaded_today_with_matching_names_fails_its_rpo() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    reuploaded(&root, &["2026-11-20", "2026-11-21", "2026-11-22"]);
    let config = config_with(dir.path(), &root, "  date_format: \"%Y-%m-%d\"\n");
    let run = run_json(&config, &[]);
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "p");
    assert_eq!(p["status"], "fail", "{p}");
    assert_eq!(finding_kinds(p), ["rpo_exceeded"], "{}", findings_text(p));
    assert_eq!(p["rpo"]["met"], false);
    assert_eq!(p["rpo"]["dated_by"], "name");
    assert_eq!(p["rpo"]["newest_set"], "2026-11-22");
    assert_eq!(p["sets"][0]["dated_by"], "name");
    assert!(
        run.out.stdout.contains("FAIL p: rpo_exceeded"),
        "{}",
        run.out
    );
    assert!(!run.out.stdout.contains("upload time"), "{}", run.out);
}

#[test]
fn a_reuploaded_backup_whose_names_do_not_match_the_date_format_is_undated_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    reuploaded(&root, &["20261120", "20261121", "20261122"]);
    let config = config_with(dir.path(), &root, "  date_format: \"%Y-%m-%d\"\n");
    let run = run_json(&config, &[]);
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "p");
    let mut failures = Failures::new();
    failures.check_eq(&p["status"], "fail", || findings_text(p));
    let kinds = finding_kinds(p);
    failures.check(kinds.contains(&"undated_backup".to_string()), || {
        format!("{kinds:?}")
    });
    failures.check_eq(&p["rpo"]["met"], false, || "rpo.met".into());
    failures.check(p["rpo"]["age_seconds"].is_null(), || {
        format!("{}", p["rpo"])
    });
    for set in p["sets"].as_array().unwrap() {
        failures.check(set["date"].is_null(), || {
            format!("dated by upload time: {set}")
        });
    }
    let undated = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "undated_backup")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .unwrap_or_default();
    for part in [
        "`20261122`",
        "`%Y-%m-%d`",
        "`%Y%m%d`",
        "dated_by: modified",
        "p.yaml",
    ] {
        failures.check(undated.contains(part), || {
            format!("{part} not in: {undated}")
        });
    }
    failures.check(run.out.stdout.contains("undated_backup"), || {
        run.out.to_string()
    });
    failures.assert_none();

    // The dry run says it before anything is restored.
    let out = run_code(restore_drill(&config, &["run", "--dry-run"]), 0);
    assert!(out.stdout.contains("undated_backup"), "{out}");
    assert!(out.stdout.contains("dated by name (`%Y-%m-%d`)"), "{out}");
    assert!(out.stdout.contains("will break its RPO"), "{out}");

    // With the format the finding suggests, the same sets are dated by name and pass.
    let config = config_with(dir.path(), &root, "  date_format: \"%Y%m%d\"\n");
    let run = run_json(&config, &[]);
    let p = policy(&run.results, "p");
    assert_eq!(finding_kinds(p), ["rpo_exceeded"], "{}", findings_text(p));
    assert_eq!(p["rpo"]["newest_set"], "20261122");
}

#[test]
fn dated_by_modified_says_upload_time_in_the_summary_and_the_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    reuploaded(&root, &["2026-11-20"]);
    // A date_format the names match, but the policy asks for upload time.
    let config = config_with(
        dir.path(),
        &root,
        "  date_format: \"%Y-%m-%d\"\n  dated_by: modified\n",
    );
    let run = run_json(&config, &[]);
    assert_eq!(run.out.code, 0, "{}", run.out);
    let p = policy(&run.results, "p");
    assert_eq!(p["status"], "pass", "{}", findings_text(p));
    assert_eq!(p["rpo"]["dated_by"], "modified");
    assert_eq!(p["sets"][0]["dated_by"], "modified");
    assert!(
        run.out.stdout.contains("dated by upload time"),
        "{}",
        run.out
    );

    let out = run_code(restore_drill(&config, &["run", "--dry-run"]), 0);
    assert!(
        out.stdout.contains("RPO: dated by upload time; newest set"),
        "{out}"
    );
    assert!(out.stdout.contains("within its RPO of 26h"), "{out}");
    assert!(out.stdout.contains("by upload time]"), "{out}");

    // Without a date_format, upload time is the default, and it is said just the same: in
    // the summary, the mail (text and HTML) and the quarterly report.
    let config = config_with(dir.path(), &root, "");
    common::append_settings(
        &config,
        "teams:\n  noc:\n    name: NOC\n    msp: true\n    email: [noc@example.com]\nmail:\n  from: rd@example.com\n  transport: file\n",
    );
    let run = run_json(&config, &[]);
    assert_eq!(policy(&run.results, "p")["rpo"]["dated_by"], "modified");
    assert!(
        run.out.stdout.contains("dated by upload time"),
        "{}",
        run.out
    );
    let outbox = dir.path().join("state/outbox");
    let mails: Vec<_> = std::fs::read_dir(&outbox).unwrap().flatten().collect();
    assert_eq!(mails.len(), 1, "{}", run.out);
    let mail = common::mail::parse_mail(std::fs::read(mails[0].path()).unwrap());
    assert!(
        mail.text.contains("(dated by upload time)"),
        "{}",
        mail.text
    );
    assert!(mail.html.contains("dated by upload time"), "{}", mail.html);
    let report = dir.path().join("q.md");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let around = |days: i64| (today + jiff::ToSpan::days(days)).to_string();
    let out = run_code(
        restore_drill(&config, &["report", "--client", "Acme", "--format", "md"])
            .args(["--from", &around(-1), "--to", &around(1), "-o"])
            .arg(&report),
        0,
    );
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains(", dated by upload time |"), "{out}\n{text}");
}

#[test]
fn dated_by_name_without_a_date_format_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    reuploaded(&root, &["2026-11-20"]);
    let config = config_with(dir.path(), &root, "  dated_by: name\n");
    let out = run_code(restore_drill(&config, &["check"]), 2);
    assert!(out.combined().contains("backups.dated_by"), "{out}");
    assert!(out.combined().contains("date_format"), "{out}");
}

#[test]
fn a_future_dated_set_is_a_finding_not_an_age_of_zero() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    reuploaded(&root, &["2026-11-24", "2026-11-30"]);
    let config = config_with(dir.path(), &root, "  date_format: \"%Y-%m-%d\"\n");
    let (out, results) = run_at(&config, "2026-11-25T12:00:00Z");
    let p = policy(&results, "p");
    assert_eq!(finding_kinds(p), ["future_dated_backup"], "{out}");
    assert_eq!(p["rpo"]["met"], false);
    assert_eq!(p["rpo"]["newest_set"], "2026-11-30");
    assert!(
        p["rpo"]["age_seconds"].as_f64().unwrap() < 0.0,
        "{}",
        p["rpo"]
    );
    assert!(out.stdout.contains("future / 26h"), "{out}");
    assert!(out.stdout.contains("time zone"), "{out}");
}

#[test]
fn a_zero_byte_object_is_a_finding_even_with_a_matching_digest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    // The digest of nothing, in the set's own SHA256SUMS: it "verifies".
    put_set(&root, "db/2026-11-25", &[("dump.sql", "")]);
    let config = config_with(dir.path(), &root, "  date_format: \"%Y-%m-%d\"\n");
    let (out, results) = run_at(&config, "2026-11-25T12:00:00Z");
    let p = policy(&results, "p");
    let kinds = finding_kinds(p);
    assert!(
        kinds.contains(&"empty_object".to_string()),
        "{kinds:?} {out}"
    );
    // Nothing restored whole: no restore time was measured against the RTO.
    assert!(
        kinds.contains(&"rto_unmeasured".to_string()),
        "{kinds:?} {out}"
    );
    assert_eq!(p["rto"]["met"], false);
    assert!(
        out.stdout.contains("empty_object: db/2026-11-25/dump.sql"),
        "{out}"
    );
}

#[test]
fn a_newest_folder_emptied_by_include_is_a_finding_not_an_older_pass() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    put_set(&root, "db/2026-11-24", &[("dump.sql", "yesterday")]);
    // Tonight's backup changed its file name: `include` leaves it out.
    put(&root, "db/2026-11-25/dump.sql.gz", b"tonight");
    let config = config_with(
        dir.path(),
        &root,
        "  date_format: \"%Y-%m-%d\"\n  include: [\"*.sql\"]\n",
    );
    let (out, results) = run_at(&config, "2026-11-25T12:00:00Z");
    let p = policy(&results, "p");
    let kinds = finding_kinds(p);
    assert!(kinds.contains(&"empty_set".to_string()), "{kinds:?} {out}");
    assert!(out.stdout.contains("empty_set: db/2026-11-25/"), "{out}");
    assert!(out.stdout.contains("backups.include"), "{out}");
}

#[test]
fn s3_reuploaded_backup_whose_names_do_not_match_is_undated() {
    let endpoint = common::s3_endpoint();
    let bucket = common::s3_bucket("dating", |stage| {
        reuploaded(stage, &["20261120", "20261121"]);
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_settings(dir.path(), "");
    let storage = common::s3_storage(&bucket, &endpoint, "AWS_SECRET_ACCESS_KEY");
    common::write_policy(
        &config,
        "p",
        "Acme",
        &storage,
        "db/",
        &format!("  date_format: \"%Y-%m-%d\"\n{TARGETS}"),
    );
    let run = run_json(&config, &[]);
    assert_eq!(run.out.code, 1, "{}", run.out);
    let p = policy(&run.results, "p");
    assert!(
        finding_kinds(p).contains(&"undated_backup".to_string()),
        "{}",
        findings_text(p)
    );
    assert_eq!(p["rpo"]["met"], false);
    assert!(
        findings_text(p).contains("`%Y%m%d`"),
        "{}",
        findings_text(p)
    );
}
