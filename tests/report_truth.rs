//! The period report's statements are true: a quarter of history made through the real
//! binary with the injectable clock (`RESTORE_DRILL_NOW`), holding a policy verified but
//! slower than its RTO, an object corrupt in one set with a later set clean (superseded, not
//! resolved), the same object re-uploaded and verified clean (resolved), a drill of an older
//! set (resolves nothing current) and a voided run (in no figure). Every figure and label is
//! read back from the Markdown report.

mod common;

use std::path::{Path, PathBuf};

use common::{Failures, bin, put_set, restore_drill, run_code, run_ok, zstd};

const CLIENT: &str = "Truth Dental";

struct Quarter {
    config: PathBuf,
    db: PathBuf,
}

impl Quarter {
    fn new(dir: &Path) -> Quarter {
        let config = common::write_settings(
            dir,
            "teams:\n  msp-noc:\n    name: Northwind NOC\n    msp: true\n    email: [noc@msp.test]\nmail:\n  from: rd@msp.test\n  transport: file\n",
        );
        let files = dir.join("files-bucket");
        put_set(
            &files,
            "f/2026-09-30",
            &[("a.zst", zstd(b"file share export"))],
        );
        common::write_fs_policy(
            &config,
            "files",
            CLIENT,
            &files,
            "f/",
            "  date_format: \"%Y-%m-%d\"\ndescription: File share\ntargets:\n  rpo: 3650d\n  rto: 1ms\n",
        );
        let db = dir.join("db-bucket");
        common::write_fs_policy(
            &config,
            "db",
            CLIENT,
            &db,
            "d/",
            "  date_format: \"%Y-%m-%d\"\ndescription: Practice database\ntargets:\n  rpo: 3650d\n  rto: 1h\n",
        );
        Quarter { config, db }
    }

    /// A set of `db` whose object is stored clean, or damaged after its checksum was taken.
    fn db_set(&self, day: &str, clean: bool) {
        let good = zstd(format!("database dump of {day}").as_bytes());
        put_set(&self.db, &format!("d/{day}"), &[("db.zst", &good)]);
        if !clean {
            let mut bad = good.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0xff;
            common::put(&self.db, &format!("d/{day}/db.zst"), &bad);
        }
    }

    fn at(&self, day: &str, args: &[&str], code: i32) -> String {
        let out = run_code(
            restore_drill(&self.config, args).env("RESTORE_DRILL_NOW", format!("{day}T02:00:00Z")),
            code,
        );
        out.stdout
    }

    fn newest_run_id(&self) -> String {
        let runs = common::history_json(&self.config, &[]);
        runs[0]["run_id"].as_str().unwrap().to_string()
    }

    fn report(&self, out: &Path) -> String {
        self.write_report(out);
        std::fs::read_to_string(out).unwrap()
    }

    fn write_report(&self, out: &Path) {
        run_ok(
            bin()
                .args(["report", "--client", CLIENT, "--quarter", "2026-Q4", "-o"])
                .arg(out)
                .arg("--config-dir")
                .arg(&self.config)
                .env("RESTORE_DRILL_NOW", "2026-10-14T12:00:00Z"),
        );
    }
}

fn quarter(dir: &Path) -> Quarter {
    let q = Quarter::new(dir);
    q.db_set("2026-09-30", true);
    // The previous quarter's last night: `db` passed, `files` missed its RTO already.
    q.at("2026-09-30", &["run"], 1);
    q.db_set("2026-10-01", false);
    q.at("2026-10-01", &["run"], 1);
    // A drill of the older, clean set: resolves nothing of the newer set's corruption.
    q.at(
        "2026-10-02",
        &[
            "drill",
            "db",
            "--set",
            "2026-09-30",
            "--operator",
            "J. Rivera",
            "--witness",
            "Dr. A. Chen",
        ],
        0,
    );
    // A newer set verified clean: the corrupt object of 2026-10-01 is superseded.
    q.db_set("2026-10-03", true);
    q.at("2026-10-03", &["run"], 1);
    // A corrupt object, re-uploaded the next day and verified clean: resolved.
    q.db_set("2026-10-10", false);
    q.at("2026-10-10", &["run"], 1);
    q.db_set("2026-10-10", true);
    q.at("2026-10-11", &["run"], 1);
    // A run made against a set uploaded half-way, voided: in no figure.
    q.db_set("2026-10-12", false);
    q.at("2026-10-12", &["run"], 1);
    let voided = q.newest_run_id();
    run_ok(restore_drill(
        &q.config,
        &[
            "history",
            "void",
            &voided,
            "--by",
            "J. Rivera",
            "--reason",
            "upload was still running",
        ],
    ));
    q.db_set("2026-10-12", true);
    q.at("2026-10-13", &["run"], 1);
    q
}

#[test]
fn every_statement_of_the_report_is_true() {
    let dir = tempfile::tempdir().unwrap();
    let q = quarter(dir.path());
    let md = q.report(&dir.path().join("q.md"));
    let mut failures = Failures::new();
    for expected in [
        // The answer first: an open failure (the RTO of `files`), who acts on it.
        "**Overall: ACTION NEEDED.** 1 failure is open in files (to act: Northwind NOC).",
        // Against the previous quarter: db passed its one run then.
        "### Changes against 2026-Q3 (overall then: action needed)",
        "| db | pass rate | 100% | 67% | worse |",
        "Counted: 6 runs (voided runs left out), 1 manual drill; open failures: 1.",
        // `files` was verified in every run though slower than its RTO: never "not verified".
        "| files: File share | verified, RTO missed, 2026-10-13 02:00 UTC | 5 of 5 | 5 of 5 | 0 of 5 | 1 of 1 within 30d, no target | 1 (Northwind NOC) |",
        "| db: Practice database | verified, 2026-10-13 02:00 UTC | 4 of 6 | 5 of 5 | 6 of 6 | 4 of 5 within 30d, no target | none |",
        // Detail: runs counted without the voided one, what the pass rate counts.
        "| db | 6 | 67% | 26h / 3650d |",
        "| 1h | 1.4 | 5 of 5 |",
        "| files | 5 | 0% |",
        // The corrupt object of 2026-10-01 was never verified clean: superseded, not resolved.
        "| db | object d/2026-10-01/db.zst (set 2026-10-01) | checksum_mismatch, corrupt_archive (1 failing run) | 2026-10-01 02:00 UTC | superseded by set 2026-10-03 | 2026-10-03 02:00 UTC | 2d | Northwind NOC |",
        // The same object re-uploaded and verified clean: resolved.
        "| db | object d/2026-10-10/db.zst (set 2026-10-10) | checksum_mismatch, corrupt_archive (1 failing run) | 2026-10-10 02:00 UTC | resolved | 2026-10-11 02:00 UTC | 24h | Northwind NOC |",
        // Carried over from the previous quarter, still open.
        "| files | the policy | rto_exceeded (6 failing runs) | 2026-09-30 02:00 UTC | open | - | - | Northwind NOC |",
        // The drill: policy, set, size and files, wall time against the RTO, people.
        "| 2026-10-02 02:00 UTC | db | 2026-09-30 |",
        "| 27 B, 1 file | ",
        "(MET) | verified | J. Rivera | Dr. A. Chen |",
        // The voided run is listed as such.
        "upload was still running",
    ] {
        failures.check(md.contains(expected), || format!("missing: `{expected}`"));
    }
    // The voided run's corruption is in no episode.
    failures.check(!md.contains("object d/2026-10-12/db.zst"), || {
        "the voided run's finding opened an episode".into()
    });
    failures.assert_none_for(format!("the report:\n{md}"));
}

/// The same statements in the PDF's text (poppler's `pdftotext`), each phrase whole.
#[test]
fn the_pdf_says_the_same_with_every_word_whole() {
    let dir = tempfile::tempdir().unwrap();
    let q = quarter(dir.path());
    let pdf = dir.path().join("q.pdf");
    q.write_report(&pdf);
    let out = std::process::Command::new("/usr/bin/pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by tests/run.sh");
    assert!(out.status.success(), "{out:?}");
    // Lines joined: a cell's words may wrap, never a word itself.
    let text = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut failures = Failures::new();
    for expected in [
        "Overall: ACTION NEEDED.",
        "1 failure is open in files (to act: Northwind NOC).",
        "verified, RTO missed",
        "superseded by set 2026-10-03",
        "resolved",
        "Changes against 2026-Q3",
        "upload was still running",
        "J. Rivera",
        "Dr. A. Chen",
        "(MET)",
        "Practice database",
    ] {
        failures.check(text.contains(expected), || format!("missing: `{expected}`"));
    }
    failures.assert_none_for(format!("the PDF's text:\n{text}"));
}
