//! One broken policy never silences the others, and commands that do not touch storage need
//! no storage secrets: an invalid policy file beside valid ones is a failed entry of the run
//! (summary, JSON, history, mail to the right teams only) while `check` still refuses the
//! folder; errors do not cascade; invalid settings stop the run but still tell the monitor;
//! `history`, `report`, `schedule` and `mail` run with every storage secret unset.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::mail::{Received, parse_mail};
use common::{
    Failures, finding_kinds, policy, put, put_with_sums, restore_drill, run_code, run_ok, zstd,
};

const TARGETS: &str = "targets:\n  rpo: 26h\n  rto: 1h\n";

/// Teams of the MSP and two clients, mail written to the outbox, and `extra` settings.
fn settings(dir: &Path, extra: &str) -> PathBuf {
    common::write_settings(
        dir,
        &format!(
            "teams:\n  noc:\n    name: NOC\n    msp: true\n    email: [noc@msp.test]\n  acme-it:\n    name: Acme IT\n    client: Acme Dental\n    email: [it@acme.test]\n  bright-it:\n    name: Bright IT\n    client: Bright Smile\n    email: [desk@bright.test]\nmail:\n  from: restore-drill <drill@msp.test>\n  transport: file\n{extra}"
        ),
    )
}

/// Two valid policies with a fresh backup each, one per client.
fn valid_policies(dir: &Path, config: &Path) {
    let bucket = dir.join("bucket");
    for (name, client, prefix) in [
        ("acme-files", "Acme Dental", "acme/"),
        ("bright-files", "Bright Smile", "bright/"),
    ] {
        put_with_sums(
            &bucket,
            &format!("{prefix}2026-11-25"),
            "data.zst",
            &zstd(name.as_bytes()),
        );
        common::write_fs_policy(config, name, client, &bucket, prefix, TARGETS);
    }
}

/// The messages written to the outbox, parsed.
fn outbox(dir: &Path) -> Vec<Received> {
    let Ok(entries) = std::fs::read_dir(dir.join("state/outbox")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| parse_mail(std::fs::read(e.path()).unwrap()))
        .collect()
}

/// The outbox message to `address`.
fn mail_to<'m>(mail: &'m [Received], address: &str) -> Option<&'m Received> {
    mail.iter()
        .find(|m| m.to.iter().any(|t| t.contains(address)))
}

#[test]
fn an_invalid_policy_beside_valid_ones_fails_alone_and_is_reported_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A control naming the broken policy: no "no policy named" follow-up error.
    let config = settings(
        d,
        "controls:\n  CC7.4:\n    description: restores are tested\n    policies:\n      - acme-files\n      - acme-db\n",
    );
    valid_policies(d, &config);
    // Line 8, column 3: an unknown field; the name and client can still be read.
    put(
        &config,
        "acme-db.yaml",
        b"name: acme-db\nclient: Acme Dental\nstorage:\n  service: fs\n  root: bucket\nbackups:\n  prefix: db/\n  colour: red\ntargets:\n  rpo: 26h\n  rto: 1h\n",
    );
    // Nothing of it can be read: its client is unknown, so only the MSP is told.
    put(&config, "broken.yaml", b"name: [unclosed\nclient: {\n");

    let json = d.join("results.json");
    let out = run_code(
        restore_drill(&config, &["run", "--json", json.to_str().unwrap()]),
        1,
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut failures = Failures::new();
    for name in ["acme-files", "bright-files"] {
        let p = policy(&results, name);
        failures.check_eq(&p["status"], "pass", || format!("{name}: {p}"));
        failures.check(
            p["objects"].as_array().is_some_and(|o| o.len() == 1),
            || format!("{name} was not verified: {p}"),
        );
    }
    let db = policy(&results, "acme-db");
    failures.check_eq(&db["status"], "fail", || format!("acme-db: {db}"));
    failures.check_eq(&db["client"], "Acme Dental", || format!("acme-db: {db}"));
    failures.check_eq(
        finding_kinds(db),
        vec!["invalid_policy".to_string()],
        || format!("acme-db findings: {db}"),
    );
    let message = db["findings"][0]["message"].as_str().unwrap_or_default();
    failures.check(
        message.contains("acme-db.yaml:8:3: backups.colour: unknown field `colour`"),
        || format!("the finding does not point at the line: {message}"),
    );
    failures.check(
        db["rpo"]["age_seconds"].is_null() && db["rto"]["projected_seconds"].is_null(),
        || format!("an invalid policy has RPO/RTO figures: {db}"),
    );
    failures.check_eq(
        db["rpo"]["target_seconds"].as_f64(),
        Some(26.0 * 3600.0),
        || "the target read from the file".into(),
    );
    let broken = policy(&results, "broken.yaml");
    failures.check_eq(&broken["client"], "(unknown client)", || {
        format!("{broken}")
    });
    failures.check_eq(
        finding_kinds(broken),
        vec!["invalid_policy".to_string()],
        || format!("broken.yaml findings: {broken}"),
    );

    // The summary: the entry, its finding, the verdict; never a figure for it.
    failures.check(out.stdout.contains("FAILED 2 of 4"), || {
        "the verdict".into()
    });
    failures.check(out.stdout.contains("FAIL acme-db: invalid_policy"), || {
        "the finding in the summary".into()
    });
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("acme-db") && l.contains("FAIL"));
    failures.check(
        row.is_some_and(|r| !r.contains("0s") && !r.contains("PASS")),
        || format!("the summary row of acme-db: {row:?}"),
    );
    failures.check(out.stderr.contains("acme-db.yaml is invalid"), || {
        "the warning on stderr".into()
    });

    // The history has it, and its chain verifies.
    let rows = common::history_json(&config, &["--policy", "acme-db"]);
    failures.check_eq(&rows[0]["status"], "fail", || format!("history: {rows}"));
    run_ok(restore_drill(&config, &["history", "verify"]));
    let table = run_ok(restore_drill(&config, &["history", "--policy", "acme-db"]));
    failures.check(!table.stdout.contains("0s"), || {
        format!("history table: {table}")
    });

    // Mail: the MSP sees both entries, Acme's team acme-db, Bright's team neither.
    let mail = outbox(d);
    let body = |address: &str| mail_to(&mail, address).map(|m| m.text.clone());
    let noc = body("noc@msp.test").unwrap_or_default();
    failures.check(
        noc.contains("acme-db") && noc.contains("broken.yaml"),
        || format!("the MSP's mail: {noc}"),
    );
    let acme = body("it@acme.test").unwrap_or_default();
    failures.check(
        acme.contains("acme-db")
            && acme.contains("invalid_policy")
            && !acme.contains("broken.yaml"),
        || format!("Acme's mail: {acme}"),
    );
    let bright = body("desk@bright.test").unwrap_or_default();
    failures.check(
        bright.contains("bright-files")
            && !bright.contains("acme-db")
            && !bright.contains("broken.yaml"),
        || format!("Bright's mail: {bright}"),
    );

    // check refuses the same folder, naming each error once and nothing that follows from it.
    let check = run_code(restore_drill(&config, &["check"]), 2);
    failures.check(
        check.stderr.contains("acme-db.yaml:8:3: backups.colour")
            && check.stderr.contains("broken.yaml:"),
        || format!("check: {check}"),
    );
    failures.check(!check.stderr.contains("no policy named"), || {
        format!("a cascading error: {check}")
    });
    failures.assert_none_for(&out);
}

#[test]
fn run_due_and_a_drill_of_another_policy_go_on_beside_an_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = settings(d, "");
    valid_policies(d, &config);
    put(
        &config,
        "acme-db.yaml",
        b"name: acme-db\nclient: Acme Dental\ntargets: [\n",
    );
    // Nothing valid is due (no schedules): the broken file is still an entry, every night.
    let out = run_code(restore_drill(&config, &["run", "--due"]), 1);
    assert!(out.stdout.contains("FAIL acme-db: invalid_policy"), "{out}");
    let schedule = run_ok(restore_drill(&config, &["schedule"]));
    let row = schedule.stdout.lines().find(|l| l.contains("acme-db"));
    assert!(
        row.is_some_and(|r| r.contains("invalid file") && r.contains("FAIL")),
        "{schedule}"
    );
    let drill = restore_drill(
        &config,
        &[
            "drill",
            "acme-files",
            "--operator",
            "Dana",
            "--witness",
            "Lee",
        ],
    );
    let out = run_code(drill, 0);
    assert!(
        !out.stdout.contains("acme-db"),
        "the drill has only its policy: {out}"
    );
    // A drill of the broken policy itself is refused, and records nothing.
    let out = run_code(
        restore_drill(&config, &["drill", "acme-db", "--operator", "Dana"]),
        2,
    );
    assert!(out.stderr.contains("acme-db.yaml:3:"), "{out}");
}

#[test]
fn a_typo_in_the_settings_stops_the_run_without_follow_up_errors_and_pings_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (base, pings) = ping_listener();
    // A typo in the teams block: the policy naming `noc` must not add "no team `noc`".
    let config = common::write_settings(
        d,
        &format!(
            "heartbeat:\n  url: {base}\n  timeout: 5s\nteams:\n  noc:\n    name: NOC\n    msp: true\n    emial: [noc@msp.test]\n"
        ),
    );
    common::write_fs_policy(
        &config,
        "acme-files",
        "Acme Dental",
        &d.join("bucket"),
        "acme/",
        &format!("{TARGETS}responsibility:\n  responsible: noc\n"),
    );
    let out = run_code(restore_drill(&config, &["run"]), 2);
    assert!(out.stderr.contains("unknown field `emial`"), "{out}");
    assert!(!out.stderr.contains("no team"), "a follow-up error: {out}");
    assert!(
        out.stderr.contains("invalid configuration (1 error)"),
        "{out}"
    );
    let ping = pings
        .recv_timeout(Duration::from_secs(10))
        .expect("no ping arrived");
    // The healthchecks.io convention: the exit code in the path.
    assert_eq!(ping, "/ping/check-1/2");
    assert!(!d.join("scratch").exists(), "a restore started");
    let check = run_code(restore_drill(&config, &["check"]), 2);
    assert!(
        !check.stderr.contains("no team"),
        "a follow-up error: {check}"
    );
}

/// A tiny HTTP server on loopback that answers 200 and sends each request's path.
fn ping_listener() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/ping/check-1", server.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in server.incoming().take(4).flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let _ = (&stream)
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK");
            let path = line.split_whitespace().nth(1).unwrap_or_default();
            let _ = tx.send(path.to_string());
        }
    });
    (base, rx)
}

#[test]
fn commands_that_do_not_touch_storage_need_no_storage_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Records and reports are signed (`report verify` checks the signature): the signing key
    // is the one secret these commands use, and it is there.
    put(d, "signing.key", "5a".repeat(32).as_bytes());
    let config = settings(
        d,
        &format!(
            "heartbeat:\n  url: ${{env:RD_ISOLATION_UNSET_HEARTBEAT}}\nsigning:\n  key: ${{file:{}}}\n",
            d.join("signing.key").display()
        ),
    );
    valid_policies(d, &config);
    // An S3 policy whose credentials are nowhere: not in the environment, not on disk.
    let storage = format!(
        "  service: s3\n  bucket: b\n  endpoint: http://127.0.0.1:{}\n  region: us-east-1\n  access_key_id: ${{env:RD_ISOLATION_UNSET_KEY}}\n  secret_access_key: ${{file:{}}}\n",
        common::closed_port(),
        d.join("no-such-secret").display()
    );
    common::write_policy(
        &config,
        "bright-db",
        "Bright Smile",
        &storage,
        "db/",
        &format!("{TARGETS}schedule: \"0 2 * * *\"\n"),
    );
    // The run records every policy; bright-db fails where its storage is used.
    let json = d.join("results.json");
    run_code(
        restore_drill(&config, &["run", "--json", json.to_str().unwrap()]),
        1,
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let db = policy(&results, "bright-db");
    assert_eq!(finding_kinds(db), ["storage_error"], "{db}");

    let report = d.join("q4.html");
    let mut failures = Failures::new();
    for args in [
        vec!["history"],
        vec!["history", "verify"],
        vec!["schedule"],
        vec!["mail", "flush"],
        vec!["mail", "test", "noc"],
        vec![
            "report",
            "--client",
            "Bright Smile",
            "--quarter",
            "2026-Q4",
            "-o",
            report.to_str().unwrap(),
        ],
    ] {
        let out = common::run(restore_drill(&config, &args));
        failures.check(out.code == 0, || format!("{args:?} needs a secret: {out}"));
    }
    let out = common::run(
        common::bin()
            .args(["report", "verify"])
            .arg(&report)
            .arg("--config-dir")
            .arg(&config),
    );
    failures.check(out.code == 0, || format!("report verify: {out}"));

    // check resolves every reference, naming each that cannot be, at its file and line.
    let check = run_code(restore_drill(&config, &["check"]), 2);
    for expected in [
        "bright-db.yaml:8:1: storage.access_key_id: environment variable `RD_ISOLATION_UNSET_KEY` is not set",
        "bright-db.yaml:9:1: storage.secret_access_key: cannot read secret file",
        "restore-drill.yaml:",
        "heartbeat.url: environment variable `RD_ISOLATION_UNSET_HEARTBEAT` is not set",
    ] {
        failures.check(check.stderr.contains(expected), || {
            format!("check does not say `{expected}`")
        });
    }
    failures.assert_none_for(&check);
}
